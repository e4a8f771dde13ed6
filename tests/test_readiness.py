"""ReadinessCache: fresh answers are reused, stale ones are refreshed once in the background, and
callers with nothing usable share one round of checks."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from invoice_assets.services.readiness import CheckResult, ReadinessCache, ReadinessReport


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Checks:
    """A stand-in for ``readiness()``: numbered answers, optionally held until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.lock = threading.Lock()

    def __call__(self) -> ReadinessReport:
        with self.lock:
            self.calls += 1
            number = self.calls
        self.started.set()
        assert self.release.wait(10), "the test never released the checks"
        return ReadinessReport(True, {"database": CheckResult("ok", {"round": number})}, {})

    def hold(self) -> None:
        self.started.clear()
        self.release.clear()


def round_of(report: ReadinessReport) -> int:
    return int(report.checks["database"].detail["round"])


def test_an_answer_is_reused_within_the_cache_interval() -> None:
    clock, checks = Clock(), Checks()
    cache = ReadinessCache(checks, ttl=1.0, max_stale=2.0, clock=clock)

    first = cache.get()
    clock.now += 0.9
    again = cache.get()

    assert round_of(first) == round_of(again) == 1
    assert checks.calls == 1
    assert cache.last is first


def test_a_stale_answer_is_served_while_one_background_refresh_runs() -> None:
    clock, checks = Clock(), Checks()
    cache = ReadinessCache(checks, ttl=1.0, max_stale=2.0, clock=clock)
    cache.get()
    clock.now += 1.5
    checks.hold()

    served = [cache.get() for _ in range(5)]  # none of them waits for the refresh
    assert checks.started.wait(10)
    flight = cache.refreshing
    assert flight is not None
    checks.release.set()
    flight.result(timeout=10)

    assert [round_of(r) for r in served] == [1] * 5
    assert checks.calls == 2  # one refresh for five stale requests
    assert round_of(cache.get()) == 2
    assert cache.refreshing is None


def test_an_answer_older_than_the_staleness_bound_is_not_served() -> None:
    clock, checks = Clock(), Checks()
    cache = ReadinessCache(checks, ttl=1.0, max_stale=2.0, clock=clock)
    cache.get()
    clock.now += 3.5  # past ttl + max_stale: the caller waits for a fresh round

    assert round_of(cache.get()) == 2


def test_callers_without_a_usable_answer_share_one_round_of_checks() -> None:
    checks = Checks()
    cache = ReadinessCache(checks, ttl=1.0, max_stale=2.0, clock=Clock())
    checks.hold()

    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(cache.get)
        assert checks.started.wait(10)
        others = [pool.submit(cache.get) for _ in range(7)]
        checks.release.set()
        answers = [first.result(10), *(f.result(10) for f in others)]

    assert checks.calls == 1
    assert {round_of(a) for a in answers} == {1}


def test_a_zero_interval_runs_the_checks_on_every_call() -> None:
    checks = Checks()
    cache = ReadinessCache(checks, ttl=0.0, max_stale=2.0, clock=Clock())

    assert [round_of(cache.get()) for _ in range(3)] == [1, 2, 3]
    assert round_of(cache.last) == 3  # type: ignore[arg-type]


def test_a_failed_refresh_reaches_its_waiters_and_the_next_call_tries_again() -> None:
    clock = Clock()
    outcomes: list[object] = [RuntimeError("boom")]

    def compute() -> ReadinessReport:
        if outcomes:
            raise outcomes.pop()  # type: ignore[misc]
        return ReadinessReport(True, {}, {})

    cache = ReadinessCache(compute, ttl=1.0, max_stale=2.0, clock=clock)
    with pytest.raises(RuntimeError, match="boom"):
        cache.get()

    assert cache.refreshing is None
    assert cache.get().ready


def test_a_refresh_slower_than_the_interval_keeps_warm_callers_served_and_counts_from_landing() -> (
    None
):
    clock, checks = Clock(), Checks()
    cache = ReadinessCache(checks, ttl=1.0, max_stale=3.0, clock=clock)
    cache.get()
    clock.now += 1.5
    checks.hold()
    cache.get()  # starts the refresh
    assert checks.started.wait(10)
    clock.now += 2.4  # the refresh is still running, 3.9 s after the last answer landed

    assert round_of(cache.get()) == 1  # served without waiting
    flight = cache.refreshing
    assert flight is not None
    checks.release.set()
    flight.result(timeout=10)
    clock.now += 0.6  # 0.6 s after the new answer landed (3 s after its checks started)

    assert round_of(cache.get()) == 2
    assert checks.calls == 2  # fresh by when it landed: no third round


def test_a_refresh_thread_that_cannot_start_strands_no_one(monkeypatch) -> None:
    clock, checks = Clock(), Checks()
    cache = ReadinessCache(checks, ttl=1.0, max_stale=2.0, clock=clock)
    cache.get()
    clock.now += 1.5

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    with monkeypatch.context() as patched:
        patched.setattr(threading.Thread, "start", refuse)
        assert round_of(cache.get()) == 1  # the last answer, still within the bound
    assert cache.refreshing is None
    clock.now += 5.0  # past the bound: the caller runs the checks itself

    assert round_of(cache.get()) == 2
