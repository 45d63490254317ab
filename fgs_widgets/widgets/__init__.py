"""The panels (each works alone given a `fgs_widgets.Session`) and the composed `App`."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FrameViewer": "frame_viewer",
    "TimeseriesViewer": "timeseries",
    "FitRunner": "fit_runner",
    "ProgramPicker": "picker",
    "PeriodogramPanel": "periodogram_panel",
    "MnemonicPanel": "mnemonic_panel",
    "App": "app",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fgs_widgets.widgets' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
