"""fgs-widgets command line: info, fit, periodogram, report, sample; exit codes and errors."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from fgs_widgets.cli import main


def test_info(sample, capsys):
    assert main(["info", str(sample.directory)]) == 0
    out = capsys.readouterr().out
    assert all(p.name in out for p in sample.paths) and "14,336 frames" in out


def test_quick_fit_then_periodogram(sample, tmp_path, capsys):
    out = tmp_path / "quick.parquet"
    assert main(["fit", str(sample.directory), "--quick", "-o", str(out)]) == 0
    table = pd.read_parquet(out)
    assert len(table) == 14336 and {"time", "flux", "quality", "x_mean"} <= set(table.columns)
    capsys.readouterr()
    assert main(["periodogram", str(out), "--columns", "x_mean", "y_mean",
                 "-o", str(tmp_path / "peaks.csv")]) == 0
    printed = capsys.readouterr()
    assert "x_mean" in printed.out and "y_mean" in printed.out
    assert "each file's mean and slope removed (4 files)" in printed.err
    # the steps between files are gone: the injected oscillations lead (37.5 s, 11.3 s)
    peaks = pd.read_csv(tmp_path / "peaks.csv")
    top = peaks.loc[peaks.groupby("column")["power"].idxmax()].set_index("column")
    assert top.loc["x_mean", "period_s"] == pytest.approx(37.5, rel=0.02)
    assert top.loc["y_mean", "period_s"] == pytest.approx(11.3, rel=0.02)


@pytest.mark.slow
def test_warmup_compiles_what_is_missing_then_check_finds_everything(capsys):
    assert main(["warmup"]) == 0  # compiles what this run of the suite did not use yet
    first = [line for line in capsys.readouterr().out.splitlines() if "frames" in line]
    assert {line.split()[0] for line in first} == {"display", "fit", "quick", "periodogram",
                                                   "ray"}
    assert all(" in " in line and ("compiled" in line or "loaded" in line) for line in first)
    assert main(["warmup", "--check"]) == 0
    again = [line for line in capsys.readouterr().out.splitlines() if "frames" in line]
    # float32: display, fit, fit without ERR, quick, periodogram, ray x2; float64 the same
    # but display and periodogram
    assert len(again) == len(first) == 12
    assert all("loaded from the disk cache" in line for line in again), again


def test_full_fit_ecsv_with_filters(sample, tmp_path):
    out = tmp_path / "fit.ecsv"
    assert main(["fit", str(sample.directory), "--observation", "2", "--visit", "2",
                 "--executor", "serial", "-o", str(out)]) == 0
    from astropy.table import Table

    table = Table.read(out)
    assert len(table) == 2048 and table.meta["FIT"] == "gaussian"
    assert np.isfinite(table["x_mean"]).mean() > 0.99
    assert not list(tmp_path.glob(".*partial*"))


def test_a_failed_write_keeps_the_previous_results(tmp_path, monkeypatch):
    from fgs_widgets import cli

    out = tmp_path / "results.csv"
    out.write_text("old results\n")

    def disk_full(self, path, **kwargs):
        with open(path, "w") as handle:
            handle.write("time,fl")
        raise OSError("No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)
    with pytest.raises(OSError, match="No space"):
        cli._write_table(pd.DataFrame({"time": [1.0], "flux": [2.0]}), out, {})
    assert out.read_text() == "old results\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]


def _offline_html(path) -> str:
    """The report's text, after checking it is one HTML file that asks the network for
    nothing (no script, image or style sheet from elsewhere)."""
    text = path.read_text(encoding="utf-8")
    assert "<html" in text.lower()
    lowered = text.lower()
    for fetch in ('src="http', "src='http", 'href="http', "href='http", "<script src",
                  "@import", "url(http"):
        assert fetch not in lowered, fetch
    return text


def _reference_dataset(folder):
    """A survey dataset as `fgs-widgets survey` leaves it, made in this process (no ray):
    two other programs (the sample under other ids, its own noise), quick-fitted.  (The
    reported program's own visits would be left out of its reference.)"""
    from fgs_widgets.archive.sample import write_sample_program
    from fgs_widgets.survey.dataset import write_status
    from fgs_widgets.survey.tasks import tasks_from_paths
    from fgs_widgets.survey.worker import settings_key, survey_program

    for i, program in enumerate((4001, 4002)):
        write_sample_program(folder / "programs" / str(program), seed=program,
                             program=program, start=59950.0 + 7 * i)
    root, settings = folder / "survey_dataset", {"fit": "quick"}
    for task in tasks_from_paths([folder / "programs"]):
        report = survey_program(task, root, settings)
        write_status(root, task.program, {**report, "inputs": task.inputs_key(),
                                          "settings": settings_key(settings), "runs": 1})
    return root


def test_report_of_files_with_science_and_reference(sample, tmp_path, capsys):
    from fgs_widgets.survey import read_survey

    reference = _reference_dataset(tmp_path / "reference")
    assert len(read_survey(reference)) == 6  # 2 programs x 3 visits
    out = tmp_path / "report.html"
    assert main(["report", str(sample.directory), "--quick", "--science",
                 str(sample.science_path), "--reference", str(reference), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert printed.out.strip().startswith(str(out.resolve())) and "B)" in printed.out
    assert "quick fit" in printed.err and "residual rms" in printed.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference", "report.html"]
    text = _offline_html(out)
    assert "1534" in text
    # the decorrelation the command printed is the report's; the reference is named
    before, after = re.search(r"residual rms ([\d.]+) → ([\d.]+) ppm", printed.err).groups()
    assert before in text and after in text
    assert reference.name in text


def test_report_of_a_program_from_mast(mast, tmp_path, capsys):
    out = tmp_path / "p.htm"
    assert main(["report", "1534", "--observation", "2", "--quick", "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert "program 1534: querying MAST" in printed.err and "2 file(s)" in printed.err
    text = _offline_html(out)
    assert "1534" in text


def test_report_command_line_errors(sample, tmp_path, capsys):
    folder = str(sample.directory)
    # said before anything is read or fitted: exit 2, as argparse's own errors
    assert main(["report", folder, "-o", str(tmp_path / "report.pdf")]) == 2
    assert "end its name in .html or .htm" in capsys.readouterr().err
    assert main(["report", folder, "--reference", str(tmp_path / "none"),
                 "-o", str(tmp_path / "r.html")]) == 2
    assert "--reference" in capsys.readouterr().err
    assert main(["report", folder, "--science", str(tmp_path / "lc.dat"),
                 "-o", str(tmp_path / "r.html")]) == 2
    assert "no such file" in capsys.readouterr().err
    # the data: exit 1 with the reader's message
    assert main(["report", str(tmp_path / "nothing_cal.fits"), "--quick",
                 "-o", str(tmp_path / "r.html")]) == 1
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["report", folder])  # -o is required
    assert info.value.code == 2
    assert not list(tmp_path.iterdir())


def test_sample_command(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "s")]) == 0
    assert capsys.readouterr().out.count("_cal.fits") == 4


def test_errors_have_exit_codes(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nothing_here_cal.fits")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["periodogram", str(tmp_path / "none.parquet")]) == 1
    with pytest.raises(SystemExit) as info:
        main(["fit"])  # -o is required: argparse's usage error
    assert info.value.code == 2


def test_entry_point_runs(sample):
    result = subprocess.run([sys.executable, "-m", "fgs_widgets.cli", "info",
                             str(sample.paths[0])], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and sample.paths[0].name in result.stdout
