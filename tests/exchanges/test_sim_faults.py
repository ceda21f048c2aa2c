"""Per-account faults of the simulator, as a chaos test meets them: the user data
stream delayed, reordered, duplicated or dropped; fills that reach myTrades late;
orders unknown for a moment after they were created; a reused client order id.

The simulator runs on a ManualClock, which the REST client shares, so every delay
passes when a test advances the clock, never by waiting for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from engine.clock import ManualClock
from engine.exchanges.mexc import channels
from engine.exchanges.mexc.codec import PrivateDealPush, PrivateOrderPush, Push
from engine.exchanges.mexc.errors import MexcBadRequest, MexcUnknownOrder
from engine.exchanges.mexc.rest import MexcRestClient
from engine.exchanges.mexc.signing import signed_query
from engine.exchanges.mexc_sim.simulator import Simulator
from tests.support.pushes import pushes_until
from tests.support.waiting import wait_for

D = Decimal
KEY, SECRET = "chaos-key", "chaos-secret"
OTHER, OTHER_SECRET = "calm-key", "calm-secret"
DEADLINE = 5.0
ORDERS = [channels.PRIVATE_ORDERS]
ORDERS_AND_DEALS = [channels.PRIVATE_ORDERS, channels.PRIVATE_DEALS]
STATUS = {1: "NEW", 2: "FILLED", 3: "PARTIALLY_FILLED", 4: "CANCELED", 5: "PARTIALLY_CANCELED"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time_ns() // 1_000_000)


@pytest.fixture
def sim(clock: ManualClock) -> Iterator[Simulator]:
    balances = {"USDT": "10000", "BTC": "1"}
    accounts = {KEY: (SECRET, balances), OTHER: (OTHER_SECRET, balances)}
    simulator = Simulator(symbols=["BTCUSDT"], accounts=accounts, speed=0, clock=clock, history_minutes=0).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def client(sim: Simulator, clock: ManualClock) -> Iterator[MexcRestClient]:
    with MexcRestClient(sim.rest_url, KEY, SECRET, clock=clock) as client:
        yield client


@pytest.fixture
def calm(sim: Simulator, clock: ManualClock) -> Iterator[MexcRestClient]:
    with MexcRestClient(sim.rest_url, OTHER, OTHER_SECRET, clock=clock) as client:
        yield client


# -- helpers ---------------------------------------------------------------------------


def rest_order(client: MexcRestClient, cid: str, price: str = "50000") -> None:
    """A LIMIT buy far below the market: it rests, and pushes one NEW."""
    client.place_order("BTCUSDT", "BUY", "LIMIT", quantity=D("0.001"), price=D(price), client_order_id=cid)


def market_buy(client: MexcRestClient, cid: str) -> None:
    client.place_order("BTCUSDT", "BUY", "MARKET", quote_order_qty=D("50"), client_order_id=cid)


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await trio.to_thread.run_sync(fn, *args)


@asynccontextmanager
async def user_stream(sim: Simulator, client: MexcRestClient, names: list[str]) -> AsyncIterator[WebSocketConnection]:
    """A raw private connection, subscribed (the ack read) before it is handed over."""
    key = await in_thread(client.create_listen_key)
    async with open_websocket_url(f"{sim.ws_url}?listenKey={key}") as ws:
        await ws.send_message(json.dumps({"method": "SUBSCRIPTION", "params": names}))
        with trio.fail_after(DEADLINE):
            ack = json.loads(await ws.get_message())
        assert ack["msg"] == ",".join(names)
        yield ws


def events(pushes: list[Push]) -> list[str]:
    """Each push as "<client order id> <status>" or "<client order id> deal"."""
    out = []
    for push in pushes:
        body = push.body
        if isinstance(body, PrivateOrderPush):
            out.append(f"{body.client_id} {STATUS[body.status]}")
        elif isinstance(body, PrivateDealPush):
            out.append(f"{body.client_order_id} deal")
    return out


def has(event: str) -> Callable[[list[Push]], bool]:
    return lambda seen: event in events(seen)


def signed(sim: Simulator, method: str, path: str, params: Sequence[tuple[str, object]]) -> httpx.Response:
    query = signed_query(params, SECRET, sim.clock.now_ms(), None)
    return httpx.request(method, f"{sim.rest_url}/api/v3/{path}?{query}", headers={"X-MEXC-APIKEY": KEY})


def control(sim: Simulator, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{sim.rest_url}/_sim/faults", json=body)


# -- the user data stream --------------------------------------------------------------


@pytest.mark.trio
async def test_a_dropped_push_is_never_sent_and_the_next_one_is(sim, client):
    sim.faults.pushes(KEY, "drop")
    async with user_stream(sim, client, ORDERS) as ws:
        await in_thread(rest_order, client, "a")
        await in_thread(rest_order, client, "b")
        pushes = await pushes_until(ws, has("b NEW"))
    assert events(pushes) == ["b NEW"]
    assert sim.faults.push_stream.statistics(KEY).dropped == 1


@pytest.mark.trio
async def test_a_duplicated_push_arrives_twice_in_a_row(sim, client):
    sim.faults.pushes(KEY, "duplicate", count=1)
    async with user_stream(sim, client, ORDERS) as ws:
        await in_thread(rest_order, client, "a")
        await in_thread(rest_order, client, "b")
        pushes = await pushes_until(ws, has("b NEW"))
    assert events(pushes) == ["a NEW", "a NEW", "b NEW"]


@pytest.mark.trio
async def test_a_delayed_push_is_held_until_the_simulators_clock_passes_its_delay(sim, client, clock):
    sim.faults.pushes(KEY, "delay", ms=5_000)
    async with user_stream(sim, client, ORDERS) as ws:
        await in_thread(rest_order, client, "a")
        await in_thread(rest_order, client, "b")
        first = await pushes_until(ws, has("b NEW"))
        assert sim.faults.push_stream.statistics(KEY).held == 1
        clock.advance(4_999)
        await in_thread(rest_order, client, "c")
        second = await pushes_until(ws, has("c NEW"))
        clock.advance(1)
        third = await pushes_until(ws, has("a NEW"))
    assert (events(first), events(second), events(third)) == (["b NEW"], ["c NEW"], ["a NEW"])


@pytest.mark.trio
async def test_a_reorder_window_comes_out_of_order_and_the_same_seed_shuffles_alike(sim, client):
    async def window(names: list[str]) -> list[int]:
        sim.faults.pushes(KEY, "reorder", count=4, seed=7)
        for name in names:
            await in_thread(rest_order, client, name)
        got = await pushes_until(ws, lambda seen: len(seen) == 4)
        return [names.index(e.split()[0]) for e in events(got)]

    async with user_stream(sim, client, ORDERS) as ws:
        first = await window(["a", "b", "c", "d"])
        second = await window(["e", "f", "g", "h"])
        await in_thread(rest_order, client, "after")  # one window per setting: the rest flow as they come
        assert events(await pushes_until(ws, lambda seen: bool(seen))) == ["after NEW"]
    assert sorted(first) == [0, 1, 2, 3] and first != [0, 1, 2, 3]
    assert second == first


@pytest.mark.trio
async def test_a_reorder_window_that_does_not_fill_is_sent_when_its_wait_is_over(sim, client, clock):
    sim.faults.pushes(KEY, "reorder", count=10, ms=2_000)
    async with user_stream(sim, client, ORDERS) as ws:
        await in_thread(rest_order, client, "a")
        await in_thread(rest_order, client, "b")
        await in_thread(wait_for, lambda: sim.faults.push_stream.statistics(KEY).held == 2)
        clock.advance(2_000)
        pushes = await pushes_until(ws, lambda seen: len(seen) == 2)
    assert events(pushes) == ["b NEW", "a NEW"]  # never sent as it came


@pytest.mark.trio
async def test_deals_last_sends_an_orders_deals_after_its_final_update(sim, client):
    def of(cid: str, seen: list[str]) -> list[str]:
        return [e.split()[1] for e in seen if e.startswith(f"{cid} ")]

    async with user_stream(sim, client, ORDERS_AND_DEALS) as ws:
        sim.faults.pushes(KEY, "deals_last")
        await in_thread(market_buy, client, "late")
        await in_thread(market_buy, client, "next")  # count 1: one order's deals only
        seen = events(await pushes_until(ws, has("next FILLED")))
    late, following = of("late", seen), of("next", seen)
    updates = late.index("deal")
    assert late[updates - 1] == "FILLED" and set(late[updates:]) == {"deal"}  # every deal after the final update
    assert following.index("deal") < following.index("FILLED")  # as the simulator sends them unfaulted


@pytest.mark.trio
async def test_drops_by_a_seeded_probability_fall_on_the_same_pushes_every_time(sim, client):
    async def survivors(prefix: str) -> list[int]:
        sim.faults.pushes(KEY, "drop", probability=0.5, seed=3)
        for i in range(8):
            await in_thread(rest_order, client, f"{prefix}{i}")
        await in_thread(wait_for, lambda: sim.faults.push_stream.statistics(KEY).seen == 8)
        sim.faults.clear(KEY)
        await in_thread(rest_order, client, f"{prefix}-end")
        got = events(await pushes_until(ws, has(f"{prefix}-end NEW")))
        return [int(e.split()[0][1:]) for e in got[:-1]]

    async with user_stream(sim, client, ORDERS) as ws:
        first = await survivors("x")
        second = await survivors("y")
    assert 0 < len(first) < 8
    assert second == first


@pytest.mark.trio
async def test_one_accounts_push_faults_leave_another_accounts_stream_alone(sim, client, calm):
    sim.faults.pushes(KEY, "drop", probability=1.0)
    async with user_stream(sim, client, ORDERS) as chaos, user_stream(sim, calm, ORDERS) as steady:
        await in_thread(rest_order, client, "lost")
        await in_thread(rest_order, calm, "kept")
        assert events(await pushes_until(steady, has("kept NEW"))) == ["kept NEW"]
        await in_thread(wait_for, lambda: sim.faults.push_stream.statistics(KEY).dropped == 1)
        sim.faults.clear(KEY)
        await in_thread(rest_order, client, "found")
        assert events(await pushes_until(chaos, has("found NEW"))) == ["found NEW"]
    assert sim.faults.push_stream.statistics(OTHER).seen == 0


@pytest.mark.trio
async def test_clearing_releases_what_the_faults_hold(sim, client):
    sim.faults.pushes(KEY, "delay", ms=60_000, count=2)
    async with user_stream(sim, client, ORDERS) as ws:
        await in_thread(rest_order, client, "a")
        await in_thread(rest_order, client, "b")
        await in_thread(wait_for, lambda: sim.faults.push_stream.statistics(KEY).held == 2)
        stats = httpx.get(f"{sim.rest_url}/_sim/faults", params={"apiKey": KEY}).json()
        assert stats == {"seen": 2, "dropped": 0, "duplicated": 0, "held": 2}
        assert control(sim, {"kind": "clear"}).status_code == 200
        pushes = await pushes_until(ws, lambda seen: len(seen) == 2)
    assert events(pushes) == ["a NEW", "b NEW"]


# -- REST: late fills, orders unknown right after create -----------------------------


def test_my_trades_lists_a_fill_only_after_its_lag_while_the_order_shows_it_executed(sim, client, calm, clock):
    sim.faults.lag_trades(KEY, 2_000)
    placed = client.place_order("BTCUSDT", "BUY", "MARKET", quote_order_qty=D("50"))
    order = client.query_order("BTCUSDT", order_id=placed.order_id)
    assert order.status == "FILLED" and order.executed_qty > 0
    assert client.my_trades("BTCUSDT", order_id=order.order_id) == []
    clock.advance(1_999)
    assert client.my_trades("BTCUSDT", order_id=order.order_id) == []
    clock.advance(1)
    trades = client.my_trades("BTCUSDT", order_id=order.order_id)
    assert sum((t.qty for t in trades), D(0)) == order.executed_qty

    calm_order = calm.place_order("BTCUSDT", "BUY", "MARKET", quote_order_qty=D("50"))
    assert calm.my_trades("BTCUSDT", order_id=calm_order.order_id) != []  # another account's trades are not late


def test_an_order_is_unknown_right_after_create_yet_on_the_book_and_trading(sim, client, calm, clock):
    sim.faults.unknown_after_create(KEY, 3_000)
    rest_order(client, "hidden")
    for call in (client.query_order, client.cancel_order):
        with pytest.raises(MexcUnknownOrder) as refused:
            call("BTCUSDT", client_order_id="hidden")
        assert (refused.value.code, refused.value.msg, refused.value.http_status) == (-2013, "Order does not exist.", 400)
    assert client.open_orders("BTCUSDT") == []
    assert [o.status for o in sim.orders_seen(KEY)] == ["NEW"]  # it was never cancelled
    rest_order(calm, "seen")
    assert calm.query_order("BTCUSDT", client_order_id="seen").status == "NEW"  # another account is unaffected

    sim.set_price("BTCUSDT", D("49000"))  # the jump fills it while it is still unknown
    with pytest.raises(MexcUnknownOrder):
        client.query_order("BTCUSDT", client_order_id="hidden")
    clock.advance(3_000)
    found = client.query_order("BTCUSDT", client_order_id="hidden")
    assert (found.status, found.executed_qty) == ("FILLED", D("0.001"))


def test_an_order_once_known_can_be_cancelled(sim, client, clock):
    sim.faults.unknown_after_create(KEY, 1_000)
    rest_order(client, "soon")
    clock.advance(1_000)
    assert [o.client_order_id for o in client.open_orders("BTCUSDT")] == ["soon"]
    client.cancel_order("BTCUSDT", client_order_id="soon")
    assert client.query_order("BTCUSDT", client_order_id="soon").status == "CANCELED"


# -- a reused client order id -----------------------------------------------------------


@pytest.mark.parametrize(
    "first_ends",
    [
        pytest.param("open", id="refused-while-the-first-order-rests"),
        pytest.param("canceled", id="refused-after-the-first-order-was-cancelled"),
        pytest.param("filled", id="refused-after-the-first-order-filled"),
    ],
)
def test_a_reused_client_order_id_is_refused_with_26(sim, client, first_ends):
    order = [("symbol", "BTCUSDT"), ("side", "BUY"), ("newClientOrderId", "once")]
    if first_ends == "filled":
        order += [("type", "MARKET"), ("quoteOrderQty", "50")]
    else:
        order += [("type", "LIMIT"), ("quantity", "0.001"), ("price", "50000")]
    assert signed(sim, "POST", "order", order).status_code == 200
    if first_ends == "canceled":
        client.cancel_order("BTCUSDT", client_order_id="once")

    again = signed(sim, "POST", "order", order)
    assert (again.status_code, again.json()) == (400, {"code": 26, "msg": "operation not allowed"})
    assert len(sim.orders_seen(KEY)) == 1
    # The real client raises the refusal as it came (the adapter reads it as "taken: look it up").
    with pytest.raises(MexcBadRequest) as refused:
        client.place_order("BTCUSDT", "BUY", "MARKET", quote_order_qty=D("50"), client_order_id="once")
    assert refused.value.code == 26
    assert len(sim.orders_seen(KEY)) == 1


# -- the same controls over HTTP ----------------------------------------------------------


def test_the_http_controls_set_and_clear_an_accounts_faults(sim, client, clock):
    assert control(sim, {"kind": "trades_lag", "apiKey": KEY, "ms": 1_000}).json() == {"kind": "trades_lag"}
    assert control(sim, {"kind": "unknown_order", "apiKey": KEY, "ms": 1_000}).status_code == 200
    assert control(sim, {"kind": "pushes", "apiKey": KEY, "mode": "duplicate", "probability": 1}).status_code == 200
    placed = client.place_order("BTCUSDT", "BUY", "MARKET", quote_order_qty=D("50"))
    with pytest.raises(MexcUnknownOrder):
        client.query_order("BTCUSDT", order_id=placed.order_id)
    assert client.my_trades("BTCUSDT") == []

    assert control(sim, {"kind": "clear", "apiKey": KEY}).status_code == 200
    assert client.query_order("BTCUSDT", order_id=placed.order_id).status == "FILLED"
    assert client.my_trades("BTCUSDT") != []
    assert sim.faults.push_stream.statistics(KEY).seen == 0


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param({"kind": "pushes", "mode": "drop"}, "apiKey is required", id="pushes-need-an-api-key"),
        pytest.param({"kind": "pushes", "apiKey": "nobody", "mode": "drop"}, "no account nobody", id="the-account-must-exist"),
        pytest.param({"kind": "pushes", "apiKey": KEY, "mode": "lose"}, "mode must be one of", id="an-unknown-mode"),
        pytest.param({"kind": "pushes", "apiKey": KEY, "mode": "drop", "count": 2, "probability": 0.5},
                     "count or probability, not both", id="count-and-probability-together"),
        pytest.param({"kind": "pushes", "apiKey": KEY, "mode": "drop", "probability": 0}, "probability must be",
                     id="a-probability-of-zero"),
        pytest.param({"kind": "pushes", "apiKey": KEY, "mode": "delay"}, "ms is required", id="a-delay-without-ms"),
        pytest.param({"kind": "pushes", "apiKey": KEY, "mode": "drop", "ms": 5}, "ms is not taken by drop",
                     id="ms-on-a-mode-that-holds-nothing"),
        pytest.param({"kind": "pushes", "apiKey": KEY, "mode": "reorder", "count": 1}, "count must be 2 to 1000",
                     id="a-reorder-window-of-one"),
        pytest.param({"kind": "pushes", "apiKey": KEY, "mode": "reorder", "probability": 0.5}, "not a probability",
                     id="reorder-by-probability"),
        pytest.param({"kind": "trades_lag", "apiKey": KEY, "ms": 0}, "ms must be 1 to 600000", id="a-lag-of-nothing"),
        pytest.param({"kind": "unknown_order", "apiKey": KEY}, "ms must be an integer", id="unknown-orders-need-ms"),
        pytest.param({"kind": "clear", "apiKey": "nobody"}, "no account nobody", id="clearing-an-account-that-is-not-there"),
    ],
)
def test_bad_fault_requests_are_400_naming_the_problem(sim, body, error):
    answer = control(sim, body)
    assert answer.status_code == 400 and error in answer.json()["error"]
