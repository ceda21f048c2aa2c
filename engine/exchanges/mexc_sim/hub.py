"""PushHub: the exchange's listener for the WebSocket server.

Called under the exchange lock, it only appends to per-channel windows under its
own lock; the server's trio flush loop takes the windows and fans the encoded
frames out. The hub never takes the exchange lock while holding its own, so the
two locks cannot deadlock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from engine.clock import Clock
from engine.exchanges.mexc import channels
from engine.exchanges.mexc.codec import Push
from engine.exchanges.mexc_sim import pushes
from engine.exchanges.mexc_sim.core import Level, SimExchange, SimListener
from engine.exchanges.mexc_sim.model import AccountChange, BookTop, Kline, PublicDeal, SimOrder, SimTrade


class _Window:
    """What happened in one push interval, per channel name."""

    def __init__(self) -> None:
        self.deals: dict[str, tuple[str, list[PublicDeal]]] = {}
        self.depth: dict[str, list[Any]] = {}  # channel -> [symbol, from, to, bids, asks]
        self.tops: dict[str, BookTop] = {}


class PushHub(SimListener):
    def __init__(self, exchange: SimExchange, clock: Clock) -> None:
        self._exchange = exchange
        self._clock = clock
        self._lock = threading.Lock()
        self._windows = {interval: _Window() for interval in channels.PUSH_INTERVALS}
        self._klines: dict[str, tuple[str, Kline]] = {}
        self._limit_dirty: set[str] = set()
        self._private: list[tuple[str, str, Push]] = []  # (api key, channel, push)
        self._last_maker: dict[str, bool] = {}  # order id -> was its last fill as maker

    # -- listener (exchange thread, exchange lock held) -----------------------------

    def on_deal(self, symbol: str, deals: list[PublicDeal]) -> None:
        with self._lock:
            for interval, window in self._windows.items():
                window.deals.setdefault(channels.deals(symbol, interval), (symbol, []))[1].extend(deals)

    def on_depth(self, symbol: str, from_version: int, to_version: int, bids: list[Level], asks: list[Level]) -> None:
        with self._lock:
            for interval, window in self._windows.items():
                name = channels.depth(symbol, interval)
                merged = window.depth.get(name)
                if merged is None:
                    merged = window.depth[name] = [symbol, from_version, to_version, {}, {}]
                merged[2] = to_version
                merged[3].update(bids)
                merged[4].update(asks)
            self._limit_dirty.add(symbol)

    def on_book_ticker(self, symbol: str, top: BookTop) -> None:
        with self._lock:
            for interval, window in self._windows.items():
                window.tops[channels.book_ticker(symbol, interval)] = top

    def on_kline(self, symbol: str, interval: str, kline: Kline) -> None:
        with self._lock:
            self._klines[channels.kline(symbol, interval)] = (symbol, kline)

    def on_private_order(self, api_key: str, order: SimOrder, last_qty: Decimal | None) -> None:
        now = self._clock.now_ms()
        with self._lock:
            is_maker = self._last_maker.get(order.order_id, order.type == "LIMIT_MAKER")
            if not order.is_open:
                self._last_maker.pop(order.order_id, None)
            self._private.append((api_key, channels.PRIVATE_ORDERS, pushes.private_order(order, last_qty, is_maker, now)))

    def on_private_deal(self, api_key: str, trade: SimTrade) -> None:
        now = self._clock.now_ms()
        with self._lock:
            self._last_maker[trade.order_id] = trade.is_maker
            self._private.append((api_key, channels.PRIVATE_DEALS, pushes.private_deal(trade, now)))

    def on_private_account(self, api_key: str, change: AccountChange) -> None:
        now = self._clock.now_ms()
        with self._lock:
            self._private.append((api_key, channels.PRIVATE_ACCOUNT, pushes.private_account(change, now)))

    # -- flushing (trio thread) ----------------------------------------------------

    def take(
        self, interval: str, *, slow: bool, wanted: Callable[[str], bool]
    ) -> tuple[list[tuple[str, Push]], list[tuple[str, str, Push]]]:
        """Public pushes due for ``interval`` (plus klines and limit depth when
        ``slow``) on the channels ``wanted``, and every private push so far."""
        now = self._clock.now_ms()
        with self._lock:
            window, self._windows[interval] = self._windows[interval], _Window()
            private, self._private = self._private, []
            klines, dirty = ({}, set())
            if slow:
                klines, self._klines = self._klines, {}
                dirty, self._limit_dirty = self._limit_dirty, set()
        public: list[tuple[str, Push]] = []
        for name, (symbol, items) in window.deals.items():
            if wanted(name):
                public.append((name, pushes.deals(name, symbol, items, now)))
        for name, (symbol, first, last, bids, asks) in window.depth.items():
            if not wanted(name):
                continue
            bid_levels = sorted(bids.items(), reverse=True)
            ask_levels = sorted(asks.items())
            public.append((name, pushes.depth(name, symbol, first, last, bid_levels, ask_levels, now)))
        for name, top in window.tops.items():
            if wanted(name) and top.bid is not None and top.ask is not None:
                public.append((name, pushes.book_ticker(name, top, now)))
        for name, (symbol, kline) in klines.items():
            if wanted(name):
                public.append((name, pushes.kline(name, symbol, kline, now)))
        for symbol in dirty:  # the exchange lock is taken here, never under the hub's
            names = {levels: channels.limit_depth(symbol, levels) for levels in channels.LIMIT_DEPTH_LEVELS}
            if not any(wanted(name) for name in names.values()):
                continue
            version, bids20, asks20 = self._exchange.depth(symbol, max(channels.LIMIT_DEPTH_LEVELS))
            for levels, name in names.items():
                public.append((name, pushes.limit_depth(name, symbol, version, bids20[:levels], asks20[:levels], now)))
        return public, private
