"""ExchangeGateway: one per exchange account; owns that account's adapter.

Orders and cancels arrive by ``tell``; every answer goes back to the owning
PortfolioActor as an ``Execution`` message, so no portfolio ever blocks on the
exchange. The adapter is a MEXC account (REST out, private pushes in): on the
real exchange, or on the simulator that paper trading runs against.
"""

from __future__ import annotations

from typing import Any, Callable

from actors.base import EngineActor
from actors.messages import (
    CancelAtExchange,
    Execution,
    GatewayTick,
    GetBalances,
    PrivatePush,
    QueryOrders,
    Reconcile,
    StreamReconnected,
    Submit,
)
from engine.errors import ExchangeUnavailable
from engine.exchanges.base import ExchangeOrder, ExecutionReport
from engine.exchanges.mexc.errors import MexcAuthError, MexcError


class ExchangeGateway(EngineActor):
    kind = "gateway"

    def __init__(self, system: Any, account: str, make_adapter: Callable[[], Any]) -> None:
        super().__init__(system, key=account)
        self.account = account
        self._make_adapter = make_adapter
        self.adapter: Any = None

    def started(self) -> None:
        self.adapter = self._make_adapter()

    def handle(self, message: Any) -> Any:
        try:
            return self._handle(message)
        except MexcError as exc:
            # The exchange's refusal or absence is no fault of this actor: it keeps
            # its state. An asker gets a typed 503; a tell is logged (pushes,
            # reconnects and ticks come again).
            if isinstance(message, (QueryOrders, GetBalances)):
                if isinstance(exc, MexcAuthError) and exc.refuses_key:
                    raise ExchangeUnavailable(f"MEXC refused the account's API key: {exc.msg} ({exc.code})") from None
                raise ExchangeUnavailable(f"the exchange could not answer: {exc.msg} ({exc.code})") from None
            self.log.warning("gateway.exchange_error", message=type(message).__name__, error=repr(exc))
            return None

    def stopping(self) -> None:
        if self.adapter is not None:
            self.system.venue.release_adapter(self.adapter)

    def _handle(self, message: Any) -> Any:
        adapter = self.adapter
        if isinstance(message, Submit):
            order = message.order
            self._send(adapter.submit(order, look_after=self._marketable(order)))
            return None
        if isinstance(message, CancelAtExchange):
            self._send(adapter.cancel(message.order))
            return None
        if isinstance(message, PrivatePush):
            self._send(adapter.on_push(message.push))
            return None
        if isinstance(message, StreamReconnected):
            # Pushes may have been missed while disconnected: every owner catches up.
            for user_id in self.system.users_of(self.account):
                self.system.tell_portfolio(user_id, Reconcile(quiet=True))
            return None
        if isinstance(message, GatewayTick):
            follow_up = getattr(adapter, "follow_up", None)
            if follow_up is not None:
                self._send(follow_up())
            return None
        if isinstance(message, QueryOrders):
            return adapter.query(list(message.orders))
        if isinstance(message, GetBalances):
            return adapter.balances()
        raise TypeError(f"unexpected message {message!r}")

    def _marketable(self, order: ExchangeOrder) -> bool:
        """A MARKET order, or a LIMIT order priced through the book, fills as it
        lands; its ack alone would report it NEW, and its fills would rest on pushes
        of a user stream that may not be connected yet."""
        if order.type == "MARKET":
            return True
        if order.type != "LIMIT" or order.price is None:
            return False
        book = self.system.latest_book(order.symbol)
        if book is None:
            return False
        return order.price >= book.ask if order.side == "BUY" else order.price <= book.bid

    def _send(self, reports: list[ExecutionReport]) -> None:
        for report in reports:
            self.system.tell_portfolio(report.user_id, Execution(report))
