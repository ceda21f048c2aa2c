"""The simulator's value types: symbols, orders, trades, klines, book tops.

Orders are mutable and owned by the exchange under its lock; anything handed out
(REST answers, pushes, tests) is a copy made with ``snapshot``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

Side = Literal["BUY", "SELL"]
OrderType = Literal["LIMIT", "MARKET", "LIMIT_MAKER", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"]
OrderStatus = Literal["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "PARTIALLY_CANCELED"]

ORDER_TYPES: tuple[str, ...] = ("LIMIT", "MARKET", "LIMIT_MAKER", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL")
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})


class SimSymbol(msgspec.Struct, frozen=True):
    """One spot symbol with MEXC's exchangeInfo meanings (see the reference, section 1)."""

    symbol: str
    base: str
    quote: str
    base_precision: int  # decimal places of a quantity
    quote_precision: int  # decimal places of a price (the tick) and of a quote amount
    min_quantity: Decimal = Decimal(0)  # baseSizePrecision
    min_notional: Decimal = Decimal(1)  # quoteAmountPrecision
    min_notional_market: Decimal = Decimal(1)  # quoteAmountPrecisionMarket
    max_notional: Decimal = Decimal(2_000_000)  # maxQuoteAmount
    max_notional_market: Decimal = Decimal(100_000)  # maxQuoteAmountMarket
    status: Literal["1", "2", "3"] = "1"  # online, paused, offline
    full_name: str = ""

    @property
    def base_commission_precision(self) -> int:
        """Decimal places of a fee charged in the base asset (exchangeInfo's
        baseCommissionPrecision); MEXC lists it equal to the base precision."""
        return self.base_precision

    @property
    def quote_commission_precision(self) -> int:
        """Decimal places of a fee charged in the quote asset (quoteCommissionPrecision)."""
        return self.quote_precision

    @property
    def tick(self) -> Decimal:
        return Decimal(1).scaleb(-self.quote_precision)

    @property
    def step(self) -> Decimal:
        return Decimal(1).scaleb(-self.base_precision)


class SimOrder(msgspec.Struct, kw_only=True):
    order_id: str
    api_key: str
    symbol: str
    side: Side
    type: OrderType
    price: Decimal | None  # None for MARKET
    orig_qty: Decimal | None  # base units, when ordered by quantity
    orig_quote_qty: Decimal | None  # quote units, MARKET orders by amount
    client_order_id: str | None
    status: OrderStatus
    time: int
    update_time: int
    executed_qty: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    reserved_asset: str = ""
    reserved: Decimal = Decimal(0)  # still locked for this order

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return (self.orig_qty or Decimal(0)) - self.executed_qty

    def snapshot(self) -> SimOrder:
        return msgspec.structs.replace(self)


class SimTrade(msgspec.Struct, frozen=True, kw_only=True):
    """One account's side of one match (myTrades, private deal pushes)."""

    trade_id: str
    order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    quote: Decimal
    fee: Decimal
    fee_asset: str
    is_maker: bool
    is_self_trade: bool
    time: int


class PublicDeal(msgspec.Struct, frozen=True):
    """A trade as the tape shows it; ``taker_side`` BUY means the buyer took."""

    price: Decimal
    qty: Decimal
    taker_side: Side
    time: int
    trade_id: str


class Kline(msgspec.Struct):
    interval: str  # REST name: 1m 5m 15m 30m 60m 4h 8h 1d 1W 1M
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = Decimal(0)
    quote_volume: Decimal = Decimal(0)

    def snapshot(self) -> Kline:
        return msgspec.structs.replace(self)


class BookTop(msgspec.Struct, frozen=True):
    symbol: str
    bid: Decimal | None
    bid_qty: Decimal | None
    ask: Decimal | None
    ask_qty: Decimal | None
    version: int
    time: int


class AccountChange(msgspec.Struct, frozen=True):
    """One asset's balance after a change, and the change (a private account push)."""

    asset: str
    free: Decimal
    free_change: Decimal
    locked: Decimal
    locked_change: Decimal
    kind: str  # ENTRUST_PLACE, ENTRUST_CANCEL, ENTRUST, TRADE_FEE, DEPOSIT
    time: int


class Ticker24h(msgspec.Struct, frozen=True):
    symbol: str
    open: Decimal
    high: Decimal
    low: Decimal
    last: Decimal
    volume: Decimal
    quote_volume: Decimal
    open_time: int
    close_time: int
    top: BookTop
