"""Small pieces shared by the panels: status lines and running work off the kernel's thread."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable

import ipywidgets as W

__all__ = ["StatusLine", "run_in_background"]


class StatusLine(W.HTML):
    """A one-line message; errors in red, escaped (messages may quote server text)."""

    def info(self, text: str) -> None:
        self.value = f"<span class='fgs-status'>{html.escape(text)}</span>"

    def error(self, text: str) -> None:
        self.value = f"<span class='fgs-error' style='color:#c62828'>{html.escape(text)}</span>"

    def clear(self) -> None:
        self.value = ""


def run_in_background(work: Callable[[], None], status: StatusLine,
                      done: Callable[[], None] | None = None) -> threading.Thread:
    """Run ``work`` in a thread; any exception becomes a red status line, never a traceback."""

    def target() -> None:
        try:
            work()
        except Exception as exc:  # shown to the user in the panel
            status.error(f"{type(exc).__name__}: {exc}")
        finally:
            if done is not None:
                done()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread
