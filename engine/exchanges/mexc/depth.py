"""A local order book kept from a REST snapshot and MEXC's versioned depth diffs.

MEXC's rules (``spot@public.aggre.depth.v3.api.pb``): the snapshot's ``lastUpdateId``
is its version V. Diffs that end at or before V are already in the snapshot and
are dropped. The first diff applied must cover V+1 (``from <= V+1 <= to``); after
it, each diff must start right after the previous one ends. Quantities are
absolute, and zero removes the level.

A break in that chain raises ``DepthGap``: the book is no longer known, so it is
cleared and needs a new snapshot. Diffs that arrive before a snapshot, or while
waiting for a new one, are buffered (bounded) and replayed onto the snapshot.

Pure: no I/O and no clock. One owner; not thread-safe.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Sequence
from decimal import Decimal

from engine.exchanges.mexc.codec import DepthLevel, DepthPush

# Diffs kept while waiting for a snapshot: at 100 ms a push, over three minutes.
MAX_PENDING = 2000

Level = tuple[Decimal, Decimal]  # (price, quantity)


class DepthGap(Exception):
    """A diff does not follow the book's version: resynchronise from a new snapshot."""

    def __init__(self, symbol: str, expected_from: int, push: DepthPush) -> None:
        super().__init__(
            f"{symbol}: depth push {push.from_version}..{push.to_version} does not follow "
            f"version {expected_from - 1}"
        )
        self.symbol = symbol
        self.expected_from = expected_from
        self.push = push


def _decimal(value: object, what: str) -> Decimal:
    # Snapshot levels come from REST JSON as strings; a float would already be inexact.
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, str):
        try:
            d = Decimal(value)
        except ArithmeticError:
            raise ValueError(f"{what}: not a decimal number: {value!r}") from None
    else:
        raise ValueError(f"{what}: expected a str or Decimal, got {type(value).__name__}")
    if not d.is_finite() or d < 0:
        raise ValueError(f"{what}: not a price or quantity: {value!r}")
    return d


class DepthBook:
    def __init__(self, symbol: str, max_pending: int = MAX_PENDING) -> None:
        self.symbol = symbol
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self._version: int | None = None
        self._bridged = False  # a diff covering snapshot+1 has been applied
        self._pending: deque[DepthPush] = deque(maxlen=max_pending)

    @property
    def version(self) -> int | None:
        """The version the book is at, or None while it has no snapshot."""
        return self._version

    @property
    def synced(self) -> bool:
        """True while the book holds a snapshot and every diff since followed it."""
        return self._version is not None

    @property
    def pending(self) -> int:
        """Diffs buffered for the next snapshot."""
        return len(self._pending)

    def load_snapshot(
        self,
        last_update_id: int,
        bids: Iterable[Sequence[str | Decimal]],
        asks: Iterable[Sequence[str | Decimal]],
    ) -> None:
        """Start from a REST snapshot at version ``last_update_id`` (levels as REST
        sends them, ``[price, quantity]`` strings, or Decimals), then replay the
        buffered diffs onto it. Raises DepthGap if they do not connect (the snapshot
        is older than the stream); the diffs from the gap on stay buffered."""
        new_bids, new_asks = self._side(bids, "bid"), self._side(asks, "ask")  # both parse, or neither applies
        self._bids, self._asks = new_bids, new_asks
        self._version = last_update_id
        self._bridged = False
        pending, self._pending = list(self._pending), deque(maxlen=self._pending.maxlen)
        for i, push in enumerate(pending):
            try:
                self.apply(push)
            except DepthGap:
                self._pending.extend(pending[i + 1 :])
                raise

    def apply(self, push: DepthPush) -> bool:
        """Apply one diff. True if it changed the book; False if it was stale or
        buffered for a snapshot. Raises DepthGap if it does not follow."""
        if self._version is None:
            self._pending.append(push)
            return False
        if not self._bridged:
            if push.to_version <= self._version:
                return False  # already in the snapshot
            if push.from_version > self._version + 1:
                raise self._lose_sync(push)
            self._bridged = True
        elif push.from_version != self._version + 1:
            raise self._lose_sync(push)
        self._update(self._bids, push.bids)
        self._update(self._asks, push.asks)
        self._version = push.to_version
        return True

    def bids(self, n: int | None = None) -> list[Level]:
        """Bid levels, highest price first; the best ``n`` if given."""
        if n is None:
            return sorted(self._bids.items(), reverse=True)
        return heapq.nlargest(n, self._bids.items())

    def asks(self, n: int | None = None) -> list[Level]:
        """Ask levels, lowest price first; the best ``n`` if given."""
        if n is None:
            return sorted(self._asks.items())
        return heapq.nsmallest(n, self._asks.items())

    def best_bid(self) -> Level | None:
        return max(self._bids.items(), default=None)

    def best_ask(self) -> Level | None:
        return min(self._asks.items(), default=None)

    # -- internals ----------------------------------------------------------------

    def _lose_sync(self, push: DepthPush) -> DepthGap:
        assert self._version is not None
        gap = DepthGap(self.symbol, self._version + 1, push)
        # The book is unknown from here; keep this diff for the next snapshot.
        self._bids, self._asks = {}, {}
        self._version = None
        self._bridged = False
        self._pending.clear()
        self._pending.append(push)
        return gap

    @staticmethod
    def _update(side: dict[Decimal, Decimal], levels: Iterable[DepthLevel]) -> None:
        for level in levels:
            if level.quantity == 0:
                side.pop(level.price, None)
            else:
                side[level.price] = level.quantity

    @staticmethod
    def _side(levels: Iterable[Sequence[str | Decimal]], what: str) -> dict[Decimal, Decimal]:
        side: dict[Decimal, Decimal] = {}
        for price, quantity in levels:
            p = _decimal(price, f"{what} price")
            q = _decimal(quantity, f"{what} quantity")
            if q != 0:
                side[p] = q
        return side
