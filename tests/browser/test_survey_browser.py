"""The survey panel in JupyterLab + headless Chromium: a survey runs while the panel follows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from harness import notebook_in_lab, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.ray]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts"

SETUP = """\
from pathlib import Path
from fgs_widgets.archive.sample import write_sample_program
from fgs_widgets import survey

folder = Path('programs')
for i, program in enumerate((5001, 5002, 5003)):
    write_sample_program(folder / str(program), seed=program, program=program,
                         start=59950.0 + i)
tasks = survey.tasks_from_paths([folder])
# program 5003 loses a file after planning: it fails, with the file named, and the rest go on
Path(tasks[2].files[3].uri).unlink()
run = survey.Survey(tasks, 'dataset', fit='quick')
"""
SHOW = "panel = run.widget()\npanel"
START = "run.start()"


def _wait(run, condition_js: str, what: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not run.page.evaluate(condition_js):
        if run.errors:
            pytest.fail(f"browser errors while waiting for {what}: {run.errors}")
        tracebacks = run.page.eval_on_selector_all(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
            "els => els.map(e => e.innerText).filter(t => t.includes('Traceback'))")
        if tracebacks:
            pytest.fail(f"a notebook cell failed while waiting for {what}: {tracebacks[0][-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout:.0f} s")
        run.page.wait_for_timeout(250)


def test_survey_panel_in_jupyterlab(tmp_path, chromium):
    notebook = write_notebook(tmp_path / "survey.ipynb", [SETUP, SHOW, START])
    options = {"env": {"FGS_MAST_SERVER": "http://127.0.0.1:9"}}
    with notebook_in_lab(notebook, lab_options=options,
                         browser_options={"viewport": (1200, 800)}) as run:
        page = run.page
        _wait(run, "() => !!document.querySelector('.fgs-survey-panel table')", "panel")
        _wait(run, """() => document.querySelectorAll('.fgs-survey-table tbody tr').length === 3
                && document.querySelectorAll('.fgs-survey-done, .fgs-survey-failed')
                     .length === 3""", "every program finished")
        page.wait_for_timeout(500)
        panel = page.locator(".fgs-survey-panel").first
        panel.evaluate("e => e.scrollIntoView({block: 'start'})")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / "survey_panel.png"
        page.screenshot(path=str(path))
        assert path.stat().st_size > 10_000
        summary = panel.inner_text()
        assert "2 done, 0 already complete, 1 failed, 0 to go" in summary, summary
        failed = page.locator(".fgs-survey-failed").first.inner_text()
        assert "5003" in failed and "no such file" in failed, failed
        done = page.locator(".fgs-survey-done").all_inner_texts()
        assert len(done) == 2 and all("14,336" in row for row in done), done
        assert not page.locator(".fgs-survey-panel button", has_text="Run survey").first \
            .is_disabled()
        assert (tmp_path / "dataset" / "program=5001" / "observation=2").is_dir()
