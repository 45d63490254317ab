"""The front-end ES modules built from ``js/`` (one per anywidget), read once."""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["BundleMissingError", "bundle"]


class BundleMissingError(FileNotFoundError):
    """The front-end bundle was not built (the package was installed without node)."""


@cache
def bundle(name: str) -> str:
    """The text of ``fgs_widgets/static/<name>``.

    Raises
    ------
    BundleMissingError
        With what to install and run.
    """
    path = resources.files("fgs_widgets") / "static" / name
    if not path.is_file():
        raise BundleMissingError(
            f"the widgets' JavaScript bundle (fgs_widgets/static/{name}) is missing: install "
            "Node.js >= 18 with npm and run `pip install -e .` again in the fgs_widgets "
            "checkout (the build hook runs esbuild), or install a built wheel")
    return path.read_text(encoding="utf-8")
