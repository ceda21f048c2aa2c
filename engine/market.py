"""Market data as it travels from a feed to a MarketActor.

A feed offers ``MarketData`` pieces; pieces waiting for the same symbol are
merged (newest book and depth win, trades and klines accumulate up to a bound),
so a slow MarketActor sees everything recent in one message and memory stays
bounded however fast the feed is.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from engine.candles import Candle
from engine.model import BookTicker

MAX_PENDING_TRADES = 500
MAX_PENDING_KLINES = 64


BOOK_LEVELS = 100  # per side, handed to the MarketActors (the API serves at most this)

class Trade(msgspec.Struct, frozen=True):
    price: Decimal
    quantity: Decimal
    side: Literal["BUY", "SELL"]  # the taker's side
    time: int


class DepthSnapshot(msgspec.Struct, frozen=True):
    """Top levels of the order book, best first, at ``version``."""

    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    version: int
    time: int


class MarketData(msgspec.Struct, frozen=True):
    symbol: str
    book: BookTicker | None = None
    depth: DepthSnapshot | None = None
    trades: tuple[Trade, ...] = ()
    klines: tuple[Candle, ...] = ()
    # The stream vouched at this time (ms) that the symbol's book and depth are still
    # current: a quiet market sends no pushes, yet its data is not old.
    live_at: int | None = None
    # Set by ``merge``: the lowest and highest price of everything merged into this
    # piece, trades beyond the bound included (see ``extremes``).
    low: Decimal | None = None
    high: Decimal | None = None


def extremes(data: MarketData) -> tuple[Decimal, Decimal] | None:
    """The lowest and highest price ``data`` saw: of its trades, its last price, and of
    everything merged into it, so a wick between two updates a slow consumer takes is
    still seen (price triggers are judged on these). None if it carries no price."""
    if data.low is not None and data.high is not None:
        return data.low, data.high  # a merged piece: they cover all of it
    prices = [t.price for t in data.trades]
    if data.book is not None and data.book.last > 0:
        prices.append(data.book.last)
    if not prices:
        return None
    return min(prices), max(prices)


def merge(waiting: MarketData, newer: MarketData) -> MarketData:
    """One piece that says what both say; the newer piece wins where they overlap."""
    klines: dict[tuple[str, int], Candle] = {(k.interval, k.open_time): k for k in waiting.klines}
    for k in newer.klines:
        klines[(k.interval, k.open_time)] = k
    kept = sorted(klines.values(), key=lambda k: (k.open_time, k.interval))[-MAX_PENDING_KLINES:]
    ranges = [r for r in (extremes(waiting), extremes(newer)) if r is not None]
    return MarketData(
        symbol=newer.symbol,
        book=newer.book or waiting.book,
        depth=newer.depth or waiting.depth,
        trades=(waiting.trades + newer.trades)[-MAX_PENDING_TRADES:],
        klines=tuple(kept),
        live_at=max(waiting.live_at or 0, newer.live_at or 0) or None,
        low=min(r[0] for r in ranges) if ranges else None,
        high=max(r[1] for r in ranges) if ranges else None,
    )
