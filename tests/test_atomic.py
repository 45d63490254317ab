"""Write-then-rename: atomic_write and atomic_directory keep the old file until the new is whole."""

from __future__ import annotations

import numpy as np
import pytest

from fgs_widgets.atomic import atomic_directory, atomic_write


class Boom(Exception):
    pass


def test_success_replaces_the_file(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old")
    with atomic_write(path) as temp:
        assert temp.parent == path.parent and temp != path
        temp.write_text("new")
        assert path.read_text() == "old"  # not visible before the block ends
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_a_writer_raising_midway_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old")
    with pytest.raises(Boom), atomic_write(path) as temp:
        with open(temp, "w") as handle:
            handle.write("half a ta")
        raise Boom
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_missing_folder_is_created(tmp_path):
    path = tmp_path / "a" / "b" / "x.txt"
    with atomic_write(path) as temp:
        temp.write_text("x")
    assert path.read_text() == "x"


def test_the_suffix_is_kept_for_writers_that_pick_the_format_from_it(tmp_path):
    path = tmp_path / "arrays.npz"
    with atomic_write(path) as temp:
        assert temp.suffix == ".npz"
        np.savez(temp, a=np.arange(3))  # would append ".npz" to any other name
    assert [p.name for p in tmp_path.iterdir()] == ["arrays.npz"]
    with np.load(path) as loaded:
        np.testing.assert_array_equal(loaded["a"], np.arange(3))


def test_a_writer_producing_no_file_raises(tmp_path):
    path = tmp_path / "nothing.parquet"
    with pytest.raises(FileNotFoundError, match="produced no file"), atomic_write(path):
        pass
    assert not list(tmp_path.iterdir())


def test_atomic_directory_swaps_a_folder_in(tmp_path):
    final = tmp_path / "sample"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with atomic_directory(final) as staging:
        assert staging.parent == tmp_path and staging != final and not list(staging.iterdir())
        (staging / "new.txt").write_text("new")
        assert (final / "old.txt").exists()  # the old folder stays until the new is whole
    assert [p.name for p in final.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["sample"]  # no staging or old folder


def test_atomic_directory_creates_when_absent(tmp_path):
    final = tmp_path / "deep" / "sample"
    with atomic_directory(final) as staging:
        (staging / "f").write_text("1")
    assert (final / "f").read_text() == "1"


def test_atomic_directory_keeps_the_old_folder_if_the_block_raises(tmp_path):
    final = tmp_path / "sample"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(Boom), atomic_directory(final) as staging:
        (staging / "new.txt").write_text("half")
        raise Boom
    assert [p.name for p in final.iterdir()] == ["old.txt"]
    assert (final / "old.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["sample"]
