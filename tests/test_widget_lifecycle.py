"""One lifecycle for every widget that follows a model: closed, it leaves no observer behind."""

from __future__ import annotations

import pytest

from fgs_widgets.widgets._common import Follower


def observers(model) -> dict[str, list]:
    """Every change observer of ``model``, by trait name."""
    return {name: list(kinds.get("change", []))
            for name, kinds in model._trait_notifiers.items() if kinds.get("change")}


def test_closing_the_app_leaves_no_observer_on_the_session(fitted_session, tmp_path,
                                                          monkeypatch):
    from fgs_widgets.widgets import App

    monkeypatch.chdir(tmp_path)
    session = fitted_session
    before = observers(session), [observers(job) for job in session.jobs]
    app = App(session)
    assert observers(session) != before[0]  # it does follow the session
    widgets = [app, app.picker, app.fit_runner, app.frame_viewer, app.timeseries,
               app.periodogram, app.science, app.mnemonics]
    assert all(isinstance(w, Follower) for w in widgets)
    session.wait()  # the periodogram the App started on the fitted data
    app.close()
    assert observers(session) == before[0]
    assert [observers(job) for job in session.jobs] == before[1]
    app.close()  # ipywidgets closes again when collected: harmless
    # closed, nothing reacts: a new periodogram (another grid) is not drawn
    drawn = app.periodogram.line.x
    session.compute_periodograms(["x_mean"], max_period=50.0)
    assert app.periodogram.line.x is drawn


@pytest.mark.parametrize("make", ["TimeseriesViewer", "FrameViewer", "PeriodogramPanel",
                                  "SciencePanel", "MnemonicPanel", "FitRunner",
                                  "ProgramPicker"])
def test_every_panel_alone_undoes_its_observers(fitted_session, make):
    import fgs_widgets.widgets as widgets
    from fgs_widgets.widgets.science_panel import SciencePanel

    session = fitted_session
    before = observers(session), [observers(job) for job in session.jobs]
    if make == "SciencePanel":  # drawn beside a series viewer, sharing its time axis
        viewer = widgets.TimeseriesViewer(session)
        SciencePanel(session, viewer).close()
        viewer.close()
    else:
        widget = getattr(widgets, make)(session)
        assert isinstance(widget, Follower)
        widget.close()
    assert observers(session) == before[0]
    assert [observers(job) for job in session.jobs] == before[1]


def test_the_survey_panel_undoes_its_observer(sample, tmp_path):
    from fgs_widgets.survey.run import Survey
    from fgs_widgets.survey.tasks import tasks_from_paths
    from fgs_widgets.widgets.survey_panel import SurveyPanel

    survey = Survey(tasks_from_paths([sample.paths[0]]), tmp_path / "survey", fit="quick")
    before = observers(survey)
    panel = SurveyPanel(survey)
    assert observers(survey) != before
    panel.close()
    assert observers(survey) == before
