"""Staying inside MEXC's limits, and failing fast when MEXC is down.

- ``WeightLimiter``: each endpoint has its own budget of 500 weight per rolling 10 s,
  counted per IP for public endpoints and per account (UID) for keyed ones. Waiting
  here is cheaper than a 429, and repeated 429s become a 418 IP ban.
- ``Backoff``: after a 429/418 the whole client waits until Retry-After has passed;
  another endpoint's budget does not make the ban any shorter.
- ``CircuitBreaker``: after N consecutive outcome-unknown failures, stop calling
  for a while instead of piling requests onto a failing exchange.

No I/O and no sleeping: time is passed in (seconds as float, or a ``Clock``), and
callers decide how to wait. Each object is safe to share between threads.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Literal

import msgspec

from engine.clock import Clock

Mode = Literal["ip", "uid"]

BUDGET = 500  # weight per endpoint per window (MEXC "LIMITS")
WINDOW = 10.0  # seconds, rolling

# 418 bans start at 2 minutes; without a Retry-After that is the least to wait.
MIN_BAN_SECONDS = 120.0


class WeightLimiter:
    """Rolling-window weight budgets, one per (mode, endpoint)."""

    def __init__(self, budget: int = BUDGET, window: float = WINDOW) -> None:
        self.budget = budget
        self.window = window
        self._spent: dict[tuple[Mode, str], deque[tuple[float, int]]] = {}
        self._used: dict[tuple[Mode, str], int] = {}
        self._lock = threading.Lock()

    def acquire(self, endpoint: str, weight: int, now: float, mode: Mode = "ip") -> float:
        """Spend ``weight`` now and return 0, or spend nothing and return the seconds
        until it would fit; the caller waits and asks again."""
        if weight > self.budget:
            raise ValueError(f"{endpoint}: weight {weight} can never fit a budget of {self.budget}")
        key = (mode, endpoint)
        with self._lock:
            spent = self._spent.setdefault(key, deque())
            used = self._used.get(key, 0)
            while spent and spent[0][0] <= now - self.window:
                used -= spent.popleft()[1]
            if used + weight <= self.budget:
                spent.append((now, weight))
                self._used[key] = used + weight
                return 0.0
            self._used[key] = used
            # The earliest moment enough old weight has rolled out of the window.
            excess = used + weight - self.budget
            for at, w in spent:
                excess -= w
                if excess <= 0:
                    return at + self.window - now
            raise AssertionError("unreachable: weight <= budget")  # pragma: no cover

    def used(self, endpoint: str, now: float, mode: Mode = "ip") -> int:
        key = (mode, endpoint)
        with self._lock:
            return sum(w for at, w in self._spent.get(key, ()) if at > now - self.window)


class Backoff:
    """Client-wide block after a 429 or 418.

    Retry-After is honoured as given. Without it, consecutive 429s wait 1, 2, 4 ...
    up to ``max_delay`` seconds, and a 418 waits at least the shortest ban.
    """

    def __init__(self, base_delay: float = 1.0, max_delay: float = 60.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._until = 0.0
        self._strikes = 0
        self._lock = threading.Lock()

    def on_rate_limited(self, now: float, retry_after: float | None, *, banned: bool = False) -> float:
        """Record a 429 (or a 418 with ``banned``); returns how long the client is blocked."""
        with self._lock:
            self._strikes += 1
            if retry_after is not None:
                delay = retry_after
            elif banned:
                delay = MIN_BAN_SECONDS
            else:
                delay = min(self.max_delay, self.base_delay * 2 ** (self._strikes - 1))
            # A shorter answer never shortens a block already in force.
            self._until = max(self._until, now + delay)
            return self._until - now

    def on_success(self) -> None:
        with self._lock:
            self._strikes = 0

    def wait(self, now: float) -> float:
        """Seconds the client must still wait before sending anything."""
        with self._lock:
            return max(0.0, self._until - now)

    @property
    def blocked_until(self) -> float:
        return self._until


def retry_delay(attempt: int, base: float = 0.25, cap: float = 4.0) -> float:
    """Exponential delay before retry number ``attempt`` (0-based), bounded by ``cap``."""
    return min(cap, base * 2.0**attempt)


BreakerState = Literal["closed", "open", "half_open"]


class BreakerSnapshot(msgspec.Struct, frozen=True):
    state: BreakerState
    failures: int  # consecutive
    opened_at: int | None  # ms, when it last opened


class CircuitBreaker:
    """closed -> (threshold consecutive failures) -> open -> (reset_timeout) ->
    half_open: one trial call; its success closes, its failure opens again."""

    def __init__(
        self,
        failure_threshold: int,
        reset_timeout: float,
        clock: Clock,
        on_change: Callable[[BreakerState, BreakerState, BreakerSnapshot], None] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.reset_timeout_ms = int(reset_timeout * 1000)
        self._clock = clock
        self._on_change = on_change
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at: int | None = None
        self._trial_out = False
        self._lock = threading.Lock()

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    def allow(self) -> bool:
        """Whether a call may go out now. In half_open only one trial at a time does."""
        with self._lock:
            if self._state == "closed":
                return True
            if self._state == "open":
                assert self._opened_at is not None
                if self._clock.now_ms() - self._opened_at < self.reset_timeout_ms:
                    return False
                change = self._move("half_open")
                self._trial_out = True
            elif self._trial_out:
                return False
            else:
                self._trial_out = True
                return True
        self._notify(change)
        return True

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._trial_out = False
            change = self._move("closed") if self._state != "closed" else None
        self._notify(change)

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_out = False
            change = None
            if self._state == "half_open" or (
                self._state == "closed" and self._failures >= self.failure_threshold
            ):
                self._opened_at = self._clock.now_ms()
                change = self._move("open")
        self._notify(change)

    def snapshot(self) -> BreakerSnapshot:
        with self._lock:
            return self._snap()

    def blocked_for(self) -> float:
        """Seconds until a call may go out again: 0 unless open and not yet due a trial."""
        with self._lock:
            if self._state != "open" or self._opened_at is None:
                return 0.0
            return max(self.reset_timeout_ms - (self._clock.now_ms() - self._opened_at), 0) / 1000

    def _snap(self) -> BreakerSnapshot:
        return BreakerSnapshot(state=self._state, failures=self._failures, opened_at=self._opened_at)

    def _move(self, new: BreakerState) -> tuple[BreakerState, BreakerState, BreakerSnapshot]:
        old, self._state = self._state, new
        return old, new, self._snap()

    def _notify(self, change: tuple[BreakerState, BreakerState, BreakerSnapshot] | None) -> None:
        # Outside the lock: the callback may log, or read the breaker.
        if change is not None and self._on_change is not None:
            self._on_change(*change)
