"""The notebooks run top to bottom (nbclient, a real kernel), offline on the sample program."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


def run(name: str, tmp_path: Path, monkeypatch, kernel_name: str = "python3"
        ) -> nbformat.NotebookNode:
    """Execute the notebook `name` offline in `tmp_path` with the kernel `kernel_name`."""
    monkeypatch.setenv("FGS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FGS_MAST_SERVER", "http://127.0.0.1:9")  # offline, fails fast
    monkeypatch.setenv("FGS_GSC_URL", "http://127.0.0.1:9/gsc")
    monkeypatch.setenv("FGS_TIMEOUT", "2")
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    copy = tmp_path / name
    shutil.copy(NOTEBOOKS / name, copy)
    notebook = nbformat.read(copy, as_version=4)
    NotebookClient(notebook, kernel_name=kernel_name, timeout=300,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return notebook


def outputs(cell) -> str:
    text = []
    for output in cell.get("outputs", []):
        text.append(output.get("text", ""))
        text.extend(str(v) for v in output.get("data", {}).values())
    return "\n".join(text)


@pytest.mark.slow
def test_spelunker_quickstart_runs(tmp_path, monkeypatch):
    check_spelunker_quickstart(run("spelunker_quickstart.ipynb", tmp_path, monkeypatch),
                               tmp_path)


def check_spelunker_quickstart(notebook: nbformat.NotebookNode, folder: Path) -> None:
    """What a user of the reference tool's API reads in its executed quickstart, run in
    ``folder`` (also as installed from the wheel: tests/test_installed.py)."""
    cells = {c.source: c for c in notebook.cells if c.cell_type == "code"}
    shapes = next(c for s, c in cells.items() if s.startswith("spk2.fg_array.shape,"))
    assert "(2048, 8, 8)" in outputs(shapes)  # download() replaced it by obs 2 visit 2
    fit = next(c for s, c in cells.items() if s.strip() == "spk.gaussfit_results")
    assert "x_mean" in outputs(fit) and "<Table length=10000>" in outputs(fit)
    movie = next(c for s, c in cells.items() if "flux_spatial_timelapse_animation" in s)
    assert "movie.gif" in outputs(movie)
    from fgs_widgets.archive.sample import SAMPLE_VERSION

    assert (folder / "cache" / f"sample-v{SAMPLE_VERSION}" / "movie.gif").exists()
    errors = [o for c in notebook.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.slow
def test_quickstart_runs(tmp_path, monkeypatch):
    check_quickstart(run("quickstart.ipynb", tmp_path, monkeypatch))


def check_quickstart(notebook: nbformat.NotebookNode) -> None:
    """What a user reads in the executed quickstart (also run as installed from the wheel:
    tests/test_installed.py)."""
    errors = [o for c in notebook.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    data = next(c for c in notebook.cells if c.source.rstrip().endswith("session.data"))
    assert "<GuideStarData 14,336 frames from 4 file(s)" in outputs(data)
    app_cell = next(c for c in notebook.cells if c.cell_type == "code" and "App(" in c.source)
    views = [o for o in app_cell.outputs
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views  # the App was displayed as a widget
    peaks = next(c for c in notebook.cells if "compute_periodograms" in c.source)
    assert "period" in outputs(peaks)
    lag = next(c for c in notebook.cells if "correlates best" in c.source)
    assert "at a lag of +0 s" in outputs(lag)
    series = next(c for c in notebook.cells if "to_timeseries(" in c.source)
    assert "14,336 frames, time in UTC, flux in DN / s, x_mean in pix, mas at 69 mas/px" \
        in outputs(series)
    lightcurve = next(c for c in notebook.cells if "to_lightkurve(" in c.source)
    said = outputs(lightcurve)
    assert "strongest x_mean period: 37.5 s" in said \
        or "pip install 'fgs-widgets[lightkurve]'" in said, said


@pytest.mark.slow
@pytest.mark.ray
def test_survey_notebook_runs(tmp_path, monkeypatch):
    notebook = run("survey.ipynb", tmp_path, monkeypatch)
    errors = [o for c in notebook.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    ran = next(c for c in cells if "run.widget()" in c.source)
    assert "[4/4] program" in outputs(ran)
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
               for o in ran.outputs)
    table = next(c for c in cells if "read_survey" in c.source)
    assert "stability_mas" in outputs(table)
    assert (tmp_path / "survey.png").stat().st_size > 10_000
    again = next(c for c in cells if "run_survey(" in c.source)
    assert "complete, skipped" in outputs(again)
    from fgs_widgets.survey import read_survey

    dataset = read_survey(tmp_path / "survey_dataset")
    assert sorted(dataset["program"].unique()) == [4001, 4002, 4003, 4004]
    assert len(dataset) == 12 and dataset["stability_mas"].between(0.01, 50).all()


def test_committed_notebooks_match_their_generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebooks",
                                                  NOTEBOOKS / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, cells in module.NOTEBOOKS:
        committed = nbformat.read(NOTEBOOKS / name, as_version=4)
        generated = module.notebook(cells)
        assert [(c.cell_type, c.source) for c in committed.cells] == \
            [(c.cell_type, c.source) for c in generated.cells], (
            f"{name} differs from notebooks/make_notebooks.py: run it and commit the result")
