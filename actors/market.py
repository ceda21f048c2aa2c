"""MarketActor: one per symbol; owns its latest book, depth, trades and candles, and
the index of the price triggers users hold on the symbol.

Updates arrive through a merging conflator, so a flood of ticks costs this actor
one message per update it can actually process, and nothing it is sent is lost
but the superseded. Each update is judged against the trigger index by the lowest
and highest price merged into it; only the owners of the triggers it crosses are
told (a sleeping one is woken by that), and they decide.
"""

from __future__ import annotations

import time
from collections import deque
from decimal import Decimal
from typing import Any

import msgspec

from actors.base import EngineActor
from actors.messages import (
    Drain,
    DropTrigger,
    GetCandles,
    GetFeedStats,
    GetMarket,
    GetTicker,
    HoldTrigger,
    LoadTriggers,
    TriggerCrossed,
)
from actors.peers import MarketPeers
from engine.candles import Candle, CandleSeries, normalize_interval
from engine.errors import EngineError
from engine.market import MAX_PENDING_KLINES, DepthSnapshot, MarketData, Trade, extremes
from engine.model import BookTicker
from engine.triggers import Crossing, Trigger, TriggerIndex

SERIES_INTERVALS = ("1m", "5m", "15m", "30m", "60m", "4h", "1d")
OPEN_CANDLES_EVERY_MS = 5_000  # what a crash can lose of the open candles...
OPEN_CANDLES_MOVE = Decimal("0.001")  # ...unless the price moved more than this (a fraction) sooner
TRADES_KEPT = 500


FEED_RATE_MARKS = 10  # updates/s is measured over about this many seconds


class FeedStats(msgspec.Struct, frozen=True):
    symbol: str
    updated_at: int | None  # ms of the newest update applied
    updates: int  # applied since the actor started
    updates_per_s: float  # over about the last FEED_RATE_MARKS seconds
    triggers: int  # held in its index now
    crossings: int  # told to owners since it started


class MarketView(msgspec.Struct, frozen=True):
    symbol: str
    book: BookTicker | None
    depth: DepthSnapshot | None
    trades: list[Trade]
    updated_at: int | None  # ms of the newest update of any kind


class MarketActor(EngineActor):
    kind = "market"

    system: MarketPeers

    def __init__(self, system: MarketPeers, symbol: str) -> None:
        super().__init__(system, key=symbol)
        self.symbol = symbol
        self.book: BookTicker | None = None
        self.depth: DepthSnapshot | None = None
        self.trades: deque[Trade] = deque(maxlen=TRADES_KEPT)
        self.series = {interval: CandleSeries(interval) for interval in SERIES_INTERVALS}
        self._klines_seen = False  # once the exchange sends klines, ticks stop making candles
        self._saved: dict[str, int] = {}  # interval -> open time of the newest candle stored
        self._open_stored_at = 0
        self._stored_close: Decimal | None = None  # the open minute's close when last stored
        self.updated_at: int | None = None
        self.updates = 0
        self.triggers = TriggerIndex()
        self.close: tuple[int, Decimal] | None = None  # the newest price seen (of a trade or the book), and when
        self.crossings = 0
        self._rate_marks: deque[tuple[float, int]] = deque()  # (monotonic s, updates then), about one a second

    def started(self) -> None:
        for candle in self.system.markets.candle_history(self.symbol):
            self._candle(candle)
        # What the exchange had from before is kept too, so a later start (or a
        # simulator that starts afresh) has the same past to carry on from.
        closed = [(self.symbol, c) for s in self.series.values() for c in s.last(len(s))[:-1]]
        if closed:
            self.system.markets.store_candles(closed)
        for interval, series in self.series.items():
            last = series.last(2)
            if len(last) == 2:
                self._saved[interval] = last[0].open_time
        # After a restart, begin from what the feed has sent so far (before the triggers
        # are loaded: that piece merges everything since the engine started).
        pending = self.system.markets.conflator.last(self.symbol)
        if pending is not None:
            self._apply(pending)
        self._load_triggers()

    def _load_triggers(self) -> None:
        """The triggers the journal holds on this symbol: those of sleeping users too."""
        try:
            held = self.system.ask_persistence(LoadTriggers(self.symbol))
        except EngineError as exc:
            # Raised, so the supervisor restarts this actor and it loads them then:
            # a market actor that watched none of them would miss their crossings.
            self.log.error("market.triggers_unloaded", symbol=self.symbol, error=exc.message)
            raise
        for trigger in held:
            self._hold(self._anchored(trigger))
        if held:
            self.log.info("market.triggers_loaded", symbol=self.symbol, triggers=len(held))

    def _seen(self, trigger: Trigger) -> list[tuple[int, Decimal]]:
        """The prices of a windowed trigger's window this actor already knows: the 1-minute
        highs (or lows) and the recent trades within it, oldest first."""
        if trigger.window_ms is None or self.updated_at is None:
            return []
        since = self.updated_at - trigger.window_ms
        minutes = self.series["1m"]
        falls = trigger.direction == "FALL"  # a fall is from the window's highs, a rise from its lows
        seen = [(c.open_time, c.high if falls else c.low) for c in minutes.last(len(minutes)) if c.open_time >= since]
        seen += [(t.time, t.price) for t in self.trades if t.time >= since]
        return sorted(seen, key=lambda point: point[0])

    def _anchored(self, trigger: Trigger) -> Trigger:
        """A trailing stop's anchor raised to the highest price since it was placed that
        the candles here know of (its anchor is journaled only at placement)."""
        if trigger.trailing is None or trigger.anchor is None:
            return trigger
        since = trigger.since - trigger.since % 60_000
        highs = [c.high for c in self.series["1m"].last(len(self.series["1m"])) if c.open_time >= since]
        best = max([trigger.anchor, *highs])
        return trigger if best == trigger.anchor else msgspec.structs.replace(trigger, anchor=best)

    def _hold(self, trigger: Trigger) -> None:
        self.triggers.add(trigger, self._seen(trigger))
        last = self.close[1] if self.close is not None else None
        if last is not None:
            # Already reached (the price moved while it was being placed, or while the
            # engine was down): it crosses now, not at the next update.
            self._fire(self.triggers.crossed_one(trigger, last, self.system.clock.now_ms()))

    def stopping(self) -> None:
        self._store_open()

    def _store_open(self) -> None:
        """The open candles too, so a restart carries on from them: at a clean stop,
        and every few seconds against a crash (stored again, final, once closed)."""
        open_candles = [(self.symbol, last[0]) for last in (s.last(1) for s in self.series.values()) if last]
        if open_candles:
            self.system.markets.store_candles(open_candles)
        self._open_stored_at = self.system.clock.now_ms()
        self._stored_close = self._close()

    def _close(self) -> Decimal | None:
        last = self.series["1m"].last(1)
        return last[0].close if last else None

    def _moved(self) -> bool:
        """The price moved far from what is stored: a restart must not carry on from there."""
        close, stored = self._close(), self._stored_close
        return close is not None and stored is not None and stored > 0 and abs(close - stored) > stored * OPEN_CANDLES_MOVE

    def handle(self, message: Any) -> Any:
        if isinstance(message, Drain):
            data = self.system.markets.conflator.take(self.symbol)
            if data is not None:
                self._apply(data)
            return None
        if isinstance(message, HoldTrigger):
            self._hold(message.trigger)
            return None
        if isinstance(message, DropTrigger):
            self.triggers.remove(message.user_id, message.key)
            return None
        if isinstance(message, GetTicker):
            return self.book
        if isinstance(message, GetFeedStats):
            return self._feed_stats()
        if isinstance(message, GetMarket):
            depth = self.depth
            if depth is not None:
                depth = DepthSnapshot(depth.bids[: message.depth], depth.asks[: message.depth], depth.version, depth.time)
            trades = list(self.trades)[-message.trades :] if message.trades > 0 else []
            return MarketView(self.symbol, self.book, depth, trades, self.updated_at)
        if isinstance(message, GetCandles):
            series = self.series.get(normalize_interval(message.interval))
            return [] if series is None else series.last(message.limit)
        raise TypeError(f"unexpected message {message!r}")

    def _apply(self, data: MarketData) -> None:
        self.updates += 1
        now = time.monotonic()
        if not self._rate_marks or now - self._rate_marks[-1][0] >= 1.0:
            self._rate_marks.append((now, self.updates))
            while len(self._rate_marks) > FEED_RATE_MARKS:
                self._rate_marks.popleft()
        newest = self.updated_at or 0
        if data.book is not None:
            self.book = data.book
            newest = max(newest, data.book.time)
            if not self._klines_seen:
                for series in self.series.values():
                    series.apply_trade(data.book.last, 0, data.book.time)  # type: ignore[arg-type]  # a zero quantity
        if data.depth is not None:
            self.depth = data.depth
            newest = max(newest, data.depth.time)
        for trade in data.trades:
            self.trades.append(trade)
            newest = max(newest, trade.time)
        for candle in data.klines:
            self._klines_seen = True
            self._candle(candle)
        if data.live_at is not None:
            newest = max(newest, self._confirm(data.live_at))
        self.updated_at = newest or None
        if self.book is not None:
            self.system.markets.publish_book(self.symbol, self.book)
        self._newest_price(data)
        if len(self.triggers):
            # After the book is published: an owner acting on a crossing reads this one.
            span = extremes(data)
            if span is not None:
                self._fire(self.triggers.crossed(span[0], span[1], newest or self.system.clock.now_ms(),
                                                 self.close[1] if self.close is not None else None))
        self._store_closed()
        if self.system.clock.now_ms() - self._open_stored_at >= OPEN_CANDLES_EVERY_MS or self._moved():
            self._store_open()

    def _newest_price(self, data: MarketData) -> None:
        """The price of the newest trade or book in ``data``, if newer than the one held:
        a book and the trades come on streams of their own, and either may lag."""
        points = [(t.time, t.price) for t in data.trades]
        if data.book is not None and data.book.last > 0:
            points.append((data.book.time, data.book.last))
        if points:
            newest = max(points, key=lambda point: point[0])
            if self.close is None or newest[0] >= self.close[0]:
                self.close = newest

    def _feed_stats(self) -> FeedStats:
        rate = 0.0
        if self._rate_marks:
            since, before = self._rate_marks[0]
            elapsed = time.monotonic() - since
            rate = (self.updates - before) / elapsed if elapsed > 0 else 0.0
        return FeedStats(self.symbol, self.updated_at, self.updates, round(rate, 2), len(self.triggers), self.crossings)

    def _fire(self, crossings: list[Crossing]) -> None:
        for crossing in crossings:
            self.crossings += 1
            self.system.tell_portfolio(crossing.trigger.user_id, TriggerCrossed(crossing))

    def _confirm(self, live_at: int) -> int:
        """The book and depth are known current at ``live_at``: their time says so."""
        if self.book is not None and live_at > self.book.time:
            self.book = msgspec.structs.replace(self.book, time=live_at)
        if self.depth is not None and live_at > self.depth.time:
            self.depth = msgspec.structs.replace(self.depth, time=live_at)
        return live_at

    def _store_closed(self) -> None:
        """A candle is final once a newer one exists: store those not stored yet.
        One update may close several (a merged update carries up to
        MAX_PENDING_KLINES klines): every one of them is stored, not only the newest."""
        closed: list[tuple[str, Candle]] = []
        for interval, series in self.series.items():
            last = series.last(2)
            saved = self._saved.get(interval, -1)
            if len(last) == 2 and last[0].open_time > saved:
                newly = [c for c in series.last(MAX_PENDING_KLINES + 1)[:-1] if c.open_time > saved]
                closed.extend((self.symbol, c) for c in newly)
                self._saved[interval] = last[0].open_time
        if closed:
            self.system.markets.store_candles(closed)

    def _candle(self, candle: Candle) -> None:
        series = self.series.get(candle.interval)
        if series is not None:
            series.update(candle)
