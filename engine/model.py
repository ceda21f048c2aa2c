"""The domain's value types as msgspec Structs.

Structs marked ``frozen`` are shared between threads freely. ``Order`` is mutable
but owned by exactly one PortfolioActor; anything handed to another thread is a
copy made with ``Order.snapshot``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

Side = Literal["BUY", "SELL"]
# The exchange's own order types, by MEXC's names: IOC and FOK are types there, not a
# time in force, and LIMIT_MAKER is post-only (refused if it would take).
# The engine's conditional orders are held by the portfolio, off the exchange, until
# the price reaches their trigger; then they go as MARKET (or, STOP_LIMIT, as LIMIT).
ExchangeType = Literal["MARKET", "LIMIT", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL", "LIMIT_MAKER"]
OrderType = Literal["MARKET", "LIMIT", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL", "LIMIT_MAKER",
                    "STOP_LOSS", "TAKE_PROFIT", "STOP_LIMIT", "TRAILING_STOP"]
EXCHANGE_TYPES: tuple[str, ...] = ("MARKET", "LIMIT", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL", "LIMIT_MAKER")
CONDITIONAL_TYPES: tuple[str, ...] = ("STOP_LOSS", "TAKE_PROFIT", "STOP_LIMIT", "TRAILING_STOP")
ORDER_TYPES: tuple[str, ...] = EXCHANGE_TYPES + CONDITIONAL_TYPES
Direction = Literal["FALL", "RISE"]  # a trigger fires when the price falls to its level, or rises to it
# Orders with a quantity and a limit price.
PRICED_TYPES: frozenset[str] = frozenset({"LIMIT", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL", "LIMIT_MAKER", "STOP_LIMIT"})
# Orders that are done as they land: filled as far as they go, the rest canceled.
IMMEDIATE_TYPES: frozenset[str] = frozenset({"MARKET", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"})
# Orders that rest on the book.
RESTING_TYPES: frozenset[str] = frozenset({"LIMIT", "LIMIT_MAKER"})
OrderStatus = Literal["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED"]
Role = Literal["viewer", "trader", "admin"]

OPEN_STATUSES: frozenset[str] = frozenset({"NEW", "PARTIALLY_FILLED"})
ROLE_RANK: dict[str, int] = {"viewer": 0, "trader": 1, "admin": 2}


class SymbolInfo(msgspec.Struct, frozen=True):
    """Trading rules of one spot symbol (MEXC exchangeInfo semantics)."""

    symbol: str
    base: str
    quote: str
    base_precision: int  # decimal places of a quantity
    quote_precision: int  # decimal places of a price and of a quote amount
    min_quantity: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(1)
    status: Literal["TRADING", "HALTED"] = "TRADING"
    max_notional: Decimal | None = None  # None: the exchange states no maximum
    min_notional_market: Decimal | None = None  # MARKET orders' own limits, where they differ
    max_notional_market: Decimal | None = None

    def notional_limits(self, order_type: str) -> tuple[Decimal, Decimal | None]:
        """(minimum, maximum or None) value of an order of ``order_type``, in quote."""
        if order_type == "MARKET":
            minimum = self.min_notional if self.min_notional_market is None else self.min_notional_market
            maximum = self.max_notional if self.max_notional_market is None else self.max_notional_market
            return minimum, maximum
        return self.min_notional, self.max_notional


class BookTicker(msgspec.Struct, frozen=True):
    """Top of book and last trade price of one symbol at ``time`` (ms)."""

    symbol: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    last: Decimal
    time: int


class Fill(msgspec.Struct, frozen=True):
    trade_id: str
    price: Decimal
    quantity: Decimal  # base units
    quote: Decimal  # quote units paid (BUY) or received (SELL), before fees
    fee: Decimal
    fee_asset: str
    is_maker: bool
    time: int


class BalanceChange(msgspec.Struct, frozen=True):
    """A change to one asset's balance: deltas, not resulting values."""

    asset: str
    free: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)


class Balance(msgspec.Struct):
    free: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)


class Order(msgspec.Struct):
    id: str
    user_id: str
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    status: OrderStatus
    quantity: Decimal | None  # base units, when ordered by quantity
    quote_quantity: Decimal | None  # quote units, MARKET orders by amount
    price: Decimal | None  # LIMIT price
    reserved_asset: str
    reserved: Decimal  # what is still locked for this order
    created_at: int
    updated_at: int
    executed_quantity: Decimal = Decimal(0)
    executed_quote: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    fee_asset: str | None = None
    fills: list[Fill] = msgspec.field(default_factory=list)
    idempotency_key: str | None = None
    reason: str | None = None  # why it was rejected or canceled
    # The id the exchange sees, when it is not ``client_order_id`` (a caller's own
    # clientOrderId is never sent as it is: see engine.orders.exchange_client_id).
    exchange_client_id: str | None = None
    # Conditional orders (CONDITIONAL_TYPES): the level, which way the price must go
    # to reach it, and when it did. A TRAILING_STOP's level follows the highest price
    # since placement, ``trailing_percent`` below it; ``trigger_price`` is its first.
    trigger_price: Decimal | None = None
    trailing_percent: Decimal | None = None
    trailing_anchor: Decimal | None = None  # the price at placement a TRAILING_STOP trails from
    direction: Direction | None = None
    triggered: bool = False
    triggered_at: int | None = None
    # One-cancels-the-other: the other order of the pair (the first of a pair to
    # trigger cancels the other; the pair reserves what it sells once).
    oco_id: str | None = None
    # A BUY's protective pair, placed for what it bought once it is done; on the pair,
    # the BUY it protects.
    stop_loss_price: Decimal | None = None
    take_profit_price: Decimal | None = None
    # Or as percentages of the price it bought at (a rule's), judged once it is done.
    stop_loss_percent: Decimal | None = None
    take_profit_percent: Decimal | None = None
    parent_id: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_conditional(self) -> bool:
        return self.type in CONDITIONAL_TYPES

    @property
    def on_exchange(self) -> bool:
        """Whether the exchange holds (or is to hold) this order: a conditional one
        only once triggered. Reconciliation never sends one that has not."""
        return self.triggered or self.type not in CONDITIONAL_TYPES

    @property
    def exchange_type(self) -> ExchangeType:
        """The type the exchange sees: a triggered STOP_LIMIT is a LIMIT, the other
        conditional orders MARKET."""
        if self.type == "STOP_LIMIT":
            return "LIMIT"
        kind = self.type
        if kind == "STOP_LOSS" or kind == "TAKE_PROFIT" or kind == "TRAILING_STOP":
            return "MARKET"
        return kind

    def snapshot(self) -> Order:
        """An independent copy, safe to hand to another thread."""
        return msgspec.structs.replace(self, fills=list(self.fills))


class Principal(msgspec.Struct, frozen=True):
    """Who is calling: a verified token's subject and role."""

    user_id: str
    role: Role

    def has_role(self, needed: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[needed]
