"""MEXC's REST JSON shapes: prices and quantities as strings, times as integer ms,
bare objects and arrays, the fields (and nulls) real responses carry."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.exchanges.mexc_sim.model import BookTop, Kline, PublicDeal, SimOrder, SimSymbol, SimTrade, Ticker24h
from engine.money import ZERO, divide, fmt

ORDER_TYPES_LISTED = ["LIMIT", "MARKET", "LIMIT_MAKER"]


def num(value: Decimal | None) -> str:
    return fmt(value if value is not None else ZERO)


def symbol_info(info: SimSymbol, maker_fee: Decimal, taker_fee: Decimal) -> dict[str, Any]:
    return {
        "symbol": info.symbol,
        "status": info.status,
        "baseAsset": info.base,
        "baseAssetPrecision": info.base_precision,
        "quoteAsset": info.quote,
        "quotePrecision": info.quote_precision,
        "quoteAssetPrecision": info.quote_precision,
        "baseCommissionPrecision": info.base_commission_precision,
        "quoteCommissionPrecision": info.quote_commission_precision,
        "orderTypes": ORDER_TYPES_LISTED,
        "isSpotTradingAllowed": info.status == "1",
        "isMarginTradingAllowed": False,
        "quoteAmountPrecision": num(info.min_notional),
        "baseSizePrecision": num(info.min_quantity),
        "permissions": ["SPOT"],
        "filters": [],
        "maxQuoteAmount": num(info.max_notional),
        "makerCommission": num(maker_fee),
        "takerCommission": num(taker_fee),
        "quoteAmountPrecisionMarket": num(info.min_notional_market),
        "maxQuoteAmountMarket": num(info.max_notional_market),
        "fullName": info.full_name or info.base,
        "tradeSideType": 1,
    }


def new_order(order: SimOrder) -> dict[str, Any]:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "price": num(order.price),
        "origQty": num(order.orig_qty),
        "type": order.type,
        "side": order.side,
        "transactTime": order.time,
    }


def batch_order(o: SimOrder, client_order_id: str | None) -> dict[str, Any]:
    """One placed order in a batchOrders answer."""
    placed: dict[str, Any] = {"symbol": o.symbol, "orderId": o.order_id, "orderListId": -1}
    if client_order_id:
        placed["newClientOrderId"] = client_order_id
    return placed


def batch_refusal(code: int, msg: str, client_order_id: str | None) -> dict[str, Any]:
    """One refused order in a batchOrders answer: MEXC's error object in its place."""
    refused: dict[str, Any] = {"msg": msg, "code": code}
    if client_order_id:
        refused = {"newClientOrderId": client_order_id, **refused}
    return refused


def order(o: SimOrder) -> dict[str, Any]:
    return {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "price": num(o.price),
        "origQty": num(o.orig_qty),
        "executedQty": num(o.executed_qty),
        "cummulativeQuoteQty": num(o.cum_quote),
        "status": o.status,
        "timeInForce": None,
        "type": o.type,
        "side": o.side,
        "stopPrice": None,
        "icebergQty": None,
        "time": o.time,
        "updateTime": o.update_time,
        "isWorking": o.is_open,
        "origQuoteOrderQty": num(o.orig_quote_qty),
    }


def canceled(o: SimOrder) -> dict[str, Any]:
    """The short answer MEXC gives in practice (ccxt's samples), not the documented
    long one: no status, no fills. A client must ask the order for those."""
    return {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "price": num(o.price),
        "origQty": num(o.orig_qty),
        "type": o.type,
        "side": o.side,
        "orderListId": -1,
    }


def my_trade(t: SimTrade) -> dict[str, Any]:
    return {
        "symbol": t.symbol,
        "id": t.trade_id,
        "orderId": t.order_id,
        "orderListId": -1,
        "price": num(t.price),
        "qty": num(t.qty),
        "quoteQty": num(t.quote),
        "commission": num(t.fee),
        "commissionAsset": t.fee_asset,
        "time": t.time,
        "isBuyer": t.side == "BUY",
        "isMaker": t.is_maker,
        "isBestMatch": True,
        "isSelfTrade": t.is_self_trade,
        "clientOrderId": t.client_order_id,
    }


def account(balances: dict[str, tuple[Decimal, Decimal]], update_time: int | None) -> dict[str, Any]:
    return {
        "makerCommission": None,
        "takerCommission": None,
        "buyerCommission": None,
        "sellerCommission": None,
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "updateTime": update_time,
        "accountType": "SPOT",
        "balances": [
            {"asset": asset, "free": num(free), "locked": num(locked)}
            for asset, (free, locked) in sorted(balances.items())
            if free != 0 or locked != 0
        ],
        "permissions": ["SPOT"],
    }


def levels(rows: list[tuple[Decimal, Decimal]]) -> list[list[str]]:
    return [[num(p), num(q)] for p, q in rows]


def trade(d: PublicDeal) -> dict[str, Any]:
    return {
        "id": None,
        "price": num(d.price),
        "qty": num(d.qty),
        "quoteQty": num(d.price * d.qty),
        "time": d.time,
        "isBuyerMaker": d.taker_side == "SELL",
        "isBestMatch": True,
        "tradeType": "BID" if d.taker_side == "BUY" else "ASK",
    }


def agg_trade(d: PublicDeal) -> dict[str, Any]:
    return {
        "a": None,
        "f": None,
        "l": None,
        "p": num(d.price),
        "q": num(d.qty),
        "T": d.time,
        "m": d.taker_side == "SELL",
        "M": True,
    }


def kline(k: Kline) -> list[Any]:
    return [k.open_time, num(k.open), num(k.high), num(k.low), num(k.close), num(k.volume), k.close_time, num(k.quote_volume)]


def ticker_24h(t: Ticker24h) -> dict[str, Any]:
    change = t.last - t.open
    percent = divide(change, t.open).quantize(Decimal("0.0001")) if t.open else ZERO
    return {
        "symbol": t.symbol,
        "priceChange": num(change),
        "priceChangePercent": num(percent),
        "prevClosePrice": num(t.open),
        "lastPrice": num(t.last),
        "bidPrice": num(t.top.bid),
        "bidQty": num(t.top.bid_qty),
        "askPrice": num(t.top.ask),
        "askQty": num(t.top.ask_qty),
        "openPrice": num(t.open),
        "highPrice": num(t.high),
        "lowPrice": num(t.low),
        "volume": num(t.volume),
        "quoteVolume": num(t.quote_volume),
        "openTime": t.open_time,
        "closeTime": t.close_time,
        "count": None,
    }


def book_ticker(top: BookTop) -> dict[str, Any]:
    return {
        "symbol": top.symbol,
        "bidPrice": num(top.bid),
        "bidQty": num(top.bid_qty),
        "askPrice": num(top.ask),
        "askQty": num(top.ask_qty),
    }
