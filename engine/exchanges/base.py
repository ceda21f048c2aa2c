"""What the engine sends to an exchange and what comes back."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.model import Fill, Order, OrderStatus, OrderType, Side


# A MARKET order that has not reached the exchange this long after it was sent is not
# sent at all (by the adapter's follow-up, or by reconciliation after a restart): a
# market order traded late trades at a price nobody chose.
MARKET_SEND_WINDOW_MS = 10_000


class ExchangeOrder(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal | None  # remaining base quantity, when ordered by quantity
    quote_quantity: Decimal | None
    price: Decimal | None
    # Protection: never spend more quote (BUY) or more base (SELL) than reserved.
    max_quote: Decimal | None = None
    max_base: Decimal | None = None
    fills_so_far: int = 0  # numbering of trade ids continues after a restart

    @classmethod
    def from_order(cls, order: Order) -> ExchangeOrder:
        quantity = None if order.quantity is None else order.quantity - order.executed_quantity
        return cls(
            user_id=order.user_id,
            order_id=order.id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            type=order.type,
            quantity=quantity,
            quote_quantity=order.quote_quantity,
            price=order.price,
            max_quote=order.reserved if order.side == "BUY" and order.type == "MARKET" else None,
            max_base=order.reserved if order.side == "SELL" and order.type == "MARKET" else None,
            fills_so_far=len(order.fills),
        )


class ExecutionReport(msgspec.Struct, frozen=True, kw_only=True):
    """An order's state at the exchange: fills not reported before, and its status
    after them. NEW with no fills is an acknowledgement."""

    user_id: str
    order_id: str
    status: OrderStatus
    fills: tuple[Fill, ...] = ()
    reason: str | None = None
    time: int
    # A cancel the exchange did not confirm: the order stands as ``status`` says.
    cancel_failed: bool = False
