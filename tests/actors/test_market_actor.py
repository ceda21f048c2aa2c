"""MarketActor: the latest top of book per symbol, fed through the conflator."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pykka

from actors.messages import GetMarket, GetTicker
from actors.system import ActorSystem
from engine.model import BookTicker
from tests.conftest import make_config
from tests.support.waiting import wait_for

FLOOD = 100_000


def market_ref(system: ActorSystem, symbol: str) -> pykka.ActorRef:
    return system.ref("market", symbol)


def ticker(system: ActorSystem, symbol: str) -> BookTicker | None:
    return system.ask_market(symbol, GetTicker())


def make_book(symbol: str, n: int) -> BookTicker:
    bid = Decimal(90_000) + Decimal(n) / 100
    # Stamped in the future, so no stream heartbeat can make it look newer.
    return BookTicker(symbol, bid, Decimal(1), bid + Decimal("0.01"), Decimal(2), bid, 4_000_000_000_000 + n)


def test_every_market_actor_answers_get_ticker_with_a_book_after_start(system: ActorSystem) -> None:
    symbols = system.catalog.symbols()
    assert symbols == list(system.config.paper_symbols) and len(symbols) == 3
    for symbol in symbols:
        book = wait_for(lambda: ticker(system, symbol), timeout=5, message=f"first book of {symbol}")
        assert isinstance(book, BookTicker)
        assert book.symbol == symbol
        assert 0 < book.bid < book.ask


def test_a_flood_of_updates_is_conflated_to_the_newest_with_a_small_inbox(system: ActorSystem) -> None:
    symbol = "BTCUSDT"
    wait_for(lambda: ticker(system, symbol), timeout=5)  # the feed's first book is in
    ref = market_ref(system, symbol)
    offered0, delivered0 = system.markets.conflator.offered, system.markets.conflator.delivered

    books = [make_book(symbol, n) for n in range(FLOOD)]
    largest_inbox = 0
    for book in books:
        system.markets.on_book(book)
        size = ref.actor_inbox.qsize()  # type: ignore[attr-defined]  # pykka's default inbox is a queue.Queue
        if size > largest_inbox:
            largest_inbox = size
    newest = books[-1]

    wait_for(lambda: ticker(system, symbol) == newest, timeout=10, message="the actor holds the newest book")
    offered = system.markets.conflator.offered - offered0
    delivered = system.markets.conflator.delivered - delivered0
    assert offered >= FLOOD  # the live paper feed may offer a few of its own meanwhile
    assert 1 <= delivered <= offered // 10, (delivered, offered)
    assert largest_inbox <= 2
    assert system.markets.conflator.take(symbol) is None  # nothing left waiting
    assert ref.is_alive() and market_ref(system, symbol) is ref  # conflation, not a crash


def test_a_crashed_market_actor_is_restarted_and_receives_new_updates(system: ActorSystem) -> None:
    symbol = "ETHUSDT"
    wait_for(lambda: ticker(system, symbol), timeout=5)
    old = market_ref(system, symbol)
    old.tell(object())  # an unknown message crashes it

    def replaced() -> pykka.ActorRef | None:
        ref = system._refs.get(("market", symbol))
        return ref if ref is not None and ref is not old and ref.is_alive() else None

    new = wait_for(replaced, timeout=5, message="a new market actor")
    assert not old.is_alive()
    book = make_book(symbol, 7)
    system.markets.on_book(book)
    wait_for(lambda: new.ask(GetTicker(), timeout=1) == book, timeout=5, message="the new actor got the update")
    assert ticker(system, symbol) == book


def test_a_value_offered_while_the_market_actor_was_down_reaches_its_successor(tmp_path: Path) -> None:
    # No supervision timer: the restart happens exactly when the test says so.
    system = ActorSystem(make_config(tmp_path, SUPERVISOR_INTERVAL_SECONDS="3600")).start()
    try:
        symbol = "SOLUSDT"
        wait_for(lambda: ticker(system, symbol), timeout=5)
        old = market_ref(system, symbol)
        old.stop()
        book = make_book(symbol, 3)
        system.markets.on_book(book)  # nobody to tell now: it waits in the conflator
        system.supervision.supervise_once()  # finds the actor dead and restarts it
        new = market_ref(system, symbol)
        assert new is not old
        wait_for(lambda: new.ask(GetTicker(), timeout=1) == book, timeout=5, message="the successor was renotified")
    finally:
        system.stop()


def test_a_stream_heartbeat_makes_a_quiet_markets_book_current_without_changing_it(system: ActorSystem) -> None:
    from engine.market import MarketData

    symbol = "BTCUSDT"
    book = wait_for(lambda: ticker(system, symbol), timeout=5)
    later = book.time + 60_000
    system.markets.on_market(MarketData(symbol, live_at=later))
    wait_for(lambda: (t := ticker(system, symbol)) is not None and t.time == later, message="the book's time moved to the heartbeat")
    moved = ticker(system, symbol)
    assert moved is not None
    assert msgspec.structs.replace(moved, time=book.time) == book  # prices untouched
    market = system.ask_market(symbol, GetMarket(depth=1, trades=0))
    assert market.depth is not None
    assert market.updated_at == later and market.depth.time == later


def test_every_minute_a_merged_update_closes_is_stored_not_only_the_newest(system: ActorSystem) -> None:
    from actors.messages import LoadCandles
    from engine.candles import Candle
    from engine.market import MarketData

    symbol = "BTCUSDT"
    wait_for(lambda: ticker(system, symbol), timeout=5)
    future = 4_000_000_000_000  # newer than anything the feed sends
    minutes = [Candle("1m", future + n * 60_000, *(Decimal(90_000 + n),) * 4, Decimal(1), Decimal(90_000 + n)) for n in range(3)]
    system.markets.on_market(MarketData(symbol, klines=tuple(minutes)))  # one update: two minutes closed at once

    def stored() -> list[Candle]:
        candles = system.ask(system.ref("candles", "candles"), LoadCandles(symbol, "1m", 1000))
        return [c for c in candles if c.open_time >= future]

    wait_for(lambda: [c.open_time for c in stored()][:2] == [m.open_time for m in minutes[:2]],
             message="both closed minutes stored")
    assert stored()[:2] == minutes[:2]
