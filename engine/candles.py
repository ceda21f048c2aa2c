"""Candles: intervals, and a bounded series that takes exchange klines or trades.

A series keeps the newest ``maxlen`` candles of one interval in time order. An
exchange kline for the current window replaces the provisional one; a trade
(paper feed) folds into the window it falls in. Older updates are ignored, so
replays and reconnects cannot reorder history.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

import msgspec

from engine.errors import ValidationFailed

# Engine names of intervals, MEXC's REST names; "1h" and "1w" are accepted aliases.
INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "5m": 5 * 60_000,
    "15m": 15 * 60_000,
    "30m": 30 * 60_000,
    "60m": 60 * 60_000,
    "4h": 4 * 60 * 60_000,
    "8h": 8 * 60 * 60_000,
    "1d": 24 * 60 * 60_000,
    "1W": 7 * 24 * 60 * 60_000,
}
ALIASES = {"1h": "60m", "1w": "1W", "1D": "1d", "4H": "4h"}


def normalize_interval(interval: str) -> str:
    name = ALIASES.get(interval, interval)
    if name not in INTERVAL_MS:
        raise ValidationFailed(f"interval must be one of {', '.join(INTERVAL_MS)} (or 1h, 1w)")
    return name


def window_start(time_ms: int, interval: str) -> int:
    """Start of the window holding ``time_ms``. Weeks start on Monday 00:00 UTC, as on MEXC."""
    size = INTERVAL_MS[interval]
    if interval == "1W":
        monday_offset = 4 * 24 * 60 * 60_000  # 1970-01-01 was a Thursday
        return (time_ms - monday_offset) // size * size + monday_offset
    return time_ms // size * size


class Candle(msgspec.Struct, frozen=True):
    interval: str
    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # base
    quote_volume: Decimal

    @property
    def close_time(self) -> int:
        return self.open_time + INTERVAL_MS[self.interval] - 1


class CandleSeries:
    def __init__(self, interval: str, maxlen: int = 1000) -> None:
        self.interval = normalize_interval(interval)
        self._candles: deque[Candle] = deque(maxlen=maxlen)

    def __len__(self) -> int:
        return len(self._candles)

    def update(self, candle: Candle) -> bool:
        """Take an exchange kline: replaces the candle of its window, or appends a
        newer one. Returns False for an update older than what is held."""
        if self._candles:
            last = self._candles[-1]
            if candle.open_time == last.open_time:
                self._candles[-1] = candle
                return True
            if candle.open_time < last.open_time:
                return False
        self._candles.append(candle)
        return True

    def apply_trade(self, price: Decimal, quantity: Decimal, time_ms: int) -> None:
        """Fold one trade (or a last-price tick, with quantity 0) into its window."""
        start = window_start(time_ms, self.interval)
        last = self._candles[-1] if self._candles else None
        if last is not None and start < last.open_time:
            return
        if last is not None and last.open_time == start:
            self._candles[-1] = Candle(
                interval=self.interval,
                open_time=start,
                open=last.open,
                high=max(last.high, price),
                low=min(last.low, price),
                close=price,
                volume=last.volume + quantity,
                quote_volume=last.quote_volume + quantity * price,
            )
        else:
            self._candles.append(
                Candle(self.interval, start, price, price, price, price, quantity, quantity * price)
            )

    def last(self, limit: int) -> list[Candle]:
        if limit <= 0:
            return []
        return list(self._candles)[-limit:]
