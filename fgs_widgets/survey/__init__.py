"""Survey many programs on a ray cluster: per-visit statistics into one Parquet dataset.

``fgs-widgets survey`` is the command line over this.  In Python::

    from fgs_widgets import survey
    tasks, missing = survey.tasks_for_programs([1534, 2079])   # or tasks_observed_between
    run = survey.Survey(tasks, "fgs_survey", missing=missing)
    run.run()
    table = survey.read_survey("fgs_survey")    # one row per visit
    survey.survey_qtable(table)                  # the same with units (astropy QTable)

The statistics and their definitions: `fgs_widgets.engine.stability.STATISTICS`.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "FileRef": "tasks",
    "ProgramTask": "tasks",
    "programs_from_file": "tasks",
    "tasks_for_programs": "tasks",
    "tasks_from_paths": "tasks",
    "tasks_from_products": "tasks",
    "tasks_observed_between": "tasks",
    "Survey": "run",
    "run_survey": "run",
    "read_survey": "dataset",
    "survey_qtable": "dataset",
    "survey_status": "dataset",
    "survey_program": "worker",
    "SurveyError": "worker",
}
_SUBMODULES = {"tasks", "run", "dataset", "worker"}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, frozenset(_SUBMODULES))
