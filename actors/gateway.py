"""ExchangeGateway: one per exchange account; owns the exchange adapter.

Orders and cancels arrive by ``tell``; every answer goes back to the owning
PortfolioActor as an ``Execution`` message, so no portfolio ever blocks on the
exchange. For the paper exchange the gateway also feeds it market updates.
"""

from __future__ import annotations

from typing import Any, Callable

from actors.base import EngineActor
from actors.messages import CancelAtExchange, Execution, LoadOpenOrders, MarketUpdate, QueryOrders, RestoreOrders, Submit
from engine.exchanges.base import ExchangeOrder, ExecutionReport
from engine.exchanges.paper import PaperExchange


class ExchangeGateway(EngineActor):
    kind = "gateway"

    def __init__(self, system: Any, make_exchange: Callable[[], PaperExchange]) -> None:
        super().__init__(system, key="paper")
        self._make_exchange = make_exchange
        self.exchange: PaperExchange | None = None

    def started(self) -> None:
        # The paper exchange lives in memory: rebuild its resting orders from the journal.
        self.exchange = self._make_exchange()
        for symbol in self.system.catalog.symbols():
            book = self.system.latest_book(symbol)
            if book is not None:
                self.exchange.on_book(book)
        orders = self.system.ask_persistence(LoadOpenOrders())
        restored = 0
        for order in orders:
            if order.type == "LIMIT":
                self.exchange.restore(ExchangeOrder.from_order(order))
                restored += 1
        self.log.info("gateway.restored", open_orders=restored)

    def handle(self, message: Any) -> Any:
        exchange = self.exchange
        assert exchange is not None
        if isinstance(message, MarketUpdate):
            for report in exchange.on_book(message.book):
                self._send(report)
            return None
        if isinstance(message, Submit):
            self._send(exchange.submit(message.order))
            return None
        if isinstance(message, CancelAtExchange):
            report = exchange.cancel(message.order_id)
            if report is None:
                # The exchange never had it (lost before it arrived): nothing to cancel.
                report = ExecutionReport(
                    user_id=message.user_id,
                    order_id=message.order_id,
                    status="CANCELED",
                    reason="canceled; the exchange did not have the order",
                    time=self.system.clock.now_ms(),
                )
            self._send(report)
            return None
        if isinstance(message, QueryOrders):
            reports = (exchange.query(order_id) for order_id in message.order_ids)
            return [r for r in reports if r is not None]
        if isinstance(message, RestoreOrders):
            for order in message.orders:
                exchange.restore(order)
            return len(message.orders)
        raise TypeError(f"unexpected message {message!r}")

    def _send(self, report: ExecutionReport) -> None:
        self.system.tell_portfolio(report.user_id, Execution(report))
