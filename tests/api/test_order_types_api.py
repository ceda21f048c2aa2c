"""IMMEDIATE_OR_CANCEL, FILL_OR_KILL and LIMIT_MAKER through the real server, against the
simulated MEXC's book (a still market: PAPER_SPEED=0)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.support.server import EngineProcess, new_user, running

pytestmark = pytest.mark.e2e

D = Decimal
SYMBOL = "SOLUSDT"
START = D(1_000_000)  # enough to take whole levels of the book


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    with running(tmp_path_factory.mktemp("order-types"), env={"PAPER_START_BALANCE": str(START), "RISK_MAX_ORDER_NOTIONAL": str(START)}) as engine:
        yield engine


def place(http, **body):
    return http.post("/api/v1/trading/orders", json={"symbol": SYMBOL, **body})


def book(http) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    data = http.get(f"/api/v1/market/orderbook/{SYMBOL}?depth=5").json()["data"]
    levels = lambda side: [(D(level["price"]), D(level["quantity"])) for level in data[side]]  # noqa: E731
    return levels("bids"), levels("asks")


def usdt(http) -> tuple[Decimal, Decimal]:
    balances = http.get("/api/v1/account/wallet").json()["data"]["balances"]
    line = next(b for b in balances if b["asset"] == "USDT")
    return D(line["free"]), D(line["locked"])


def test_an_ioc_buy_takes_what_the_book_has_at_its_price_and_cancels_the_rest(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        _, asks = book(http)
        price, available = asks[0]
        quantity = available * 10  # more than the quotes at that price hold (the book read may be a little old)
        assert quantity * price < START
        response = place(http, side="BUY", type="IMMEDIATE_OR_CANCEL", quantity=str(quantity), price=str(price))
        assert response.status_code == 201, response.text
        order = response.json()["data"]
        assert order["type"] == "IMMEDIATE_OR_CANCEL"
        assert order["status"] == "CANCELED", order  # done as it landed: the caller hears the outcome
        assert 0 < D(order["executedQuantity"]) < quantity and order["fills"]
        assert all(D(f["price"]) <= price for f in order["fills"])
        assert usdt(http) == (START - D(order["executedQuote"]), D(0))  # the rest released


def test_an_ioc_priced_away_from_the_book_cancels_with_nothing_done(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        bids, _ = book(http)
        response = place(http, side="BUY", type="IMMEDIATE_OR_CANCEL", quantity="1", price=str(bids[0][0] / 2))
        assert response.status_code == 201, response.text
        order = response.json()["data"]
        assert order["status"] == "CANCELED" and order["fills"] == [] and order["executedQuantity"] == "0"
        assert usdt(http) == (START, D(0))


def test_a_fok_that_the_book_cannot_fill_whole_does_nothing_and_one_it_can_fills(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        _, asks = book(http)
        price, available = asks[0]
        # Ten times what the best level showed: more than the market maker's quotes at
        # that price can hold, even if it has re-quoted since the book was read.
        short = place(http, side="BUY", type="FILL_OR_KILL", quantity=str(available * 10), price=str(price))
        assert short.status_code == 201, short.text
        killed = short.json()["data"]
        assert killed["status"] == "CANCELED" and killed["fills"] == [], killed
        assert usdt(http) == (START, D(0))
        whole = place(http, side="BUY", type="FILL_OR_KILL", quantity="0.5", price=str(asks[-1][0]))
        assert whole.status_code == 201, whole.text
        filled = whole.json()["data"]
        assert filled["status"] == "FILLED" and D(filled["executedQuantity"]) == D("0.5"), filled
        assert usdt(http) == (START - D(filled["executedQuote"]), D(0))


def test_a_limit_maker_that_would_take_is_rejected_and_one_that_rests_is_a_maker_order(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        bids, asks = book(http)
        crossing = place(http, side="BUY", type="LIMIT_MAKER", quantity="1", price=str(asks[0][0]))
        assert crossing.status_code == 201, crossing.text
        rejected = crossing.json()["data"]
        assert rejected["status"] == "REJECTED", rejected
        assert rejected["reason"] and rejected["fills"] == []
        assert usdt(http) == (START, D(0))
        resting = place(http, side="BUY", type="LIMIT_MAKER", quantity="1", price=str(bids[0][0] - D("1")))
        assert resting.status_code == 201, resting.text
        order = resting.json()["data"]
        assert order["status"] == "NEW" and order["type"] == "LIMIT_MAKER"
        assert usdt(http)[1] == D(1) * (bids[0][0] - D("1"))
        canceled = http.delete(f"/api/v1/trading/orders/{order['id']}")
        assert canceled.status_code == 200 and canceled.json()["data"]["status"] == "CANCELED"


@pytest.mark.parametrize("kind", ["IMMEDIATE_OR_CANCEL", "FILL_OR_KILL", "LIMIT_MAKER"])
def test_priced_types_need_quantity_and_price(server: EngineProcess, kind: str) -> None:
    with server.client(new_user()) as http:
        no_price = place(http, side="BUY", type=kind, quantity="1")
        assert no_price.status_code == 422 and no_price.json()["error"]["code"] == "INVALID_PRICE"
        by_quote = place(http, side="BUY", type=kind, quoteQuantity="10", price="100")
        assert by_quote.status_code == 422
        assert usdt(http) == (START, D(0))
