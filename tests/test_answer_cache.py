"""The shared cached GET of the archive clients (`fgs_widgets.archive.answer_cache`), on real files.

The "service" here is a callable counting its calls, and the answer a decimal
number: what a client's parse-and-check does (decode, parse, reject) without the
client around it, so each rule of the cache is seen on its own.
"""

from __future__ import annotations

import pytest

from fgs_widgets.archive.answer_cache import cached_answer


class Service:
    """Answers ``body`` (or raises ``error``) and counts how often it was asked."""

    def __init__(self, body: bytes = b"42", error: Exception | None = None) -> None:
        self.body, self.error, self.calls = body, error, 0

    def __call__(self) -> bytes:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.body


def number(body: bytes) -> int:
    """Parse-and-check: ASCII digits only (a UnicodeDecodeError is a ValueError too)."""
    text = body.decode("ascii")
    if not text.isdigit():
        raise ValueError(f"not a number: {text!r}")
    return int(text)


def ask(path, service, **options):
    return cached_answer(path, service, number, unusable=(ValueError,), **options)


def files(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_answer_is_cached_as_sent_and_reused_without_fetching(tmp_path):
    path = tmp_path / "deep" / "folder" / "answer.csv"  # missing folders are created
    service = Service(b"42")
    assert ask(path, service) == 42
    assert service.calls == 1 and path.read_bytes() == b"42"
    assert ask(path, service) == 42 and service.calls == 1  # from the file
    path.write_bytes(b"7")  # what the file says is what is served
    assert ask(path, Service(error=AssertionError("must not be asked"))) == 7
    assert files(tmp_path) == ["answer.csv"]  # no temporary file beside it


def test_none_parse_result_still_counts_as_cached(tmp_path):
    path = tmp_path / "answer.csv"
    service = Service(b"anything")
    for _ in range(2):
        assert cached_answer(path, service, lambda body: None, unusable=(ValueError,)) is None
    assert service.calls == 1


@pytest.mark.parametrize("damage", [b"\xff\xfe\x00", b"<html>login</html>", b""])
def test_damaged_cache_is_dropped_and_fetched_again(tmp_path, damage):
    path = tmp_path / "answer.csv"
    path.write_bytes(damage)
    service = Service(b"42")
    assert ask(path, service) == 42
    assert service.calls == 1 and path.read_bytes() == b"42"  # replaced by the checked answer
    assert files(tmp_path) == ["answer.csv"]


def test_damaged_cache_is_dropped_even_when_the_fetch_then_fails(tmp_path):
    path = tmp_path / "answer.csv"
    path.write_bytes(b"garbage")
    with pytest.raises(ConnectionError, match="down") as info:
        ask(path, Service(error=ConnectionError("down")))
    assert not path.exists()  # not left to fail every later call
    # the cache's parse error is not chained to the service's: messages stay the client's own
    assert info.value.__context__ is None and info.value.__cause__ is None


@pytest.mark.parametrize("body", [b"<html>proxy</html>", b"4\xff2", b""])
def test_unusable_answer_raises_and_nothing_is_written(tmp_path, body):
    path = tmp_path / "cache" / "answer.csv"
    service = Service(body)
    with pytest.raises(ValueError):
        ask(path, service)
    assert service.calls == 1 and files(tmp_path) == []
    with pytest.raises(ValueError):  # nothing kept: asked again
        ask(path, service)
    assert service.calls == 2 and files(tmp_path) == []


def test_service_error_propagates_and_leaves_a_good_cache_alone(tmp_path):
    path = tmp_path / "answer.csv"
    with pytest.raises(TimeoutError, match="slow"):
        ask(path, Service(error=TimeoutError("slow")))
    assert files(tmp_path) == []
    assert ask(path, Service(b"5")) == 5
    assert ask(path, Service(error=TimeoutError("slow"))) == 5  # the cache did not need it


def test_keep_decides_whether_a_usable_answer_is_cached(tmp_path):
    path = tmp_path / "answer.csv"
    service = Service(b"0")
    seen = []

    def keep(value: int) -> bool:
        seen.append(value)
        return value > 0  # e.g. an empty telemetry answer is not final

    assert ask(path, service, keep=keep) == 0 and ask(path, service, keep=keep) == 0
    assert service.calls == 2 and seen == [0, 0] and files(tmp_path) == []
    service.body = b"3"
    assert ask(path, service, keep=keep) == 3 and path.read_bytes() == b"3"
    assert files(tmp_path) == ["answer.csv"]


def test_no_path_means_no_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    service = Service(b"42")
    assert ask(None, service) == 42 and ask(None, service) == 42
    assert service.calls == 2 and files(tmp_path) == []


def test_other_parse_errors_of_a_cached_file_are_not_swallowed(tmp_path):
    # only the client's "unusable answer" errors mean "damaged"; a bug in parse must show
    path = tmp_path / "answer.csv"
    path.write_bytes(b"42")

    def broken(body: bytes) -> int:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        cached_answer(path, Service(), broken, unusable=(ValueError,))
    assert path.read_bytes() == b"42"  # a bug is no reason to drop a good answer
