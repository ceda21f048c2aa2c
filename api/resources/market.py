"""/api/v1/market: symbols and tickers, answered by the MarketActors."""

from __future__ import annotations

import falcon

from actors.client import EngineClient
from api.resources import send
from api.schemas import symbol_out, ticker_out
from engine.errors import MarketDataUnavailable


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
