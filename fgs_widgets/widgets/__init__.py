"""The panels (each works alone given a `fgs_widgets.Session`) and the composed `App`."""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "FrameViewer": "frame_viewer",
    "TimeseriesViewer": "timeseries",
    "FitRunner": "fit_runner",
    "ProgramPicker": "picker",
    "PeriodogramPanel": "periodogram_panel",
    "MnemonicPanel": "mnemonic_panel",
    "SurveyPanel": "survey_panel",
    "App": "app",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
