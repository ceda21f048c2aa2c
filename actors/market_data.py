"""MarketFeeds: the plumbing between the venue's market feed and the MarketActors.

The feed calls ``on_market`` on the trio thread; each update goes into the
conflator, which tells the symbol's MarketActor to drain at most once while it is
busy, so a tick flood costs bounded memory. The newest top of book each actor
applied is published here whole (one frozen value per symbol), so a gateway reads
it without asking a busy actor. A MarketActor starts from the candles stored in the
candle file and the exchange's history; paper prices set through the simulator are
stored before they are acknowledged.

The ActorSystem builds one and holds it as ``system.markets``; it finds and starts
the market actors through the system's registry (``MarketRegistry``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pykka
import structlog

from actors.conflation import Conflator
from actors.market import SERIES_INTERVALS
from actors.messages import Drain, LoadCandles, SaveCandles
from actors.peers import MarketRegistry
from engine import market as market_data
from engine.candles import Candle
from engine.errors import ActorUnavailable, EngineError
from engine.market import MarketData
from engine.model import BookTicker

log = structlog.get_logger(__name__)


class MarketFeeds:
    def __init__(self, registry: MarketRegistry) -> None:
        self._registry = registry
        self.conflator = Conflator(self._notify, merge=market_data.merge)
        self._books: dict[str, BookTicker] = {}  # symbol -> newest top of book, published by its market actor

    # -- the venue's feed sink (called on the trio thread) -------------------------------

    def on_book(self, book: BookTicker) -> None:
        self.on_market(MarketData(book.symbol, book=book))

    def on_market(self, data: MarketData) -> None:
        self.conflator.offer(data.symbol, data)

    def _notify(self, symbol: Any) -> bool:
        ref = self._registry.find("market", symbol)
        if ref is None:
            return False
        try:
            ref.tell(Drain())
            return True
        except pykka.ActorDeadError:
            return False

    def renotify(self, symbol: str) -> None:
        """A restarted market actor takes what waited for its predecessor."""
        self.conflator.renotify(symbol)

    def start_market(self, symbol: str) -> None:
        """A MarketActor for a symbol that starts streaming while running."""
        if self._registry.find("market", symbol) is None:
            self._registry.start_singleton("market", symbol)

    # -- for the market actors -----------------------------------------------------------

    def candle_history(self, symbol: str) -> list[Candle]:
        """Candles a new MarketActor starts from: what was stored, then the
        exchange's history where it has one (newer, and it wins where both have a window)."""
        stored: list[Candle] = []
        for interval in SERIES_INTERVALS:
            try:
                stored.extend(self._registry.ask(self._registry.ref("candles", "candles"), LoadCandles(symbol, interval, 1000)))
            except EngineError as exc:
                log.warning("market.history_unavailable", symbol=symbol, error=exc.message)
        return stored + self._registry.venue.candle_history(symbol)

    def store_candles(self, candles: list[tuple[str, Candle]]) -> None:
        try:
            self._registry.ref("candles", "candles").tell(SaveCandles(tuple(candles)))
        except (ActorUnavailable, pykka.ActorDeadError):
            pass  # history is a nicety; the candle store's own failures are reported elsewhere

    def publish_book(self, symbol: str, book: BookTicker) -> None:
        self._books[symbol] = book  # one writer per symbol; readers take the whole (frozen) value

    def latest_book(self, symbol: str) -> BookTicker | None:
        """The newest top of book the symbol's market actor applied, read without
        asking it: a gateway deciding how to follow an order never waits on a busy
        market actor (an ask that timed out made a crossing LIMIT look resting)."""
        return self._books.get(symbol)

    # -- paper trading -------------------------------------------------------------------

    def set_paper_price(self, symbol: str, price: Decimal) -> BookTicker:
        self._registry.catalog.get(symbol)
        top = self._registry.venue.set_price(symbol, price, self._registry.bridge.run_sync)
        # Durable before it is acknowledged: a crash right after must not bring the
        # market back to where it was, under orders placed at the new price since.
        minute = self._registry.venue.current_minute(symbol)
        if minute is not None:
            self._registry.ask(self._registry.ref("candles", "candles"), SaveCandles(((symbol, minute),)))
        return top
