"""Market data endpoints: symbols, candles, order book and trades, with data age."""

from __future__ import annotations

import itertools
import time

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
    [
        ({"interval": "2m"}, "VALIDATION_ERROR"),
        ({"interval": "8h"}, "VALIDATION_ERROR"),  # a MEXC interval, but no series of it is kept
        ({"interval": "1W"}, "VALIDATION_ERROR"),
        ({"limit": "0"}, "VALIDATION_ERROR"),
        ({"limit": "1001"}, "VALIDATION_ERROR"),
        ({"limit": "x"}, "VALIDATION_ERROR"),
    ],
)
def test_bad_candle_queries_are_422(server: EngineProcess, params, code) -> None:
    with server.client(new_user(), role="viewer") as http:
        response = http.get("/api/v1/market/candles/BTCUSDT", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    if "interval" in params:
        assert response.json()["error"]["message"] == "interval must be one of 1m, 5m, 15m, 30m, 60m, 4h, 1d (or 1h)"


def test_candles_have_a_past_and_last_close_time_is_of_a_closed_candle(tmp_path) -> None:
    from tests.support.server import EngineProcess as Engine

    engine = Engine(tmp_path, {"PAPER_SPEED": "10"}).start()
    try:
        with engine.client(new_user(), role="viewer") as http:
            data = http.get("/api/v1/market/candles/BTCUSDT", params={"interval": "1m", "limit": 1000}).json()["data"]
            candles = data["candles"]
            assert len(candles) == 1000  # the simulator's day of history, then the live minute
            assert [b["openTime"] - a["openTime"] for a, b in itertools.pairwise(candles)] == [60_000] * 999
            now_ms = time.time() * 1000
            assert data["lastCloseTime"] < now_ms  # not the open candle's, which closes in the future
            assert data["lastCloseTime"] in (candles[-1]["closeTime"], candles[-2]["closeTime"])
    finally:
        engine.stop()


def test_order_book_depth_is_bounded_by_what_is_kept(server: EngineProcess) -> None:
    with server.client(new_user(), role="viewer") as http:
        assert http.get("/api/v1/market/orderbook/ETHUSDT", params={"depth": 101}).status_code == 422
        book = http.get("/api/v1/market/orderbook/ETHUSDT", params={"depth": 100}).json()["data"]
        assert 20 <= len(book["bids"]) <= 100  # the simulator's maker quotes 20 levels a side


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
