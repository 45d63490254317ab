"""`ScienceReadError`: what every part of the science reader raises.

It sits in a module of its own because the parts (tables, columns, clocks,
JWST products) all raise it and none of them may import `science`, which
imports them.
"""

from __future__ import annotations

__all__ = ["ScienceReadError"]


class ScienceReadError(ValueError):
    """A science time series could not be read; the message names the file or column,
    what was found, and what to do."""
