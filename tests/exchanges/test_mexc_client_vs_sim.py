"""Every call of the engine's MEXC REST client, against the simulator over loopback
HTTP: what the client sends, the simulator understands, and what the simulator
answers, the client decodes. A client method with no call here fails the last test."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from engine.exchanges.mexc.errors import MexcInsufficientBalance, MexcUnknownOrder
from engine.exchanges.mexc.rest import MexcOrder, MexcOrderAck, MexcRestClient
from engine.exchanges.mexc_sim import Simulator

D = Decimal
KEY, SECRET = "calls-key", "calls-secret"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    simulator = Simulator(accounts={KEY: (SECRET, {"USDT": "10000", "ETH": "1"})}, speed=10, history_minutes=30).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def client(sim: Simulator) -> Iterator[MexcRestClient]:
    with MexcRestClient(sim.rest_url, KEY, SECRET) as client:
        yield client


def test_public_market_data(client: MexcRestClient, sim: Simulator) -> None:
    client.ping()
    assert abs(client.server_time() - sim.clock.now_ms()) < 5_000
    client.sync_time()
    info = client.exchange_info(["BTCUSDT", "ETHUSDT"])
    btc = info.get("BTCUSDT")
    assert btc is not None and (btc.info.base, btc.info.quote) == ("BTC", "USDT")
    depth = client.depth("BTCUSDT", 5)
    assert depth.last_update_id > 0 and len(depth.bids) == 5 and depth.bids[0][0] < depth.asks[0][0]
    trades = client.trades("BTCUSDT", 10)
    assert trades and all(t.price > 0 and t.qty > 0 for t in trades)
    klines = client.klines("BTCUSDT", "1m", limit=20)
    assert len(klines) == 20 and all(k.low <= min(k.open, k.close) <= max(k.open, k.close) <= k.high for k in klines)
    assert client.ticker_24hr("BTCUSDT").symbol == "BTCUSDT"
    assert {t.symbol for t in client.ticker_24hr()} >= {"BTCUSDT", "ETHUSDT"}
    assert client.ticker_price("ETHUSDT").price > 0
    assert len(client.ticker_price()) >= 3
    top = client.book_ticker("BTCUSDT")
    assert top.bid_price is not None and top.ask_price is not None and top.bid_price < top.ask_price
    assert len(client.book_ticker()) >= 3


def test_orders_from_placement_to_cancel(client: MexcRestClient, sim: Simulator) -> None:
    seen = len(sim.orders_seen(KEY))
    client.test_order("BTCUSDT", "BUY", "LIMIT", quantity=D("0.001"), price=D("50000"))
    assert len(sim.orders_seen(KEY)) == seen  # checked, not placed

    placed = client.place_order("BTCUSDT", "BUY", "LIMIT", quantity=D("0.001"), price=D("50000"), client_order_id="calls-1")
    assert isinstance(placed, (MexcOrderAck, MexcOrder))
    found = client.query_order("BTCUSDT", client_order_id="calls-1")
    assert (found.status, found.orig_qty, found.price) == ("NEW", D("0.001"), D("50000"))
    assert [o.client_order_id for o in client.open_orders("BTCUSDT")] == ["calls-1"]
    assert "calls-1" in {o.client_order_id for o in client.all_orders("BTCUSDT")}
    canceled = client.cancel_order("BTCUSDT", client_order_id="calls-1")
    assert canceled.order_id == found.order_id and canceled.status is None  # MEXC's short answer
    assert client.query_order("BTCUSDT", order_id=found.order_id).status == "CANCELED"
    with pytest.raises(MexcUnknownOrder):
        client.cancel_order("BTCUSDT", client_order_id="calls-1")

    client.place_order("ETHUSDT", "SELL", "LIMIT", quantity=D("0.1"), price=D("9000"), client_order_id="calls-2")
    client.place_order("ETHUSDT", "SELL", "LIMIT", quantity=D("0.1"), price=D("9100"), client_order_id="calls-3")
    resting = {client.query_order("ETHUSDT", client_order_id=c).order_id for c in ("calls-2", "calls-3")}
    assert {o.order_id for o in client.cancel_open_orders("ETHUSDT")} == resting
    client.place_order("ETHUSDT", "SELL", "LIMIT", quantity=D("0.1"), price=D("9200"), client_order_id="calls-4")
    client.cancel_all()
    assert client.open_orders() == []

    with pytest.raises(MexcInsufficientBalance):
        client.place_order("BTCUSDT", "BUY", "LIMIT", quantity=D("1"), price=D("90000"))


def test_a_market_buy_by_amount_shows_in_the_account_and_my_trades(client: MexcRestClient) -> None:
    before = client.account().balance("USDT").free
    bought = client.place_order("ETHUSDT", "BUY", "MARKET", quote_order_qty=D("50"), client_order_id="calls-5")
    order = client.query_order("ETHUSDT", order_id=bought.order_id)
    assert order.status == "FILLED" and order.cummulative_quote_qty is not None and 0 < order.cummulative_quote_qty <= 50
    trades = client.my_trades("ETHUSDT", order_id=order.order_id)
    assert sum((t.quote_qty for t in trades), D(0)) == order.cummulative_quote_qty
    assert client.account().balance("USDT").free == before - order.cummulative_quote_qty
    assert client.problem() is None  # the key is accepted, the breaker closed


def test_listen_keys_are_created_listed_kept_alive_and_deleted(client: MexcRestClient) -> None:
    key = client.create_listen_key()
    assert key in client.listen_keys()
    assert client.keepalive_listen_key(key) == key
    client.delete_listen_key(key)
    assert key not in client.listen_keys()


def test_every_public_method_of_the_client_is_called_above() -> None:
    own = {
        name for name, _ in inspect.getmembers(MexcRestClient, inspect.isfunction)
        if not name.startswith("_") and name not in ("close", "health")
    }
    called = set(re.findall(r"client\.(\w+)\(", Path(__file__).read_text()))
    assert own - called == set()
