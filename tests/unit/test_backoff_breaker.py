from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from orchestrator.engine.backoff import Backoff, parse_retry_after
from orchestrator.engine.breaker import BreakerState, CircuitBreaker, CircuitOpen


def test_full_jitter_stays_under_an_exponential_ceiling() -> None:
    backoff = Backoff(base_seconds=1, cap_seconds=10)
    rng = random.Random(7)
    assert [backoff.ceiling(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    for attempt in range(1, 8):
        delays = [backoff.delay(attempt, rng=rng) for _ in range(200)]
        assert all(0 <= d <= backoff.ceiling(attempt) for d in delays)
        assert max(delays) > backoff.ceiling(attempt) / 2  # jitter spreads over the range


def test_retry_after_always_wins() -> None:
    assert Backoff().delay(1, retry_after=120) == 120
    assert Backoff(cap_seconds=5).delay(9, retry_after=60) == 60


def test_parse_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Sat, 28 Nov 2026 12:01:00 GMT", now=now) == 60
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_fails_fast_probes_and_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_seconds=30, clock=clock)
    for _ in range(3):
        breaker.before_call("jira")
        breaker.record_failure("jira")
    assert breaker.state("jira") is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as caught:
        breaker.before_call("jira")
    assert caught.value.retry_in == 30
    breaker.before_call("github")  # other targets are unaffected
    clock.now = 31
    assert breaker.state("jira") is BreakerState.HALF_OPEN
    breaker.before_call("jira")  # the one probe
    with pytest.raises(CircuitOpen):
        breaker.before_call("jira")  # no second probe while the first is out
    breaker.record_success("jira")
    assert breaker.state("jira") is BreakerState.CLOSED
    breaker.before_call("jira")


def test_failed_probe_reopens() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=10, clock=clock)
    breaker.record_failure("tfc")
    clock.now = 11
    breaker.before_call("tfc")
    breaker.record_failure("tfc")
    assert breaker.state("tfc") is BreakerState.OPEN
    clock.now = 15
    with pytest.raises(CircuitOpen):
        breaker.before_call("tfc")
