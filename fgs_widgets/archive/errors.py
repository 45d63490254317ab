"""Errors of the archive layer: each says what failed and what to do.

All derive from `ArchiveError`, so ``except ArchiveError`` catches every
service problem while programming errors (ValueError for bad arguments) pass.
No message ever contains a token.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ArchiveError", "AuthenticationError", "DownloadCancelled", "DownloadStalled",
           "MastUnreachable", "NoFineGuideData", "NotFitsFile", "PartialDownload",
           "TelemetryError", "UnsafeFileName"]

_OFFLINE = ("use read_fine_guide on local files or the sample program "
            "(fgs_widgets.archive.sample_program()) to work offline")


class ArchiveError(RuntimeError):
    """Something went wrong talking to MAST, the catalog or the engineering database."""


class MastUnreachable(ArchiveError):
    """The service could not be reached (no network, DNS, refused, timed out).

    Parameters
    ----------
    what : str
        The service and its URL, e.g. ``"MAST (https://mast.stsci.edu)"``.
    detail : str
        Why (``"timed out after 60 s"``, ``"ConnectionError"``).
    advice : str, optional
        What to do instead; default: work on local files or the sample program.
    """

    def __init__(self, what: str, detail: str = "", advice: str | None = None):
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{what} unreachable{extra} — {advice or _OFFLINE}")


class AuthenticationError(ArchiveError):
    """HTTP 401/403: a token is missing, invalid, or lacks rights."""


class NoFineGuideData(ArchiveError):
    """The query matched no fine-guide files (the message names the filters)."""


class UnsafeFileName(ArchiveError):
    """A server sent a file or folder name that could write outside the cache folder."""


class DownloadCancelled(ArchiveError):
    """The user cancelled a download; completed files are kept.

    Attributes
    ----------
    paths : list of Path
        Files complete before the cancel (usable with ``read_fine_guide``).
    """

    def __init__(self, message: str, paths: list[Path] | None = None):
        super().__init__(message)
        self.paths = list(paths or [])


class DownloadStalled(ArchiveError):
    """A download was slower than ``conf.min_download_rate`` or passed ``conf.download_deadline``.

    What the file had received is kept as ``.part`` (the next call resumes it); the
    message says whether there was any.
    """


class NotFitsFile(ArchiveError):
    """The server answered something that is not the FITS file asked for (nothing kept)."""


class PartialDownload(ArchiveError):
    """Some files were downloaded and some not.

    Attributes
    ----------
    paths : list of Path
        Files downloaded (complete and checked).
    failed : dict
        file name -> reason.
    errors : dict
        file name -> the `ArchiveError` of that file (e.g. `NotFitsFile`), for
        the files that were tried.
    """

    def __init__(self, paths: list, failed: dict[str, str],
                 errors: dict[str, ArchiveError] | None = None):
        self.paths, self.failed = list(paths), dict(failed)
        self.errors = dict(errors or {})
        reasons = "; ".join(f"{name}: {why}" for name, why in failed.items())
        super().__init__(f"{len(failed)} of {len(paths) + len(failed)} file(s) failed to "
                         f"download ({reasons}); the {len(paths)} good one(s) are kept "
                         "(read them with read_fine_guide(error.paths)) — run again to retry "
                         "the rest")


class TelemetryError(ArchiveError):
    """The engineering database could not give the telemetry asked for."""
