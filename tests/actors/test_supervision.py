"""Supervision and the edges of the actor system: dead actors, slow actors,
restart storms, the trio bridge and the conflator."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from decimal import Decimal
from pathlib import Path

import apsw
import pykka
import pytest
import trio

from actors.bridge import TrioBridge
from actors.client import EngineClient
from actors.conflation import Conflator
from actors.messages import CheckWritable, GatewayStatus, GetTicker, GetWallet, ListOrders, Place
from actors.supervisor import RESTART_LIMIT
from actors.system import ActorSystem
from engine.config import Config
from engine.errors import ActorUnavailable, EngineTimeout, TradingHalted
from engine.model import BookTicker
from engine.orders import PlaceOrder
from persistence.lock import DatabaseInUse
from tests.conftest import make_config
from tests.support.venues import sim_venue
from tests.support.waiting import wait_for

SYMBOL = "BTCUSDT"
USER = "bob"
HANG_BOUND_SECONDS = 1.0  # not a performance figure: only "did not hang"


def limit_buy() -> PlaceOrder:
    return PlaceOrder(symbol=SYMBOL, side="BUY", type="LIMIT", quantity=Decimal("0.001"), price=Decimal("90000"))


def first_book(system: ActorSystem) -> BookTicker:
    return wait_for(lambda: system.ask_market(SYMBOL, GetTicker()), timeout=5, message="a first book")


def successor(system: ActorSystem, kind: str, key: str, old: pykka.ActorRef) -> pykka.ActorRef | None:
    ref = system._refs.get((kind, key))
    return ref if ref is not None and ref is not old and ref.is_alive() else None


def crash(system: ActorSystem, kind: str, key: str) -> pykka.ActorRef:
    """Crash the actor with an unknown message; returns the crashed ref."""
    old = system.ref(kind, key)
    old.tell(object())
    wait_for(lambda: not old.is_alive(), timeout=5, message=f"{kind} {key} crashed")
    return old


def journaled_orders(config: Config, user: str) -> list[str]:
    conn = apsw.Connection(config.database_path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return [order_id for (order_id,) in conn.execute("SELECT id FROM orders WHERE user_id = ?", (user,))]
    finally:
        conn.close()


@pytest.fixture
def quiet_system(tmp_path: Path):
    """A system whose supervision timer never fires during a test."""
    system = ActorSystem(make_config(tmp_path, SUPERVISOR_INTERVAL_SECONDS="3600")).start()
    try:
        yield system
    finally:
        system.stop()


# -- dead and slow actors -------------------------------------------------------------------------


def test_a_ticker_from_a_stopped_market_actor_raises_actor_unavailable_without_hanging(quiet_system: ActorSystem) -> None:
    system = quiet_system
    client = EngineClient(system)
    first_book(system)
    ref = system.ref("market", SYMBOL)
    ref.stop()

    started = time.monotonic()
    with pytest.raises(ActorUnavailable, match=f"market {SYMBOL}"):
        client.ticker(SYMBOL)
    assert time.monotonic() - started < HANG_BOUND_SECONDS

    started = time.monotonic()
    with pytest.raises(ActorUnavailable):
        system.ask(ref, GetTicker())  # a ref held from before the stop
    assert time.monotonic() - started < HANG_BOUND_SECONDS

    assert client.ticker("ETHUSDT") is not None  # the other markets are unaffected
    assert client.health().ok is False


def test_a_stopped_singleton_is_found_dead_and_restarted_by_the_supervision_timer(system: ActorSystem) -> None:
    first_book(system)
    old = system.ref("market", SYMBOL)
    old.stop()
    new = wait_for(lambda: successor(system, "market", SYMBOL, old), timeout=5, message="the market actor is back")
    assert new.ask(GetTicker(), timeout=1) is not None
    assert EngineClient(system).ticker(SYMBOL) is not None
    wait_for(lambda: EngineClient(system).health().ok, timeout=5)


def test_a_gateway_started_again_by_a_portfolio_before_the_supervisor_still_gets_the_open_orders(
    quiet_system: ActorSystem,
) -> None:
    system = quiet_system  # the supervisor does not get there first
    first_book(system)
    system.ask_portfolio(USER, GetWallet())
    account = system.venue.account_for(USER)
    sim_venue(system).simulator.faults.fail_next(1, status=429, retry_after=2, method="POST", path="order")
    deferred = system.ask_portfolio(USER, Place(limit_buy(), deadline=time.monotonic() + 5))
    wait_for(lambda: system.ask_gateway(USER, GatewayStatus()) == {"orders": 1, "busy": 0, "ended": 0, "sweeping": 0},
             timeout=5, message="the order turned away, to be sent later")
    system.fail_entity("gateway", account, "lost")  # what it was to send later dies with it

    later = system.ask_portfolio(USER, Place(limit_buy(), deadline=time.monotonic() + 5))  # starts a new gateway
    assert later.settled.result(timeout=5).status == "NEW"
    assert deferred.settled.result(timeout=10).status == "NEW"  # handed to the new gateway, and sent
    sent = {o.client_order_id for o in sim_venue(system).exchange_orders(USER)}
    orders = system.ask_portfolio(USER, ListOrders())
    assert sent == {o.exchange_client_id or o.client_order_id for o in orders} and len(sent) == 2


def test_asks_time_out_while_the_journal_is_blocked_and_the_order_lands_afterwards(tmp_path: Path) -> None:
    system = ActorSystem(make_config(tmp_path, ASK_TIMEOUT_SECONDS="0.2")).start()
    try:
        client = EngineClient(system)
        assert client.wallet(USER)  # the portfolio exists before the journal is blocked
        blocker = apsw.Connection(system.config.database_path)
        blocker.set_busy_timeout(10_000)  # the engine writes too (candles): wait for its lock
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            started = time.monotonic()
            with pytest.raises(EngineTimeout):
                client.place_order(USER, limit_buy())
            with pytest.raises(EngineTimeout):
                system.ask_persistence(CheckWritable())
            assert time.monotonic() - started < 3  # the journal's busy timeout is 5 s: nobody waited for it
            assert journaled_orders(system.config, USER) == []  # not acknowledged, and indeed not durable
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()

        [order] = wait_for(lambda: system.ask_portfolio(USER, ListOrders()), timeout=5)
        assert (order.price, order.status) == (Decimal(90000), "NEW")
        wait_for(lambda: journaled_orders(system.config, USER) == [order.id], timeout=5, message="the order is durable")
        system.ask_persistence(CheckWritable())
        assert client.risk_status().halted is False  # a slow commit is not a failed one
    finally:
        system.stop()


def test_a_second_engine_on_the_same_database_is_refused(system: ActorSystem, config: Config) -> None:
    with pytest.raises(DatabaseInUse):
        ActorSystem(config).start()
    assert system.ask_portfolio(USER, GetWallet())  # the first engine is unharmed
    assert system.ask_persistence(CheckWritable()) is None


# -- restart storms --------------------------------------------------------------------------


def crash_until_halted(system: ActorSystem, key: str = SYMBOL) -> None:
    client = EngineClient(system)
    first_book(system)
    for n in range(RESTART_LIMIT):
        old = crash(system, "market", key)
        wait_for(lambda: successor(system, "market", key, old), timeout=5, message=f"restart {n + 1}")
        assert client.risk_status().halted is False
    crash(system, "market", key)
    wait_for(lambda: client.risk_status().halted, timeout=5, message="trading halted by the supervisor")


def test_repeated_crashes_of_one_actor_halt_trading(system: ActorSystem) -> None:
    crash_until_halted(system)
    status = EngineClient(system).risk_status()
    assert status.halted_by == "supervisor"
    assert f"market {SYMBOL} keeps failing" in (status.halt_reason or "")
    failures = [f for f in status.failures if (f.kind, f.key) == ("market", SYMBOL)]
    assert len(failures) == RESTART_LIMIT + 1
    assert failures[-1].restarted is False
    with pytest.raises(TradingHalted, match="keeps failing"):
        system.ask_portfolio(USER, Place(limit_buy(), deadline=time.monotonic() + 5))


def test_crashes_of_different_actors_do_not_add_up_to_a_storm(quiet_system: ActorSystem) -> None:
    system = quiet_system  # every restart here is the supervisor's answer to a crash report
    client = EngineClient(system)
    first_book(system)
    for key in system.catalog.symbols():
        for _ in range(2):
            old = crash(system, "market", key)
            wait_for(lambda: successor(system, "market", key, old), timeout=5)
    assert client.risk_status().halted is False
    assert client.risk_status().restarts == 2 * len(system.catalog.symbols())


def test_an_actor_in_a_restart_storm_is_not_restarted_again(system: ActorSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = []
    supervise_once = system.supervision.supervise_once

    def counting() -> None:
        ticks.append(time.monotonic())
        supervise_once()

    monkeypatch.setattr(system.supervision, "supervise_once", counting)
    crash_until_halted(system)
    seen = len(ticks)
    wait_for(lambda: len(ticks) >= seen + 3, timeout=5, message="three supervision ticks after the storm")
    with pytest.raises(ActorUnavailable):
        system.ref("market", SYMBOL)


# -- the trio bridge ------------------------------------------------------------------------


@pytest.fixture
def bridge():
    bridge = TrioBridge(name="test-bridge")
    bridge.start()
    try:
        yield bridge
    finally:
        bridge.stop()


def test_a_task_that_raises_does_not_take_the_bridge_down(bridge: TrioBridge) -> None:
    calls = []

    async def boom() -> None:
        calls.append(threading.current_thread().name)
        raise RuntimeError("task failure")

    bridge.spawn("boom", boom, restart=False)
    wait_for(lambda: calls, timeout=5, message="the task ran")
    assert calls == ["test-bridge"]
    assert bridge.alive
    assert bridge.run_sync(lambda a, b: a + b, 40, 2) == 42

    done = threading.Event()

    async def fine() -> None:
        await trio.sleep(0)
        done.set()

    bridge.spawn("fine", fine)
    assert done.wait(5)


def test_a_failing_task_is_restarted_by_default(bridge: TrioBridge) -> None:
    calls = []

    async def flaky() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first run fails")
        await trio.sleep_forever()

    bridge.spawn("flaky", flaky)
    wait_for(lambda: len(calls) == 2, timeout=5, message="the task was restarted")
    assert bridge.alive


def test_an_exception_in_run_sync_reaches_the_caller_and_the_bridge_carries_on(bridge: TrioBridge) -> None:
    def fail() -> None:
        raise ValueError("from the trio thread")

    with pytest.raises(ValueError, match="from the trio thread"):
        bridge.run_sync(fail)
    assert bridge.run_sync(threading.current_thread).name == "test-bridge"


def test_stop_ends_the_trio_thread(bridge: TrioBridge) -> None:
    bridge.stop()
    assert not bridge.alive


# -- the conflator ----------------------------------------------------------------------------


class Consumer:
    def __init__(self, answer: bool = True) -> None:
        self.notified: list[object] = []
        self.answer = answer

    def __call__(self, key: object) -> bool:
        self.notified.append(key)
        return self.answer


def test_conflator_keeps_only_the_newest_value_per_key_and_notifies_once() -> None:
    consumer = Consumer()
    conflator = Conflator(consumer)
    for n in range(10_000):
        conflator.offer("a", n)
        conflator.offer("b", -n)
    assert consumer.notified == ["a", "b"]  # one outstanding notification per key
    assert conflator.take("a") == 9_999
    assert conflator.take("b") == -9_999
    assert conflator.take("a") is None and conflator.take("b") is None  # nothing else was kept
    assert (conflator.offered, conflator.delivered) == (20_000, 2)


def test_after_a_take_the_next_offer_notifies_again() -> None:
    consumer = Consumer()
    conflator = Conflator(consumer)
    conflator.offer("a", 1)
    assert conflator.take("a") == 1
    conflator.offer("a", 2)
    assert consumer.notified == ["a", "a"]
    assert conflator.take("a") == 2


def test_a_notification_the_consumer_missed_is_repeated_by_the_next_offer() -> None:
    consumer = Consumer(answer=False)  # the consumer is gone
    conflator = Conflator(consumer)
    conflator.offer("a", 1)
    conflator.offer("a", 2)
    assert consumer.notified == ["a", "a"]
    consumer.answer = True
    conflator.offer("a", 3)
    conflator.offer("a", 4)
    assert consumer.notified == ["a", "a", "a"]
    assert conflator.take("a") == 4


def test_renotify_tells_a_replaced_consumer_about_a_waiting_value_only() -> None:
    consumer = Consumer()
    conflator = Conflator(consumer)
    conflator.renotify("a")
    assert consumer.notified == []  # nothing waits

    conflator.offer("a", 1)  # notification went to a consumer that then died
    conflator.renotify("a")
    assert consumer.notified == ["a", "a"]
    assert conflator.take("a") == 1
    conflator.renotify("a")
    assert consumer.notified == ["a", "a"]


def test_last_keeps_the_newest_value_after_it_was_taken() -> None:
    conflator = Conflator(Consumer())
    assert conflator.last("a") is None
    conflator.offer("a", 1)
    conflator.offer("a", 2)
    assert conflator.take("a") == 2
    assert conflator.last("a") == 2
    assert conflator.take("a") is None


def test_a_concurrent_consumer_sees_values_in_order_and_ends_with_the_newest() -> None:
    wake = threading.Semaphore(0)
    def woken(key: Hashable) -> bool:
        wake.release()
        return True

    conflator = Conflator(woken)
    seen: list[int] = []
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            if wake.acquire(timeout=0.05):
                value = conflator.take("k")
                if value is not None:
                    seen.append(value)

    consumer = threading.Thread(target=consume)
    consumer.start()
    try:
        for n in range(50_000):
            conflator.offer("k", n)
        wait_for(lambda: seen and seen[-1] == 49_999, timeout=10, message="the newest value arrives")
    finally:
        stop.set()
        consumer.join(5)
    assert seen == sorted(set(seen))  # never an older value after a newer one, never twice
    assert conflator.delivered == len(seen) < conflator.offered == 50_000
