"""MAST token lookup, and a holder that never shows the token.

Order: the argument, then ``MAST_API_TOKEN``, then a token astroquery keeps in
the system keyring.  A token is never printed, logged, put in an exception,
stored in a trait or written to disk by fgs_widgets.
"""

from __future__ import annotations

import os

__all__ = ["Token", "resolve_token"]


class _SecretHeader(dict):
    """The ``Authorization`` header mapping, masked in repr.

    Frames that hold it (``headers=...`` locals) show ``<masked>`` when a
    traceback is printed with locals (``%xmode Verbose``, ``pytest -l``).
    """

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: '<masked>'" for k in self) + "}"

    __str__ = __repr__


class Token:
    """A secret string whose repr/str are masked (safe in logs, tracebacks, notebooks)."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None):
        self._value = (value or "").strip() or None

    def __bool__(self) -> bool:
        return self._value is not None

    def reveal(self) -> str | None:
        """The token itself, for an Authorization header and nothing else."""
        return self._value

    def header(self) -> dict[str, str]:
        """``{"Authorization": "token <T>"}`` (masked in repr), or ``{}`` without a token."""
        return _SecretHeader(Authorization=f"token {self._value}") if self._value else {}

    def __repr__(self) -> str:
        return "Token(<set>)" if self._value else "Token(<none>)"

    __str__ = __repr__

    def __reduce__(self):  # never pickled into a file or a ray object by accident
        raise TypeError("a MAST token is not serializable; pass it to each call instead")

    # copies are harmless (same process) and some libraries deep-copy arguments
    def __copy__(self) -> Token:
        return self

    def __deepcopy__(self, memo: dict) -> Token:
        return self


def _keyring_token() -> str | None:
    try:
        import keyring
    except ImportError:
        return None
    try:  # astroquery stores it under this service name
        return keyring.get_password("astroquery:mast.stsci.edu.token", "masttoken")
    except Exception:
        return None


def resolve_token(token: str | Token | None = None) -> Token:
    """The token to use: argument, ``MAST_API_TOKEN``, or astroquery's keyring entry."""
    if isinstance(token, Token):
        return token
    if token:
        return Token(token)
    env = os.environ.get("MAST_API_TOKEN")
    if env:
        return Token(env)
    return Token(_keyring_token())
