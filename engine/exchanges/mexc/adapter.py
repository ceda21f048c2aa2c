"""One MEXC account as the ExchangeGateway sees it.

Orders go out over signed REST with the engine's client order id; what happens
to them comes back as private pushes (deals, order updates) and, when a push
may have been missed, from REST queries. Everything is turned into
ExecutionReports for the portfolio that owns the order. A terminal report
always carries every fill of the order (fetched with myTrades if the pushes
have not brought them all), so an order is never closed with a fill missing.

Single-threaded by design: the gateway actor owns the instance.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import structlog

from engine.clock import Clock
from engine.exchanges.base import MARKET_SEND_WINDOW_MS, ExchangeOrder, ExecutionReport
from engine.exchanges.mexc.codec import PrivateDealPush, PrivateOrderPush, Push
from engine.exchanges.mexc.errors import MexcError, MexcUnknownOrder
from engine.exchanges.mexc.rest import MexcOrder, MexcOrderAck, MexcRestClient, MexcTrade
from engine.exchanges.mexc.rules import format_price, format_quantity, format_quote
from engine.model import Fill, OrderStatus
from engine.symbols import SymbolCatalog

log = structlog.get_logger(__name__)

STATUS: dict[str, OrderStatus] = {
    "NEW": "NEW",
    "PARTIALLY_FILLED": "PARTIALLY_FILLED",
    "FILLED": "FILLED",
    "CANCELED": "CANCELED",
    "PARTIALLY_CANCELED": "CANCELED",
}
PUSH_STATUS: dict[int, OrderStatus] = {1: "NEW", 2: "FILLED", 3: "PARTIALLY_FILLED", 4: "CANCELED", 5: "CANCELED"}
TRADES_PER_PAGE = 100  # myTrades answers at most this many
TRADE_PAGES = 50  # pages read per order at most (5,000 fills)


class _Tracked:
    __slots__ = ("order", "fills", "exchange_id", "ended_with")

    def __init__(self, order: ExchangeOrder) -> None:
        self.order = order
        self.fills: dict[str, Fill] = {}
        self.exchange_id: str | None = None
        self.ended_with: int | None = None  # fills counted when its end (FILLED, CANCELED) was reported


class MexcAccountAdapter:
    def __init__(
        self, rest: MexcRestClient, catalog: Callable[[], SymbolCatalog], clock: Clock, *, name: str = ""
    ) -> None:
        self.rest = rest
        self._catalog = catalog  # asked each time: new listings replace the catalog
        self._clock = clock
        self._name = name
        self._by_client_id: dict[str, _Tracked] = {}
        self._by_exchange_id: dict[str, _Tracked] = {}
        self._unconfirmed: dict[str, tuple[ExchangeOrder, int]] = {}  # client id -> (order, since ms)
        self._missing_since: dict[str, int] = {}  # client id -> when the exchange first said it has no such order

    # -- commands ------------------------------------------------------------------

    def submit(self, order: ExchangeOrder, *, look_after: bool = False) -> list[ExecutionReport]:
        """Place the order. MEXC's ack says nothing of fills: with ``look_after``
        (an order expected to trade at once) the order is queried straight away,
        so its first report already has what it did."""
        tracked = self._track(order)
        info = self._catalog().get(order.symbol)
        try:
            result = self.rest.place_order(
                order.symbol,
                order.side,
                order.type,
                quantity=None if order.quantity is None else Decimal(format_quantity(info, order.quantity)),
                quote_order_qty=None if order.quote_quantity is None else Decimal(format_quote(info, order.quote_quantity)),
                price=None if order.price is None else Decimal(format_price(info, order.price)),
                client_order_id=order.client_order_id,
            )
        except MexcError as exc:
            if exc.outcome_unknown:
                # The client already looked for it once; follow_up keeps asking.
                log.warning("mexc.submit_unknown", account=self._name, order_id=order.order_id, error=repr(exc))
                self._unconfirmed.setdefault(order.client_order_id, (order, self._clock.now_ms()))
                return []
            self._unconfirmed.pop(order.client_order_id, None)
            return [self._report(order, "REJECTED", reason=f"exchange refused the order ({exc.code}: {exc.msg})")]
        self._unconfirmed.pop(order.client_order_id, None)
        if isinstance(result, MexcOrderAck):
            self._link(tracked, result.order_id)
            if look_after:
                try:
                    return self.query([order]) or [self._report(order, "NEW")]
                except MexcError as exc:  # the pushes will tell
                    log.info("mexc.look_after_failed", account=self._name, order_id=order.order_id, error=repr(exc))
            return [self._report(order, "NEW")]
        return [self._from_exchange(tracked, result)]

    def cancel(self, order: ExchangeOrder) -> list[ExecutionReport]:
        """The order's state after asking to cancel it. A cancel whose answer was
        lost is looked up and, if the order still stands, asked once more; one the
        exchange did not carry out is reported back as such, never left hanging."""
        tracked = self._track(order)
        failure: MexcError | None = None
        for _ in range(2):
            try:
                result = self.rest.cancel_order(order.symbol, client_order_id=order.client_order_id)
            except MexcUnknownOrder:
                # Filled or canceled already, or never placed: ask what it is.
                return self.query([order]) or [self._report(order, "CANCELED", reason="the exchange does not have the order")]
            except MexcError as exc:
                failure = exc
                if not exc.outcome_unknown:
                    break
                try:
                    found = self.query([order])
                except MexcError:
                    break
                if found and found[-1].status not in ("NEW", "PARTIALLY_FILLED"):
                    return found  # the cancel landed, or the order ended otherwise
                continue
            if result.status is None:
                # MEXC's usual answer says nothing of status or fills: the cancel
                # landed, and the order itself says how it ended.
                try:
                    return self.query([order]) or [self._status_report(tracked, "CANCELED")]
                except MexcError:
                    return [self._status_report(tracked, "CANCELED")]
            return [self._from_exchange(tracked, result)]
        log.warning("mexc.cancel_failed", account=self._name, order_id=order.order_id, error=repr(failure))
        status: OrderStatus = "PARTIALLY_FILLED" if tracked.fills else "NEW"
        reason = f"the exchange did not cancel the order ({failure.code}: {failure.msg})" if failure else None
        return [self._report(order, status, reason=reason, cancel_failed=True)]

    def query(self, orders: list[ExchangeOrder]) -> list[ExecutionReport]:
        """The state of each order at the exchange; orders it never got are left out."""
        reports = []
        for order in orders:
            tracked = self._track(order)
            try:
                found = self.rest.query_order(order.symbol, client_order_id=order.client_order_id)
            except MexcUnknownOrder:
                continue
            reports.append(self._from_exchange(tracked, found))
        return reports

    def follow_up(self, older_than_ms: int = 2_000, missing_for_ms: int = 3_000) -> list[ExecutionReport]:
        """Orders whose placement had an unknown outcome: ask the exchange again;
        if it never got them, send them again under the same client order id. MEXC
        may say "no such order" for a moment right after one is created, so that
        answer counts only when it is still the answer ``missing_for_ms`` later."""
        now = self._clock.now_ms()
        reports: list[ExecutionReport] = []
        for client_id, (order, since) in list(self._unconfirmed.items()):
            if now - since < older_than_ms:
                continue
            try:
                found = self.query([order])
            except MexcError as exc:
                log.warning("mexc.follow_up_failed", account=self._name, order_id=order.order_id, error=repr(exc))
                continue
            if found:
                self._unconfirmed.pop(client_id, None)
                self._missing_since.pop(client_id, None)
                reports.extend(found)
                continue
            first_missing = self._missing_since.setdefault(client_id, now)
            if now - first_missing < missing_for_ms:
                continue
            self._missing_since.pop(client_id, None)
            if order.type == "MARKET" and now - since > MARKET_SEND_WINDOW_MS:
                self._unconfirmed.pop(client_id, None)
                reports.append(self._report(order, "REJECTED", reason="the order did not reach the exchange in time"))
                continue
            reports.extend(self.submit(order))
        return reports

    def balances(self) -> dict[str, Decimal]:
        """Each asset's total (free + locked) at the exchange."""
        return {b.asset: b.free + b.locked for b in self.rest.account().balances}

    def forget(self, order_id: str) -> None:
        for tracked in list(self._by_client_id.values()):
            if tracked.order.order_id == order_id:
                self._by_client_id.pop(tracked.order.client_order_id, None)
                if tracked.exchange_id:
                    self._by_exchange_id.pop(tracked.exchange_id, None)

    # -- pushes --------------------------------------------------------------------

    def on_push(self, push: Push) -> list[ExecutionReport]:
        body = push.body
        if isinstance(body, PrivateDealPush):
            tracked = self._find(body.client_order_id, body.order_id)
            if tracked is None:
                return []
            fill = Fill(
                trade_id=body.trade_id,
                price=body.price,
                quantity=body.quantity,
                quote=body.amount,
                fee=body.fee_amount,
                fee_asset=body.fee_currency,
                is_maker=body.is_maker,
                time=body.time,
            )
            if fill.trade_id in tracked.fills:
                return []
            tracked.fills[fill.trade_id] = fill
            return [self._report(tracked.order, "PARTIALLY_FILLED", fills=(fill,))]
        if isinstance(body, PrivateOrderPush):
            tracked = self._find(body.client_id, body.id)
            if tracked is None:
                return []
            self._link(tracked, body.id)
            status = PUSH_STATUS.get(body.status)
            if status is None or status == "NEW":
                return []
            if status in ("FILLED", "CANCELED", "PARTIALLY_FILLED"):
                executed = sum((f.quantity for f in tracked.fills.values()), Decimal(0))
                if executed < body.cumulative_quantity:
                    self._fetch_fills(tracked)  # a deal push is late or lost
            if tracked.ended_with == len(tracked.fills):
                # Its end was told already (a query got there first); pushes from
                # before it are old news that would only wake a portfolio that let go.
                return []
            return [self._status_report(tracked, status)]
        return []

    # -- internals -----------------------------------------------------------------

    def _track(self, order: ExchangeOrder) -> _Tracked:
        tracked = self._by_client_id.get(order.client_order_id)
        if tracked is None:
            tracked = self._by_client_id[order.client_order_id] = _Tracked(order)
        return tracked

    def _link(self, tracked: _Tracked, exchange_id: str) -> None:
        tracked.exchange_id = exchange_id
        self._by_exchange_id[exchange_id] = tracked

    def _find(self, client_id: str | None, exchange_id: str | None) -> _Tracked | None:
        tracked = self._by_client_id.get(client_id) if client_id else None
        if tracked is None and exchange_id:
            tracked = self._by_exchange_id.get(exchange_id)
        if tracked is None:
            log.info("mexc.push_for_unknown_order", account=self._name, client_order_id=client_id, order_id=exchange_id)
        return tracked

    def _from_exchange(self, tracked: _Tracked, found: MexcOrder) -> ExecutionReport:
        self._link(tracked, found.order_id)
        status = STATUS.get(found.status or "", "NEW")
        if found.executed_qty and found.executed_qty > 0:
            self._fetch_fills(tracked)
            known = sum((f.quantity for f in tracked.fills.values()), Decimal(0))
            if known < found.executed_qty:
                # myTrades has no cursor but time: over 100 fills in one millisecond
                # cannot all be read. Operators hear of it; a wallet refresh (with
                # nothing open) brings the balances to the exchange's.
                log.error("mexc.fills_incomplete", account=self._name, order_id=tracked.order.order_id,
                          executed=str(found.executed_qty), read=str(known), fills=len(tracked.fills))
        return self._status_report(tracked, status)

    def _status_report(self, tracked: _Tracked, status: OrderStatus) -> ExecutionReport:
        if status in ("FILLED", "CANCELED", "REJECTED"):
            tracked.ended_with = len(tracked.fills)
        return self._report(tracked.order, status, fills=tuple(tracked.fills.values()))

    def _fetch_fills(self, tracked: _Tracked) -> None:
        if tracked.exchange_id is None:
            return
        for trade in self._trades_of(tracked.order.symbol, tracked.exchange_id):
            if trade.id in tracked.fills:
                continue
            tracked.fills[trade.id] = Fill(
                trade_id=trade.id,
                price=trade.price,
                quantity=trade.qty,
                quote=trade.quote_qty,
                fee=trade.commission,
                fee_asset=trade.commission_asset or self._catalog().get(tracked.order.symbol).quote,
                is_maker=trade.is_maker,
                time=trade.time,
            )

    def _trades_of(self, symbol: str, exchange_id: str) -> list[MexcTrade]:
        """Every trade of one order. MEXC answers at most 100 (the newest) at a time,
        so an order with more is read page by page, back in time."""
        trades: dict[str, MexcTrade] = {}
        end: int | None = None
        for _ in range(TRADE_PAGES):
            page = self.rest.my_trades(symbol, order_id=exchange_id, end=end, limit=TRADES_PER_PAGE)
            new = [t for t in page if t.id not in trades]
            trades.update((t.id, t) for t in page)
            if len(page) < TRADES_PER_PAGE or not new:
                break
            end = min(t.time for t in page)  # that millisecond again: its other trades are not lost
        return sorted(trades.values(), key=lambda t: (t.time, t.id))

    def _report(
        self, order: ExchangeOrder, status: OrderStatus, fills: tuple[Fill, ...] = (), reason: str | None = None,
        cancel_failed: bool = False,
    ) -> ExecutionReport:
        ordered = tuple(sorted(fills, key=lambda f: (f.time, f.trade_id)))
        return ExecutionReport(
            user_id=order.user_id,
            order_id=order.order_id,
            status=status,
            fills=ordered,
            reason=reason,
            time=self._clock.now_ms(),
            cancel_failed=cancel_failed,
        )
