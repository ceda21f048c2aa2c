"""Market data endpoints: symbols, candles, order book and trades, with data age."""

from __future__ import annotations

import pytest

from tests.support.server import EngineProcess, new_user

pytestmark = pytest.mark.e2e


def test_symbols_list_the_trading_rules(server: EngineProcess) -> None:
    with server.client(new_user(), role="viewer") as http:
        symbols = {s["symbol"]: s for s in http.get("/api/v1/market/symbols").json()["data"]}
    assert set(symbols) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    assert symbols["BTCUSDT"] == {
        "symbol": "BTCUSDT",
        "baseAsset": "BTC",
        "quoteAsset": "USDT",
        "basePrecision": 6,
        "quotePrecision": 2,
        "minQuantity": "0.000001",
        "minNotional": "1",
        "status": "TRADING",
    }


def test_candles_follow_the_market_and_say_how_old_they_are(server: EngineProcess) -> None:
    with server.client(new_user(), role="viewer") as http:
        response = http.get("/api/v1/market/candles/BTCUSDT", params={"interval": "1h", "limit": 5})
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        assert data["interval"] == "60m"
        assert 1 <= len(data["candles"]) <= 5
        candle = data["candles"][-1]
        assert float(candle["low"]) <= float(candle["close"]) <= float(candle["high"])
        assert candle["closeTime"] - candle["openTime"] == 3_600_000 - 1
        assert isinstance(data["ageMs"], int) and data["stale"] is False


@pytest.mark.parametrize(
    "params,code",
    [({"interval": "2m"}, "VALIDATION_ERROR"), ({"limit": "0"}, "VALIDATION_ERROR"), ({"limit": "x"}, "VALIDATION_ERROR")],
)
def test_bad_candle_queries_are_422(server: EngineProcess, params, code) -> None:
    with server.client(new_user(), role="viewer") as http:
        response = http.get("/api/v1/market/candles/BTCUSDT", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code


def test_order_book_levels_are_sorted_best_first(server: EngineProcess) -> None:
    with server.client(new_user(), role="viewer") as http:
        book = http.get("/api/v1/market/orderbook/ETHUSDT", params={"depth": 5}).json()["data"]
    assert book["symbol"] == "ETHUSDT"
    assert 1 <= len(book["bids"]) <= 5 and 1 <= len(book["asks"]) <= 5
    bids = [float(level["price"]) for level in book["bids"]]
    asks = [float(level["price"]) for level in book["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]
    assert book["stale"] is False


def test_market_data_of_an_unknown_symbol_is_404(server: EngineProcess) -> None:
    with server.client(new_user(), role="viewer") as http:
        for path in ("candles", "orderbook", "trades"):
            response = http.get(f"/api/v1/market/{path}/NOPEUSDT")
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "UNKNOWN_SYMBOL"
