"""Token bucket: a steady rate with room for short bursts. Time is passed in."""

from __future__ import annotations


class TokenBucket:
    def __init__(self, rate_per_second: float, burst: float) -> None:
        self.rate = rate_per_second
        self.burst = burst
        self._tokens = burst
        self._last: float | None = None

    def take(self, now: float) -> float:
        """Take one token. Returns 0 if allowed, else the seconds until one is available."""
        if self.rate <= 0:
            return 0.0
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate
