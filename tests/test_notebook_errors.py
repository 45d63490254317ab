"""Our failures reach the page in words, also on a Voila page that hides tracebacks.

A real kernel (nbclient) runs cells that fail inside fgs_widgets: each gets a display
output with the message after its (unchanged) traceback, which survives what Voila's own
executor does to a failed cell (``VoilaExecutor.strip_code_cell_errors``); a failure of
the user's own code gets nothing more; no output holds the MAST token.
"""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import nbformat
import pytest

from fgs_widgets.archive.errors import MastUnreachable
from fgs_widgets.model import Session
from fgs_widgets.notebook_errors import (
    _after_cell,
    failure_bundle,
    failure_html,
    failure_text,
    install,
    mask_secrets,
    raised_here,
)

SECRET = "fgs-secret-token-7c1e93"


def _raised(action) -> BaseException:
    try:
        action()
    except Exception as exc:
        return exc
    raise AssertionError("no exception")


def test_ours_is_where_it_was_raised():
    ours = _raised(lambda: Session().fit_frames("quick"))  # ValueError raised in model.py
    assert isinstance(ours, ValueError) and raised_here(ours)
    assert not raised_here(_raised(lambda: 1 / 0))  # the user's own code
    assert not raised_here(_raised(lambda: int("x")))  # a builtin called from it
    assert not raised_here(ValueError("never raised"))


def test_the_message_in_words_with_what_to_do_and_no_secret(monkeypatch):
    monkeypatch.setenv("MAST_API_TOKEN", SECRET)
    exc = MastUnreachable("MAST (http://127.0.0.1:9)", "timed out after 2 s")
    page = failure_html(exc)
    assert "fgs_widgets could not do this (MastUnreachable)" in page
    assert "MAST (http://127.0.0.1:9) unreachable (timed out after 2 s)" in page
    assert "<b>What to do:</b> use read_fine_guide on local files" in page
    plain = failure_bundle(exc)["text/plain"]
    assert plain.startswith("fgs_widgets could not do this (MastUnreachable): MAST (")
    # escaped, and a KeyError's text without its quotes, with its notes
    error = KeyError("no series '<b>'")
    error.add_note("available: flux")
    assert failure_text(error) == "no series '<b>'\navailable: flux"
    assert "&lt;b&gt;" in failure_html(error) and "<b>'" not in failure_html(error)
    # secrets never shown, whatever a message quoted; advice that names the argument stays
    leaky = RuntimeError(f"GET https://x/?token={SECRET}&a=1 with Authorization: token "
                         f"{SECRET} ({SECRET}) — pass token=... or set MAST_API_TOKEN")
    shown = json.dumps(failure_bundle(leaky))
    assert SECRET not in shown and shown.count("<masked>") == 3, shown
    assert "pass token=... or set MAST_API_TOKEN" in shown
    assert mask_secrets("{'Authorization': 'token abcdef12'}") == \
        "{'Authorization': 'token <masked>'}"


class _Shell:
    """What `install` looks at: an IPython shell's events and its kernel."""

    def __init__(self, kernel: object | None):
        self.kernel = kernel
        self.events = SimpleNamespace(callbacks={"post_run_cell": []},
                                      register=self._register)

    def _register(self, event: str, function) -> None:
        self.events.callbacks[event].append(function)


def test_installed_once_and_only_in_a_kernel(monkeypatch):
    assert install() is False  # plain Python (pytest): nothing to do
    assert install(_Shell(kernel=None)) is False  # a terminal IPython shows the traceback
    shell = _Shell(kernel=object())
    assert install(shell) and install(shell)
    assert shell.events.callbacks["post_run_cell"] == [_after_cell]
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda bundle, raw: shown.append(bundle))
    _after_cell(SimpleNamespace(error_in_exec=None))
    _after_cell(SimpleNamespace(error_in_exec=_raised(lambda: 1 / 0)))
    _after_cell(SimpleNamespace(error_in_exec=KeyboardInterrupt()))
    assert shown == []
    _after_cell(SimpleNamespace(error_in_exec=_raised(lambda: Session().fit_frames("quick"))))
    assert len(shown) == 1 and "no data to fit" in shown[0]["text/plain"]


CELLS = [
    # the first cell fails: the import in it installs the hook in time
    "from fgs_widgets import Session\nsession = Session()\nsession.open_program(1534)",
    "1 / 0",
    "session.fit_frames('quick')",
    "print('still running')",
]


def _outputs_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.extend(str(v) for v in output.get("data", {}).values())
        parts.extend([output.get("evalue", ""), *output.get("traceback", [])])
    return "\n".join(parts)


@pytest.mark.slow
def test_a_failing_cell_says_why_in_a_kernel_and_after_voila_strips_it(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("FGS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FGS_MAST_SERVER", "http://127.0.0.1:9")  # nothing listens: fails
    monkeypatch.setenv("FGS_TIMEOUT", "2")
    monkeypatch.setenv("MAST_API_TOKEN", SECRET)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    NotebookClient(notebook, kernel_name="python3", timeout=120, allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    archive, user, usage, fine = notebook.cells

    # JupyterLab's view: the traceback as ever (red, complete), then the message in words
    kinds = [o["output_type"] for o in archive.outputs]
    assert kinds == ["error", "display_data"], kinds
    assert archive.outputs[0]["ename"] == "MastUnreachable"
    words = archive.outputs[1]["data"]["text/html"]
    assert "fgs_widgets could not do this (MastUnreachable)" in words
    assert "MAST (http://127.0.0.1:9) unreachable" in words and "What to do:" in words
    assert [o["output_type"] for o in user.outputs] == ["error"]  # 1 / 0: ours to say nothing
    assert "no data to fit: load the sample" in usage.outputs[1]["data"]["text/plain"]
    assert "still running" in fine.outputs[0]["text"]
    assert SECRET not in json.dumps(notebook)

    # what Voila 0.5 does to a failed cell without --show_tracebacks: the words stay
    execute = pytest.importorskip("voila.execute")
    stripped = copy.deepcopy(archive)
    execute.strip_code_cell_warnings(stripped)
    execute.VoilaExecutor(nbformat.v4.new_notebook()).strip_code_cell_errors(stripped)
    text = _outputs_text(stripped)
    assert "There was an error when executing cell" in text and "Traceback" not in text
    assert "MAST (http://127.0.0.1:9) unreachable" in text and "What to do:" in text
