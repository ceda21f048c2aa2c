"""One symbol's order book: price levels with FIFO queues (price-time priority).

Every change to a level's total bumps the book's version by one, as MEXC's depth
versions do, and is remembered until ``drain_changes`` hands the net change out
(absolute quantities, "0" for a removed level) with the version range it covers.
Pure data structure: no locking, no matching decisions.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from decimal import Decimal

import msgspec

ZERO = Decimal(0)


class Resting:
    """An order's open quantity at one price in the book."""

    __slots__ = ("order_id", "owner", "side", "price", "remaining")

    def __init__(self, order_id: str, owner: str, side: str, price: Decimal, remaining: Decimal) -> None:
        self.order_id = order_id
        self.owner = owner  # an API key, or the market maker's name
        self.side = side
        self.price = price
        self.remaining = remaining


class DepthDiff(msgspec.Struct, frozen=True):
    from_version: int
    to_version: int
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]


class _Level:
    __slots__ = ("queue", "total")

    def __init__(self) -> None:
        self.queue: deque[Resting] = deque()
        self.total = ZERO


class BookSide:
    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self._prices: list[Decimal] = []  # ascending
        self._levels: dict[Decimal, _Level] = {}

    def best(self) -> Decimal | None:
        if not self._prices:
            return None
        return self._prices[-1] if self.is_bid else self._prices[0]

    def total_at(self, price: Decimal) -> Decimal:
        level = self._levels.get(price)
        return ZERO if level is None else level.total

    def prices_best_first(self) -> list[Decimal]:
        return self._prices[::-1] if self.is_bid else list(self._prices)

    def queue_at(self, price: Decimal) -> deque[Resting]:
        return self._levels[price].queue

    def levels(self, limit: int | None = None) -> list[tuple[Decimal, Decimal]]:
        prices = self.prices_best_first()
        if limit is not None:
            prices = prices[:limit]
        return [(p, self._levels[p].total) for p in prices]

    def orders(self) -> Iterator[Resting]:
        for price in self.prices_best_first():
            yield from list(self._levels[price].queue)

    def __len__(self) -> int:
        return len(self._prices)

    # -- changes (the book records them) --------------------------------------------

    def _push(self, resting: Resting) -> Decimal:
        level = self._levels.get(resting.price)
        if level is None:
            level = self._levels[resting.price] = _Level()
            bisect.insort(self._prices, resting.price)
        level.queue.append(resting)
        level.total += resting.remaining
        return level.total

    def _reduce(self, resting: Resting, qty: Decimal) -> Decimal:
        level = self._levels[resting.price]
        resting.remaining -= qty
        level.total -= qty
        if resting.remaining <= 0:
            level.queue.remove(resting)
        if not level.queue:
            del self._levels[resting.price]
            del self._prices[bisect.bisect_left(self._prices, resting.price)]
            return ZERO
        return level.total


class OrderBook:
    def __init__(self, symbol: str, version: int = 0) -> None:
        self.symbol = symbol
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)
        self.version = version
        self._changes: dict[tuple[str, Decimal], Decimal] = {}
        self._first_unreported: int | None = None

    def side(self, side: str) -> BookSide:
        return self.bids if side == "BUY" else self.asks

    def opposite(self, side: str) -> BookSide:
        return self.asks if side == "BUY" else self.bids

    def add(self, resting: Resting) -> None:
        self._record(resting.side, resting.price, self.side(resting.side)._push(resting))

    def fill(self, resting: Resting, qty: Decimal) -> None:
        self._record(resting.side, resting.price, self.side(resting.side)._reduce(resting, qty))

    def remove(self, resting: Resting) -> None:
        if resting.remaining > 0:
            self.fill(resting, resting.remaining)

    def top(self, side: str) -> tuple[Decimal, Decimal] | None:
        book_side = self.side(side)
        price = book_side.best()
        return None if price is None else (price, book_side.total_at(price))

    def drain_changes(self) -> DepthDiff | None:
        """The net change since the last drain, or None if nothing changed."""
        if self._first_unreported is None:
            return None
        bids = sorted(((p, q) for (s, p), q in self._changes.items() if s == "BUY"), reverse=True)
        asks = sorted((p, q) for (s, p), q in self._changes.items() if s == "SELL")
        diff = DepthDiff(self._first_unreported, self.version, bids, asks)
        self._changes.clear()
        self._first_unreported = None
        return diff

    def _record(self, side: str, price: Decimal, total: Decimal) -> None:
        self.version += 1
        if self._first_unreported is None:
            self._first_unreported = self.version
        self._changes[(side, price)] = total
