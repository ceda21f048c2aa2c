"""The REST calls the account adapter asks for, run off the actor that owns it.

The adapter (``adapter.py``) decides; it never calls the exchange itself. What it
wants done is a ``Job``; ``run`` carries one out on a worker thread with the
account's ``MexcRestClient`` and returns what the exchange said (or raises its
error), and the adapter is handed that outcome as a message. So a gateway never
blocks on the network: pushes and new orders are handled while a call is out.

A job is a short sequence of calls that belong together (an order and its trades;
a sweep of the account's open and recent orders with the trades the adapter has
not seen), so the adapter sees one consistent answer per question.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from engine.exchanges.mexc.errors import MexcUnknownOrder
from engine.exchanges.mexc.rest import MexcOrder, MexcOrderAck, MexcOrderType, MexcRestClient, MexcTrade
from engine.model import Side

JobKind = Literal["place", "query", "cancel", "sweep", "balances", "probe"]

TRADES_PER_PAGE = 100  # myTrades answers at most this many
TRADE_PAGES = 50  # pages read per order at most (5,000 fills)
RECENT_ORDERS = 1000  # allOrders answers at most this many per symbol


@dataclass(frozen=True)
class PlaceParams:
    symbol: str
    side: Side
    type: MexcOrderType
    quantity: Decimal | None
    quote_order_qty: Decimal | None
    price: Decimal | None
    client_order_id: str


@dataclass(frozen=True)
class SweepRequest:
    symbols: tuple[str, ...]
    since_ms: int  # recent orders: created from then on
    # client id -> (symbol, exchange id or None, executed quantity the adapter knows):
    # orders the adapter follows; ones not open and not recent are queried one by one.
    tracked: dict[str, tuple[str, str | None, Decimal]] = field(default_factory=dict)
    is_ours: Any = None  # Callable[[str | None], bool]: whether a client id is this engine's


@dataclass(frozen=True)
class Job:
    kind: JobKind
    client_id: str = ""  # the order it is about; "" for the account
    symbol: str = ""
    exchange_id: str | None = None
    known_executed: Decimal = Decimal(0)  # fills the adapter holds: trades are read only beyond
    place: PlaceParams | None = None
    sweep: SweepRequest | None = None
    user_id: str = ""  # balances: whose reconciliation asked
    token: int = 0
    serial: int = 0  # set by the adapter: which of its questions this answers


@dataclass(frozen=True)
class QueryResult:
    order: MexcOrder | None  # None: the exchange says it has no such order
    trades: list[MexcTrade]


@dataclass(frozen=True)
class SweepResult:
    orders: list[MexcOrder]  # open, recent and queried engine orders, newest view of each
    missing: list[str]  # tracked client ids the exchange says it has no such order
    trades: dict[str, list[MexcTrade]]  # exchange order id -> every trade


def run(rest: MexcRestClient, job: Job) -> Any:
    """Carry out ``job``; raises the exchange's error as it came."""
    if job.kind == "place":
        p = job.place
        assert p is not None
        ack: MexcOrderAck = rest.place_order(
            p.symbol, p.side, p.type, quantity=p.quantity, quote_order_qty=p.quote_order_qty,
            price=p.price, client_order_id=p.client_order_id,
        )
        return ack
    if job.kind == "query":
        return query(rest, job.symbol, job.client_id, job.known_executed)
    if job.kind == "cancel":
        return rest.cancel_order(job.symbol, client_order_id=job.client_id)
    if job.kind == "sweep":
        assert job.sweep is not None
        return sweep(rest, job.sweep)
    if job.kind == "balances":
        return {b.asset: b.free + b.locked for b in rest.account().balances}
    if job.kind == "probe":
        rest.account()
        return None
    raise ValueError(f"unknown job {job.kind!r}")


def query(rest: MexcRestClient, symbol: str, client_id: str, known_executed: Decimal) -> QueryResult:
    try:
        found = rest.query_order(symbol, client_order_id=client_id)
    except MexcUnknownOrder:
        return QueryResult(None, [])
    trades: list[MexcTrade] = []
    if found.executed_qty and found.executed_qty > known_executed:
        trades = trades_of(rest, symbol, found.order_id)
    return QueryResult(found, trades)


def sweep(rest: MexcRestClient, request: SweepRequest) -> SweepResult:
    """The account's open orders and recent orders on ``symbols``; tracked orders found
    in neither are asked about one by one. Trades are read only for tracked orders
    that executed more than the adapter knows: an untracked one is read once its
    owner says it is an orphan, so a sweep costs a few calls, not one per order."""
    is_ours = request.is_ours or (lambda _cid: False)
    seen: dict[str, MexcOrder] = {}
    for symbol in request.symbols:
        for order in rest.all_orders(symbol, start=request.since_ms, limit=RECENT_ORDERS):
            seen.setdefault(_cid(order), order)
        for order in rest.open_orders(symbol):
            seen[_cid(order)] = order  # the open list is the newer word
    missing = []
    for client_id, (symbol, _, _) in request.tracked.items():
        if client_id in seen:
            continue
        try:
            seen[client_id] = rest.query_order(symbol, client_order_id=client_id)
        except MexcUnknownOrder:
            missing.append(client_id)
    orders = [o for cid, o in seen.items() if cid in request.tracked or is_ours(cid)]
    trades = {}
    for order in orders:
        tracked = request.tracked.get(_cid(order))
        if tracked is not None and order.executed_qty and order.executed_qty > tracked[2]:
            trades[order.order_id] = trades_of(rest, order.symbol, order.order_id)
    return SweepResult(orders, missing, trades)


def trades_of(rest: MexcRestClient, symbol: str, exchange_id: str) -> list[MexcTrade]:
    """Every trade of one order. MEXC answers at most 100 (the newest) at a time,
    so an order with more is read page by page, back in time."""
    trades: dict[str, MexcTrade] = {}
    end: int | None = None
    for _ in range(TRADE_PAGES):
        page = rest.my_trades(symbol, order_id=exchange_id, end=end, limit=TRADES_PER_PAGE)
        new = [t for t in page if t.id not in trades]
        trades.update((t.id, t) for t in page)
        if len(page) < TRADES_PER_PAGE or not new:
            break
        end = min(t.time for t in page)  # that millisecond again: its other trades are not lost
    return sorted(trades.values(), key=lambda t: (t.time, t.id))


def _cid(order: MexcOrder) -> str:
    return order.client_order_id or order.orig_client_order_id or ""
