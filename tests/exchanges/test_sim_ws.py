"""The simulator's WebSocket streams over real sockets, read with trio-websocket."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack
from decimal import Decimal
from typing import TypeVar
from urllib.parse import urlencode

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from engine.clock import ManualClock
from engine.exchanges.mexc import channels
from engine.exchanges.mexc.codec import (
    BookTickerPush,
    DealsPush,
    DepthPush,
    KlinePush,
    LimitDepthPush,
    PrivateAccountPush,
    PrivateDealPush,
    PrivateOrderPush,
    Push,
)
from engine.exchanges.mexc_sim.simulator import Simulator
from engine.market import MarketData
from tests.support.pushes import pushes_until

D = Decimal
KEY, SECRET = "ws-key", "ws-secret"
DEADLINE = 5.0


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """A live market: the path moves, the maker re-quotes, the tape prints."""
    simulator = Simulator(accounts={KEY: (SECRET, {"USDT": "10000", "BTC": "1"})}, seed=5).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture(scope="module")
def still() -> Iterator[Simulator]:
    """A still market: the book changes only when a test trades."""
    balances = {"USDT": "10000", "BTC": "1", "SOL": "10"}
    simulator = Simulator(accounts={KEY: (SECRET, balances)}, speed=0).start()
    try:
        yield simulator
    finally:
        simulator.stop()


def rest(sim: Simulator, method: str, path: str, params: Sequence[tuple[str, object]] | None = None) -> httpx.Response:
    query = urlencode([*(params or []), ("timestamp", time.time_ns() // 1_000_000)])
    signature = hmac.new(SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
    return httpx.request(method, f"{sim.rest_url}/api/v3/{path}?{query}&signature={signature}", headers={"X-MEXC-APIKEY": KEY})


async def subscribe(ws: WebSocketConnection, params: list[str]) -> str:
    await ws.send_message(json.dumps({"method": "SUBSCRIPTION", "params": params}))
    return await next_text(ws)


async def next_text(ws: WebSocketConnection) -> str:
    with trio.fail_after(DEADLINE):
        while True:
            message = await ws.get_message()
            if isinstance(message, str):
                return message


B = TypeVar("B")


def of(kind: type, pushes: list[Push]) -> list[Push]:
    return [p for p in pushes if isinstance(p.body, kind)]


def bodies(kind: type[B], pushes: list[Push]) -> list[B]:
    return [p.body for p in pushes if isinstance(p.body, kind)]


@pytest.mark.trio
async def test_subscriptions_are_acked_and_every_channel_pushes_protobuf(sim):
    wanted = [
        channels.deals("BTCUSDT"),
        channels.book_ticker("BTCUSDT", "10ms"),
        channels.kline("BTCUSDT", "1m"),
        channels.limit_depth("BTCUSDT", 5),
        channels.depth("ETHUSDT"),
    ]
    async with open_websocket_url(sim.ws_url) as ws:
        ack = json.loads(await subscribe(ws, wanted))
        kinds = (DealsPush, BookTickerPush, KlinePush, LimitDepthPush, DepthPush)
        pushes = await pushes_until(ws, lambda seen: all(of(k, seen) for k in kinds))

    assert ack == {"id": 0, "code": 0, "msg": ",".join(wanted)}
    assert {p.channel for p in pushes} <= set(wanted)
    assert of(DealsPush, pushes)[0].symbol == "BTCUSDT"
    deals = bodies(DealsPush, pushes)[0]
    assert deals.event_type == "spot@public.aggre.deals.v3.api.pb@100ms"
    assert all(d.price > 0 and d.quantity > 0 and d.trade_type in (1, 2) for d in deals.deals)
    ticker = bodies(BookTickerPush, pushes)[0]
    assert ticker.bid_price < ticker.ask_price
    kline = bodies(KlinePush, pushes)[0]
    assert kline.interval == "Min1" and kline.window_end - kline.window_start == 60 and kline.window_start % 60 == 0
    limit = bodies(LimitDepthPush, pushes)[0]
    assert len(limit.bids) == len(limit.asks) == 5
    assert of(DepthPush, pushes)[0].symbol == "ETHUSDT"


@pytest.mark.trio
async def test_ping_in_either_case_is_answered_pong(sim):
    async with open_websocket_url(sim.ws_url) as ws:
        for method in ("PING", "ping"):
            await ws.send_message(json.dumps({"method": method}))
            assert json.loads(await next_text(ws)) == {"id": 0, "code": 0, "msg": "PONG"}
        await ws.send_message(json.dumps({"method": "PING", "id": 7}))
        assert json.loads(await next_text(ws)) == {"id": 7, "code": 0, "msg": "PONG"}  # an id is echoed


@pytest.mark.trio
async def test_old_json_channels_are_refused_as_blocked(sim):
    async with open_websocket_url(sim.ws_url) as ws:
        reply = json.loads(await subscribe(ws, ["spot@public.deals.v3.api@BTCUSDT"]))
    assert reply["msg"] == "Not Subscribed successfully! [spot@public.deals.v3.api@BTCUSDT].  Reason： Blocked!"


@pytest.mark.trio
async def test_a_connection_takes_at_most_30_subscriptions(sim):
    names = [channels.kline(s, i) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT") for i in channels.KLINE_INTERVALS]
    assert len(names) == 30
    async with open_websocket_url(sim.ws_url) as ws:
        first = json.loads(await subscribe(ws, names))
        extra = json.loads(await subscribe(ws, [channels.deals("BTCUSDT")]))
        await ws.send_message(json.dumps({"method": "UNSUBSCRIPTION", "params": [names[0]]}))
        freed = json.loads(await next_text(ws))
        retried = json.loads(await subscribe(ws, [channels.deals("BTCUSDT")]))
    assert first["msg"] == ",".join(names)
    assert extra["msg"].startswith("Not Subscribed successfully! [spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT]")
    assert freed["msg"] == names[0]
    assert retried["msg"] == channels.deals("BTCUSDT")


@pytest.mark.trio
async def test_depth_pushes_chain_on_from_the_rest_snapshot_in_a_moving_market(sim):
    async with open_websocket_url(sim.ws_url) as ws:
        await subscribe(ws, [channels.depth("BTCUSDT", "10ms")])
        snapshot = httpx.get(f"{sim.rest_url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 1000}).json()
        version = snapshot["lastUpdateId"]
        pushes = await pushes_until(ws, lambda seen: sum(b.to_version > version for b in bodies(DepthPush, seen)) >= 10)

    relevant = [b for b in bodies(DepthPush, pushes) if b.to_version > version]
    assert relevant[0].from_version <= version + 1  # nothing between the snapshot and the first diff is lost
    for previous, current in itertools.pairwise(relevant):
        assert current.from_version == previous.to_version + 1


@pytest.mark.trio
async def test_depth_diffs_applied_to_the_snapshot_give_the_rest_book(still):
    def book(depth: dict) -> dict[str, dict[Decimal, Decimal]]:
        return {side: {D(p): D(q) for p, q in depth[side]} for side in ("bids", "asks")}

    async with open_websocket_url(still.ws_url) as ws:
        await subscribe(ws, [channels.depth("SOLUSDT")])
        snapshot = httpx.get(f"{still.rest_url}/api/v3/depth", params={"symbol": "SOLUSDT", "limit": 5000}).json()
        for params in (
            [("symbol", "SOLUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "1.5"), ("price", "170")],
            [("symbol", "SOLUSDT"), ("side", "SELL"), ("type", "LIMIT"), ("quantity", "0.5"), ("price", "190")],
            [("symbol", "SOLUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quoteOrderQty", "500")],
        ):
            assert (await trio.to_thread.run_sync(rest, still, "POST", "order", params)).status_code == 200
        final = httpx.get(f"{still.rest_url}/api/v3/depth", params={"symbol": "SOLUSDT", "limit": 5000}).json()
        pushes = await pushes_until(ws, lambda seen: bool(seen) and bodies(DepthPush, seen[-1:])[0].to_version >= final["lastUpdateId"])

    rebuilt, version = book(snapshot), snapshot["lastUpdateId"]
    for diff in bodies(DepthPush, pushes):
        if diff.to_version <= version:
            continue
        assert diff.from_version <= version + 1
        for side, levels in (("bids", diff.bids), ("asks", diff.asks)):
            for level in levels:
                if level.quantity == 0:
                    rebuilt[side].pop(level.price, None)
                else:
                    rebuilt[side][level.price] = level.quantity
        version = diff.to_version
    assert version == final["lastUpdateId"] > snapshot["lastUpdateId"]
    assert rebuilt == book(final)
    assert D(170) in rebuilt["bids"] and D(190) in rebuilt["asks"]


@pytest.mark.trio
async def test_dropping_websockets_closes_every_connection(still):
    async with open_websocket_url(still.ws_url) as first, open_websocket_url(still.ws_url) as second:
        await subscribe(first, [channels.deals("BTCUSDT")])
        await subscribe(second, [channels.deals("ETHUSDT")])

        dropped = await trio.to_thread.run_sync(still.drop_websockets)

        for ws in (first, second):
            with trio.fail_after(DEADLINE), pytest.raises(ConnectionClosed):
                while True:
                    await ws.get_message()
    assert dropped == 2


# -- MEXC's closes, on the simulator's clock: a test moves past them at once ----------------


@pytest.fixture
def timed() -> Iterator[Simulator]:
    """A still market on a manual clock, with MEXC's own limits (30 s, 60 s, 24 h)."""
    with Simulator(speed=0, clock=ManualClock()) as simulator:
        yield simulator


async def ping(ws: WebSocketConnection) -> None:
    await ws.send_message(json.dumps({"method": "PING"}))
    assert json.loads(await next_text(ws))["msg"] == "PONG"


async def close_reason(ws: WebSocketConnection) -> str:
    with trio.fail_after(DEADLINE), pytest.raises(ConnectionClosed) as closed:
        while True:
            await ws.get_message()
    assert closed.value.reason is not None and closed.value.reason.reason is not None
    return closed.value.reason.reason


def advance(sim: Simulator, seconds: float) -> None:
    sim.clock.advance(round(seconds * 1000))  # type: ignore[attr-defined]


@pytest.mark.trio
async def test_a_connection_without_a_subscription_for_30_s_is_closed_and_a_subscribed_one_is_not(timed):
    async with open_websocket_url(timed.ws_url) as bare, open_websocket_url(timed.ws_url) as subscribed:
        await subscribe(subscribed, [channels.deals("BTCUSDT")])
        advance(timed, 29.9)
        await ping(bare)  # a PONG is data, not a subscription
        advance(timed, 0.1)

        assert await close_reason(bare) == "no subscription"
        await ping(subscribed)  # checked in the same sweep, and still open


@pytest.mark.trio
async def test_a_connection_sent_nothing_for_60_s_is_closed_and_one_that_pings_is_not(timed):
    async with open_websocket_url(timed.ws_url) as quiet, open_websocket_url(timed.ws_url) as pinging:
        for ws in (quiet, pinging):
            await subscribe(ws, [channels.deals("BTCUSDT")])  # a still market: no trades, no pushes
        advance(timed, 40)
        await ping(pinging)
        advance(timed, 20)

        assert await close_reason(quiet) == "no data"
        await ping(pinging)  # its last PONG was 20 s ago


@pytest.mark.trio
async def test_a_connection_is_closed_24_hours_after_it_opened_however_busy(timed):
    day_ms, elapsed = 86_400_000, 0
    async with AsyncExitStack() as stack:
        old = await stack.enter_async_context(open_websocket_url(timed.ws_url))
        await subscribe(old, [channels.deals("BTCUSDT")])
        young = None
        while elapsed < day_ms - 1:  # a PONG every 59.9 s: never 60 s without data
            step = min(59_900, day_ms - 1 - elapsed)
            advance(timed, step / 1000)
            elapsed += step
            for ws in (old, young):
                if ws is not None:
                    await ping(ws)
            if young is None and elapsed >= day_ms // 2:
                young = await stack.enter_async_context(open_websocket_url(timed.ws_url))
                await subscribe(young, [channels.deals("BTCUSDT")])

        advance(timed, 0.001)  # 24 h to the millisecond

        assert await close_reason(old) == "open for 86400 s"
        assert young is not None
        await ping(young)  # opened twelve hours later: still open


@pytest.mark.trio
async def test_an_invalid_listen_key_gets_mexcs_text_and_a_close(still):
    async with open_websocket_url(f"{still.ws_url}?listenKey=not-a-key") as ws:
        assert await next_text(ws) == "Invalid listen key"
        with trio.fail_after(DEADLINE), pytest.raises(ConnectionClosed):
            await ws.get_message()


@pytest.mark.trio
async def test_a_listen_key_serves_at_most_five_connections(still):
    listen_key = (await trio.to_thread.run_sync(rest, still, "POST", "userDataStream")).json()["listenKey"]
    url = f"{still.ws_url}?listenKey={listen_key}"
    async with AsyncExitStack() as stack:
        for _ in range(5):
            ws = await stack.enter_async_context(open_websocket_url(url))
            await subscribe(ws, [channels.PRIVATE_ORDERS])
        async with open_websocket_url(url) as sixth:
            assert (await next_text(sixth)).startswith("Too many connections for this listen key")
            with trio.fail_after(DEADLINE), pytest.raises(ConnectionClosed):
                await sixth.get_message()
    await trio.to_thread.run_sync(rest, still, "DELETE", "userDataStream", [("listenKey", listen_key)])


@pytest.mark.trio
async def test_deleting_a_listen_key_closes_its_connections(still):
    listen_key = (await trio.to_thread.run_sync(rest, still, "POST", "userDataStream")).json()["listenKey"]
    async with open_websocket_url(f"{still.ws_url}?listenKey={listen_key}") as ws:
        await subscribe(ws, [channels.PRIVATE_ORDERS])
        await trio.to_thread.run_sync(rest, still, "DELETE", "userDataStream", [("listenKey", listen_key)])
        with trio.fail_after(DEADLINE), pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.get_message()
    assert closed.value.reason is not None and closed.value.reason.reason == "Invalid listen key"


@pytest.mark.trio
async def test_private_channels_need_a_listen_key(still):
    async with open_websocket_url(still.ws_url) as ws:
        reply = json.loads(await subscribe(ws, [channels.PRIVATE_ORDERS]))
    assert reply["msg"].startswith("Not Subscribed successfully! [spot@private.orders.v3.api.pb]")


@pytest.mark.trio
async def test_a_listen_key_connection_gets_the_accounts_orders_deals_and_balances(still):
    listen_key = (await trio.to_thread.run_sync(rest, still, "POST", "userDataStream")).json()["listenKey"]
    private = [channels.PRIVATE_ORDERS, channels.PRIVATE_DEALS, channels.PRIVATE_ACCOUNT]
    async with open_websocket_url(f"{still.ws_url}?listenKey={listen_key}") as ws:
        ack = json.loads(await subscribe(ws, private))
        params = [("symbol", "ETHUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "0.01"), ("price", "3300"),
                  ("newClientOrderId", "dip-buy")]
        placed = (await trio.to_thread.run_sync(rest, still, "POST", "order", params)).json()
        await trio.to_thread.run_sync(still.set_price, "ETHUSDT", D(3200))  # the market falls through it

        def filled(seen: list[Push]) -> bool:
            return any(isinstance(p.body, PrivateOrderPush) and p.body.status == 2 for p in seen)

        pushes = await pushes_until(ws, filled)

    assert ack["msg"] == ",".join(private)
    orders = bodies(PrivateOrderPush, pushes)
    assert [o.status for o in orders] == [1, 2]  # NEW, then FILLED
    assert {o.id for o in orders} == {placed["orderId"]} and orders[0].client_id == "dip-buy"
    assert orders[-1].cumulative_quantity == D("0.01") and orders[-1].avg_price == D(3300)
    (deal,) = bodies(PrivateDealPush, pushes)
    assert (deal.order_id, deal.price, deal.quantity, deal.is_maker, deal.fee_currency) == (placed["orderId"], D(3300), D("0.01"), True, "ETH")
    changes = bodies(PrivateAccountPush, pushes)
    assert ("USDT", "ENTRUST_PLACE", D(-33), D(33)) in {(c.asset, c.type, c.free_change, c.locked_change) for c in changes}
    assert any(c.asset == "ETH" and c.free_change == D("0.01") for c in changes)


@pytest.mark.trio
async def test_the_engines_market_streams_stay_in_sync_with_the_simulator(sim):
    from engine.clock import SystemClock
    from engine.exchanges.mexc.streams import MarketStreams

    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    depths: dict[str, int] = {}
    enough = trio.Event()

    def sink(data: MarketData) -> None:
        if data.depth is not None:
            depths[data.symbol] = depths.get(data.symbol, 0) + 1
        if all(depths.get(s, 0) >= 5 for s in symbols):
            enough.set()

    async def snapshot(symbol: str) -> tuple[int, list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        url = f"{sim.rest_url}/api/v3/depth"
        body = (await trio.to_thread.run_sync(lambda: httpx.get(url, params={"symbol": symbol, "limit": 1000}))).json()
        return body["lastUpdateId"], [(D(p), D(q)) for p, q in body["bids"]], [(D(p), D(q)) for p, q in body["asks"]]

    streams = MarketStreams(sim.ws_url, symbols, snapshot=snapshot, sink=sink, clock=SystemClock())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(streams.run)
        with trio.fail_after(DEADLINE):
            await enough.wait()
        nursery.cancel_scope.cancel()

    assert (streams.stats.gaps, streams.stats.bad_frames, streams.stats.disconnects) == (0, 0, 0)
    assert streams.stats.resyncs == len(symbols)
