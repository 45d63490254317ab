"""The frozen baselines in benchmarks/ (copies of code as it was before a change), as modules."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@contextmanager
def frozen(name: str) -> Iterator[ModuleType]:
    """``benchmarks/<name>.py`` imported as module ``name`` for the duration of the block."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


def kept(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported once and kept registered as module ``name``
    (numba's on-disk cache finds a module's compiled kernels by its name)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
