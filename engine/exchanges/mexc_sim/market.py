"""Where the simulated price is at any moment: a seeded, time-driven price path.

A path is a pure function of time for a given seed: ``price_at(now_ms)`` maps the
clock's time to market time (``speed`` market ms per real ms) and answers the
price there, rounded to the symbol's tick. Two kinds:

- ``CandlePath`` replays real candles: each candle becomes open -> high -> low ->
  close or open -> low -> high -> close (a seeded coin per candle), linearly
  interpolated, scaled to the symbol's reference price, looping at the end (each
  loop scaled to start where the previous one closed).
- ``WalkPath`` is a geometric random walk (about 60% annualised volatility),
  one seeded step per market second.

``jump(now_ms, price)`` moves a path to a price from then on; later moves are
relative to the new level, so the market carries on from where it was put.
Paths use floats internally (shape only); prices leave as Decimals on the tick.
"""

from __future__ import annotations

import csv
import itertools
import math
import random
import zlib
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import msgspec

from engine.clock import Clock

BUNDLED_CANDLES = Path(__file__).parent / "data" / "btcusdt_5m.csv"

# Ten market ms per real ms: the walk takes ten steps a real second, so even a
# coarse-ticked symbol (SOL: 0.01 at 180) changes price about eight times a
# second; a replayed five-minute candle takes 30 s.
DEFAULT_SPEED = 10.0
MINUTE_MS = 60_000

ANNUAL_VOLATILITY = 0.6
WALK_STEP_MS = 1_000  # market time per random-walk step
SECONDS_PER_YEAR = 365 * 24 * 3600
# A catch-up longer than this (a clock jump) is taken as one aggregated step.
MAX_CATCHUP_STEPS = 100_000


class Candle(msgspec.Struct, frozen=True):
    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def load_candles(path: str | Path | None = None) -> list[Candle]:
    """Candles from a CSV ``open_time_ms,open,high,low,close,volume`` (header optional)."""
    candles: list[Candle] = []
    with open(path or BUNDLED_CANDLES, newline="") as handle:
        for row in csv.reader(handle):
            if not row or not row[0].strip().isdigit():
                continue  # header or blank line
            t, o, h, low, c, v = row[:6]
            candles.append(Candle(int(t), Decimal(o), Decimal(h), Decimal(low), Decimal(c), Decimal(v)))
    if len(candles) < 2:
        raise ValueError(f"need at least two candles in {path or BUNDLED_CANDLES}")
    return candles


def seed_for(seed: int, name: str) -> int:
    """A stable per-symbol seed (``hash()`` of a str changes between processes)."""
    return seed * 1_000_003 + zlib.crc32(name.encode())


class PricePath:
    """Base: the speed mapping, the jump factor and rounding to the tick."""

    def __init__(self, clock: Clock, tick: Decimal, *, speed: float | None = None, start_ms: int | None = None) -> None:
        self.clock = clock
        self.tick = tick
        self.speed = DEFAULT_SPEED if speed is None else speed
        self.start_ms = clock.now_ms() if start_ms is None else start_ms
        self._factor = 1.0

    def price(self) -> Decimal:
        return self.price_at(self.clock.now_ms())

    def price_at(self, now_ms: int) -> Decimal:
        return self._to_tick(self._raw(self.market_ms(now_ms)) * self._factor)

    def market_ms(self, now_ms: int) -> float:
        return max(0.0, (now_ms - self.start_ms) * self.speed)

    def jump(self, now_ms: int, price: Decimal) -> Decimal:
        """Put the path at ``price`` now; it keeps its shape from there."""
        raw = self._raw(self.market_ms(now_ms))
        self._factor = float(price) / raw
        return self.price_at(now_ms)

    def _raw(self, market_ms: float) -> float:
        raise NotImplementedError

    def history(self, minutes: int, samples_per_minute: int = 12) -> list[tuple[int, Decimal, Decimal, Decimal, Decimal]]:
        """(open time, open, high, low, close) of the ``minutes`` whole minutes before
        the path started, as the path would have run then; the last close meets the
        start. Empty for a still path (speed 0)."""
        if self.speed <= 0 or minutes <= 0:
            return []
        end = self.start_ms // MINUTE_MS * MINUTE_MS
        first = end - minutes * MINUTE_MS
        times = [first + i * MINUTE_MS // samples_per_minute for i in range(minutes * samples_per_minute + 1)]
        raw = self._past([(t - self.start_ms) * self.speed for t in times])
        rows = []
        for m in range(minutes):
            chunk = [self._to_tick(p) for p in raw[m * samples_per_minute : (m + 1) * samples_per_minute + 1]]
            rows.append((first + m * MINUTE_MS, chunk[0], max(chunk), min(chunk), chunk[-1]))
        return rows

    def _past(self, market_times: list[float]) -> list[float]:
        """Raw prices at market times at or before the start, ascending."""
        return [self._raw(t) for t in market_times]

    def _to_tick(self, value: float) -> Decimal:
        price = Decimal(repr(value)).quantize(self.tick, rounding=ROUND_HALF_EVEN)
        return max(price, self.tick)


class CandlePath(PricePath):
    def __init__(
        self,
        candles: Sequence[Candle],
        clock: Clock,
        tick: Decimal,
        *,
        reference: Decimal | None = None,
        seed: int = 42,
        offset: int = 0,
        speed: float | None = None,
        start_ms: int | None = None,
    ) -> None:
        super().__init__(clock, tick, speed=speed, start_ms=start_ms)
        self._candles = candles
        self._seed = seed
        self._offset = offset % len(candles)
        self._duration = max(candles[1].open_time - candles[0].open_time, 1)
        first = float(candles[self._offset].open)
        self._scale = float(reference) / first if reference is not None else 1.0
        self._loop_ratio = float(candles[-1].close) / float(candles[0].open)
        self._cached: tuple[int, list[tuple[float, float]]] | None = None

    def _raw(self, market_ms: float) -> float:
        n, within = divmod(market_ms, self._duration)
        loop, index = divmod(int(n) + self._offset, len(self._candles))
        points = self._waypoints(index)
        # Each loop carries on from where the last one closed, so the seam is no jump.
        scale = self._scale * self._loop_ratio**loop
        fraction = within / self._duration
        for (t0, p0), (t1, p1) in itertools.pairwise(points):
            if fraction <= t1:
                return (p0 + (p1 - p0) * (fraction - t0) / (t1 - t0)) * scale
        return points[-1][1] * scale

    def _waypoints(self, index: int) -> list[tuple[float, float]]:
        """(fraction of the candle, price) for open, both extremes and close."""
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        c = self._candles[index]
        rng = random.Random(seed_for(self._seed, f"candle:{index}"))
        first, second = (c.high, c.low) if rng.random() < 0.5 else (c.low, c.high)
        t1 = rng.uniform(0.15, 0.45)
        t2 = rng.uniform(0.55, 0.85)
        points = [(0.0, float(c.open)), (t1, float(first)), (t2, float(second)), (1.0, float(c.close))]
        self._cached = (index, points)
        return points


class WalkPath(PricePath):
    def __init__(
        self,
        start_price: Decimal,
        clock: Clock,
        tick: Decimal,
        *,
        seed: int = 42,
        speed: float | None = None,
        start_ms: int | None = None,
        volatility: float = ANNUAL_VOLATILITY,
    ) -> None:
        super().__init__(clock, tick, speed=speed, start_ms=start_ms)
        self._rng = random.Random(seed)
        self._sigma = volatility * math.sqrt(WALK_STEP_MS / 1000 / SECONDS_PER_YEAR)
        self._log_level = math.log(float(start_price))
        self._log_start = self._log_level
        self._past_seed = seed_for(seed, "past")
        self._step = 0

    def _raw(self, market_ms: float) -> float:
        target = int(market_ms // WALK_STEP_MS)
        missing = target - self._step
        if missing > MAX_CATCHUP_STEPS:
            sigma = self._sigma * math.sqrt(missing)
            self._log_level += self._rng.gauss(0.0, sigma) - sigma * sigma / 2
            missing = 0
        for _ in range(max(missing, 0)):
            self._log_level += self._rng.gauss(0.0, self._sigma) - self._sigma * self._sigma / 2
        self._step = max(self._step, target)  # time never runs backwards for a walk
        return math.exp(self._log_level)

    def _past(self, market_times: list[float]) -> list[float]:
        # Walked backwards from the start, one aggregated step per sample: the same
        # volatility, its own seeded stream, so the future walk is untouched.
        rng = random.Random(self._past_seed)
        level, at = self._log_start, 0.0
        out = []
        for t in reversed(market_times):
            steps = max(at - min(t, 0.0), 0.0) / WALK_STEP_MS
            if steps:
                level -= rng.gauss(0.0, self._sigma * math.sqrt(steps))
            at = min(t, 0.0)
            out.append(math.exp(level))
        return out[::-1]
