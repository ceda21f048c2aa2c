"""/api/v1/market: symbols, tickers, candles, order books and trades, answered by
the MarketActors. Every answer says how old its data is, and flags it stale."""

from __future__ import annotations

import falcon

from actors.client import EngineClient
from actors.market import SERIES_INTERVALS
from api.resources import query_int, send
from api.schemas import age, candle_out, orderbook_out, symbol_out, ticker_out, trade_out
from engine.candles import normalize_interval
from engine.errors import MarketDataUnavailable, ValidationFailed
from engine.market import BOOK_LEVELS


class _Market:
    roles = {"GET": "viewer"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client
        self.stale_after_ms = int(client.system.config.market_stale_seconds * 1000)

    def _now(self) -> int:
        return self.client.system.clock.now_ms()


class Symbols(_Market):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send(resp, [symbol_out(info) for info in self.client.system.catalog.infos()])


class Tickers(_Market):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        now = self._now()
        send(resp, [ticker_out(s, book, now, self.stale_after_ms) for s, book in self.client.tickers()])


class Ticker(_Market):
    def on_get(self, req: falcon.Request, resp: falcon.Response, symbol: str) -> None:
        symbol = symbol.upper()
        book = self.client.ticker(symbol)
        if book is None:
            raise MarketDataUnavailable(f"no market data for {symbol} yet")
        send(resp, ticker_out(symbol, book, self._now(), self.stale_after_ms))


def served_interval(raw: str) -> str:
    """The interval asked for, if the MarketActors keep a series of it."""
    try:
        interval = normalize_interval(raw)
    except ValidationFailed:
        interval = None
    if interval not in SERIES_INTERVALS:
        raise ValidationFailed(f"interval must be one of {', '.join(SERIES_INTERVALS)} (or 1h)")
    return interval


class Candles(_Market):
    def on_get(self, req: falcon.Request, resp: falcon.Response, symbol: str) -> None:
        symbol = symbol.upper()
        interval = served_interval(req.get_param("interval") or "1m")
        limit = query_int(req, "limit", 100, 1, 1000)
        candles = self.client.candles(symbol, interval, limit)
        now = self._now()
        newest = max((c.close_time for c in candles if c.close_time < now), default=None)  # of a closed candle
        age_ms, stale = age(self.client.market(symbol, 0, 0).updated_at, self._now(), self.stale_after_ms)
        send(resp, {
            "symbol": symbol,
            "interval": interval,
            "candles": [candle_out(c) for c in candles],
            "ageMs": age_ms,
            "stale": stale,
            "lastCloseTime": newest,
        })


class OrderBook(_Market):
    def on_get(self, req: falcon.Request, resp: falcon.Response, symbol: str) -> None:
        symbol = symbol.upper()
        depth = query_int(req, "depth", 20, 1, BOOK_LEVELS)
        view = self.client.market(symbol, depth, 0)
        send(resp, orderbook_out(symbol, view, depth, self._now(), self.stale_after_ms))


class Trades(_Market):
    def on_get(self, req: falcon.Request, resp: falcon.Response, symbol: str) -> None:
        symbol = symbol.upper()
        limit = query_int(req, "limit", 50, 1, 500)
        view = self.client.market(symbol, 0, limit)
        send(resp, [trade_out(t) for t in reversed(view.trades)])
