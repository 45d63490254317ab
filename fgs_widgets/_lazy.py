"""Lazy package exports: names resolve to their submodule on first use (PEP 562)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str],
                 submodules: frozenset[str] = frozenset()
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` exporting ``name -> module``.

    Modules in `exports` are relative to the package (``"reader"``) or absolute
    (``"fgs_widgets.model"``); `submodules` are importable as attributes too.
    """

    def __getattr__(name: str) -> Any:
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        target = module if "." in module else f"{package}.{module}"
        return getattr(importlib.import_module(target), name)

    def __dir__() -> list[str]:
        return sorted({*exports, *submodules})

    return __getattr__, __dir__
