"""MEXC's request weights: every endpoint has its own budget of 500 weight per
10 s, per IP for public endpoints and per UID for keyed ones. A request over
budget is answered 429 (with Retry-After); a caller that keeps breaching is
banned with 418, for 2 minutes at first and twice as long each time after, up
to 3 days (MEXC's "escalating from 2 minutes to 3 days").
"""

from __future__ import annotations

import math
import threading
from collections import deque

import msgspec

from engine.clock import Clock

DAY_MS = 24 * 3600 * 1000


class RatePolicy(msgspec.Struct, frozen=True):
    budget: int = 500  # weight per endpoint per window; 0 turns limiting off
    window_ms: int = 10_000
    ban_after: int = 10  # 429s within one window that earn a ban
    ban_ms: int = 120_000
    max_ban_ms: int = 3 * DAY_MS


class Refusal(msgspec.Struct, frozen=True):
    status: int  # 429 or 418
    retry_after: int  # seconds


class RateLimiter:
    def __init__(self, clock: Clock, policy: RatePolicy | None = None) -> None:
        self._clock = clock
        self.policy = policy or RatePolicy()
        self._lock = threading.Lock()
        self._spent: dict[tuple[str, str], deque[tuple[int, int]]] = {}  # (scope, endpoint) -> (ms, weight)
        self._breaches: dict[str, deque[int]] = {}
        self._bans: dict[str, tuple[int, int]] = {}  # scope -> (until ms, bans so far)

    def charge(self, scope: str, endpoint: str, weight: int) -> Refusal | None:
        """Spend ``weight`` of ``scope``'s budget for ``endpoint``, or say why not."""
        policy = self.policy
        if policy.budget <= 0:
            return None
        now = self._clock.now_ms()
        with self._lock:
            until, bans = self._bans.get(scope, (0, 0))
            if now < until:
                return Refusal(418, _seconds(until - now))
            log = self._spent.setdefault((scope, endpoint), deque())
            while log and log[0][0] <= now - policy.window_ms:
                log.popleft()
            used = sum(w for _, w in log)
            if used + weight <= policy.budget:
                log.append((now, weight))
                return None
            return self._breach(scope, log, used, weight, now, bans)

    def reset(self) -> None:
        with self._lock:
            self._spent.clear()
            self._breaches.clear()
            self._bans.clear()

    def _breach(self, scope: str, log: deque[tuple[int, int]], used: int, weight: int, now: int, bans: int) -> Refusal:
        policy = self.policy
        breaches = self._breaches.setdefault(scope, deque())
        while breaches and breaches[0] <= now - policy.window_ms:
            breaches.popleft()
        breaches.append(now)
        if len(breaches) > policy.ban_after:
            length = min(policy.ban_ms * 2**bans, policy.max_ban_ms)
            self._bans[scope] = (now + length, bans + 1)
            breaches.clear()
            return Refusal(418, _seconds(length))
        # When enough of the oldest weight leaves the window for this request to fit.
        free_at = now
        for t, w in log:
            used -= w
            free_at = t + policy.window_ms
            if used + weight <= policy.budget:
                break
        return Refusal(429, _seconds(free_at - now))


def _seconds(ms: int) -> int:
    return max(1, math.ceil(ms / 1000))
