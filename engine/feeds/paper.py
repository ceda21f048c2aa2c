"""A seeded, simulated market: top of book that moves like a real one.

Each symbol follows a geometric random walk (about 60% annualised volatility)
with a one-to-two tick spread and realistic sizes at the top. The same seed
gives the same path. ``set_price`` jumps a symbol to a price, for tests and
demos that need the market to cross an order.
"""

from __future__ import annotations

import math
import random
from decimal import ROUND_DOWN, Decimal

import structlog
import trio

from engine.clock import Clock
from engine.feeds import FeedSink
from engine.model import BookTicker, SymbolInfo
from engine.symbols import reference_price

log = structlog.get_logger(__name__)

ANNUAL_VOLATILITY = 0.6
SECONDS_PER_YEAR = 365 * 24 * 3600


class PaperFeed:
    def __init__(
        self,
        symbols: list[SymbolInfo],
        clock: Clock,
        *,
        seed: int = 42,
        tick_ms: int = 250,
        start_prices: dict[str, Decimal] | None = None,
    ) -> None:
        self._infos = {info.symbol: info for info in symbols}
        self._clock = clock
        self._tick_ms = tick_ms
        self._rng = random.Random(seed)
        step_seconds = max(tick_ms, 1) / 1000
        self._sigma = ANNUAL_VOLATILITY * math.sqrt(step_seconds / SECONDS_PER_YEAR)
        prices = start_prices or {}
        self._mid: dict[str, float] = {s: float(prices.get(s) or reference_price(s)) for s in self._infos}
        self._sink: FeedSink | None = None

    async def run(self, sink: FeedSink) -> None:
        self._sink = sink
        for symbol in self._infos:
            sink.on_book(self._book(symbol))
        log.info("feed.started", feed="paper", symbols=list(self._infos), tick_ms=self._tick_ms)
        if self._tick_ms <= 0:
            await trio.sleep_forever()
        while True:
            await trio.sleep(self._tick_ms / 1000)
            for symbol in self._infos:
                self._walk(symbol)
                sink.on_book(self._book(symbol))

    def set_price(self, symbol: str, price: Decimal) -> BookTicker:
        """Move ``symbol`` to ``price`` now and publish it. Call on the feed's thread."""
        tick = Decimal(1).scaleb(-self._infos[symbol].quote_precision)
        price = price.quantize(tick, rounding=ROUND_DOWN)
        self._mid[symbol] = float(price)
        book = self._book(symbol, last=price)
        if self._sink is not None:
            self._sink.on_book(book)
        return book

    def _walk(self, symbol: str) -> None:
        shock = self._rng.gauss(0.0, self._sigma)
        self._mid[symbol] *= math.exp(shock - self._sigma * self._sigma / 2)

    def _book(self, symbol: str, last: Decimal | None = None) -> BookTicker:
        info = self._infos[symbol]
        tick = Decimal(1).scaleb(-info.quote_precision)
        mid = Decimal(repr(self._mid[symbol]))
        bid = max(mid.quantize(tick, rounding=ROUND_DOWN), tick)
        spread_ticks = 1 + (self._rng.random() < 0.3)
        ask = bid + tick * spread_ticks
        if last is None:
            last = ask if self._rng.random() < 0.5 else bid
        notional = 2_000 + self._rng.random() * 60_000
        step = Decimal(1).scaleb(-info.base_precision)
        bid_qty = max((Decimal(notional) / bid).quantize(step, rounding=ROUND_DOWN), step)
        ask_qty = max((Decimal(notional * (0.5 + self._rng.random())) / ask).quantize(step, rounding=ROUND_DOWN), step)
        return BookTicker(
            symbol=symbol,
            bid=bid,
            bid_qty=bid_qty,
            ask=ask,
            ask_qty=ask_qty,
            last=last,
            time=self._clock.now_ms(),
        )
