"""Break the imports of the ray worker this runs in, as an interrupted import does.

Run as a ray task by ``test_cancel_stress.py`` (workers import this module through the
task's ``PYTHONPATH``).
"""

from __future__ import annotations

import os
import sys
import types


def poison() -> int:
    """Leave ``fgs_widgets.engine.gaussian`` half-imported here; return this worker's pid."""
    # what an import cut in half leaves behind: the module is there, its names are not
    sys.modules["fgs_widgets.engine.gaussian"] = types.ModuleType("fgs_widgets.engine.gaussian")
    return os.getpid()
