"""Wire shapes: request bodies in, response bodies out (camelCase JSON).

Decimals leave as plain strings (no exponent, no trailing zeros), times as
integer milliseconds UTC. Request structs reject unknown fields, so a typo such
as ``qty`` is an error, not a silently ignored field.
"""

from __future__ import annotations

import functools
import re
from decimal import ROUND_HALF_EVEN, Context, Decimal

import msgspec

from actors.market import MarketView
from engine.alerts import Alert, AlertFields, AlertFiring
from engine.candles import Candle
from engine.errors import InvalidJson, InvalidPrice, InvalidQuantity, InvalidTrigger, ValidationFailed
from engine.market import Trade
from engine.model import ORDER_TYPES, BookTicker, Fill, Order, SymbolInfo
from engine.money import amount_problem, divide, fmt
from engine.orders import PlaceOrder
from engine.positions import Position
from engine.risk import Limits
from engine.rules import Execution, Rule, RuleFields

MAX_BODY_BYTES = 64 * 1024
_TRIGGER_FIELDS = frozenset({"triggerPrice", "trailingPercent", "stopLossPrice", "takeProfitPrice"})


# -- requests ------------------------------------------------------------------------------


# An average of fills is no price on the tick; 12 significant digits say all of it
# that matters without 28 digits of division noise.
AVERAGE_PRICE = Context(prec=12, rounding=ROUND_HALF_EVEN)

class OrderRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    symbol: str
    side: str
    type: str
    quantity: Decimal | None = None
    quote_quantity: Decimal | None = None
    price: Decimal | None = None
    client_order_id: str | None = None
    trigger_price: Decimal | None = None
    trailing_percent: Decimal | None = None
    stop_loss_price: Decimal | None = None
    take_profit_price: Decimal | None = None

    def to_command(self, idempotency_key: str | None) -> PlaceOrder:
        side, type_ = self.side.upper(), self.type.upper()
        if side not in ("BUY", "SELL"):
            raise ValidationFailed(f"side must be BUY or SELL, not {self.side!r}")
        if type_ not in ORDER_TYPES:
            raise ValidationFailed(f"type must be one of {', '.join(ORDER_TYPES)}, not {self.type!r}")
        return PlaceOrder(
            symbol=self.symbol.strip().upper(),
            side=side,  # type: ignore[arg-type]
            type=type_,  # type: ignore[arg-type]
            quantity=self.quantity,
            quote_quantity=self.quote_quantity,
            price=self.price,
            client_order_id=self.client_order_id,
            idempotency_key=idempotency_key,
            trigger_price=self.trigger_price,
            trailing_percent=self.trailing_percent,
            stop_loss_price=self.stop_loss_price,
            take_profit_price=self.take_profit_price,
        )


class HaltRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    reason: str


class LimitsRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """A user's own risk limits; an absent or null one is the engine's."""

    max_order_notional: Decimal | None = None
    max_position_notional: Decimal | None = None
    max_open_orders: int | None = None
    price_band_percent: Decimal | None = None
    max_daily_loss: Decimal | None = None

    def to_limits(self) -> Limits:
        for name in ("max_order_notional", "max_position_notional", "price_band_percent", "max_daily_loss"):
            value = getattr(self, name)
            if value is not None and (amount_problem(value) is not None):
                raise ValidationFailed(f"{camel(name)} {amount_problem(value)}", details={"field": camel(name)})
        if self.max_open_orders is not None and not 0 <= self.max_open_orders <= 1_000_000:
            raise ValidationFailed("maxOpenOrders must be from 0 to 1000000", details={"field": "maxOpenOrders"})
        return Limits(max_order_notional=self.max_order_notional, max_position_notional=self.max_position_notional,
                      max_open_orders=self.max_open_orders, price_band_percent=self.price_band_percent,
                      max_daily_loss=self.max_daily_loss)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


RuleRequest = RuleFields  # the rule's settings are the request body as they are
AlertRequest = AlertFields


class AlertOut(msgspec.Struct, rename="camel"):
    id: str
    symbol: str
    kind: str
    price: str | None
    change_percent: str | None
    window_seconds: int | None
    armed: bool
    fired: int
    last_fired_at: int | None
    created_at: int


class FiringOut(msgspec.Struct, rename="camel"):
    id: str
    time: int
    price: str
    reference_price: str | None


def alert_out(alert: Alert) -> AlertOut:
    return AlertOut(id=alert.id, symbol=alert.symbol, kind=alert.kind, price=fmt(alert.price),
                    change_percent=fmt(alert.change_percent), window_seconds=alert.window_seconds, armed=alert.armed,
                    fired=alert.fired, last_fired_at=alert.last_fired_at, created_at=alert.created_at)


def firing_out(firing: AlertFiring) -> FiringOut:
    return FiringOut(id=firing.id, time=firing.time, price=fmt(firing.price), reference_price=fmt(firing.reference))


class RuleOut(msgspec.Struct, rename="camel"):
    id: str
    kind: str
    symbol: str | None
    threshold: str | None
    drop_percent: str | None
    window_seconds: int | None
    every_seconds: int | None
    quote_asset: str | None
    quote_amount: str
    max_quote_total: str | None
    max_executions: int | None
    cooldown_seconds: int
    stop_loss_percent: str | None
    take_profit_percent: str | None
    trailing_percent: str | None
    enabled: bool
    paused: bool
    spent: str
    executions: int
    last_fired_at: int | None
    created_at: int
    updated_at: int


class ExecutionOut(msgspec.Struct, rename="camel"):
    id: str
    time: int
    status: str
    order_id: str | None
    reason: str | None
    quote_amount: str | None
    price: str | None


def rule_out(rule: Rule) -> RuleOut:
    return RuleOut(
        id=rule.id, kind=rule.kind, symbol=rule.symbol, threshold=fmt(rule.threshold), drop_percent=fmt(rule.drop_percent),
        window_seconds=rule.window_seconds, every_seconds=rule.every_seconds, quote_asset=rule.quote_asset,
        quote_amount=fmt(rule.quote_amount), max_quote_total=fmt(rule.max_quote_total), max_executions=rule.max_executions,
        cooldown_seconds=rule.cooldown_seconds, stop_loss_percent=fmt(rule.stop_loss_percent),
        take_profit_percent=fmt(rule.take_profit_percent), trailing_percent=fmt(rule.trailing_percent),
        enabled=rule.enabled, paused=rule.paused, spent=fmt(rule.spent), executions=rule.executions,
        last_fired_at=rule.last_fired_at, created_at=rule.created_at, updated_at=rule.updated_at,
    )


def rule_request_of(rule: Rule) -> dict[str, object]:
    """A rule's settings as a request body would give them (a PATCH merges into these)."""
    out = msgspec.to_builtins(rule_out(rule))
    return {k: v for k, v in out.items() if k in _RULE_FIELDS}


_RULE_FIELDS = frozenset(f.encode_name for f in msgspec.structs.fields(RuleFields))


def execution_out(execution: Execution) -> ExecutionOut:
    return ExecutionOut(id=execution.id, time=execution.time, status=execution.status, order_id=execution.order_id,
                        reason=execution.reason, quote_amount=fmt(execution.quote), price=fmt(execution.price))


class ListingRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    symbol: str
    price: Decimal
    base_precision: int = 2
    quote_precision: int = 4


class PriceRequest(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    price: Decimal


# What a number written as a string may look like: ASCII digits, one point, an
# exponent. Python's Decimal would also take "5_000", " 1 " and other scripts' digits;
# a money field that is not written plainly is more likely a mistake than a number.
# NaN and Infinity get through here to be refused as not finite, by name.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf|infinity)", re.ASCII | re.IGNORECASE)


def decode_body(raw: bytes, type_: type) -> object:
    if not raw.strip():
        raise InvalidJson("the request body is empty; send a JSON object")
    try:
        value: object = msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"invalid request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidJson(f"the request body is not valid JSON: {exc}") from None
    _check_numbers_are_plain(raw, type_)
    return value


@functools.cache
def _decimal_fields(type_: type) -> tuple[str, ...]:
    if not (isinstance(type_, type) and issubclass(type_, msgspec.Struct)):
        return ()  # a plain object (a PATCH's changes): checked once merged into its struct
    return tuple(f.encode_name for f in msgspec.structs.fields(type_) if "Decimal" in str(f.type))


def _check_numbers_are_plain(raw: bytes, type_: type) -> None:
    names = _decimal_fields(type_)
    if not names:
        return
    fields = msgspec.json.decode(raw, type=dict[str, msgspec.Raw])  # numbers left unparsed
    for name in names:
        value = fields.get(name)
        text = msgspec.json.decode(value) if value is not None and bytes(value).startswith(b'"') else None
        if text is not None and not _PLAIN_NUMBER.fullmatch(text):
            error = InvalidPrice if name == "price" else InvalidTrigger if name in _TRIGGER_FIELDS else InvalidQuantity
            raise error(f"{name} must be a decimal number in ASCII digits such as \"0.25\", not {text[:40]!r}",
                        details={"field": name})


# -- responses -----------------------------------------------------------------------------


class FillOut(msgspec.Struct, rename="camel"):
    trade_id: str
    price: str
    quantity: str
    quote_quantity: str
    fee: str
    fee_asset: str
    is_maker: bool
    time: int


class OrderOut(msgspec.Struct, rename="camel"):
    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    status: str
    quantity: str | None
    quote_quantity: str | None
    price: str | None
    executed_quantity: str
    executed_quote: str
    average_price: str | None
    fee: str
    fee_asset: str | None
    fills: list[FillOut]
    reason: str | None
    created_at: int
    updated_at: int
    trigger_price: str | None = None
    trailing_percent: str | None = None
    triggered: bool | None = None  # for conditional orders only
    triggered_at: int | None = None
    triggered_order_id: str | None = None  # the order that went to the exchange: the same one
    stop_loss_price: str | None = None
    take_profit_price: str | None = None
    oco_order_id: str | None = None
    parent_order_id: str | None = None


class PositionOut(msgspec.Struct, rename="camel"):
    symbol: str
    quantity: str
    average_price: str | None
    cost_basis: str
    realized_pnl: str
    unrealized_pnl: str | None
    last_price: str | None
    fees: str
    updated_at: int | None


class BalanceOut(msgspec.Struct):
    asset: str
    free: str
    locked: str


class WalletOut(msgspec.Struct, rename="camel"):
    user_id: str
    balances: list[BalanceOut]


class TickerOut(msgspec.Struct, rename="camel"):
    symbol: str
    last_price: str | None
    bid_price: str | None
    bid_qty: str | None
    ask_price: str | None
    ask_qty: str | None
    time: int | None
    age_ms: int | None
    stale: bool


class SymbolOut(msgspec.Struct, rename="camel"):
    symbol: str
    base_asset: str
    quote_asset: str
    base_precision: int
    quote_precision: int
    min_quantity: str
    min_notional: str
    status: str


class CandleOut(msgspec.Struct, rename="camel"):
    open_time: int
    close_time: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    quote_volume: str


class LevelOut(msgspec.Struct):
    price: str
    quantity: str


class OrderBookOut(msgspec.Struct, rename="camel"):
    symbol: str
    bids: list[LevelOut]
    asks: list[LevelOut]
    version: int | None
    time: int | None
    age_ms: int | None
    stale: bool


class TradeOut(msgspec.Struct, rename="camel"):
    price: str
    quantity: str
    side: str
    time: int


def candle_out(candle: Candle) -> CandleOut:
    return CandleOut(
        open_time=candle.open_time,
        close_time=candle.close_time,
        open=fmt(candle.open),
        high=fmt(candle.high),
        low=fmt(candle.low),
        close=fmt(candle.close),
        volume=fmt(candle.volume),
        quote_volume=fmt(candle.quote_volume),
    )


def age(time_ms: int | None, now_ms: int, stale_after_ms: int) -> tuple[int | None, bool]:
    """How old data is, and whether that is too old to act on."""
    if time_ms is None:
        return None, True
    age_ms = max(now_ms - time_ms, 0)
    return age_ms, age_ms > stale_after_ms


def orderbook_out(symbol: str, view: MarketView, limit: int, now_ms: int, stale_after_ms: int) -> OrderBookOut:
    if view.depth is not None:
        bids, asks, version, time = view.depth.bids, view.depth.asks, view.depth.version, view.depth.time
    elif view.book is not None:  # a feed with top of book only
        book = view.book
        bids, asks, version, time = ((book.bid, book.bid_qty),), ((book.ask, book.ask_qty),), None, book.time
    else:
        bids, asks, version, time = (), (), None, None
    age_ms, stale = age(time, now_ms, stale_after_ms)
    return OrderBookOut(
        symbol=symbol,
        bids=[LevelOut(fmt(p), fmt(q)) for p, q in bids[:limit]],
        asks=[LevelOut(fmt(p), fmt(q)) for p, q in asks[:limit]],
        version=version,
        time=time,
        age_ms=age_ms,
        stale=stale,
    )


def trade_out(trade: Trade) -> TradeOut:
    return TradeOut(price=fmt(trade.price), quantity=fmt(trade.quantity), side=trade.side, time=trade.time)


def fill_out(fill: Fill) -> FillOut:
    return FillOut(
        trade_id=fill.trade_id,
        price=fmt(fill.price),
        quantity=fmt(fill.quantity),
        quote_quantity=fmt(fill.quote),
        fee=fmt(fill.fee),
        fee_asset=fill.fee_asset,
        is_maker=fill.is_maker,
        time=fill.time,
    )


def order_out(order: Order) -> OrderOut:
    average = (
        AVERAGE_PRICE.create_decimal(divide(order.executed_quote, order.executed_quantity)) if order.executed_quantity else None
    )
    return OrderOut(
        id=order.id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        status=order.status,
        quantity=fmt(order.quantity),
        quote_quantity=fmt(order.quote_quantity),
        price=fmt(order.price),
        executed_quantity=fmt(order.executed_quantity),
        executed_quote=fmt(order.executed_quote),
        average_price=fmt(average),
        fee=fmt(order.fee),
        fee_asset=order.fee_asset,
        fills=[fill_out(f) for f in order.fills],
        reason=order.reason,
        created_at=order.created_at,
        updated_at=order.updated_at,
        trigger_price=fmt(order.trigger_price),
        trailing_percent=fmt(order.trailing_percent),
        triggered=order.triggered if order.is_conditional else None,
        triggered_at=order.triggered_at,
        triggered_order_id=order.id if order.triggered else None,
        stop_loss_price=fmt(order.stop_loss_price),
        take_profit_price=fmt(order.take_profit_price),
        oco_order_id=order.oco_id,
        parent_order_id=order.parent_id,
    )


# Quote amounts of positions are exact sums and average-cost divisions; ten decimal
# places say more than any quote asset's precision without the division's tail.
PNL_PLACES = Decimal("1e-10")


def _pnl(value: Decimal) -> str:
    return fmt(value.quantize(PNL_PLACES, rounding=ROUND_HALF_EVEN))


def position_out(position: Position, last: Decimal | None) -> PositionOut:
    average = position.average_price
    unrealized = position.unrealized(last)
    return PositionOut(
        symbol=position.symbol,
        quantity=fmt(position.quantity),
        average_price=None if average is None else fmt(AVERAGE_PRICE.create_decimal(average)),
        cost_basis=_pnl(position.cost_basis),
        realized_pnl=_pnl(position.realized_pnl),
        unrealized_pnl=None if unrealized is None else _pnl(unrealized),
        last_price=fmt(last),
        fees=_pnl(position.fees),
        updated_at=position.updated_at or None,
    )


def ticker_out(symbol: str, book: BookTicker | None, now_ms: int, stale_after_ms: int) -> TickerOut:
    if book is None:
        return TickerOut(symbol, None, None, None, None, None, None, None, True)
    age_ms, stale = age(book.time, now_ms, stale_after_ms)
    return TickerOut(
        symbol=symbol,
        last_price=fmt(book.last),
        bid_price=fmt(book.bid),
        bid_qty=fmt(book.bid_qty),
        ask_price=fmt(book.ask),
        ask_qty=fmt(book.ask_qty),
        time=book.time,
        age_ms=age_ms,
        stale=stale,
    )


def symbol_out(info: SymbolInfo) -> SymbolOut:
    return SymbolOut(
        symbol=info.symbol,
        base_asset=info.base,
        quote_asset=info.quote,
        base_precision=info.base_precision,
        quote_precision=info.quote_precision,
        min_quantity=fmt(info.min_quantity),
        min_notional=fmt(info.min_notional),
        status=info.status,
    )
