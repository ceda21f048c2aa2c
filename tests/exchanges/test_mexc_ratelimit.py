"""engine.exchanges.mexc.ratelimit: weight budgets, Retry-After back-off, circuit breaker.

All pure: time is passed in, or read from a ManualClock.
"""

from __future__ import annotations

import pytest

from engine.clock import ManualClock
from engine.exchanges.mexc.ratelimit import (
    MIN_BAN_SECONDS,
    Backoff,
    BreakerSnapshot,
    CircuitBreaker,
    WeightLimiter,
    retry_delay,
)

# -- WeightLimiter ----------------------------------------------------------------------


def test_weight_within_the_budget_is_granted_at_once() -> None:
    limiter = WeightLimiter()
    assert limiter.acquire("GET /api/v3/account", 10, now=0.0) == 0.0
    assert limiter.used("GET /api/v3/account", now=0.0) == 10


def test_a_full_budget_makes_the_next_call_wait_until_the_window_rolls() -> None:
    limiter = WeightLimiter()
    assert limiter.acquire("GET /api/v3/depth", 500, now=100.0) == 0.0
    assert limiter.acquire("GET /api/v3/depth", 1, now=103.0) == pytest.approx(7.0)
    assert limiter.acquire("GET /api/v3/depth", 1, now=110.0) == 0.0


def test_a_refused_acquire_spends_nothing() -> None:
    limiter = WeightLimiter()
    limiter.acquire("e", 495, now=0.0)
    assert limiter.acquire("e", 10, now=1.0) > 0
    assert limiter.used("e", now=1.0) == 495
    assert limiter.acquire("e", 5, now=1.0) == 0.0


def test_wait_is_until_just_enough_old_weight_has_expired() -> None:
    limiter = WeightLimiter()
    limiter.acquire("e", 300, now=0.0)
    limiter.acquire("e", 200, now=4.0)
    assert limiter.acquire("e", 250, now=5.0) == pytest.approx(5.0)  # the 300 expires at 10
    assert limiter.acquire("e", 350, now=5.0) == pytest.approx(9.0)  # needs the 200 (t=4) gone too


def test_each_endpoint_has_its_own_budget() -> None:
    limiter = WeightLimiter()
    limiter.acquire("GET /api/v3/order", 500, now=0.0)
    assert limiter.acquire("DELETE /api/v3/order", 1, now=0.0) == 0.0
    assert limiter.acquire("GET /api/v3/order", 1, now=0.0) > 0


def test_ip_and_uid_budgets_of_one_endpoint_are_independent() -> None:
    limiter = WeightLimiter()
    limiter.acquire("GET /api/v3/depth", 500, now=0.0, mode="ip")
    assert limiter.acquire("GET /api/v3/depth", 500, now=0.0, mode="uid") == 0.0
    assert limiter.acquire("GET /api/v3/depth", 1, now=0.0, mode="ip") > 0


def test_a_weight_larger_than_the_budget_is_refused_outright() -> None:
    with pytest.raises(ValueError):
        WeightLimiter(budget=20).acquire("e", 21, now=0.0)


# -- Backoff -----------------------------------------------------------------------------


def test_retry_after_blocks_the_client_for_exactly_that_long() -> None:
    backoff = Backoff()
    assert backoff.on_rate_limited(now=100.0, retry_after=7.0) == pytest.approx(7.0)
    assert backoff.wait(100.0) == pytest.approx(7.0)
    assert backoff.wait(106.0) == pytest.approx(1.0)
    assert backoff.wait(107.0) == 0.0


def test_consecutive_429s_without_retry_after_double_the_wait_up_to_the_cap() -> None:
    backoff = Backoff(base_delay=1.0, max_delay=3.0)
    waits = [backoff.on_rate_limited(now=1000.0 * i, retry_after=None) for i in range(4)]
    assert waits == [1.0, 2.0, 3.0, 3.0]


def test_a_success_resets_the_escalation() -> None:
    backoff = Backoff(base_delay=1.0)
    backoff.on_rate_limited(now=0.0, retry_after=None)
    backoff.on_rate_limited(now=10.0, retry_after=None)
    backoff.on_success()
    assert backoff.on_rate_limited(now=20.0, retry_after=None) == 1.0


def test_a_ban_without_retry_after_waits_the_shortest_ban() -> None:
    assert Backoff().on_rate_limited(now=0.0, retry_after=None, banned=True) == MIN_BAN_SECONDS == 120.0


def test_a_shorter_later_answer_does_not_shorten_a_block_in_force() -> None:
    backoff = Backoff()
    backoff.on_rate_limited(now=0.0, retry_after=60.0)
    assert backoff.on_rate_limited(now=1.0, retry_after=2.0) == pytest.approx(59.0)
    assert backoff.blocked_until == 60.0


def test_retry_delay_grows_exponentially_and_is_bounded() -> None:
    assert [retry_delay(a, base=0.25, cap=1.0) for a in range(5)] == [0.25, 0.5, 1.0, 1.0, 1.0]


# -- CircuitBreaker ----------------------------------------------------------------------


def breaker(threshold: int = 3, reset: float = 30.0) -> tuple[CircuitBreaker, ManualClock, list[tuple[str, str]]]:
    clock = ManualClock(1_000_000)
    changes: list[tuple[str, str]] = []
    cb = CircuitBreaker(threshold, reset, clock, on_change=lambda old, new, snap: changes.append((old, new)))
    return cb, clock, changes


def test_breaker_starts_closed_and_allows_calls() -> None:
    cb, _, _ = breaker()
    assert cb.allow()
    assert cb.snapshot() == BreakerSnapshot(state="closed", failures=0, opened_at=None)


def test_breaker_opens_after_threshold_consecutive_failures_and_refuses_calls() -> None:
    cb, clock, changes = breaker(threshold=3)
    cb.record_failure()
    cb.record_failure()
    assert cb.allow()
    cb.record_failure()
    assert not cb.allow()
    assert cb.snapshot() == BreakerSnapshot(state="open", failures=3, opened_at=clock.now_ms())
    assert changes == [("closed", "open")]


def test_a_success_between_failures_keeps_the_breaker_closed() -> None:
    cb, _, _ = breaker(threshold=2)
    cb.record_failure()
    cb.record_success()
    cb.record_failure()
    assert cb.state == "closed" and cb.snapshot().failures == 1


def test_open_breaker_allows_one_trial_after_the_reset_timeout() -> None:
    cb, clock, changes = breaker(threshold=1, reset=30.0)
    cb.record_failure()
    clock.advance(29_999)
    assert not cb.allow()
    clock.advance(1)
    assert cb.allow()
    assert cb.state == "half_open"
    assert not cb.allow()  # a second caller waits for the trial's result
    assert changes == [("closed", "open"), ("open", "half_open")]


def test_an_open_breaker_says_how_long_calls_stay_blocked() -> None:
    cb, clock, _ = breaker(threshold=1, reset=30.0)
    assert cb.blocked_for() == 0
    cb.record_failure()
    clock.advance(10_000)
    assert cb.blocked_for() == 20.0
    clock.advance(20_000)
    assert cb.blocked_for() == 0  # due a trial: the next call may go


def test_a_successful_trial_closes_the_breaker_and_clears_failures() -> None:
    cb, clock, changes = breaker(threshold=1, reset=5.0)
    cb.record_failure()
    clock.advance(5_000)
    assert cb.allow()
    cb.record_success()
    assert cb.snapshot() == BreakerSnapshot(state="closed", failures=0, opened_at=1_000_000)
    assert cb.allow() and cb.allow()
    assert changes[-1] == ("half_open", "closed")


def test_a_failed_trial_reopens_the_breaker_for_another_full_timeout() -> None:
    cb, clock, _ = breaker(threshold=1, reset=5.0)
    cb.record_failure()
    clock.advance(5_000)
    assert cb.allow()
    cb.record_failure()
    snap = cb.snapshot()
    assert snap.state == "open" and snap.opened_at == 1_005_000
    clock.advance(4_999)
    assert not cb.allow()
    clock.advance(1)
    assert cb.allow()


def test_breaker_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(0, 1.0, ManualClock())
