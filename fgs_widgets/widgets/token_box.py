"""A password box for the MAST token that never leaves the token in widget state.

Widget state is what a notebook saves ("Save Widget State") and what the
browser holds; a plain password box keeps the typed token there until an
action clears it.  Here the browser sends the value only when the box loses
focus or Enter is pressed (``continuous_update=False``); the kernel moves it at
once into a private, masked `Token` (not a trait) and clears the box, so the
only value synced back is the empty string (ipywidgets 8's echo of received
values is switched off for it).  The held token serves the next action only.
"""

from __future__ import annotations

import ipywidgets as W
import traitlets as t

from ..archive.tokens import Token

__all__ = ["TokenBox"]

_RECEIVED = "token received · used once"  # short: the box is 300 px wide


class TokenBox(W.Password):
    """A `ipywidgets.Password` whose value is taken out as soon as it arrives.

    Parameters
    ----------
    placeholder : str
        Shown while no token is held.
    **kwargs
        Passed to `ipywidgets.Password` (layout, description, ...).
    """

    # ipywidgets 8 echoes every value a browser sends back to all its views; not this one
    value = t.Unicode(help="always empty: the typed token is taken out at once").tag(
        sync=True, echo_update=False)

    def __init__(self, placeholder: str, **kwargs):
        kwargs.setdefault("description", "token")
        super().__init__(placeholder=placeholder, continuous_update=False, **kwargs)
        self._ask = placeholder
        self._held = Token(None)
        self.observe(self._receive, names="value")

    def _receive(self, change: dict) -> None:
        if not change["new"]:
            return
        self._held = Token(change["new"])
        self.value = ""  # the typed token is never kept in (or sent back as) widget state
        self.placeholder = _RECEIVED

    @property
    def held(self) -> bool:
        """Whether a token waits for the next action."""
        return bool(self._held)

    def take(self) -> Token | None:
        """The token typed (masked), or None; the box forgets it."""
        held, self._held = self._held, Token(None)
        self.placeholder = self._ask
        return held or None
