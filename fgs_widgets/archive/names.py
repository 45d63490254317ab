"""Parse JWST guide-star file and MAST folder names.

File:   ``jw<ppppp><ooo><vvv>_gs-<function>_<yyyydddhhmmss>[-seg<NNN>]_<cal|uncal>.fits``
(the time stamp is the UTC time of the **end** of the data in the file)
Folder: ``jw<ppppp><ooo><vvv>_<gg><s><aa>_<eeeee>[-seg<NNN>]_guider<N>``
(visit group, parallel sequence id, activity, exposure; segments are written
with ``-seg`` by the pipeline, ``_seg`` is accepted too).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

__all__ = ["FileName", "FolderName", "parse_file_name", "parse_folder_name"]

_FILE = re.compile(
    r"^jw(?P<program>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})"
    r"_gs-(?P<function>fg|id|acq1|acq2|track)_(?P<stamp>\d{13})"
    r"(?:[-_]seg(?P<segment>\d{3}))?_(?P<level>cal|uncal)\.fits\Z"
)
_FOLDER = re.compile(
    r"^jw(?P<program>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})"
    r"_(?P<visit_group>\d{2})(?P<parallel_sequence_id>\d)(?P<activity>[0-9a-zA-Z]{2})"
    r"_(?P<exposure>\d{5})(?:[-_]seg(?P<segment>\d{3}))?_guider(?P<guider>[12])\Z"
)


@dataclass(frozen=True)
class FileName:
    """Fields of a guide-star product file name."""

    program: int
    observation: int
    visit: int
    function: str
    end: datetime  #: UTC end of the data in the file (the name's time stamp)
    segment: int | None
    level: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FolderName:
    """Fields of a MAST download folder name."""

    program: int
    observation: int
    visit: int
    visit_group: int
    parallel_sequence_id: int
    activity: str
    exposure: int
    segment: int | None
    guider: int


def parse_file_name(name: str) -> FileName | None:
    """Fields of ``jw..._gs-fg_<stamp>[-segNNN]_cal.fits``, or None if it is not one."""
    match = _FILE.match(name)
    if match is None:
        return None
    g = match.groupdict()
    end = datetime.strptime(g["stamp"], "%Y%j%H%M%S").replace(tzinfo=UTC)
    return FileName(
        program=int(g["program"]),
        observation=int(g["observation"]),
        visit=int(g["visit"]),
        function=g["function"],
        end=end,
        segment=None if g["segment"] is None else int(g["segment"]),
        level=g["level"],
    )


def parse_folder_name(name: str) -> FolderName | None:
    """Fields of ``jw<ppppp><ooo><vvv>_<gg><s><aa>_<eeeee>_guider<N>``, or None."""
    match = _FOLDER.match(name)
    if match is None:
        return None
    g = match.groupdict()
    return FolderName(
        program=int(g["program"]),
        observation=int(g["observation"]),
        visit=int(g["visit"]),
        visit_group=int(g["visit_group"]),
        parallel_sequence_id=int(g["parallel_sequence_id"]),
        activity=g["activity"],
        exposure=int(g["exposure"]),
        segment=None if g["segment"] is None else int(g["segment"]),
        guider=int(g["guider"]),
    )


def file_name(
    program: int,
    observation: int,
    visit: int,
    end: datetime,
    segment: int | None = None,
    level: str = "cal",
    function: str = "fg",
) -> str:
    """Build a guide-star file name (the inverse of `parse_file_name`).

    ``end`` is the UTC time of the last data in the file, as the pipeline stamps it.
    """
    seg = "" if segment is None else f"-seg{segment:03d}"
    stamp = end.strftime("%Y%j%H%M%S")
    return f"jw{program:05d}{observation:03d}{visit:03d}_gs-{function}_{stamp}{seg}_{level}.fits"


def folder_name(
    program: int,
    observation: int,
    visit: int,
    visit_group: int,
    parallel_sequence_id: int,
    activity: str,
    exposure: int,
    guider: int,
    segment: int | None = None,
) -> str:
    """Build a MAST download folder name (the inverse of `parse_folder_name`)."""
    seg = "" if segment is None else f"-seg{segment:03d}"
    return (
        f"jw{program:05d}{observation:03d}{visit:03d}_{visit_group:02d}"
        f"{parallel_sequence_id:d}{activity}_{exposure:05d}{seg}_guider{guider:d}"
    )
