"""/api/v1/paper: controls of the simulated market (admin only, paper trading only)."""

from __future__ import annotations

import falcon

from actors.client import EngineClient
from api.resources import read, send
from api.schemas import ListingRequest, PriceRequest, ticker_out
from engine.errors import InvalidPrice, SymbolNotFound
from engine.money import amount_problem, fits_places, fmt


class PaperPrice:
    """Jump the simulator's price: for demos and tests that need a price to cross."""

    roles = {"PUT": "admin"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_put(self, req: falcon.Request, resp: falcon.Response, symbol: str) -> None:
        body: PriceRequest = read(req, PriceRequest)
        symbol = symbol.upper()
        if symbol not in self.client.system.catalog:
            raise SymbolNotFound(f"unknown symbol {symbol!r}", details={"symbol": symbol})
        info = self.client.system.catalog.get(symbol)
        problem = amount_problem(body.price)
        if problem is not None:
            raise InvalidPrice(f"price {problem}")
        if not fits_places(body.price, info.quote_precision):
            raise InvalidPrice(f"price has more than {info.quote_precision} decimal places")
        book = self.client.set_paper_price(symbol, body.price)
        stale_ms = int(self.client.system.config.market_stale_seconds * 1000)
        send(resp, ticker_out(symbol, book, self.client.system.clock.now_ms(), stale_ms))


class PaperListing:
    """List a new symbol on the simulator (NEW_LISTING rules, demos): the engine finds it at
    its next exchangeInfo read (EXCHANGE_INFO_REFRESH_SECONDS), as it would on MEXC."""

    roles = {"POST": "admin"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body: ListingRequest = read(req, ListingRequest)
        symbol = body.symbol.strip().upper()
        self.client.list_paper_symbol(symbol, body.price, body.base_precision, body.quote_precision)
        send(resp, {"symbol": symbol, "price": fmt(body.price)}, falcon.HTTP_201)
