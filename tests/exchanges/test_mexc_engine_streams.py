"""The engine's MEXC streams against the simulator: protobuf pushes become
MarketActor state; a dropped connection is reconnected, resubscribed, and the
depth book resynced from a fresh snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from actors.client import EngineClient
from actors.system import ActorSystem
from engine.exchanges.mexc.errors import MexcAuthError
from engine.exchanges.mexc.rest import MexcRestClient
from engine.exchanges.mexc_sim import Simulator
from tests.conftest import make_config
from tests.support.venues import mexc_venue
from tests.support.waiting import wait_for


@pytest.fixture
def still_sim() -> Iterator[Simulator]:
    simulator = Simulator(accounts={"k": ("s", {"USDT": Decimal(1000)})}, speed=0).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def engine(tmp_path: Path, still_sim: Simulator) -> Iterator[ActorSystem]:
    config = make_config(tmp_path, EXCHANGE="mexc", MEXC_BASE_URL=still_sim.rest_url, MEXC_WS_URL=still_sim.ws_url)
    system = ActorSystem(config).start()
    try:
        yield system
    finally:
        system.stop()


def rest_top(sim: Simulator, symbol: str, levels: int = 5):
    with MexcRestClient(sim.rest_url) as client:
        depth = client.depth(symbol, levels)
    return tuple(depth.bids[:levels]), tuple(depth.asks[:levels])


def engine_top(client: EngineClient, symbol: str, levels: int = 5):
    view = client.market(symbol, levels, 0)
    if view.depth is None:
        return None
    return view.depth.bids[:levels], view.depth.asks[:levels]


def test_pushes_become_market_actor_state_equal_to_the_exchange_book(engine: ActorSystem, still_sim: Simulator) -> None:
    client = EngineClient(engine)
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        wait_for(lambda: engine_top(client, symbol) == rest_top(still_sim, symbol), message=f"{symbol} depth in sync")
        book = client.ticker(symbol)
        assert book is not None
        bids, asks = rest_top(still_sim, symbol, 1)
        assert (book.bid, book.ask) == (bids[0][0], asks[0][0])


def test_after_a_dropped_connection_it_reconnects_resubscribes_and_resyncs_depth(engine: ActorSystem, still_sim: Simulator) -> None:
    client = EngineClient(engine)
    streams = mexc_venue(engine).streams
    wait_for(lambda: engine_top(client, "BTCUSDT") == rest_top(still_sim, "BTCUSDT"), message="first sync")
    connects, resyncs = streams.stats.connects, streams.stats.resyncs
    depth_before = client.market("BTCUSDT", 1, 0).depth
    assert depth_before is not None
    version_before = depth_before.version

    assert still_sim.drop_websockets() >= 1
    # While the engine is away the book moves on: its versions jump past what the
    # engine had, so only a new snapshot can bring it back.
    still_sim.set_price("BTCUSDT", Decimal(90000))

    wait_for(lambda: streams.stats.connects > connects, message="reconnected")
    wait_for(lambda: streams.stats.resyncs > resyncs, message="depth resynced from a snapshot")
    wait_for(lambda: engine_top(client, "BTCUSDT") == rest_top(still_sim, "BTCUSDT"), message="depth equals the exchange again")
    depth_after = client.market("BTCUSDT", 1, 0).depth
    assert depth_after is not None and depth_after.version > version_before

    # Resubscribed: the next change arrives as a diff on the new connection.
    still_sim.set_price("BTCUSDT", Decimal(91000))
    wait_for(lambda: engine_top(client, "BTCUSDT") == rest_top(still_sim, "BTCUSDT"), message="diffs flow after the reconnect")
    assert streams.stats.bad_frames == 0


def test_candles_start_from_the_exchanges_history_and_follow_the_stream(engine: ActorSystem, still_sim: Simulator) -> None:
    client = EngineClient(engine)
    wait_for(lambda: client.candles("BTCUSDT", "1m", 10), message="candles")
    still_sim.set_price("BTCUSDT", Decimal(80000))
    wait_for(lambda: client.candles("BTCUSDT", "1m", 1)[-1].low <= Decimal(80001), message="the kline push updates the candle")


def test_a_wrong_key_or_secret_gets_mexcs_code_back_as_a_typed_error(still_sim: Simulator) -> None:
    with MexcRestClient(still_sim.rest_url, "k", "not-the-secret") as client:
        assert client.health()["credentials"] == "unchecked"
        with pytest.raises(MexcAuthError) as wrong_secret:
            client.account()
        assert client.health()["credentials"].startswith("refused") and "700002" in client.health()["credentials"]
    assert wrong_secret.value.code == 700002
    with MexcRestClient(still_sim.rest_url, "no-such-key", "s") as client, pytest.raises(MexcAuthError) as wrong_key:
        client.account()
    assert wrong_key.value.code == 10072
    with MexcRestClient(still_sim.rest_url, "k", "s") as client:
        assert client.account().balance("USDT").free == 1000
        assert client.health()["credentials"] == "accepted"


def test_on_a_quiet_market_a_pong_vouches_for_books_in_sync(still_sim: Simulator) -> None:
    import trio

    from engine.clock import SystemClock
    from engine.exchanges.mexc.streams import MarketStreams
    from engine.market import MarketData

    received: list[MarketData] = []
    public = MexcRestClient(still_sim.rest_url)
    vouched = trio.Event()

    def sink(data: MarketData) -> None:
        received.append(data)
        if data.live_at:
            vouched.set()

    async def snapshot(symbol: str):
        depth = await trio.to_thread.run_sync(public.depth, symbol, 1000)
        return depth.last_update_id, depth.bids, depth.asks

    async def main() -> None:
        streams = MarketStreams(
            still_sim.ws_url, ["BTCUSDT"], snapshot=snapshot, sink=sink, clock=SystemClock(), ping_interval=0.1
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(streams.run)
            with trio.fail_after(10):
                await vouched.wait()
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        public.close()
    first_vouch = next(i for i, d in enumerate(received) if d.live_at)
    # Only a book already in sync (its snapshot published) is vouched for.
    assert any(d.depth is not None for d in received[:first_vouch])
    vouches = [d for d in received if d.live_at]
    assert all(d.book is None and d.depth is None and d.symbol == "BTCUSDT" for d in vouches)
