"""Our failures in words on the page, also where a notebook's tracebacks are hidden.

Every error fgs_widgets raises says what went wrong and what to do.  In JupyterLab that
text is the last line of the red traceback; on a Voila page it is not shown at all:
Voila 0.5 (``voila/execute.py``, ``VoilaExecutor.strip_code_cell_errors``, unless it
runs with ``--show_tracebacks=True``) replaces each ``error`` output of a cell with
"There was an error when executing cell [n]. Please run Voilà with
--show_tracebacks=True ...", drops the cell's stderr (``strip_code_cell_warnings``) and
stops the page there; the cell's display outputs are kept.

So when a cell fails inside fgs_widgets, `install` (called when the package is imported
in a Jupyter kernel) adds a display output to that cell after its traceback: the
message, headed by the error's name, with "what to do" on its own line when the message
has one (the text after " — ").  It is an IPython ``post_run_cell`` callback, so the
traceback itself is untouched (still red and complete in Lab and Notebook), other
callbacks are kept, and errors that do not come from fgs_widgets (the user's own code,
a library called from it) get nothing more.  "Comes from fgs_widgets": the innermost
frame of its traceback, where it was raised, is a file of this package.

Secrets: the messages never hold a MAST token (the archive never puts one in an
exception); this module masks ``MAST_API_TOKEN``'s value and anything shaped like an
``Authorization``/``token=`` secret anyway before showing text.

Imported by the package's ``__init__``, so it imports only what Python has loaded at
start (``os``, ``sys``, ``types``); the rest inside the functions, and IPython only when it is
already loaded (in a kernel it is).
"""

from __future__ import annotations

import os
import sys
import types

__all__ = ["failure_bundle", "failure_html", "failure_text", "install", "mask_secrets",
           "raised_here"]

#: the separator our messages put between what went wrong and what to do
_ADVICE = " — "
_MASK = "<masked>"
_SECRET_PATTERNS = (
    # an Authorization header's value: "token <T>" or "Bearer <T>"
    r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:token|bearer)\s+)[^\s'\",}]+",
    # a token or key in a query string or a keyword argument (not advice: "token=...")
    r"(?i)\b((?:mast_api_)?token|api_?key|password)(\s*=\s*['\"]?)"
    r"(?!<masked>)(?=[^\s&'\",)]*[A-Za-z0-9])[^\s&'\",)]{4,}",
)
_STYLE = ("border-left: 4px solid #c62828; background: rgba(198, 40, 40, 0.08); "
          "padding: 6px 10px; margin: 4px 0; border-radius: 2px; "
          "font-family: var(--jp-ui-font-family, sans-serif); font-size: 13px; "
          "line-height: 1.45; color: var(--jp-ui-font-color1, #222); white-space: normal")


def mask_secrets(text: str) -> str:
    """``text`` with MAST_API_TOKEN's value and token-shaped secrets replaced by <masked>.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
    """
    import re

    token = os.environ.get("MAST_API_TOKEN", "").strip()
    if len(token) >= 4:
        text = text.replace(token, _MASK)
    header, assignment = _SECRET_PATTERNS
    text = re.sub(header, lambda m: m.group(1) + _MASK, text)
    return re.sub(assignment, lambda m: m.group(1) + m.group(2) + _MASK, text)


def _innermost(tb: types.TracebackType | None) -> types.TracebackType | None:
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb


def raised_here(exc: BaseException) -> bool:
    """True if ``exc`` was raised by fgs_widgets' own code (its innermost frame is ours).

    Parameters
    ----------
    exc : BaseException
        An exception that was raised (it has a traceback).

    Returns
    -------
    bool
        False for an exception never raised, or raised outside this package.
    """
    from pathlib import Path

    last = _innermost(exc.__traceback__)
    if last is None:
        return False
    try:
        path = Path(last.tb_frame.f_code.co_filename).resolve()
    except (OSError, ValueError):  # "<string>", a frozen module
        return False
    here = Path(__file__).resolve()
    return path.is_relative_to(here.parent) and path != here


def failure_text(exc: BaseException) -> str:
    """The message a reader sees for ``exc``: its text (a KeyError's without quotes) and
    its notes, secrets masked; the error's name when it has no text.

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    str
    """
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    notes = [str(note) for note in getattr(exc, "__notes__", ()) or ()]
    text = "\n".join([text.strip() or type(exc).__name__, *notes])
    return mask_secrets(text)


def failure_html(exc: BaseException) -> str:
    """``exc`` as an HTML block: its name, what went wrong and, when the message says (after
    " — "), what to do; everything escaped.

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    str
        A ``<div class="fgs-failure">`` with inline styles (no stylesheet is needed, so it
        reads the same in JupyterLab, Notebook, Voila and an exported HTML file).
    """
    import html

    text = failure_text(exc)
    what, _, advice = text.partition(_ADVICE)
    lines = [f"<div style='font-weight: 600; color: #c62828'>fgs_widgets could not do this "
             f"({html.escape(type(exc).__name__)})</div>",
             f"<div class='fgs-failure-what' style='white-space: pre-wrap'>"
             f"{html.escape(what)}</div>"]
    if advice:
        lines.append(f"<div class='fgs-failure-advice' style='white-space: pre-wrap'>"
                     f"<b>What to do:</b> {html.escape(advice)}</div>")
    return f"<div class='fgs-failure' role='alert' style='{_STYLE}'>{''.join(lines)}</div>"


def failure_bundle(exc: BaseException) -> dict[str, str]:
    """The display output for ``exc``: ``text/html`` (`failure_html`) and ``text/plain``.

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    dict
        MIME type -> text, for ``IPython.display.display(bundle, raw=True)``.
    """
    return {"text/html": failure_html(exc),
            "text/plain": f"fgs_widgets could not do this ({type(exc).__name__}): "
                          f"{failure_text(exc)}"}


def _after_cell(result: object = None) -> None:
    """IPython ``post_run_cell`` callback: a failure of ours, in words, under its cell."""
    error = getattr(result, "error_in_exec", None)
    if not isinstance(error, Exception) or not raised_here(error):
        return  # no error, Ctrl-C (KeyboardInterrupt), or not ours
    try:
        from IPython.display import display

        display(failure_bundle(error), raw=True)
    except Exception:  # the traceback above still says it; never a second error
        pass


def install(shell: object = None) -> bool:
    """Show fgs_widgets' failures in words under the failing cell (see the module's notes).

    Does nothing outside a Jupyter kernel (plain Python, a terminal IPython: the
    traceback is all there is and it is shown), and nothing the second time.

    Parameters
    ----------
    shell : IPython.core.interactiveshell.InteractiveShell, optional
        Default: the running one, if IPython is loaded.

    Returns
    -------
    bool
        True when the callback is registered on the kernel's shell (now or before).
    """
    if shell is None:
        ipython = sys.modules.get("IPython")
        get = getattr(ipython, "get_ipython", None)
        shell = get() if get is not None else None
    events = getattr(shell, "events", None)
    if events is None or getattr(shell, "kernel", None) is None:
        return False
    callbacks = events.callbacks.get("post_run_cell", [])
    if not any(getattr(c, "__module__", None) == __name__
               and getattr(c, "__name__", None) == "_after_cell" for c in callbacks):
        events.register("post_run_cell", _after_cell)
    return True
