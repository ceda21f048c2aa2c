"""Trading through the real server (gunicorn + app + actors), as a client would."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.support.server import EngineProcess, new_user
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def balances(http) -> dict[str, tuple[Decimal, Decimal]]:
    response = http.get("/api/v1/account/wallet")
    assert response.status_code == 200, response.text
    return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in response.json()["data"]["balances"]}


def place(http, **body):
    return http.post("/api/v1/trading/orders", json=body)


def test_new_user_starts_with_the_paper_balance(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        assert balances(http) == {"USDT": (Decimal(10000), Decimal(0))}


def test_market_buy_by_quote_fills_whole_lots_and_moves_the_wallet_exactly(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        symbol = http.get("/api/v1/market/symbols").json()["data"]
        lot = Decimal(1).scaleb(-next(s["basePrecision"] for s in symbol if s["symbol"] == "BTCUSDT"))
        response = place(http, symbol="BTCUSDT", side="BUY", type="MARKET", quoteQuantity="100")
        assert response.status_code == 201, response.text
        order = response.json()["data"]
        assert order["status"] == "FILLED"
        assert order["feeAsset"] == "BTC"
        fills = order["fills"]
        assert fills
        for fill in fills:
            quantity, price = Decimal(fill["quantity"]), Decimal(fill["price"])
            assert quantity % lot == 0  # MEXC fills whole lots
            assert Decimal(fill["quoteQuantity"]) == price * quantity
        spent = Decimal(order["executedQuote"])
        bought = Decimal(order["executedQuantity"])
        fee = Decimal(order["fee"])
        assert spent == sum(Decimal(f["quoteQuantity"]) for f in fills)
        assert bought == sum(Decimal(f["quantity"]) for f in fills)
        assert fee == sum(Decimal(f["fee"]) for f in fills)
        for fill in fills:  # the taker fee, in BTC's commission precision, per fill
            assert Decimal(fill["fee"]) == (Decimal(fill["quantity"]) * Decimal("0.0005")).quantize(lot, ROUND_HALF_UP)
        # At most the amount is spent; what is left would not buy one more lot.
        assert 100 - max(Decimal(f["price"]) for f in fills) * lot < spent <= 100
        average = Decimal(order["averagePrice"])
        assert len(average.as_tuple().digits) <= 12 and abs(average - spent / bought) < Decimal("0.0001")

        wallet = balances(http)
        assert wallet["USDT"] == (Decimal(10000) - spent, Decimal(0))
        assert wallet["BTC"] == (bought - fee, Decimal(0))

        again = http.get(f"/api/v1/trading/orders/{order['id']}").json()["data"]
        assert again["status"] == "FILLED"
        assert again["fills"] == order["fills"]


def test_market_sell_by_quantity_pays_the_fee_in_quote(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        assert place(http, symbol="ETHUSDT", side="BUY", type="MARKET", quoteQuantity="500").status_code == 201
        eth = balances(http)["ETH"][0]
        sell_qty = Decimal("0.1")
        assert eth > sell_qty
        before = balances(http)["USDT"][0]
        order = place(http, symbol="ETHUSDT", side="SELL", type="MARKET", quantity=str(sell_qty)).json()["data"]
        assert order["status"] == "FILLED"
        price = Decimal(order["fills"][0]["price"])
        assert order["feeAsset"] == "USDT"
        proceeds = sell_qty * price
        eth_usdt = next(s for s in http.get("/api/v1/market/symbols").json()["data"] if s["symbol"] == "ETHUSDT")
        cent = Decimal(1).scaleb(-eth_usdt["quotePrecision"])
        assert Decimal(order["fee"]) == (proceeds * Decimal("0.0005")).quantize(cent, ROUND_HALF_UP)  # in USDT's commission precision
        wallet = balances(http)
        assert wallet["USDT"][0] == before + proceeds - Decimal(order["fee"])
        assert wallet["ETH"][0] == eth - sell_qty


def test_limit_buy_rests_until_the_price_crosses_then_fills(server: EngineProcess) -> None:
    user = new_user()
    with server.client(user) as http, server.client("ops", role="admin") as admin:
        market = http.get("/api/v1/market/ticker/SOLUSDT").json()["data"]
        limit = (Decimal(market["askPrice"]) * Decimal("0.8")).quantize(Decimal("0.01"))
        response = place(http, symbol="SOLUSDT", side="BUY", type="LIMIT", quantity="2", price=str(limit))
        assert response.status_code == 201, response.text
        order = response.json()["data"]
        assert order["status"] == "NEW"
        assert balances(http)["USDT"] == (Decimal(10000) - 2 * limit, 2 * limit)

        # The price has not moved: still resting.
        assert http.get(f"/api/v1/trading/orders/{order['id']}").json()["data"]["status"] == "NEW"

        moved = admin.put("/api/v1/paper/prices/SOLUSDT", json={"price": str(limit - 1)})
        assert moved.status_code == 200, moved.text
        filled = wait_for(
            lambda: (o := http.get(f"/api/v1/trading/orders/{order['id']}").json()["data"])["status"] == "FILLED" and o
        )
        assert Decimal(filled["fills"][0]["price"]) == limit  # a resting order fills at its own price
        assert filled["fills"][0]["isMaker"] is True
        wallet = balances(http)
        assert wallet["USDT"] == (Decimal(10000) - 2 * limit, Decimal(0))
        assert wallet["SOL"] == (Decimal(2), Decimal(0))  # maker fee is zero by default
        # Put the market back where the other tests expect it.
        admin.put("/api/v1/paper/prices/SOLUSDT", json={"price": market["lastPrice"]})


def test_a_limit_order_priced_through_the_book_answers_filled_with_its_fills(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        ask = Decimal(http.get("/api/v1/market/ticker/ETHUSDT").json()["data"]["askPrice"])
        response = place(http, symbol="ETHUSDT", side="BUY", type="LIMIT", quantity="0.1", price=str(ask * 2))
        assert response.status_code == 201, response.text
        order = response.json()["data"]
        assert order["status"] == "FILLED" and order["fills"]
        assert all(Decimal(f["price"]) <= ask * 2 and f["isMaker"] is False for f in order["fills"])
        assert Decimal(order["executedQuantity"]) == Decimal("0.1")
        wallet = balances(http)
        assert wallet["USDT"] == (Decimal(10000) - Decimal(order["executedQuote"]), Decimal(0))  # the rest of the reservation released


def test_cancelling_a_new_order_releases_its_reservation(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        order = place(http, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.01", price="1000").json()["data"]
        assert balances(http)["USDT"] == (Decimal(9990), Decimal(10))
        response = http.delete(f"/api/v1/trading/orders/{order['id']}")
        assert response.status_code == 200, response.text
        assert response.json()["data"]["status"] == "CANCELED"
        assert balances(http)["USDT"] == (Decimal(10000), Decimal(0))
        again = http.delete(f"/api/v1/trading/orders/{order['id']}")
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "ORDER_NOT_CANCELABLE"


def test_orders_are_listed_newest_first_and_filtered_by_status(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        first = place(http, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.01", price="1000").json()["data"]
        second = place(http, symbol="ETHUSDT", side="BUY", type="MARKET", quoteQuantity="20").json()["data"]
        listed = http.get("/api/v1/trading/orders").json()["data"]
        assert [o["id"] for o in listed] == [second["id"], first["id"]]
        open_orders = http.get("/api/v1/trading/orders", params={"status": "open"}).json()["data"]
        assert [o["id"] for o in open_orders] == [first["id"]]
        eth = http.get("/api/v1/trading/orders", params={"symbol": "ETHUSDT"}).json()["data"]
        assert [o["id"] for o in eth] == [second["id"]]


def test_an_order_is_found_by_its_client_order_id(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        mine = place(http, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.01", price="1000", clientOrderId="find-me").json()["data"]
        place(http, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.01", price="1001", clientOrderId="not-me")
        found = http.get("/api/v1/trading/orders", params={"clientOrderId": "find-me"}).json()["data"]
        assert [o["id"] for o in found] == [mine["id"]]
        assert http.get("/api/v1/trading/orders", params={"clientOrderId": "nobody"}).json()["data"] == []
        http.delete(f"/api/v1/trading/orders/{mine['id']}")
        assert http.get("/api/v1/trading/orders", params={"clientOrderId": "find-me", "status": "open"}).json()["data"] == []
        assert len(http.get("/api/v1/trading/orders", params={"clientOrderId": "find-me", "status": "all"}).json()["data"]) == 1
    with server.client(new_user()) as other:
        assert other.get("/api/v1/trading/orders", params={"clientOrderId": "find-me"}).json()["data"] == []


def test_a_repeated_idempotency_key_returns_the_first_order(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        body = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "50"}
        first = http.post("/api/v1/trading/orders", json=body, headers={"Idempotency-Key": "k-1"})
        second = http.post("/api/v1/trading/orders", json=body, headers={"Idempotency-Key": "k-1"})
        assert first.status_code == 201 and second.status_code == 201
        assert second.headers.get("Idempotent-Replayed") == "true"
        assert second.json()["data"]["id"] == first.json()["data"]["id"]
        assert len(http.get("/api/v1/trading/orders").json()["data"]) == 1
        spent = Decimal(first.json()["data"]["executedQuote"])
        assert 0 < spent <= 50
        assert balances(http)["USDT"] == (Decimal(10000) - spent, Decimal(0))  # spent once


def test_an_idempotency_key_reused_for_a_different_order_is_refused(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        first = http.post("/api/v1/trading/orders", json={"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "20"},
                          headers={"Idempotency-Key": "k-reused"})
        assert first.status_code == 201
        before = balances(http)
        other = http.post("/api/v1/trading/orders", json={"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "30"},
                          headers={"Idempotency-Key": "k-reused"})
        assert other.status_code == 409, other.text
        error = other.json()["error"]
        assert error["code"] == "IDEMPOTENCY_KEY_REUSED"
        assert error["details"] == {"orderId": first.json()["data"]["id"], "fields": ["symbol", "quoteQuantity"]}
        assert balances(http) == before and len(http.get("/api/v1/trading/orders").json()["data"]) == 1


def test_a_repeated_client_order_id_returns_the_first_order(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        body = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "1000", "clientOrderId": "my-1"}
        first = place(http, **body)
        assert first.status_code == 201 and first.headers.get("Idempotent-Replayed") is None
        second = place(http, **body)
        assert second.status_code == 201, second.text
        assert second.headers.get("Idempotent-Replayed") == "true"
        assert second.json()["data"] == first.json()["data"]
        assert len(http.get("/api/v1/trading/orders").json()["data"]) == 1
        assert balances(http)["USDT"] == (Decimal(9990), Decimal(10))  # locked once


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        pytest.param({"quantity": "0.02"}, ["quantity"], id="another quantity"),
        pytest.param({"price": "1100"}, ["price"], id="another price"),
        pytest.param({"symbol": "ETHUSDT", "side": "SELL"}, ["symbol", "side"], id="another symbol and side"),
    ],
)
def test_a_client_order_id_reused_for_a_different_order_is_refused_and_changes_nothing(
    server: EngineProcess, change: dict[str, str], fields: list[str]
) -> None:
    with server.client(new_user()) as http:
        body = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "1000", "clientOrderId": "my-2"}
        first = place(http, **body).json()["data"]
        before = (balances(http), http.get("/api/v1/trading/orders").json()["data"])

        other = place(http, **{**body, **change})
        assert other.status_code == 409, other.text
        assert other.headers.get("Idempotent-Replayed") is None
        error = other.json()["error"]
        assert error["code"] == "CLIENT_ORDER_ID_REUSED"
        assert "'my-2'" in error["message"]
        assert error["details"] == {"orderId": first["id"], "clientOrderId": "my-2", "fields": fields}
        assert (balances(http), http.get("/api/v1/trading/orders").json()["data"]) == before


def test_another_users_order_is_not_found(server: EngineProcess) -> None:
    with server.client(new_user()) as alice, server.client(new_user()) as bob:
        order = place(alice, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.01", price="1000").json()["data"]
        for response in (bob.get(f"/api/v1/trading/orders/{order['id']}"), bob.delete(f"/api/v1/trading/orders/{order['id']}")):
            assert response.status_code == 404
            assert response.json() == {
                "success": False,
                "error": {"code": "ORDER_NOT_FOUND", "message": f"no order {order['id']!r}", "details": {"orderId": order["id"]}},
            }
        assert alice.get(f"/api/v1/trading/orders/{order['id']}").json()["data"]["status"] == "NEW"


BAD_ORDERS = [
    # (description, body or raw bytes, status, code)
    ("malformed JSON", b'{"symbol": "BTCUSDT", ', 400, "INVALID_JSON"),
    ("empty body", b"", 400, "INVALID_JSON"),
    ("not an object", b"[1, 2]", 422, "VALIDATION_ERROR"),
    ("unknown field", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "qty": "1"}, 422, "VALIDATION_ERROR"),
    ("missing side", {"symbol": "BTCUSDT", "type": "MARKET", "quoteQuantity": "10"}, 422, "VALIDATION_ERROR"),
    ("bad side", {"symbol": "BTCUSDT", "side": "HOLD", "type": "MARKET", "quoteQuantity": "10"}, 422, "VALIDATION_ERROR"),
    ("unknown symbol", {"symbol": "NOPEUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "10"}, 422, "UNKNOWN_SYMBOL"),
    ("zero quantity", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0", "price": "1000"}, 422, "INVALID_QUANTITY"),
    ("negative quantity", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "-1", "price": "1000"}, 422, "INVALID_QUANTITY"),
    ("NaN quantity", {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "NaN"}, 422, "INVALID_QUANTITY"),
    ("Infinity quote", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "Infinity"}, 422, "INVALID_QUANTITY"),
    ("not a number", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "ten"}, 422, "VALIDATION_ERROR"),
    ("price with too many decimals", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "1000.001"}, 422, "INVALID_PRICE"),
    ("quantity with too many decimals", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.0000001", "price": "1000"}, 422, "INVALID_QUANTITY"),
    ("negative price", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "-5"}, 422, "INVALID_PRICE"),
    ("price on a market order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "10", "price": "1"}, 422, "INVALID_PRICE"),
    ("both quantities", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1", "quoteQuantity": "10"}, 422, "INVALID_QUANTITY"),
    ("more than the balance", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "10000.01"}, 422, "INSUFFICIENT_BALANCE"),
    ("selling what is not held", {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.001"}, 422, "INSUFFICIENT_BALANCE"),
    ("limit beyond the balance", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "10000.01"}, 422, "INSUFFICIENT_BALANCE"),
    ("below the minimum notional", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "0.5"}, 422, "MIN_NOTIONAL"),
    ("absurd quantity", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1e400"}, 422, "INVALID_QUANTITY"),
    ("absurd quantity as a JSON number", b'{"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": 1e400}', 422, "INVALID_QUANTITY"),
    ("absurd price", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "1e400"}, 422, "INVALID_PRICE"),
    ("underscores in a quantity", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "1_0"}, 422, "INVALID_QUANTITY"),
    ("spaces around a price", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": " 1000 "}, 422, "INVALID_PRICE"),
    ("other scripts' digits", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "\u0661\u0660"}, 422, "INVALID_QUANTITY"),
    ("huge quantity at a tiny price", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1e30", "price": "0.01"}, 422, "INVALID_QUANTITY"),
]


@pytest.mark.parametrize("description,body,status,code", BAD_ORDERS, ids=[c[0] for c in BAD_ORDERS])
def test_bad_orders_are_refused_and_change_nothing(server: EngineProcess, description, body, status, code) -> None:
    with server.client(new_user()) as http:
        before = balances(http)
        if isinstance(body, bytes):
            response = http.post("/api/v1/trading/orders", content=body, headers={"Content-Type": "application/json"})
        else:
            response = place(http, **body)
        assert response.status_code == status, response.text
        envelope = response.json()
        assert envelope["success"] is False
        assert envelope["error"]["code"] == code
        assert envelope["error"]["message"]
        assert balances(http) == before
        assert http.get("/api/v1/trading/orders").json()["data"] == []


def test_a_chunked_order_body_is_read_like_any_other(server: EngineProcess) -> None:
    body = b'{"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "1000"}'
    with server.client(new_user()) as http:
        # An iterator body goes out with Transfer-Encoding: chunked and no Content-Length.
        response = http.post("/api/v1/trading/orders", content=iter([body[:20], body[20:]]), headers={"Content-Type": "application/json"})
        assert response.status_code == 201, response.text
        assert response.json()["data"]["status"] == "NEW"
        too_big = http.post("/api/v1/trading/orders", content=iter([b" " * 40_000, b" " * 40_000, body]), headers={"Content-Type": "application/json"})
        assert (too_big.status_code, too_big.json()["error"]["code"]) == (400, "BAD_REQUEST")


def test_unknown_order_id_is_404(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        for response in (http.get("/api/v1/trading/orders/nope"), http.delete("/api/v1/trading/orders/nope")):
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "ORDER_NOT_FOUND"


def test_an_order_over_the_notional_limit_is_refused_by_risk(tmp_path) -> None:
    engine = EngineProcess(tmp_path, {"MAX_ORDER_NOTIONAL": "50"}).start()
    try:
        with engine.client(new_user()) as http:
            response = place(http, symbol="BTCUSDT", side="BUY", type="MARKET", quoteQuantity="60")
            assert response.status_code == 422
            assert response.json()["error"]["code"] == "ORDER_NOTIONAL_LIMIT"
            assert balances(http)["USDT"] == (Decimal(10000), Decimal(0))
    finally:
        engine.stop()


def test_order_floods_are_throttled_per_user_with_retry_after(tmp_path) -> None:
    engine = EngineProcess(tmp_path, {"ORDER_RATE_LIMIT": "2"}).start()
    try:
        body = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "1000"}
        with engine.client(new_user()) as flooder, engine.client(new_user()) as bystander:
            statuses = [place(flooder, **body).status_code for _ in range(10)]
            assert statuses[:4] == [201] * 4  # the burst allowance
            assert 429 in statuses
            limited = place(flooder, **body)
            assert limited.status_code == 429
            assert limited.json()["error"]["code"] == "RATE_LIMITED"
            assert int(limited.headers["Retry-After"]) >= 1
            assert len(flooder.get("/api/v1/trading/orders").json()["data"]) == statuses.count(201)
            assert place(bystander, **body).status_code == 201  # limits are per user
    finally:
        engine.stop()


@pytest.mark.parametrize("price", ["1e400", "NaN", "-5", "0", "1e18"])
def test_a_paper_price_that_no_market_could_have_is_refused_and_moves_nothing(server: EngineProcess, price: str) -> None:
    with server.client(new_user()) as http, server.client("ops", role="admin") as admin:
        before = http.get("/api/v1/market/ticker/ETHUSDT").json()["data"]
        response = admin.put("/api/v1/paper/prices/ETHUSDT", json={"price": price})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "INVALID_PRICE"
        after = http.get("/api/v1/market/ticker/ETHUSDT").json()["data"]
        assert (after["bidPrice"], after["askPrice"]) == (before["bidPrice"], before["askPrice"])
