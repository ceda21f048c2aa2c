"""MEXC's public market-data endpoints under /api/v3 (no key, weighted per IP)."""

from __future__ import annotations

from typing import Any

from engine.exchanges.mexc_sim import shapes
from engine.exchanges.mexc_sim.calls import (
    Call,
    Endpoint,
    Routes,
    integer,
    limit,
    names,
    required,
    weight,
    weight_by_symbol,
)
from engine.exchanges.mexc_sim.core import SimExchange
from engine.exchanges.mexc_sim.model import SimSymbol
from engine.exchanges.mexc_sim.rejects import SimReject

UNKNOWN_SYMBOL = -1121  # "Invalid symbol."


class MarketData:
    def __init__(self, exchange: SimExchange) -> None:
        self._x = exchange

    def routes(self) -> Routes:
        return {
            ("GET", "ping"): Endpoint(lambda c: {}, weight(1), False),
            ("GET", "time"): Endpoint(lambda c: {"serverTime": c.now}, weight(1), False),
            ("GET", "defaultSymbols"): Endpoint(self._default_symbols, weight(1), False),
            ("GET", "exchangeInfo"): Endpoint(self._exchange_info, weight(10), False),
            ("GET", "depth"): Endpoint(self._depth, weight(1), False),
            ("GET", "trades"): Endpoint(self._trades, weight(5), False),
            ("GET", "aggTrades"): Endpoint(self._agg_trades, weight(1), False),
            ("GET", "klines"): Endpoint(self._klines, weight(1), False),
            ("GET", "avgPrice"): Endpoint(self._avg_price, weight(1), False),
            ("GET", "ticker/24hr"): Endpoint(self._ticker_24h, weight_by_symbol(1, 40), False),
            ("GET", "ticker/price"): Endpoint(self._ticker_price, weight_by_symbol(1, 2), False),
            ("GET", "ticker/bookTicker"): Endpoint(self._book_ticker, weight(1), False),
        }

    def _chosen(self, c: Call) -> list[SimSymbol] | None:
        """The symbols named by ``symbol`` or ``symbols`` (None: neither was sent)."""
        wanted = names(c.params.get("symbol") or c.params.get("symbols"))
        if not wanted:
            return None
        listed = {s.symbol: s for s in self._x.symbols()}
        if any(n not in listed for n in wanted):
            raise SimReject(UNKNOWN_SYMBOL)
        return [listed[n] for n in wanted]

    def _default_symbols(self, c: Call) -> Any:
        return {"code": 200, "data": [s.symbol for s in self._x.symbols()], "msg": None}

    def _exchange_info(self, c: Call) -> Any:
        chosen = self._chosen(c)
        return {
            "timezone": "CST",
            "serverTime": c.now,
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [
                shapes.symbol_info(s, self._x.maker_fee, self._x.taker_fee)
                for s in (self._x.symbols() if chosen is None else chosen)
            ],
        }

    def _depth(self, c: Call) -> Any:
        symbol = required(c.params, "symbol")
        version, bids, asks = self._x.depth(symbol, limit(c.params, default=100, maximum=5000))
        return {"lastUpdateId": version, "bids": shapes.levels(bids), "asks": shapes.levels(asks), "timestamp": c.now}

    def _trades(self, c: Call) -> Any:
        symbol = required(c.params, "symbol")
        deals = self._x.recent_deals(symbol, limit(c.params, default=500, maximum=1000))
        return [shapes.trade(d) for d in reversed(deals)]  # newest first, as MEXC lists them

    def _agg_trades(self, c: Call) -> Any:
        symbol = required(c.params, "symbol")
        count = limit(c.params, default=500, maximum=1000)
        start, end = integer(c.params, "startTime"), integer(c.params, "endTime")
        if (start is None) != (end is None):
            raise SimReject(-1128)
        if start is not None and end is not None:
            deals = self._x.deals_between(symbol, start, end, count)
        else:
            deals = self._x.recent_deals(symbol, count)
        return [shapes.agg_trade(d) for d in deals]

    def _klines(self, c: Call) -> Any:
        symbol = required(c.params, "symbol")
        interval = required(c.params, "interval")
        count = limit(c.params, default=500, maximum=1000)
        rows = self._x.klines(symbol, interval, integer(c.params, "startTime"), integer(c.params, "endTime"), count)
        return [shapes.kline(k) for k in rows]

    def _avg_price(self, c: Call) -> Any:
        price = self._x.avg_price(required(c.params, "symbol"))
        return {"mins": 5, "price": shapes.num(price)}

    def _ticker_24h(self, c: Call) -> Any:
        symbol = c.params.get("symbol")
        if symbol:
            return shapes.ticker_24h(self._x.ticker_24h(symbol))
        return [shapes.ticker_24h(self._x.ticker_24h(s.symbol)) for s in self._x.symbols()]

    def _ticker_price(self, c: Call) -> Any:
        symbol = c.params.get("symbol")
        if symbol:
            return {"symbol": symbol, "price": shapes.num(self._x.last_price(symbol))}
        return [{"symbol": s.symbol, "price": shapes.num(self._x.last_price(s.symbol))} for s in self._x.symbols()]

    def _book_ticker(self, c: Call) -> Any:
        symbol = c.params.get("symbol")
        if symbol:
            return shapes.book_ticker(self._x.book_top(symbol))
        return [shapes.book_ticker(self._x.book_top(s.symbol)) for s in self._x.symbols()]
