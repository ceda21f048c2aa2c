"""The simulator's events as MEXC push views (engine.exchanges.mexc.codec).

Numbers are written as MEXC writes them: plain, no exponent, no trailing zeros.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from engine.exchanges.mexc import channels
from engine.exchanges.mexc.codec import (
    BookTickerPush,
    DealItem,
    DealsPush,
    DepthLevel,
    DepthPush,
    KlinePush,
    LimitDepthPush,
    PrivateAccountPush,
    PrivateDealPush,
    PrivateOrderPush,
    Push,
)
from engine.exchanges.mexc_sim.klines import INTERVALS
from engine.exchanges.mexc_sim.model import AccountChange, BookTop, Kline, PublicDeal, SimOrder, SimTrade
from engine.money import LEDGER, ZERO, divide

ORDER_TYPE_CODES = {"LIMIT": 1, "LIMIT_MAKER": 2, "IMMEDIATE_OR_CANCEL": 3, "FILL_OR_KILL": 4, "MARKET": 5}
STATUS_CODES = {"NEW": 1, "FILLED": 2, "PARTIALLY_FILLED": 3, "CANCELED": 4, "PARTIALLY_CANCELED": 5}
AVG_PRICE_STEP = Decimal("1e-8")


def plain(value: Decimal) -> Decimal:
    """The same number without trailing zeros (what MEXC prints)."""
    return value.normalize(LEDGER) if value else ZERO


def trade_type(side: str) -> int:
    return 1 if side == "BUY" else 2


def _levels(levels: Iterable[tuple[Decimal, Decimal]]) -> tuple[DepthLevel, ...]:
    return tuple(DepthLevel(plain(p), plain(q)) for p, q in levels)


def deals(channel: str, symbol: str, items: list[PublicDeal], now: int) -> Push:
    body = DealsPush(
        deals=tuple(DealItem(plain(d.price), plain(d.qty), trade_type(d.taker_side), d.time, d.trade_id) for d in items),
        event_type=_event_type(channel),
    )
    return Push(channel=channel, symbol=symbol, send_time=now, body=body)


def depth(
    channel: str,
    symbol: str,
    from_version: int,
    to_version: int,
    bids: Iterable[tuple[Decimal, Decimal]],
    asks: Iterable[tuple[Decimal, Decimal]],
    now: int,
) -> Push:
    body = DepthPush(_levels(asks), _levels(bids), _event_type(channel), from_version, to_version)
    return Push(channel=channel, symbol=symbol, send_time=now, body=body)


def limit_depth(
    channel: str,
    symbol: str,
    version: int,
    bids: Iterable[tuple[Decimal, Decimal]],
    asks: Iterable[tuple[Decimal, Decimal]],
    now: int,
) -> Push:
    body = LimitDepthPush(_levels(asks), _levels(bids), _event_type(channel), version)
    return Push(channel=channel, symbol=symbol, send_time=now, body=body)


def book_ticker(channel: str, top: BookTop, now: int) -> Push:
    body = BookTickerPush(
        bid_price=plain(top.bid or ZERO),
        bid_quantity=plain(top.bid_qty or ZERO),
        ask_price=plain(top.ask or ZERO),
        ask_quantity=plain(top.ask_qty or ZERO),
        version=top.version,
        last_order_create_time=top.time,
    )
    return Push(channel=channel, symbol=top.symbol, send_time=now, body=body)


def kline(channel: str, symbol: str, k: Kline, now: int) -> Push:
    body = KlinePush(
        interval=INTERVALS[k.interval][1],
        window_start=k.open_time // 1000,
        open=plain(k.open),
        close=plain(k.close),
        high=plain(k.high),
        low=plain(k.low),
        volume=plain(k.volume),
        amount=plain(k.quote_volume),
        window_end=k.close_time // 1000,
    )
    return Push(channel=channel, symbol=symbol, send_time=now, body=body)


def private_order(order: SimOrder, last_qty: Decimal | None, is_maker: bool, now: int) -> Push:
    quantity = order.orig_qty or ZERO
    if order.orig_quote_qty is not None:
        amount = order.orig_quote_qty
    elif order.price is not None:
        amount = LEDGER.multiply(order.price, quantity)
    else:
        amount = ZERO
    avg = divide(order.cum_quote, order.executed_qty).quantize(AVG_PRICE_STEP) if order.executed_qty else ZERO
    body = PrivateOrderPush(
        id=order.order_id,
        client_id=order.client_order_id,
        price=plain(order.price or ZERO),
        quantity=plain(quantity),
        amount=plain(amount),
        avg_price=plain(avg),
        order_type=ORDER_TYPE_CODES[order.type],
        trade_type=trade_type(order.side),
        is_maker=is_maker,
        remain_amount=plain(max(LEDGER.subtract(amount, order.cum_quote), ZERO)),
        remain_quantity=plain(max(quantity - order.executed_qty, ZERO)),
        cumulative_quantity=plain(order.executed_qty),
        cumulative_amount=plain(order.cum_quote),
        status=STATUS_CODES[order.status],
        create_time=order.time,
        last_deal_quantity=None if last_qty is None else plain(last_qty),
    )
    return Push(channel=channels.PRIVATE_ORDERS, symbol=order.symbol, send_time=now, body=body)


def private_deal(trade: SimTrade, now: int) -> Push:
    body = PrivateDealPush(
        price=plain(trade.price),
        quantity=plain(trade.qty),
        amount=plain(trade.quote),
        trade_type=trade_type(trade.side),
        is_maker=trade.is_maker,
        is_self_trade=trade.is_self_trade,
        trade_id=trade.trade_id,
        client_order_id=trade.client_order_id,
        order_id=trade.order_id,
        fee_amount=plain(trade.fee),
        fee_currency=trade.fee_asset,
        time=trade.time,
    )
    return Push(channel=channels.PRIVATE_DEALS, symbol=trade.symbol, send_time=now, body=body)


def private_account(change: AccountChange, now: int) -> Push:
    body = PrivateAccountPush(
        asset=change.asset,
        free=plain(change.free),
        free_change=plain(change.free_change),
        locked=plain(change.locked),
        locked_change=plain(change.locked_change),
        type=change.kind,
        time=change.time,
    )
    return Push(channel=channels.PRIVATE_ACCOUNT, send_time=now, body=body)


def _event_type(channel: str) -> str:
    """A channel name without its symbol (and levels): MEXC's ``eventType``."""
    parsed = channels.parse(channel)
    if parsed.kind == "limit_depth":
        return channels.LIMIT_DEPTH
    return channel.rsplit("@", 1)[0]
