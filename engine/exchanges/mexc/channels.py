"""MEXC WebSocket channel names: building them and reading them back.

Only the protobuf (``.api.pb``) channels: MEXC blocks the old JSON ones. ``parse``
accepts exactly what the builders produce, so ``parse(name).name == name``.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

MAX_SUBSCRIPTIONS_PER_CONNECTION = 30

PRIVATE_ORDERS = "spot@private.orders.v3.api.pb"
PRIVATE_DEALS = "spot@private.deals.v3.api.pb"
PRIVATE_ACCOUNT = "spot@private.account.v3.api.pb"

DEALS = "spot@public.aggre.deals.v3.api.pb"
BOOK_TICKER = "spot@public.aggre.bookTicker.v3.api.pb"
DEPTH = "spot@public.aggre.depth.v3.api.pb"
LIMIT_DEPTH = "spot@public.limit.depth.v3.api.pb"
KLINE = "spot@public.kline.v3.api.pb"

PUSH_INTERVALS = ("100ms", "10ms")  # how often aggregated channels push

# MEXC refuses a subscription in the reply's text, not by its code:
# "Not Subscribed successfully! [<channels>].  Reason： Blocked!"
REFUSAL_MARK = "Not Subscribed successfully"


def refused_in(reply_msg: object) -> bool:
    """Whether a subscription reply's ``msg`` refuses (some of) the channels asked for."""
    return isinstance(reply_msg, str) and REFUSAL_MARK in reply_msg
LIMIT_DEPTH_LEVELS = (5, 10, 20)

# Engine interval names (as in engine.candles, plus "1M") -> MEXC's kline names.
KLINE_INTERVALS: dict[str, str] = {
    "1m": "Min1",
    "5m": "Min5",
    "15m": "Min15",
    "30m": "Min30",
    "60m": "Min60",
    "4h": "Hour4",
    "8h": "Hour8",
    "1d": "Day1",
    "1W": "Week1",
    "1M": "Month1",
}
_KLINE_ALIASES = {"1h": "60m", "1w": "1W"}
ENGINE_INTERVALS: dict[str, str] = {mexc: engine for engine, mexc in KLINE_INTERVALS.items()}  # "Min60" -> "60m"

Kind = Literal[
    "deals",
    "book_ticker",
    "depth",
    "limit_depth",
    "kline",
    "private_orders",
    "private_deals",
    "private_account",
]

_SYMBOL = re.compile(r"[A-Z0-9]+")


class Channel(msgspec.Struct, frozen=True):
    kind: Kind
    symbol: str | None = None  # None for private channels
    interval: str | None = None  # push interval ("100ms"), or the engine's kline interval
    levels: int | None = None  # limit_depth only

    @property
    def private(self) -> bool:
        return self.symbol is None

    @property
    def name(self) -> str:
        """The channel name this describes."""
        if self.kind == "private_orders":
            return PRIVATE_ORDERS
        if self.kind == "private_deals":
            return PRIVATE_DEALS
        if self.kind == "private_account":
            return PRIVATE_ACCOUNT
        assert self.symbol is not None
        if self.kind == "limit_depth":
            assert self.levels is not None
            return limit_depth(self.symbol, self.levels)
        assert self.interval is not None
        return _BUILDERS[self.kind](self.symbol, self.interval)


def _symbol(symbol: str) -> str:
    upper = symbol.upper()
    if not _SYMBOL.fullmatch(upper):
        raise ValueError(f"invalid symbol for a channel: {symbol!r}")
    return upper


def _push_interval(interval: str) -> str:
    if interval not in PUSH_INTERVALS:
        raise ValueError(f"push interval must be one of {', '.join(PUSH_INTERVALS)}, not {interval!r}")
    return interval


def deals(symbol: str, interval: str = "100ms") -> str:
    """Aggregated trades: ``spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT``."""
    return f"{DEALS}@{_push_interval(interval)}@{_symbol(symbol)}"


def book_ticker(symbol: str, interval: str = "100ms") -> str:
    return f"{BOOK_TICKER}@{_push_interval(interval)}@{_symbol(symbol)}"


def depth(symbol: str, interval: str = "100ms") -> str:
    """Versioned diffs of the book; see depth.DepthBook."""
    return f"{DEPTH}@{_push_interval(interval)}@{_symbol(symbol)}"


def limit_depth(symbol: str, levels: int) -> str:
    """The top ``levels`` (5, 10 or 20) of each side, whole: ``...@BTCUSDT@5``."""
    if isinstance(levels, bool) or levels not in LIMIT_DEPTH_LEVELS:
        raise ValueError(f"levels must be one of {LIMIT_DEPTH_LEVELS}, not {levels!r}")
    return f"{LIMIT_DEPTH}@{_symbol(symbol)}@{levels}"


def kline_interval(interval: str) -> str:
    """MEXC's kline name for an engine interval: "1m" -> "Min1", "1h" -> "Min60"."""
    name = _KLINE_ALIASES.get(interval, interval)
    if name not in KLINE_INTERVALS:
        allowed = ", ".join(KLINE_INTERVALS)
        raise ValueError(f"kline interval must be one of {allowed} (or 1h, 1w), not {interval!r}")
    return KLINE_INTERVALS[name]


def kline(symbol: str, interval: str) -> str:
    """Klines: ``spot@public.kline.v3.api.pb@BTCUSDT@Min1``."""
    return f"{KLINE}@{_symbol(symbol)}@{kline_interval(interval)}"


_BUILDERS = {"deals": deals, "book_ticker": book_ticker, "depth": depth, "kline": kline}
_PRIVATE: dict[str, Kind] = {
    PRIVATE_ORDERS: "private_orders",
    PRIVATE_DEALS: "private_deals",
    PRIVATE_ACCOUNT: "private_account",
}
# Aggregated channels put the push interval before the symbol.
_AGGREGATED: dict[str, Kind] = {DEALS: "deals", BOOK_TICKER: "book_ticker", DEPTH: "depth"}


def parse(channel: str) -> Channel:
    """What a channel name means. Raises ValueError for anything the builders do not make."""
    if channel in _PRIVATE:
        return Channel(_PRIVATE[channel])
    parts = channel.split("@")
    if len(parts) != 4 or parts[0] != "spot":
        raise ValueError(f"unknown channel: {channel!r}")
    base = f"spot@{parts[1]}"
    if base in _AGGREGATED:
        interval, symbol = parts[2], parts[3]
        if interval not in PUSH_INTERVALS or not _SYMBOL.fullmatch(symbol):
            raise ValueError(f"unknown channel: {channel!r}")
        return Channel(_AGGREGATED[base], symbol, interval=interval)
    symbol, last = parts[2], parts[3]
    if not _SYMBOL.fullmatch(symbol):
        raise ValueError(f"unknown channel: {channel!r}")
    if base == LIMIT_DEPTH and last in {str(n) for n in LIMIT_DEPTH_LEVELS}:
        return Channel("limit_depth", symbol, levels=int(last))
    if base == KLINE and last in ENGINE_INTERVALS:
        return Channel("kline", symbol, interval=ENGINE_INTERVALS[last])
    raise ValueError(f"unknown channel: {channel!r}")
