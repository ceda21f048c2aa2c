"""What the engine sends to an exchange and what comes back.

These types cross the boundary between a PortfolioActor (which owns an order's
record) and the ExchangeGateway (which owns the order's life at the exchange):
an order to place or cancel one way, ExecutionReports and what a reconciliation
sweep found the other way. Pure data, no I/O.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.model import ExchangeType, Fill, Order, OrderStatus, Side

# A MARKET order that has not reached the exchange this long after it was first sent
# is not sent at all: a market order traded late trades at a price nobody chose.
MARKET_SEND_WINDOW_MS = 10_000


class ExchangeOrder(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    order_id: str
    client_order_id: str  # the id the exchange sees (engine-prefixed for every new order)
    symbol: str
    side: Side
    type: ExchangeType
    quantity: Decimal | None  # remaining base quantity, when ordered by quantity
    quote_quantity: Decimal | None
    price: Decimal | None
    created_at: int = 0  # ms; when the engine accepted it (the send window of a MARKET order counts from no later)
    # A MARKET buy by quantity never spends more quote than this (its reservation):
    # it goes to the exchange as an immediate-or-cancel limit at reserved / quantity.
    max_quote: Decimal | None = None

    @classmethod
    def from_order(cls, order: Order) -> ExchangeOrder:
        quantity = None if order.quantity is None else order.quantity - order.executed_quantity
        kind = order.exchange_type  # a triggered conditional order goes as what it became
        capped = kind == "MARKET" and order.side == "BUY" and order.quantity is not None
        return cls(
            user_id=order.user_id,
            order_id=order.id,
            client_order_id=order.exchange_client_id or order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            type=kind,
            quantity=quantity,
            quote_quantity=order.quote_quantity,
            price=order.price if kind != "MARKET" else None,
            # An immediate order's send window counts from when it was decided: for a
            # conditional one, its trigger, not its placement days before.
            created_at=order.triggered_at or order.created_at,
            max_quote=order.reserved if capped else None,
        )


class ExecutionReport(msgspec.Struct, frozen=True, kw_only=True):
    """An order's state at the exchange: fills not reported before, and its status
    after them. NEW with no fills is an acknowledgement. A final status (FILLED,
    CANCELED) comes only once the fills add up to what the exchange executed, or,
    if they never do, with ``reason`` saying so; a fill can still follow a final
    status, and is applied to the closed order."""

    user_id: str
    order_id: str
    status: OrderStatus
    fills: tuple[Fill, ...] = ()
    reason: str | None = None
    time: int
    # A cancel the exchange did not confirm: the order stands as ``status`` says.
    cancel_failed: bool = False


class VenueOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order as the exchange holds it, found by a sweep of the account: what a
    portfolio needs to adopt an order its journal lacks."""

    client_order_id: str
    exchange_id: str
    symbol: str
    side: Side
    type: ExchangeType
    status: OrderStatus
    quantity: Decimal | None
    quote_quantity: Decimal | None
    price: Decimal | None
    executed_quantity: Decimal
    created_at: int
    fills: tuple[Fill, ...] = ()
