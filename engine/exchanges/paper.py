"""The paper exchange: fills orders against the current top of book.

Market orders take the best price for their whole size (the book is treated as
deep enough) and pay the taker fee. Limit orders that cross the book fill at
once as takers; the rest wait, and fill at their own price as makers when the
book moves through them. Resting orders are kept sorted by price, so a book
update costs O(log n + k) for the k orders it fills.

Single-threaded by design: the ExchangeGateway actor owns the instance.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from decimal import Decimal

from engine.clock import Clock
from engine.exchanges.base import ExchangeOrder, ExecutionReport
from engine.model import BookTicker, Fill, SymbolInfo
from engine.money import divide, fee_on, truncate
from engine.symbols import SymbolCatalog

# How many finished orders stay queryable for reconciliation.
FINISHED_MEMORY = 50_000


class _Resting:
    __slots__ = ("order", "key", "fills")

    def __init__(self, order: ExchangeOrder, key: tuple[Decimal, int, str]) -> None:
        self.order = order
        self.key = key
        self.fills: list[Fill] = []


class _SymbolBook:
    def __init__(self) -> None:
        self.buys: list[tuple[Decimal, int, str]] = []  # (-price, seq, id): best first
        self.sells: list[tuple[Decimal, int, str]] = []  # (price, seq, id): best first


class PaperExchange:
    def __init__(self, catalog: SymbolCatalog, clock: Clock, *, maker_fee: Decimal, taker_fee: Decimal) -> None:
        self._catalog = catalog
        self._clock = clock
        self._maker_fee = maker_fee
        self._taker_fee = taker_fee
        self._tops: dict[str, BookTicker] = {}
        self._books: dict[str, _SymbolBook] = {}
        self._resting: dict[str, _Resting] = {}
        self._finished: OrderedDict[str, ExecutionReport] = OrderedDict()
        self._seq = 0

    # -- commands ------------------------------------------------------------------

    def submit(self, order: ExchangeOrder) -> ExecutionReport:
        if order.order_id in self._resting or order.order_id in self._finished:
            return self.query(order.order_id)  # type: ignore[return-value]  # a resend is not a new order
        top = self._tops.get(order.symbol)
        if order.type == "MARKET":
            return self._finish(self._market(order, top))
        crossing = top is not None and (
            (order.side == "BUY" and top.ask > 0 and top.ask <= order.price)
            or (order.side == "SELL" and top.bid > 0 and top.bid >= order.price)
        )
        if crossing:
            assert top is not None and order.quantity is not None
            price = top.ask if order.side == "BUY" else top.bid
            fill = self._fill(order, price, order.quantity, order.quantity * price, maker=False, n=order.fills_so_far + 1)
            return self._finish(self._report(order, "FILLED", (fill,)))
        self._rest(order)
        return self._report(order, "NEW", ())

    def cancel(self, order_id: str) -> ExecutionReport | None:
        """The order's final report, or None if the exchange never had it."""
        resting = self._resting.pop(order_id, None)
        if resting is None:
            return self._finished.get(order_id)
        side = self._side_list(resting.order)
        index = bisect.bisect_left(side, resting.key)
        if index < len(side) and side[index] == resting.key:
            del side[index]
        report = self._report(resting.order, "CANCELED", tuple(resting.fills), reason="canceled by user")
        return self._finish(report)

    def restore(self, order: ExchangeOrder) -> None:
        """Put back a resting order known from the journal (after a restart)."""
        if order.order_id not in self._resting and order.type == "LIMIT":
            self._rest(order)

    def query(self, order_id: str) -> ExecutionReport | None:
        resting = self._resting.get(order_id)
        if resting is not None:
            status = "PARTIALLY_FILLED" if resting.fills else "NEW"
            return self._report(resting.order, status, tuple(resting.fills))
        return self._finished.get(order_id)

    def now_ms(self) -> int:
        return self._clock.now_ms()

    def open_order_count(self) -> int:
        return len(self._resting)

    # -- market data ---------------------------------------------------------------

    def on_book(self, top: BookTicker) -> list[ExecutionReport]:
        """Record the new top of book and fill the resting orders it crosses."""
        self._tops[top.symbol] = top
        book = self._books.get(top.symbol)
        if book is None:
            return []
        reports: list[ExecutionReport] = []
        while book.buys and top.ask > 0 and -book.buys[0][0] >= top.ask:
            reports.append(self._fill_resting(book.buys.pop(0)[2]))
        while book.sells and top.bid > 0 and book.sells[0][0] <= top.bid:
            reports.append(self._fill_resting(book.sells.pop(0)[2]))
        return reports

    def top(self, symbol: str) -> BookTicker | None:
        return self._tops.get(symbol)

    # -- internals -----------------------------------------------------------------

    def _market(self, order: ExchangeOrder, top: BookTicker | None) -> ExecutionReport:
        price = None if top is None else (top.ask if order.side == "BUY" else top.bid)
        if price is None or price <= 0:
            return self._report(order, "REJECTED", (), reason="no market price")
        info = self._catalog.get(order.symbol)
        status = "FILLED"
        if order.quote_quantity is not None:
            quote = order.quote_quantity
            quantity = divide(quote, price)
            if order.max_base is not None and quantity > order.max_base:
                quantity, quote, status = order.max_base, order.max_base * price, "CANCELED"
        else:
            assert order.quantity is not None
            quantity = order.quantity
            quote = quantity * price
            if order.max_quote is not None and quote > order.max_quote:
                quantity = truncate(divide(order.max_quote, price), info.base_precision)
                quote, status = quantity * price, "CANCELED"
        if quantity <= 0:
            return self._report(order, "CANCELED", (), reason="price moved beyond the market order's protection")
        fill = self._fill(order, price, quantity, quote, maker=False, n=order.fills_so_far + 1)
        reason = "price moved beyond the market order's protection" if status == "CANCELED" else None
        return self._report(order, status, (fill,), reason=reason)

    def _rest(self, order: ExchangeOrder) -> None:
        assert order.price is not None
        self._seq += 1
        book = self._books.setdefault(order.symbol, _SymbolBook())
        if order.side == "BUY":
            key = (-order.price, self._seq, order.order_id)
            bisect.insort(book.buys, key)
        else:
            key = (order.price, self._seq, order.order_id)
            bisect.insort(book.sells, key)
        self._resting[order.order_id] = _Resting(order, key)

    def _fill_resting(self, order_id: str) -> ExecutionReport:
        resting = self._resting.pop(order_id)
        order = resting.order
        assert order.price is not None and order.quantity is not None
        n = order.fills_so_far + len(resting.fills) + 1
        fill = self._fill(order, order.price, order.quantity, order.quantity * order.price, maker=True, n=n)
        return self._finish(self._report(order, "FILLED", (*resting.fills, fill)))

    def _fill(self, order: ExchangeOrder, price: Decimal, quantity: Decimal, quote: Decimal, *, maker: bool, n: int) -> Fill:
        info: SymbolInfo = self._catalog.get(order.symbol)
        rate = self._maker_fee if maker else self._taker_fee
        # Fees are taken from what the trade brings in, as on MEXC spot.
        if order.side == "BUY":
            fee, fee_asset = fee_on(quantity, rate), info.base
        else:
            fee, fee_asset = fee_on(quote, rate), info.quote
        return Fill(
            trade_id=f"{order.order_id}-{n}",
            price=price,
            quantity=quantity,
            quote=quote,
            fee=fee,
            fee_asset=fee_asset,
            is_maker=maker,
            time=self._clock.now_ms(),
        )

    def _side_list(self, order: ExchangeOrder) -> list[tuple[Decimal, int, str]]:
        book = self._books[order.symbol]
        return book.buys if order.side == "BUY" else book.sells

    def _report(self, order: ExchangeOrder, status, fills, reason: str | None = None) -> ExecutionReport:
        return ExecutionReport(
            user_id=order.user_id,
            order_id=order.order_id,
            status=status,
            fills=tuple(fills),
            reason=reason,
            time=self._clock.now_ms(),
        )

    def _finish(self, report: ExecutionReport) -> ExecutionReport:
        self._finished[report.order_id] = report
        while len(self._finished) > FINISHED_MEMORY:
            self._finished.popitem(last=False)
        return report


class PaperAdapter:
    """The paper exchange behind the interface every exchange adapter offers."""

    def __init__(self, exchange: PaperExchange) -> None:
        self.exchange = exchange

    def submit(self, order: ExchangeOrder) -> list[ExecutionReport]:
        return [self.exchange.submit(order)]

    def cancel(self, order: ExchangeOrder) -> list[ExecutionReport]:
        report = self.exchange.cancel(order.order_id)
        if report is None:
            # The exchange never had it (lost before it arrived): nothing to cancel.
            report = ExecutionReport(
                user_id=order.user_id,
                order_id=order.order_id,
                status="CANCELED",
                reason="canceled; the exchange did not have the order",
                time=self.exchange.now_ms(),
            )
        return [report]

    def query(self, orders: list[ExchangeOrder]) -> list[ExecutionReport]:
        reports = (self.exchange.query(order.order_id) for order in orders)
        return [r for r in reports if r is not None]

    def on_book(self, book: BookTicker) -> list[ExecutionReport]:
        return self.exchange.on_book(book)

    def balances(self) -> None:
        return None  # the journal is the paper account's only record

    def restore(self, orders: list[ExchangeOrder]) -> int:
        for order in orders:
            self.exchange.restore(order)
        return len(orders)
