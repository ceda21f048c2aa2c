"""Candles of every MEXC interval, built from a symbol's trades as they happen.

Each trade updates the open candle of every interval; a candle with no trades
in it is answered as a flat one at the previous close, as exchanges show them.
Weeks start on Monday 00:00 UTC and months on the 1st, like MEXC's 1W and 1M.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from decimal import Decimal

from engine.exchanges.mexc_sim.model import Kline
from engine.money import LEDGER

MINUTE = 60_000
DAY = 24 * 60 * MINUTE
WEEK = 7 * DAY
MONDAY_OFFSET = 4 * DAY  # the epoch was a Thursday

# REST name -> (length in ms, or 0 for a calendar month; WebSocket name)
INTERVALS: dict[str, tuple[int, str]] = {
    "1m": (MINUTE, "Min1"),
    "5m": (5 * MINUTE, "Min5"),
    "15m": (15 * MINUTE, "Min15"),
    "30m": (30 * MINUTE, "Min30"),
    "60m": (60 * MINUTE, "Min60"),
    "4h": (240 * MINUTE, "Hour4"),
    "8h": (480 * MINUTE, "Hour8"),
    "1d": (DAY, "Day1"),
    "1W": (WEEK, "Week1"),
    "1M": (0, "Month1"),
}
REST_INTERVALS = ("1m", "5m", "15m", "30m", "60m", "4h", "1d", "1W", "1M")  # no 8h on REST
WS_TO_REST = {ws: rest for rest, (_, ws) in INTERVALS.items()}

# A day of minutes and then some: the 24h ticker is summed from 1m candles.
KEEP = {"1m": 1_500}
KEEP_DEFAULT = 1_000


def window(interval: str, t: int) -> tuple[int, int]:
    """(open time, close time) of the candle of ``interval`` holding ``t``."""
    length = INTERVALS[interval][0]
    if length == 0:
        d = datetime.fromtimestamp(t / 1000, tz=UTC)
        month = datetime(d.year, d.month, 1, tzinfo=UTC)
        following = datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=UTC)
        return int(month.timestamp() * 1000), int(following.timestamp() * 1000)
    offset = MONDAY_OFFSET if interval == "1W" else 0
    start = (t - offset) // length * length + offset
    return start, start + length


class KlineSeries:
    """All intervals of one symbol."""

    def __init__(self) -> None:
        self._series: dict[str, deque[Kline]] = {
            name: deque(maxlen=KEEP.get(name, KEEP_DEFAULT)) for name in INTERVALS
        }
        self.last_price: Decimal | None = None

    def add_trade(self, price: Decimal, qty: Decimal, t: int) -> list[Kline]:
        """Fold a trade in; returns the updated candles (copies), one per interval."""
        quote = LEDGER.multiply(price, qty)
        updated = []
        for name, series in self._series.items():
            start, end = window(name, t)
            if not series or series[-1].open_time < start:
                series.append(Kline(name, start, end, price, price, price, price))
            k = series[-1]
            if k.open_time > start:
                continue  # a trade stamped before the open candle (clock skew): ignore
            k.high = max(k.high, price)
            k.low = min(k.low, price)
            k.close = price
            k.volume = LEDGER.add(k.volume, qty)
            k.quote_volume = LEDGER.add(k.quote_volume, quote)
            updated.append(k.snapshot())
        self.last_price = price
        return updated

    def seed(self, minutes: list[Kline]) -> None:
        """Start from history: 1m candles, oldest first, folded into every interval.
        Only before the first trade; live candles carry on from the last close."""
        if self.last_price is not None:
            raise ValueError("history goes in before the first trade")
        for m in minutes:
            for name, series in self._series.items():
                start, end = window(name, m.open_time)
                if not series or series[-1].open_time < start:
                    series.append(Kline(name, start, end, m.open, m.high, m.low, m.close, m.volume, m.quote_volume))
                    continue
                k = series[-1]
                k.high, k.low, k.close = max(k.high, m.high), min(k.low, m.low), m.close
                k.volume = LEDGER.add(k.volume, m.volume)
                k.quote_volume = LEDGER.add(k.quote_volume, m.quote_volume)

    def query(self, interval: str, start: int | None, end: int | None, limit: int, now: int) -> list[Kline]:
        """Candles with ``start <= open time < end``, gaps filled flat, newest ``limit``."""
        series = self._series[interval]
        if not series:
            return []
        rows: list[Kline] = []
        previous: Kline | None = None
        for k in series:
            if previous is not None:
                rows.extend(self._flat(interval, previous.close_time, k.open_time, previous.close))
            rows.append(k.snapshot())
            previous = k
        if previous is not None:
            rows.extend(self._flat(interval, previous.close_time, window(interval, now)[1], previous.close))
        if start is not None:
            rows = [k for k in rows if k.open_time >= start]
        if end is not None:
            rows = [k for k in rows if k.open_time < end]
        if start is not None:
            return rows[:limit]
        return rows[-limit:]

    def since(self, interval: str, start: int) -> list[Kline]:
        return [k for k in self._series[interval] if k.open_time >= start]

    @staticmethod
    def _flat(interval: str, from_open: int, until_open: int, price: Decimal) -> list[Kline]:
        out: list[Kline] = []
        t = from_open
        while t < until_open and len(out) < KEEP_DEFAULT * 2:
            start, end = window(interval, t)
            out.append(Kline(interval, start, end, price, price, price, price))
            t = end
        return out
