"""Errors of the archive layer: each says what failed and what to do."""

from __future__ import annotations

__all__ = ["ArchiveError", "AuthenticationError", "DownloadCancelled", "MastUnreachable",
           "NoFineGuideData", "PartialDownload", "TelemetryError", "UnsafeFileName"]


class ArchiveError(RuntimeError):
    """Something went wrong talking to MAST, the catalog or the engineering database."""


class MastUnreachable(ArchiveError):
    """The service could not be reached (no network, DNS, refused, timed out)."""

    def __init__(self, what: str, detail: str = ""):
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"{what} unreachable{extra} — use read_fine_guide on local files or the sample "
            "program (fgs_widgets.archive.sample_program()) to work offline")


class AuthenticationError(ArchiveError):
    """HTTP 401/403: a token is missing, invalid, or lacks rights."""


class NoFineGuideData(ArchiveError):
    """The query matched no fine-guide files."""


class UnsafeFileName(ArchiveError):
    """A server sent a file or folder name that could write outside the cache folder."""


class DownloadCancelled(ArchiveError):
    """The user cancelled a download; completed files are kept."""


class PartialDownload(ArchiveError):
    """Some files were downloaded and some not.

    Attributes
    ----------
    paths : list of Path
        Files downloaded (complete and checked).
    failed : dict
        file name -> reason.
    """

    def __init__(self, paths: list, failed: dict[str, str]):
        self.paths, self.failed = list(paths), dict(failed)
        reasons = "; ".join(f"{name}: {why}" for name, why in failed.items())
        super().__init__(f"{len(failed)} of {len(paths) + len(failed)} file(s) failed to "
                         f"download ({reasons}); the {len(paths)} good one(s) are kept — run "
                         "again to retry the rest")


class TelemetryError(ArchiveError):
    """The engineering database could not give the telemetry asked for."""
