"""The per-frame quality bits (`Quality`) and which of them make a frame unusable.

Its own module so that every base-level module (the data containers, the astropy tables)
can name the bits without importing each other.
"""

from __future__ import annotations

import enum

__all__ = ["BAD_QUALITY", "Quality"]


class Quality(enum.IntFlag):
    """Per-frame quality bits (``GuideStarData.quality``, uint16).

    A frame with any bit set is still present in every array; analysis code
    decides what to exclude (``GuideStarData.good``).
    """

    NAN_PIXELS = 1  #: at least one pixel is NaN
    ALL_NAN = 2  #: every pixel is NaN (nothing to fit)
    NEGATIVE_FLUX = 4  #: the NaN-ignoring frame sum is negative (the reference tool drops these)
    DQ_FLAGGED = 8  #: a pixel is marked DO_NOT_USE in the file's DQ array
    SATURATED = 16  #: a pixel is marked SATURATED in the file's DQ array
    GAP_BEFORE = 32  #: first frame after a gap of more than 1.5 cadences from the previous file
    FILE_START = 64  #: first frame of a file (a segment boundary, not a defect)
    FROM_RAW = 128  #: count rate computed here from a raw ``_uncal`` file (no flat field)

    @classmethod
    def describe(cls, value: int) -> list[str]:
        """Names of the bits set in ``value``."""
        return [flag.name for flag in cls if value & flag]


#: bits that make a frame unusable for fitting and periodograms by default
BAD_QUALITY = Quality.ALL_NAN | Quality.NEGATIVE_FLUX
