"""MEXC WebSocket frames: binary protobuf pushes and JSON text control replies.

A push is one ``PushDataV3ApiWrapper`` per binary frame. ``decode_push`` turns it
into typed, frozen views: every price, quantity and amount a ``Decimal`` (MEXC
sends them as strings; never a float), every time and version an ``int``. Times
are milliseconds except a kline's window bounds, which MEXC sends in seconds.

proto3 cannot tell an empty string from an absent one. Fields that may really be
absent (declared ``optional``, or added in 2026-06 and so missing from older
servers) become ``None``; other money fields read an empty string as zero.

``encode_push`` is the inverse, for the loopback simulator: a view encoded and
decoded again is equal to itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
from google.protobuf.message import DecodeError

from engine.exchanges.mexc.proto import push_pb2 as pb

ZERO = Decimal(0)

# Enumerations carried as int32, with the reference's meanings.
TRADE_TYPES: dict[int, str] = {1: "BUY", 2: "SELL"}
ORDER_TYPES: dict[int, str] = {
    1: "LIMIT_ORDER",
    2: "POST_ONLY",
    3: "IMMEDIATE_OR_CANCEL",
    4: "FILL_OR_KILL",
    5: "MARKET_ORDER",
    100: "STOP_LIMIT",
}
ORDER_STATUSES: dict[int, str] = {
    1: "NEW",
    2: "FILLED",
    3: "PARTIALLY_FILLED",
    4: "CANCELED",
    5: "PARTIALLY_CANCELED",
}


class PushDecodeError(ValueError):
    """A frame that is not a well-formed MEXC push or control message."""


# -- views --------------------------------------------------------------------------


class DealItem(msgspec.Struct, frozen=True):
    price: Decimal
    quantity: Decimal
    trade_type: int  # 1 buy, 2 sell (taker side)
    time: int  # ms
    trade_id: str | None = None  # sent since 2026-06


class DealsPush(msgspec.Struct, frozen=True):
    deals: tuple[DealItem, ...]
    event_type: str


class BookTickerPush(msgspec.Struct, frozen=True):
    bid_price: Decimal
    bid_quantity: Decimal
    ask_price: Decimal
    ask_quantity: Decimal
    version: int | None = None  # sent since 2026-06
    last_order_create_time: int | None = None  # ms; sent since 2026-06


class DepthLevel(msgspec.Struct, frozen=True):
    price: Decimal
    quantity: Decimal  # absolute; zero removes the level


class DepthPush(msgspec.Struct, frozen=True):
    """A diff of the book covering versions ``from_version..to_version``."""

    asks: tuple[DepthLevel, ...]
    bids: tuple[DepthLevel, ...]
    event_type: str
    from_version: int
    to_version: int


class LimitDepthPush(msgspec.Struct, frozen=True):
    """The top 5, 10 or 20 levels of each side: a whole book, not a diff."""

    asks: tuple[DepthLevel, ...]
    bids: tuple[DepthLevel, ...]
    event_type: str
    version: int


class KlinePush(msgspec.Struct, frozen=True):
    interval: str  # MEXC's name: Min1 ... Month1
    window_start: int  # SECONDS
    open: Decimal
    close: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal  # base
    amount: Decimal  # quote
    window_end: int  # SECONDS


class PrivateOrderPush(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    client_id: str | None  # None when the order has no client id
    price: Decimal
    quantity: Decimal
    amount: Decimal
    avg_price: Decimal
    order_type: int  # see ORDER_TYPES
    trade_type: int  # 1 buy, 2 sell
    is_maker: bool
    remain_amount: Decimal
    remain_quantity: Decimal
    cumulative_quantity: Decimal
    cumulative_amount: Decimal
    status: int  # see ORDER_STATUSES
    create_time: int  # ms
    last_deal_quantity: Decimal | None = None
    market: str | None = None
    trigger_type: int | None = None
    trigger_price: Decimal | None = None
    state: int | None = None
    oco_id: str | None = None
    route_factor: str | None = None
    symbol_id: str | None = None
    market_id: str | None = None
    market_currency_id: str | None = None
    currency_id: str | None = None


class PrivateDealPush(msgspec.Struct, frozen=True):
    price: Decimal
    quantity: Decimal
    amount: Decimal  # quote
    trade_type: int  # 1 buy, 2 sell
    is_maker: bool
    is_self_trade: bool
    trade_id: str
    client_order_id: str | None  # None when the order has no client id
    order_id: str
    fee_amount: Decimal
    fee_currency: str
    time: int  # ms


class PrivateAccountPush(msgspec.Struct, frozen=True):
    """One asset's balances after a change, and the change itself."""

    asset: str  # vcoinName
    free: Decimal  # balanceAmount
    free_change: Decimal
    locked: Decimal  # frozenAmount
    locked_change: Decimal
    type: str  # ENTRUST_PLACE, ENTRUST_CANCEL, TRADE_FEE, DEPOSIT, ...
    time: int  # ms
    coin_id: str | None = None


Body = (
    DealsPush
    | BookTickerPush
    | DepthPush
    | LimitDepthPush
    | KlinePush
    | PrivateOrderPush
    | PrivateDealPush
    | PrivateAccountPush
)


class Push(msgspec.Struct, frozen=True):
    """One push. ``body`` is None for kinds the engine does not model (mini tickers,
    batches, the undocumented non-aggregated deals and increase.depth)."""

    channel: str
    symbol: str | None = None
    symbol_id: str | None = None
    create_time: int | None = None  # ms
    send_time: int | None = None  # ms
    body: Body | None = None


# -- scalars ------------------------------------------------------------------------

# MEXC writes plain ASCII decimals. Decimal() would also take "NaN", "Infinity", " 1 ",
# "1_000", Arabic-Indic digits and "1e999999999" (a million digits once formatted).
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_UNSIGNED = re.compile(r"\d+", re.ASCII)


def _decimal(text: str, field: str) -> Decimal:
    if text == "":
        return ZERO
    if not _NUMBER.fullmatch(text):
        raise PushDecodeError(f"{field}: not a decimal number: {text!r}")
    return Decimal(text)


def _optional_decimal(text: str, field: str) -> Decimal | None:
    return None if text == "" else _decimal(text, field)


def _version(text: str, field: str) -> int:
    if not _UNSIGNED.fullmatch(text):
        raise PushDecodeError(f"{field}: not a version number: {text!r}")
    return int(text)


def _text(value: Decimal) -> str:
    # "f" keeps every digit and never uses an exponent, as MEXC writes numbers.
    return format(value, "f")


def _levels(items: Any, field: str) -> tuple[DepthLevel, ...]:
    return tuple(
        DepthLevel(_decimal(item.price, f"{field}.price"), _decimal(item.quantity, f"{field}.quantity"))
        for item in items
    )


def _put_levels(target: Any, levels: tuple[DepthLevel, ...]) -> None:
    for level in levels:
        target.add(price=_text(level.price), quantity=_text(level.quantity))


def _opt(message: Any, name: str) -> Any:
    """The value of a proto3 ``optional`` field, or None when it was not sent."""
    return getattr(message, name) if message.HasField(name) else None


# -- decoding -----------------------------------------------------------------------


def _deals(m: Any) -> DealsPush:
    return DealsPush(
        deals=tuple(
            DealItem(
                price=_decimal(d.price, "deals.price"),
                quantity=_decimal(d.quantity, "deals.quantity"),
                trade_type=d.tradeType,
                time=d.time,
                trade_id=d.tradeId or None,
            )
            for d in m.deals
        ),
        event_type=m.eventType,
    )


def _book_ticker(m: Any) -> BookTickerPush:
    return BookTickerPush(
        bid_price=_decimal(m.bidPrice, "bidPrice"),
        bid_quantity=_decimal(m.bidQuantity, "bidQuantity"),
        ask_price=_decimal(m.askPrice, "askPrice"),
        ask_quantity=_decimal(m.askQuantity, "askQuantity"),
        version=_version(m.version, "version") if m.version else None,
        last_order_create_time=m.lastOrderCreateTime or None,
    )


def _depth(m: Any) -> DepthPush:
    return DepthPush(
        asks=_levels(m.asks, "asks"),
        bids=_levels(m.bids, "bids"),
        event_type=m.eventType,
        from_version=_version(m.fromVersion, "fromVersion"),
        to_version=_version(m.toVersion, "toVersion"),
    )


def _limit_depth(m: Any) -> LimitDepthPush:
    return LimitDepthPush(
        asks=_levels(m.asks, "asks"),
        bids=_levels(m.bids, "bids"),
        event_type=m.eventType,
        version=_version(m.version, "version"),
    )


def _kline(m: Any) -> KlinePush:
    return KlinePush(
        interval=m.interval,
        window_start=m.windowStart,
        open=_decimal(m.openingPrice, "openingPrice"),
        close=_decimal(m.closingPrice, "closingPrice"),
        high=_decimal(m.highestPrice, "highestPrice"),
        low=_decimal(m.lowestPrice, "lowestPrice"),
        volume=_decimal(m.volume, "volume"),
        amount=_decimal(m.amount, "amount"),
        window_end=m.windowEnd,
    )


def _private_order(m: Any) -> PrivateOrderPush:
    last_deal = _opt(m, "lastDealQuantity")
    trigger_price = _opt(m, "triggerPrice")
    return PrivateOrderPush(
        id=m.id,
        client_id=m.clientId or None,
        price=_decimal(m.price, "price"),
        quantity=_decimal(m.quantity, "quantity"),
        amount=_decimal(m.amount, "amount"),
        avg_price=_decimal(m.avgPrice, "avgPrice"),
        order_type=m.orderType,
        trade_type=m.tradeType,
        is_maker=m.isMaker,
        remain_amount=_decimal(m.remainAmount, "remainAmount"),
        remain_quantity=_decimal(m.remainQuantity, "remainQuantity"),
        cumulative_quantity=_decimal(m.cumulativeQuantity, "cumulativeQuantity"),
        cumulative_amount=_decimal(m.cumulativeAmount, "cumulativeAmount"),
        status=m.status,
        create_time=m.createTime,
        last_deal_quantity=None if last_deal is None else _optional_decimal(last_deal, "lastDealQuantity"),
        market=_opt(m, "market"),
        trigger_type=_opt(m, "triggerType"),
        trigger_price=None if trigger_price is None else _optional_decimal(trigger_price, "triggerPrice"),
        state=_opt(m, "state"),
        oco_id=_opt(m, "ocoId"),
        route_factor=_opt(m, "routeFactor"),
        symbol_id=_opt(m, "symbolId"),
        market_id=_opt(m, "marketId"),
        market_currency_id=_opt(m, "marketCurrencyId"),
        currency_id=_opt(m, "currencyId"),
    )


def _private_deal(m: Any) -> PrivateDealPush:
    return PrivateDealPush(
        price=_decimal(m.price, "price"),
        quantity=_decimal(m.quantity, "quantity"),
        amount=_decimal(m.amount, "amount"),
        trade_type=m.tradeType,
        is_maker=m.isMaker,
        is_self_trade=m.isSelfTrade,
        trade_id=m.tradeId,
        client_order_id=m.clientOrderId or None,
        order_id=m.orderId,
        fee_amount=_decimal(m.feeAmount, "feeAmount"),
        fee_currency=m.feeCurrency,
        time=m.time,
    )


def _private_account(m: Any) -> PrivateAccountPush:
    return PrivateAccountPush(
        asset=m.vcoinName,
        free=_decimal(m.balanceAmount, "balanceAmount"),
        free_change=_decimal(m.balanceAmountChange, "balanceAmountChange"),
        locked=_decimal(m.frozenAmount, "frozenAmount"),
        locked_change=_decimal(m.frozenAmountChange, "frozenAmountChange"),
        type=m.type,
        time=m.time,
        coin_id=m.coinId or None,
    )


_DECODERS: dict[str, Callable[[Any], Body]] = {
    "publicAggreDeals": _deals,
    "publicAggreBookTicker": _book_ticker,
    "publicAggreDepths": _depth,
    "publicLimitDepths": _limit_depth,
    "publicSpotKline": _kline,
    "privateOrders": _private_order,
    "privateDeals": _private_deal,
    "privateAccount": _private_account,
}


def decode_push(data: bytes) -> Push:
    """The push in one binary frame. Raises PushDecodeError for anything else."""
    wrapper = pb.PushDataV3ApiWrapper()
    try:
        wrapper.ParseFromString(data)
    except (DecodeError, ValueError, TypeError) as e:
        raise PushDecodeError(f"not a MEXC push: {e}") from e
    # Protobuf parses many byte strings as unknown fields only; a real push names its channel.
    if not wrapper.channel:
        raise PushDecodeError("not a MEXC push: no channel")
    kind = wrapper.WhichOneof("body")
    decoder = _DECODERS.get(kind) if kind else None
    return Push(
        channel=wrapper.channel,
        symbol=_opt(wrapper, "symbol"),
        symbol_id=_opt(wrapper, "symbolId"),
        create_time=_opt(wrapper, "createTime"),
        send_time=_opt(wrapper, "sendTime"),
        body=decoder(getattr(wrapper, kind)) if decoder else None,
    )


# -- encoding -----------------------------------------------------------------------


def _put_deals(m: Any, body: DealsPush) -> None:
    for d in body.deals:
        m.deals.add(
            price=_text(d.price),
            quantity=_text(d.quantity),
            tradeType=d.trade_type,
            time=d.time,
            tradeId=d.trade_id or "",
        )
    m.eventType = body.event_type


def _put_book_ticker(m: Any, body: BookTickerPush) -> None:
    m.bidPrice = _text(body.bid_price)
    m.bidQuantity = _text(body.bid_quantity)
    m.askPrice = _text(body.ask_price)
    m.askQuantity = _text(body.ask_quantity)
    m.version = "" if body.version is None else str(body.version)
    m.lastOrderCreateTime = body.last_order_create_time or 0


def _put_depth(m: Any, body: DepthPush) -> None:
    _put_levels(m.asks, body.asks)
    _put_levels(m.bids, body.bids)
    m.eventType = body.event_type
    m.fromVersion = str(body.from_version)
    m.toVersion = str(body.to_version)


def _put_limit_depth(m: Any, body: LimitDepthPush) -> None:
    _put_levels(m.asks, body.asks)
    _put_levels(m.bids, body.bids)
    m.eventType = body.event_type
    m.version = str(body.version)


def _put_kline(m: Any, body: KlinePush) -> None:
    m.interval = body.interval
    m.windowStart = body.window_start
    m.openingPrice = _text(body.open)
    m.closingPrice = _text(body.close)
    m.highestPrice = _text(body.high)
    m.lowestPrice = _text(body.low)
    m.volume = _text(body.volume)
    m.amount = _text(body.amount)
    m.windowEnd = body.window_end


def _put_private_order(m: Any, body: PrivateOrderPush) -> None:
    m.id = body.id
    m.clientId = body.client_id or ""
    m.price = _text(body.price)
    m.quantity = _text(body.quantity)
    m.amount = _text(body.amount)
    m.avgPrice = _text(body.avg_price)
    m.orderType = body.order_type
    m.tradeType = body.trade_type
    m.isMaker = body.is_maker
    m.remainAmount = _text(body.remain_amount)
    m.remainQuantity = _text(body.remain_quantity)
    m.cumulativeQuantity = _text(body.cumulative_quantity)
    m.cumulativeAmount = _text(body.cumulative_amount)
    m.status = body.status
    m.createTime = body.create_time
    optional: dict[str, Any] = {
        "lastDealQuantity": None if body.last_deal_quantity is None else _text(body.last_deal_quantity),
        "market": body.market,
        "triggerType": body.trigger_type,
        "triggerPrice": None if body.trigger_price is None else _text(body.trigger_price),
        "state": body.state,
        "ocoId": body.oco_id,
        "routeFactor": body.route_factor,
        "symbolId": body.symbol_id,
        "marketId": body.market_id,
        "marketCurrencyId": body.market_currency_id,
        "currencyId": body.currency_id,
    }
    for name, value in optional.items():
        if value is not None:
            setattr(m, name, value)


def _put_private_deal(m: Any, body: PrivateDealPush) -> None:
    m.price = _text(body.price)
    m.quantity = _text(body.quantity)
    m.amount = _text(body.amount)
    m.tradeType = body.trade_type
    m.isMaker = body.is_maker
    m.isSelfTrade = body.is_self_trade
    m.tradeId = body.trade_id
    m.clientOrderId = body.client_order_id or ""
    m.orderId = body.order_id
    m.feeAmount = _text(body.fee_amount)
    m.feeCurrency = body.fee_currency
    m.time = body.time


def _put_private_account(m: Any, body: PrivateAccountPush) -> None:
    m.vcoinName = body.asset
    m.coinId = body.coin_id or ""
    m.balanceAmount = _text(body.free)
    m.balanceAmountChange = _text(body.free_change)
    m.frozenAmount = _text(body.locked)
    m.frozenAmountChange = _text(body.locked_change)
    m.type = body.type
    m.time = body.time


_ENCODERS: dict[type, tuple[str, Any]] = {
    DealsPush: ("publicAggreDeals", _put_deals),
    BookTickerPush: ("publicAggreBookTicker", _put_book_ticker),
    DepthPush: ("publicAggreDepths", _put_depth),
    LimitDepthPush: ("publicLimitDepths", _put_limit_depth),
    KlinePush: ("publicSpotKline", _put_kline),
    PrivateOrderPush: ("privateOrders", _put_private_order),
    PrivateDealPush: ("privateDeals", _put_private_deal),
    PrivateAccountPush: ("privateAccount", _put_private_account),
}


def encode_push(push: Push) -> bytes:
    """The binary frame MEXC would send for ``push``."""
    wrapper = pb.PushDataV3ApiWrapper(channel=push.channel)
    if push.symbol is not None:
        wrapper.symbol = push.symbol
    if push.symbol_id is not None:
        wrapper.symbolId = push.symbol_id
    if push.create_time is not None:
        wrapper.createTime = push.create_time
    if push.send_time is not None:
        wrapper.sendTime = push.send_time
    if push.body is not None:
        field, put = _ENCODERS[type(push.body)]
        target = getattr(wrapper, field)
        target.SetInParent()  # an all-default body must still select the oneof
        put(target, push.body)
    return wrapper.SerializeToString()


# -- control frames -----------------------------------------------------------------


def decode_control(text: str) -> dict[str, Any]:
    """A JSON text frame (subscription ack, PONG, error) as ``{"id", "code", "msg", ...}``.

    MEXC also sends bare text, e.g. ``Invalid listen key``; that comes back as the
    ``msg`` with no id and no code, so callers handle every text frame one way.
    """
    stripped = text.strip()
    if not stripped:
        raise PushDecodeError("empty control frame")
    if not stripped.startswith(("{", "[")):
        return {"id": None, "code": None, "msg": stripped}
    try:
        message = msgspec.json.decode(stripped)
    except msgspec.DecodeError as e:
        raise PushDecodeError(f"control frame is not valid JSON: {e}") from e
    if not isinstance(message, dict):
        raise PushDecodeError("control frame is not a JSON object")
    for key in ("id", "code", "msg"):
        message.setdefault(key, None)
    return message
