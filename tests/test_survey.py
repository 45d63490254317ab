"""Surveys of many programs: tasks from MAST, ray tasks, the Parquet dataset, resuming.

Programs are sample programs written through the data model under other program ids
and dates, served by a loopback MAST (real HTTP, astroquery's query and paging).  The
survey runs on the suite's shared local ray; its workers are other processes, so they
see the head's MAST server only through the settings the survey hands them.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from loopback import Behaviour, LoopbackServer, serve_sample

from fgs_widgets.archive import conf, read_fine_guide
from fgs_widgets.archive.sample import write_sample_program
from fgs_widgets.cli import main
from fgs_widgets.engine.quickfit import quick_fit
from fgs_widgets.engine.stability import visit_statistics
from fgs_widgets.survey import (
    Survey,
    programs_from_file,
    read_survey,
    survey_status,
    tasks_for_programs,
    tasks_from_paths,
    tasks_observed_between,
)
from fgs_widgets.survey.dataset import MANIFEST, PARTITION_FILE, partition_dir

pytestmark = pytest.mark.ray

#: program -> first frame (MJD): a week apart, so a date range can pick some of them
PROGRAMS = {2001: 59950.0, 2002: 59957.0, 2003: 59964.0}


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    root = tmp_path_factory.mktemp("programs")
    return {p: write_sample_program(root / str(p), seed=p, program=p, start=start)
            for p, start in PROGRAMS.items()}


@pytest.fixture
def archive(programs, tmp_path, monkeypatch):
    """A loopback MAST serving the programs."""
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    behaviour = Behaviour(page_size=5)
    for sample in programs.values():
        serve_sample(behaviour, sample)
    with LoopbackServer(behaviour) as server, conf.override(
            mast_server=server.url, cache_dir=tmp_path / "head-cache", timeout=5):
        yield server


def downloads(server) -> list[str]:
    return [path for method, path, _ in server.behaviour.log
            if method == "GET" and "Download/file" in path]


def test_tasks_from_mast_list_file_and_date_range(archive, tmp_path):
    tasks, missing = tasks_for_programs([2001, "02003", 9999])
    assert [t.program for t in tasks] == [2001, 2003]
    assert [len(t) for t in tasks] == [4, 4]
    assert list(tasks[0].observations()) == [1, 2]
    assert all(f.uri.startswith("mast:") and f.size > 0 for f in tasks[0].files)
    assert list(missing) == [9999] and "NoFineGuideData" in missing[9999]
    listed = tmp_path / "programs.txt"
    listed.write_text("# cycle 1\n2001, 2002\n2003 # last\n2002\n")
    assert programs_from_file(listed) == [2001, 2002, 2003]
    (tmp_path / "bad.txt").write_text("2001\nP2002\n")
    with pytest.raises(ValueError, match=r"bad.txt, line 2: 'P2002'"):
        programs_from_file(tmp_path / "bad.txt")
    # one range query: the programs whose data began in the week of 2002 and 2003's start
    ranged = tasks_observed_between(59956.5, "2023-01-22T00:00:00")
    assert [t.program for t in ranged] == [2002, 2003]
    assert [t.program for t in tasks_observed_between("59956.5", "59957.5")] == [2002]
    ranges = [f for entry in archive.behaviour.invokes for f in entry["params"]["filters"]
              if f["paramName"] == "date_beg_mjd"]
    assert ranges and ranges[-1]["values"][0]["min"] == 59956.5
    # a task is a description: names, URIs and sizes, a few hundred bytes per file
    assert len(pickle.dumps(tasks[0].to_dict())) < 300 * len(tasks[0])


def expected_statistics(sample) -> pd.DataFrame:
    data = read_fine_guide(sample.paths)
    return visit_statistics(data, quick_fit(data.frames))


def test_survey_writes_a_verified_partition_per_observation(archive, programs, tmp_path,
                                                            ray_local):
    tasks, _ = tasks_for_programs(PROGRAMS)
    out = tmp_path / "survey"
    seen = []
    survey = Survey(tasks, out, fit="quick", cache_dir=tmp_path / "node-cache")
    survey.run(lambda program, state, record: seen.append((program, state)))
    assert sorted(seen) == [(p, "done") for p in PROGRAMS]
    assert survey.n_done == 3 and survey.n_failed == 0
    assert "done, 2 observation(s) written" in survey.message
    table = read_survey(out)
    # one row per visit: observation 1 visit 1, observation 2 visits 1 and 2
    assert table.groupby("program").size().to_dict() == dict.fromkeys(PROGRAMS, 3)
    assert table["program"].dtype == np.int64
    for program, sample in programs.items():
        got = table[table["program"] == program].drop(
            columns=["program", "fit_method", "n_problem_files"]).reset_index(drop=True)
        want = expected_statistics(sample).drop(columns=["program"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False,
                                      check_categorical=False)
    for program in PROGRAMS:
        manifest = json.loads((partition_dir(out, program, 2) / MANIFEST).read_text())
        assert manifest["rows"] == 2 and manifest["n_frames"] == 4096 + 2048
    status = survey_status(out)
    assert list(status["state"]) == ["done"] * 3
    assert len(downloads(archive)) == 12  # each file once, by the workers


def test_rerun_skips_complete_programs_and_redoes_only_what_is_damaged(
        archive, programs, tmp_path, ray_local):
    tasks, _ = tasks_for_programs(PROGRAMS)
    out = tmp_path / "survey"
    Survey(tasks, out, fit="quick", cache_dir=tmp_path / "node-cache").run()
    fetched = len(downloads(archive))
    again = Survey(tasks, out, fit="quick", cache_dir=tmp_path / "node-cache")
    again.run()
    assert again.n_skipped == 3 and again.n_done == 0
    again.run()  # the same survey run twice counts afresh
    assert again.n_skipped == 3 and again.n_done == 0 and "[3/3]" in again.message
    assert len(downloads(archive)) == fetched
    # a damaged partition file (same size, other bytes) and a partition whose manifest a
    # killed worker never wrote: those two observations are done again, nothing else
    before = read_survey(out)
    damaged = partition_dir(out, 2001, 2) / PARTITION_FILE
    raw = bytearray(damaged.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    (partition_dir(out, 2002, 1) / MANIFEST).unlink()
    # what is read is verified: the two damaged partitions are left out until redone
    assert len(read_survey(out)) == len(before) - 2 - 1
    third = Survey(tasks, out, fit="quick", cache_dir=tmp_path / "node-cache")
    third.run()
    assert third.n_done == 2 and third.n_skipped == 1
    states = {p: {o["observation"]: o["state"] for o in third.reports[p]["observations"]}
              for p in (2001, 2002)}
    assert states == {2001: {1: "skipped", 2: "written"}, 2002: {1: "written", 2: "skipped"}}
    pd.testing.assert_frame_equal(read_survey(out), before)
    # other settings (the Gaussian fit) are other numbers: nothing is skipped
    assert not Survey(tasks, out, fit="gaussian").complete(tasks[0])


def test_a_failing_program_is_recorded_and_retried_by_the_next_run(
        archive, programs, tmp_path, ray_local):
    tasks, missing = tasks_for_programs([*PROGRAMS, 9999])
    bad = tasks[1].files[2]
    good = archive.behaviour.files[bad.uri]
    archive.behaviour.files[bad.uri] = b"<html>maintenance</html>"  # HTTP 200, not FITS
    out = tmp_path / "survey"
    survey = Survey(tasks, out, fit="quick", cache_dir=tmp_path / "node-cache",
                    missing=missing)
    survey.run()
    assert survey.states == {2001: "done", 2002: "failed", 2003: "done", 9999: "failed"}
    assert bad.file_name in survey.errors[2002]
    status = survey_status(out).set_index("program")
    assert status.loc[2002, "state"] == "failed" and bad.file_name in status.loc[2002, "error"]
    assert "9999" in status.loc[9999, "error"]
    # observation 1 of 2002 was written before observation 2 failed: it is kept, but the
    # dataset as read holds finished programs only
    assert (partition_dir(out, 2002, 1) / MANIFEST).exists()
    assert not partition_dir(out, 2002, 2).exists()
    assert sorted(read_survey(out)["program"].unique()) == [2001, 2003]
    assert 2002 in pd.read_parquet(out)["program"].astype(int).unique()
    assert not list((tmp_path / "node-cache").rglob(bad.file_name))  # no bad file kept
    archive.behaviour.files[bad.uri] = good
    again = Survey(tasks, out, fit="quick", cache_dir=tmp_path / "node-cache")
    again.run()
    assert again.states == {2001: "skipped", 2002: "done", 2003: "skipped"}
    assert [o["state"] for o in again.reports[2002]["observations"]] == ["skipped", "written"]
    assert survey_status(out).set_index("program").loc[2002, "runs"] == 2


def test_transient_failures_are_retried_by_ray(archive, programs, tmp_path, ray_local):
    tasks, _ = tasks_for_programs([2003])
    archive.behaviour.status, archive.behaviour.status_count = 503, 2  # MAST busy a moment
    with conf.override(retries=0, timeout=2):
        survey = Survey(tasks, tmp_path / "survey", fit="quick", retries=3,
                        cache_dir=tmp_path / "node-cache")
        survey.run()
    assert survey.states == {2003: "done"}, survey.errors
    assert archive.behaviour.status_count == 0


def test_cli_survey_of_local_files_and_status(programs, tmp_path, capsys, ray_local):
    out = tmp_path / "survey"
    paths = [str(programs[2001].directory), str(programs[2002].directory)]
    assert main(["survey", str(out), "--paths", *paths, "--fit", "quick"]) == 0
    err = capsys.readouterr().err
    assert "survey of 2 program(s), 8 file(s)" in err
    assert "[2/2] program" in err and "2 done, 0 already complete, 0 failed" in err
    assert main(["survey", str(out), "--status"]) == 0
    printed = capsys.readouterr().out
    assert "2001" in printed and "done" in printed
    assert main(["survey", str(out), "--paths", *paths, "--fit", "quick"]) == 0
    assert "0 done, 2 already complete" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:
        main(["survey", str(out)])
    assert bad.value.code == 2
    assert "give one of --programs" in capsys.readouterr().err
    assert len(read_survey(out)) == 6
    assert len(tasks_from_paths(paths)) == 2


def test_survey_panel_follows_the_survey(programs, tmp_path, ray_local):
    from fgs_widgets.widgets import SurveyPanel

    tasks = tasks_from_paths([programs[2001].directory, programs[2002].directory])
    gone = tasks[1].files[0]
    moved = tmp_path / gone.file_name
    survey = Survey(tasks, tmp_path / "survey", fit="quick")
    panel = SurveyPanel(survey)
    assert panel.bar.value == 0 and panel.bar.max == 1
    assert [r["state"] for r in panel.rows()] == ["pending", "pending"]
    assert not panel.start_button.disabled and panel.cancel_button.disabled
    Path(gone.uri).rename(moved)  # program 2002 loses a file after planning
    try:
        panel.start()
        assert survey.wait(300)
    finally:
        moved.rename(gone.uri)
    assert panel.bar.value == 1 and panel.bar.bar_style == "danger"
    assert survey.job.state == "done" and survey.job.done == survey.job.total == 2
    assert "survey done: 1 done, 0 already complete, 1 failed" in panel.status.value
    rows = {r["program"]: r for r in panel.rows()}
    assert rows[2001]["state"] == "done" and rows[2001]["frames"] == 14_336
    assert rows[2001]["observations"] == 2
    assert rows[2002]["state"] == "failed" and "no such file" in rows[2002]["error"]
    assert gone.file_name in rows[2002]["error"] or gone.uri in rows[2002]["error"]
    assert "1 done, 0 already complete, 1 failed, 0 to go" in panel.summary.value
    assert "fgs-survey-failed" in panel.table.value and "14,336" in panel.table.value
    assert not panel.start_button.disabled and panel.cancel_button.disabled
    panel.close()
