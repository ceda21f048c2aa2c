"""Order requests: the command, its validation against symbol rules, and ids.

Everything here is pure: no state, no time except what is passed in.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from decimal import Decimal

import msgspec

from engine.errors import InvalidPrice, InvalidQuantity, InvalidTrigger, ValidationFailed
from engine.model import CONDITIONAL_TYPES, PRICED_TYPES, Order, OrderType, Side, SymbolInfo
from engine.money import amount_problem, fits_places

CLIENT_ORDER_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,36}$")
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,128}$")


class PlaceOrder(msgspec.Struct, frozen=True, kw_only=True):
    """A user's request to place an order, already decoded from the wire."""

    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal | None = None
    quote_quantity: Decimal | None = None
    price: Decimal | None = None
    client_order_id: str | None = None
    idempotency_key: str | None = None
    trigger_price: Decimal | None = None
    trailing_percent: Decimal | None = None
    stop_loss_price: Decimal | None = None
    take_profit_price: Decimal | None = None


# Conditional orders that sell at market: what the issue of a stop is, protecting
# what is held. A STOP_LIMIT goes either way.
SELL_ONLY = frozenset({"STOP_LOSS", "TAKE_PROFIT", "TRAILING_STOP"})
MAX_TRAILING_PERCENT = Decimal(50)


def validate(cmd: PlaceOrder, info: SymbolInfo) -> None:
    """Raise a ValidationFailed subtype if the request breaks a rule of the symbol.

    Checks that need balances or prices are the portfolio's; these need neither.
    """
    if cmd.client_order_id is not None and not CLIENT_ORDER_ID_RE.fullmatch(cmd.client_order_id):
        raise ValidationFailed("clientOrderId must be 1-36 characters of A-Z, a-z, 0-9, '_' or '-'")
    if cmd.idempotency_key is not None and not IDEMPOTENCY_KEY_RE.fullmatch(cmd.idempotency_key):
        raise ValidationFailed("Idempotency-Key must be 1-128 printable ASCII characters")
    if info.status != "TRADING":
        raise ValidationFailed(f"{info.symbol} is not trading now")

    if cmd.type in PRICED_TYPES:
        if cmd.quote_quantity is not None:
            raise ValidationFailed("quoteQuantity is only for MARKET orders; give quantity and price")
        if cmd.quantity is None:
            raise InvalidQuantity(f"a {cmd.type} order needs quantity")
        if cmd.price is None:
            raise InvalidPrice(f"a {cmd.type} order needs price")
    elif cmd.type == "MARKET":
        if cmd.price is not None:
            raise InvalidPrice("price is not for MARKET orders")
        if (cmd.quantity is None) == (cmd.quote_quantity is None):
            raise InvalidQuantity("a MARKET order needs exactly one of quantity or quoteQuantity")

    _validate_trigger(cmd, info)

    if cmd.quantity is not None:
        _check_amount(cmd.quantity, "quantity", info.base_precision, InvalidQuantity)
        if cmd.quantity < info.min_quantity:
            raise InvalidQuantity(f"quantity is below the minimum {info.min_quantity} for {info.symbol}")
    if cmd.quote_quantity is not None:
        _check_amount(cmd.quote_quantity, "quoteQuantity", info.quote_precision, InvalidQuantity)
    if cmd.price is not None:
        _check_amount(cmd.price, "price", info.quote_precision, InvalidPrice)


def _validate_trigger(cmd: PlaceOrder, info: SymbolInfo) -> None:
    """The fields of a conditional order, and a BUY's protective prices. Whether a
    trigger is already reached needs the price: that is the portfolio's check."""
    conditional = cmd.type in CONDITIONAL_TYPES
    if not conditional:
        for name, value in (("triggerPrice", cmd.trigger_price), ("trailingPercent", cmd.trailing_percent)):
            if value is not None:
                raise InvalidTrigger(f"{name} is only for {', '.join(CONDITIONAL_TYPES)} orders", details={"field": name})
    if cmd.stop_loss_price is not None or cmd.take_profit_price is not None:
        if cmd.side != "BUY" or conditional:
            raise InvalidTrigger("stopLossPrice and takeProfitPrice are for BUY orders of the exchange's types",
                                 details={"field": "stopLossPrice" if cmd.stop_loss_price is not None else "takeProfitPrice"})
        for name, value in (("stopLossPrice", cmd.stop_loss_price), ("takeProfitPrice", cmd.take_profit_price)):
            if value is not None:
                _check_amount(value, name, info.quote_precision, InvalidTrigger)
        if (cmd.stop_loss_price is not None and cmd.take_profit_price is not None
                and cmd.stop_loss_price >= cmd.take_profit_price):
            raise InvalidTrigger("stopLossPrice must be below takeProfitPrice", details={"field": "stopLossPrice"})
    if not conditional:
        return
    if cmd.type in SELL_ONLY and cmd.side != "SELL":
        raise ValidationFailed(f"a {cmd.type} order sells what is held; side must be SELL")
    if cmd.quantity is None:
        raise InvalidQuantity(f"a {cmd.type} order needs quantity")
    if cmd.quote_quantity is not None:
        raise ValidationFailed(f"quoteQuantity is not for {cmd.type} orders; give quantity")
    if cmd.type != "STOP_LIMIT" and cmd.price is not None:
        raise InvalidPrice(f"price is only for STOP_LIMIT among conditional orders; a {cmd.type} sells at market")
    if cmd.type == "TRAILING_STOP":
        if cmd.trigger_price is not None:
            raise InvalidTrigger("a TRAILING_STOP has no triggerPrice: its level follows the price",
                                 details={"field": "triggerPrice"})
        if cmd.trailing_percent is None:
            raise InvalidTrigger("a TRAILING_STOP needs trailingPercent", details={"field": "trailingPercent"})
        problem = amount_problem(cmd.trailing_percent)
        if problem is not None or cmd.trailing_percent >= MAX_TRAILING_PERCENT or not fits_places(cmd.trailing_percent, 4):
            raise InvalidTrigger(f"trailingPercent must be above 0 and below {MAX_TRAILING_PERCENT}, with at most 4 "
                                 "decimal places", details={"field": "trailingPercent"})
        return
    if cmd.trailing_percent is not None:
        raise InvalidTrigger("trailingPercent is only for TRAILING_STOP orders", details={"field": "trailingPercent"})
    if cmd.trigger_price is None:
        raise InvalidTrigger(f"a {cmd.type} order needs triggerPrice", details={"field": "triggerPrice"})
    _check_amount(cmd.trigger_price, "triggerPrice", info.quote_precision, InvalidTrigger)


def _check_amount(value: Decimal, name: str, places: int, error: type[ValidationFailed]) -> None:
    problem = amount_problem(value)
    if problem is not None:
        raise error(f"{name} {problem}")
    if not fits_places(value, places):
        raise error(f"{name} has more than {places} decimal places")


def differences(order: Order, cmd: PlaceOrder) -> list[str]:
    """The request fields in which ``cmd`` asks for something else than ``order``."""
    pairs = (
        ("symbol", order.symbol, cmd.symbol),
        ("side", order.side, cmd.side),
        ("type", order.type, cmd.type),
        ("quantity", order.quantity, cmd.quantity),
        ("quoteQuantity", order.quote_quantity, cmd.quote_quantity),
        ("price", order.price, cmd.price),
        ("triggerPrice", order.trigger_price if order.type != "TRAILING_STOP" else None, cmd.trigger_price),
        ("trailingPercent", order.trailing_percent, cmd.trailing_percent),
        ("stopLossPrice", order.stop_loss_price, cmd.stop_loss_price),
        ("takeProfitPrice", order.take_profit_price, cmd.take_profit_price),
    )
    return [name for name, was, now in pairs if was != now]


def new_order_id(now_ms: int) -> str:
    """Time-ordered, unguessable id: 12 hex digits of ms then 10 random."""
    return f"{now_ms:012x}{secrets.token_hex(5)}"


# Every order the engine sends carries this prefix and its user's tag, so a sweep of
# the exchange account can tell the engine's orders (and whose they are) from others,
# and adopt one whose record a crash lost between its send and its commit.
ENGINE_PREFIX = "cb"
USER_TAG_LENGTH = 6


def user_tag(user_id: str) -> str:
    return hashlib.sha256(f"user\x00{user_id}".encode()).hexdigest()[:USER_TAG_LENGTH]


def exchange_client_id(user_id: str, order_id: str, *, idempotency_key: str | None = None,
                       client_order_id: str | None = None) -> str:
    """The client order id the exchange sees (31 or 32 characters of [0-9a-z]).

    Derived from the request when it names itself (an Idempotency-Key, else the
    caller's clientOrderId), so a retry after a crash maps to the same exchange
    order, and the exchange's refusal of a taken id says "it exists: look it up".
    Otherwise from the order's own id, which is unique: a per-user counter would be
    handed out again after a crash lost the commit of the order that used it."""
    prefix = f"{ENGINE_PREFIX}{user_tag(user_id)}"
    if idempotency_key is not None:
        return f"{prefix}k{_digest(user_id, 'key', idempotency_key)}"
    if client_order_id is not None:
        return f"{prefix}c{_digest(user_id, 'client', client_order_id)}"
    return f"{prefix}o{order_id}"


def is_engine_id(client_order_id: str | None, user_id: str) -> bool:
    """Whether the exchange's ``client_order_id`` is one this engine made for ``user_id``."""
    return bool(client_order_id) and client_order_id.startswith(f"{ENGINE_PREFIX}{user_tag(user_id)}")  # type: ignore[union-attr]


def _digest(user_id: str, kind: str, value: str) -> str:
    return hashlib.sha256(f"{user_id}\x00{kind}\x00{value}".encode()).hexdigest()[:23]
