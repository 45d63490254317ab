"""ray's ``ray_current_cluster`` address file: where it is, and putting it back as found.

`ray start` writes it and never removes it when its head is terminated (only
``ray stop`` does); used by conftest's session guard and ``test_cluster.py``.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from pathlib import Path


def ray_address_path() -> Path:
    """The file in which `ray start` records its cluster for a later plain ``ray.init()``.

    Resolved as ray 2.x does (``ray._common.utils.get_ray_address_file(None)``, via
    ``get_default_system_temp_dir``), without importing ray: ``$RAY_TMPDIR``, else
    ``$TMPDIR`` on Linux, else ``/tmp`` (Linux, macOS) or the platform's temp dir, then
    ``ray/ray_current_cluster``.  ``test_cluster.py`` checks this against ray's own function.
    """
    if "RAY_TMPDIR" in os.environ:
        base = os.environ["RAY_TMPDIR"]
    elif sys.platform.startswith("linux") and "TMPDIR" in os.environ:
        base = os.environ["TMPDIR"]
    elif sys.platform.startswith(("linux", "darwin")):
        base = os.path.join(os.sep, "tmp")
    else:
        base = tempfile.gettempdir()
    return Path(base) / "ray" / "ray_current_cluster"


def read_address_file(path: Path) -> bytes | None:
    """The file's content, or None when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def restore_address_file(path: Path, content: bytes | None) -> None:
    """Put the file back as it was: absent (None) or holding exactly `content`."""
    if content is None:
        path.unlink(missing_ok=True)
    elif read_address_file(path) != content:
        path.write_bytes(content)


def cluster_is_up(content: bytes | None) -> bool:
    """Whether the recorded "host:port" accepts connections (a running GCS does)."""
    host, _, port = (content or b"").decode(errors="replace").strip().rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except (OSError, ValueError):
        return False


class RayAddressFile:
    """``ray_current_cluster``: its state before the run, and the clusters the tests start.

    A test that runs ``ray start`` on `port` calls `claim` first and `release` after its
    head is gone; `release` puts back what the file held before the claim, but only if it
    still holds our head's address (another process may have recorded its own since).
    """

    def __init__(self, path: Path):
        self.path = path
        self.before = read_address_file(path)  # None: absent
        self._claims: dict[int, bytes | None] = {}

    resolve = staticmethod(ray_address_path)  # the path for the current environment

    def current(self) -> bytes | None:
        return read_address_file(self.path)

    def holds(self, port: int) -> bool:
        """Whether the file records the cluster on `port` ("<node ip>:<port>")."""
        return (self.current() or b"").strip().endswith(f":{port}".encode())

    def claim(self, port: int) -> None:
        self._claims[port] = self.current()

    def release(self, port: int) -> None:
        before = self._claims.pop(port)
        if self.holds(port):
            restore_address_file(self.path, before)

    def close(self) -> None:
        """Undo every claim; then put back the recorded state if that makes nothing worse.

        Never unconditionally: another test run or a user's ``ray start`` on this machine
        shares the file, and blindly restoring a snapshot would clobber its live address.
        An unexplained change is undone only when the file now points at no running
        cluster and the recorded state was absent or a running cluster.
        """
        for port in list(self._claims):
            self.release(port)
        now = self.current()
        if now != self.before and not cluster_is_up(now) and (
                self.before is None or cluster_is_up(self.before)):
            restore_address_file(self.path, self.before)
