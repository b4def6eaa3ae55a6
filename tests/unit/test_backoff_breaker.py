"""Backoff, Retry-After, the circuit breaker and the retry policy that joins them (unit level;
the engine-level behaviour is in tests/integration/test_engine_failure_policy.py)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from orchestrator.catalog.models import Action
from orchestrator.engine.backoff import Backoff, parse_retry_after
from orchestrator.engine.breaker import BreakerState, CircuitBreaker, Delay, Permit
from orchestrator.engine.executor import Completed, Failed, Pending
from orchestrator.engine.policy import RetryAfterTooLong, RetryPolicy, Verdict, judge, verdict


def test_backoff_grows_within_its_bounds() -> None:
    backoff = Backoff(base_seconds=1, cap_seconds=10)
    rng = random.Random(7)
    assert [backoff.ceiling(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    for attempt in range(1, 8):
        delays = [backoff.delay(attempt, rng=rng) for _ in range(200)]
        low = backoff.ceiling(attempt)
        assert all(low <= d <= min(10, low * 1.25) for d in delays)
    assert len({backoff.delay(2, rng=rng) for _ in range(20)}) > 1  # jitter spreads them


@given(
    initial=st.integers(min_value=1, max_value=3600),
    maximum=st.integers(min_value=1, max_value=86400),
    attempt=st.integers(min_value=1, max_value=30),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
@example(initial=1, maximum=1, attempt=1, seed=0)
@example(initial=600, maximum=60, attempt=1, seed=0)  # a max below the initial delay caps it
@example(initial=30, maximum=300, attempt=30, seed=0)  # 2**29 * 30 does not escape the cap
def test_declared_delays_are_promises(initial: int, maximum: int, attempt: int, seed: int) -> None:
    """initialDelay is never undercut (unless maxDelay is lower) and maxDelay never exceeded."""
    backoff = Backoff().declared(float(initial), float(maximum))
    delay = backoff.delay(attempt, rng=random.Random(seed))
    assert delay <= maximum
    assert delay >= min(initial, maximum)


def test_declared_initial_delay_alone_keeps_the_default_cap_unless_below_it() -> None:
    assert Backoff().declared(10.0, None).cap_seconds == 300.0
    assert Backoff().declared(600.0, None).ceiling(1) == 600.0  # not undercut by the default cap
    assert Backoff().declared(None, None) == Backoff()


def test_retry_after_replaces_the_backoff() -> None:
    assert Backoff().delay(1, retry_after=120) == 120
    assert Backoff(cap_seconds=5).delay(9, retry_after=60) == 60


def test_parse_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Sat, 28 Nov 2026 12:01:00 GMT", now=now) == 60
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None


# -- the breaker -----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def call(breaker: CircuitBreaker, target: str, *, ok: bool) -> None:
    permit = breaker.admit(target)
    assert isinstance(permit, Permit)
    with permit:
        if ok:
            permit.healthy()
        else:
            permit.failed()


def test_breaker_opens_delays_probes_and_closes() -> None:
    clock = FakeClock()
    seen: list[tuple[str, BreakerState]] = []
    breaker = CircuitBreaker(failure_threshold=3, reset_seconds=30, clock=clock)
    breaker.listeners.append(lambda target, state: seen.append((target, state)))
    for _ in range(3):
        call(breaker, "jira", ok=False)
    assert breaker.state("jira") is BreakerState.OPEN
    clock.now = 10
    waiting = breaker.admit("jira")
    assert waiting == Delay("jira", 20.0, BreakerState.OPEN)  # the probe time, not a failure
    assert isinstance(breaker.admit("github"), Permit)  # other targets are unaffected
    clock.now = 31
    assert breaker.state("jira") is BreakerState.HALF_OPEN
    probe = breaker.admit("jira")
    assert isinstance(probe, Permit)
    assert probe.probe
    second = breaker.admit("jira")  # no second probe while the first is out
    assert isinstance(second, Delay)
    assert second.state is BreakerState.HALF_OPEN
    with probe:
        probe.healthy()
    assert breaker.state("jira") is BreakerState.CLOSED
    assert isinstance(breaker.admit("jira"), Permit)
    assert seen == [
        ("jira", BreakerState.OPEN),
        ("jira", BreakerState.HALF_OPEN),
        ("jira", BreakerState.CLOSED),
    ]
    assert [s.gauge for _, s in seen] == [2, 1, 0]


def test_failed_probe_reopens() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=10, clock=clock)
    call(breaker, "tfc", ok=False)
    clock.now = 11
    call(breaker, "tfc", ok=False)
    assert breaker.state("tfc") is BreakerState.OPEN
    clock.now = 15
    assert isinstance(breaker.admit("tfc"), Delay)


def open_then_probe(clock: FakeClock) -> tuple[CircuitBreaker, Permit]:
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=10, clock=clock)
    call(breaker, "api", ok=False)
    clock.now = 11
    probe = breaker.admit("api")
    assert isinstance(probe, Permit)
    assert probe.probe
    return breaker, probe


def test_probe_that_times_out_is_released_as_a_failure() -> None:
    clock = FakeClock()
    breaker, probe = open_then_probe(clock)
    with pytest.raises(TimeoutError), probe:
        raise TimeoutError
    assert breaker.state("api") is BreakerState.OPEN  # a timeout is the target's failure
    clock.now = 22
    assert isinstance(breaker.admit("api"), Permit)  # the next probe goes


def test_cancelled_probe_is_released_for_the_next_caller() -> None:
    clock = FakeClock()
    breaker, probe = open_then_probe(clock)

    async def cancelled_call() -> None:
        with probe:
            await asyncio.sleep(3600)

    async def run() -> None:
        task = asyncio.create_task(cancelled_call())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    again = breaker.admit("api")  # not "next probe in 0s" for good
    assert isinstance(again, Permit)
    assert again.probe


def test_probe_past_its_deadline_without_a_call_is_released() -> None:
    clock = FakeClock()
    breaker, probe = open_then_probe(clock)
    with probe:
        pass  # the attempt's deadline had passed: no call, no verdict
    assert isinstance(breaker.admit("api"), Permit)


def test_operator_retry_may_probe_before_the_cool_down_ends() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=600, clock=clock)
    call(breaker, "api", ok=False)
    assert isinstance(breaker.admit("api"), Delay)
    probe = breaker.admit("api", early_probe=True)
    assert isinstance(probe, Permit)
    assert probe.probe
    assert isinstance(breaker.admit("api", early_probe=True), Delay)  # still one at a time
    with probe:
        probe.healthy()
    assert breaker.state("api") is BreakerState.CLOSED


# -- verdicts and the retry policy -------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (Completed({}), Verdict.HEALTHY),
        (Pending("run-1"), Verdict.HEALTHY),
        (Failed("HTTP 429", retryable=True, details={"status_code": 429}), Verdict.NONE),
        (Failed("HTTP 404", retryable=False, details={"status_code": 404}), Verdict.HEALTHY),
        (Failed("HTTP 408", retryable=True, details={"status_code": 408}), Verdict.FAILURE),
        (Failed("HTTP 502", retryable=True, details={"status_code": 502}), Verdict.FAILURE),
        (Failed("HTTP 503", retryable=True, details={"github_status": 503}), Verdict.FAILURE),
        (Failed("connect refused", retryable=True), Verdict.FAILURE),
        (Failed("timed out", retryable=True, outcome_unknown=True), Verdict.FAILURE),
        (Failed("bad config", retryable=False), Verdict.NONE),
    ],
)
def test_only_server_side_failures_count_against_a_target(
    result: Completed | Pending | Failed, expected: Verdict
) -> None:
    assert verdict(result) is expected


def test_rate_limiting_never_trips_the_breaker() -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=30, clock=FakeClock())
    for _ in range(10):
        permit = breaker.admit("api")
        assert isinstance(permit, Permit)
        with permit:
            judge(permit, Failed("HTTP 429", retryable=True, details={"status_code": 429}))
    assert breaker.state("api") is BreakerState.CLOSED


def action_with(retry: dict[str, object]) -> Action:
    return Action.model_validate(
        {"id": "a", "type": "rest-api", "config": {"url": "https://x.test"}, "retry": retry}
    )


def test_policy_uses_declared_delays_and_caps_retry_after() -> None:
    policy = RetryPolicy(Backoff(jitter=0.0), retry_after_max_seconds=900)
    declared = action_with({"maxAttempts": 5, "initialDelay": "30s", "maxDelay": "1m"})
    transient = Failed("HTTP 502", retryable=True)
    assert [policy.after_failure(transient, n, 5, declared) for n in (1, 2, 3)] == [30, 60, 60]
    assert policy.after_failure(transient, 1, 5, None) == 2.0  # defaults without a declaration
    assert policy.after_failure(transient, 5, 5, declared) is None  # attempts used up
    busy = Failed("HTTP 429", retryable=True, retry_after=120)
    assert policy.after_failure(busy, 1, 5, declared) == 120  # the target's wait replaces it
    parked = Failed("HTTP 429", retryable=True, retry_after=86400)
    too_long = policy.after_failure(parked, 1, 5, declared)
    assert too_long == RetryAfterTooLong(86400, 900)
    assert isinstance(too_long, RetryAfterTooLong)
    text = too_long.message("https://api.test:443/v1")
    assert "86400s (Retry-After)" in text
    assert "PAO_RETRY_AFTER_MAX_SECONDS=900s" in text
