"""Virtual portfolios: many users on a bounded number of threads, a cap on the live
ones, and nothing addressed to a sleeping or starting user lost or reordered."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from actors.client import EngineClient
from actors.hosting import ToEntity
from actors.messages import LoadAllEvents, Passivate, Place
from actors.system import ActorSystem
from engine.events import user_stream
from engine.orders import PlaceOrder
from tests.conftest import make_config
from tests.support.trading import SYMBOL, first_book, limit_buy, place, settled

USERS = 2000
CAP = 100
THREAD_BOUND = 64


def test_two_thousand_users_stay_under_the_live_cap_and_the_thread_bound(tmp_path: Path) -> None:
    system = ActorSystem(make_config(tmp_path, PORTFOLIO_MAX_LIVE=str(CAP), ORDER_RATE_LIMIT="0")).start()
    client = EngineClient(system)
    highest = {"live": 0, "threads": 0}
    done = threading.Event()

    def watch() -> None:  # samples while the users come and go
        while not done.is_set():
            highest["live"] = max(highest["live"], len(system.live_portfolios()))
            highest["threads"] = max(highest["threads"], threading.active_count())
            done.wait(0.002)

    watcher = threading.Thread(target=watch)
    try:
        first_book(system)
        watcher.start()
        users = [f"user-{i:04d}" for i in range(USERS)]

        def touch(i: int) -> tuple[str, str | None]:
            user = users[i]
            order_id = None
            if i % 20 == 0:  # every twentieth leaves an order resting as it goes to sleep
                order_id = settled(place(system, limit_buy("0.001", "1000"), user=user)).id
            lines = client.wallet(user)
            assert {line.asset for line in lines} >= {"USDT"}
            return user, order_id

        with ThreadPoolExecutor(8) as pool:
            touched = list(pool.map(touch, range(USERS)))
        done.set()
        watcher.join()
        assert highest["live"] <= CAP, highest
        assert highest["threads"] <= THREAD_BOUND, highest
        # Users that slept come back with what they had.
        for user, order_id in touched[:: USERS // 50]:
            if order_id is not None:
                assert client.get_order(user, order_id).status == "NEW"
                assert client.wallet(user)[0].locked > 0
            else:
                assert [(w.asset, w.free, w.locked) for w in client.wallet(user)] == [
                    ("USDT", system.config.paper_start_balance, Decimal(0))]
    finally:
        done.set()
        if watcher.is_alive():
            watcher.join()
        system.stop()


def test_messages_to_a_starting_portfolio_are_delivered_once_in_order(tmp_path: Path) -> None:
    system = ActorSystem(make_config(tmp_path, ORDER_RATE_LIMIT="0")).start()
    try:
        first_book(system)
        user = "carol"
        settled(place(system, limit_buy("0.001", "1000"), user=user))
        assert system.ask_portfolio(user, Passivate(0.0)) is True
        assert user not in system.live_portfolios()
        # Sent back to back while it is asleep: the first activates it, the rest wait behind.
        tickets = [system.portfolio_host(user).ask(_envelope(user, limit_buy("0.001", str(1000 + i))), block=False)
                   for i in range(20)]
        placed = [settled(t.get(timeout=10)) for t in tickets]
        prices = [o.price for o in placed]
        assert prices == [Decimal(1000 + i) for i in range(20)]
        ids = [o.id for o in placed]
        assert len(set(ids)) == 20  # each once
        # ...and journaled in the order sent.
        accepted = [e.order.id for e in system.ask_persistence(LoadAllEvents(user_stream(user)))
                    if type(e).__name__ == "OrderAccepted"]
        assert accepted[1:] == ids
        listed = EngineClient(system).list_orders(user, symbol=SYMBOL, open_only=True, limit=100)
        assert len(listed) == 21
    finally:
        system.stop()


def _envelope(user: str, command: PlaceOrder) -> ToEntity:
    return ToEntity(user, Place(command, time.monotonic() + 10))
