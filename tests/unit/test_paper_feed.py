"""engine.feeds.paper: the seeded simulated market."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio

from engine.clock import ManualClock
from engine.feeds.paper import PaperFeed
from engine.model import BookTicker, SymbolInfo
from engine.money import fits_places
from engine.symbols import paper_symbol, reference_price

D = Decimal
T0 = 1_700_000_000_000
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "MXUSDT", "NEWCOINUSDT"]


def infos(*symbols: str) -> list[SymbolInfo]:
    return [paper_symbol(s) for s in symbols]


def tick_of(info: SymbolInfo) -> Decimal:
    return D(1).scaleb(-info.quote_precision)


def path(feed: PaperFeed, symbols: list[str], steps: int) -> list[BookTicker]:
    """What the feed publishes: a first book per symbol, then a walk and a book per tick."""
    books = [feed._book(s) for s in symbols]
    for _ in range(steps):
        for s in symbols:
            feed._walk(s)
            books.append(feed._book(s))
    return books


class Sink:
    def __init__(self) -> None:
        self.books: list[BookTicker] = []

    def on_book(self, book: BookTicker) -> None:
        self.books.append(book)


# -- determinism -----------------------------------------------------------------------------------


def test_same_seed_gives_the_same_sequence_of_books() -> None:
    symbols = ["BTCUSDT", "ETHUSDT"]
    a = path(PaperFeed(infos(*symbols), ManualClock(T0), seed=7), symbols, 200)
    b = path(PaperFeed(infos(*symbols), ManualClock(T0), seed=7), symbols, 200)
    assert a == b
    assert len(a) == 2 + 2 * 200


def test_different_seeds_give_different_paths() -> None:
    a = path(PaperFeed(infos("BTCUSDT"), ManualClock(T0), seed=1), ["BTCUSDT"], 50)
    b = path(PaperFeed(infos("BTCUSDT"), ManualClock(T0), seed=2), ["BTCUSDT"], 50)
    assert [x.bid for x in a] != [x.bid for x in b]


def test_the_price_moves_over_time() -> None:
    books = path(PaperFeed(infos("BTCUSDT"), ManualClock(T0), seed=3), ["BTCUSDT"], 100)
    assert len({b.bid for b in books}) > 10


def test_walk_starts_at_the_reference_price() -> None:
    book = PaperFeed(infos("BTCUSDT"), ManualClock(T0), seed=1)._book("BTCUSDT")
    assert book.bid == reference_price("BTCUSDT")
    assert book.time == T0


def test_start_prices_override_the_reference_price() -> None:
    feed = PaperFeed(infos("BTCUSDT", "ETHUSDT"), ManualClock(T0), start_prices={"BTCUSDT": D("50000.25")})
    assert feed._book("BTCUSDT").bid == D("50000.25")
    assert feed._book("ETHUSDT").bid == reference_price("ETHUSDT")


def test_book_time_is_the_clock_time() -> None:
    clock = ManualClock(T0)
    feed = PaperFeed(infos("BTCUSDT"), clock)
    clock.advance(1234)
    assert feed._book("BTCUSDT").time == T0 + 1234


# -- shape of every book -------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_every_book_has_bid_below_ask_by_one_or_two_ticks(symbol: str) -> None:
    info = paper_symbol(symbol)
    tick = tick_of(info)
    for book in path(PaperFeed([info], ManualClock(T0), seed=11, tick_ms=1000), [symbol], 500):
        assert book.symbol == symbol
        assert 0 < book.bid < book.ask
        assert book.ask - book.bid in (tick, 2 * tick)
        assert book.last in (book.bid, book.ask)


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_prices_respect_quote_precision_and_quantities_base_precision(symbol: str) -> None:
    info = paper_symbol(symbol)
    for book in path(PaperFeed([info], ManualClock(T0), seed=5, tick_ms=60_000), [symbol], 500):
        for price in (book.bid, book.ask, book.last):
            assert fits_places(price, info.quote_precision), (symbol, price)
        for quantity in (book.bid_qty, book.ask_qty):
            assert quantity > 0
            assert fits_places(quantity, info.base_precision), (symbol, quantity)


def test_top_of_book_sizes_are_realistic_notionals() -> None:
    info = paper_symbol("BTCUSDT")
    for book in path(PaperFeed([info], ManualClock(T0), seed=9), ["BTCUSDT"], 200):
        assert D(1900) <= book.bid * book.bid_qty <= D(62_000)
        assert D(900) <= book.ask * book.ask_qty <= D(95_000)


def test_a_price_that_walks_toward_zero_stays_at_least_one_tick() -> None:
    info = paper_symbol("BTCUSDT")
    feed = PaperFeed([info], ManualClock(T0), start_prices={"BTCUSDT": D("0.001")})
    book = feed._book("BTCUSDT")
    assert book.bid == D("0.01")
    assert book.ask > book.bid


# -- set_price ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("symbol", "price"), [("BTCUSDT", "50000"), ("ETHUSDT", "1234.56"), ("DOGEUSDT", "0.12345")])
def test_set_price_moves_the_book_to_the_price(symbol: str, price: str) -> None:
    info = paper_symbol(symbol)
    feed = PaperFeed([info], ManualClock(T0), seed=4)
    book = feed.set_price(symbol, D(price))
    assert book.bid == D(price)
    assert book.last == D(price)
    assert book.ask - book.bid in (tick_of(info), 2 * tick_of(info))
    # ... and the walk continues from there.
    assert feed._book(symbol).bid == D(price)
    feed._walk(symbol)
    assert abs(feed._book(symbol).bid - D(price)) < D(price) * D("0.01")


def test_set_price_before_run_returns_the_book_without_a_sink() -> None:
    feed = PaperFeed(infos("BTCUSDT"), ManualClock(T0))
    book = feed.set_price("BTCUSDT", D(100))  # no sink yet: nothing to publish to
    assert (book.symbol, book.bid, book.last) == ("BTCUSDT", D(100), D(100))


# -- run under trio ------------------------------------------------------------------------------------


@pytest.mark.trio
async def test_run_publishes_each_symbol_at_once_then_once_per_tick(autojump_clock: trio.testing.MockClock) -> None:
    symbols = ["BTCUSDT", "ETHUSDT"]
    feed = PaperFeed(infos(*symbols), ManualClock(T0), seed=21, tick_ms=250)
    sink = Sink()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(feed.run, sink)
        await trio.sleep(0.9)  # ticks at 0.25, 0.5 and 0.75
        nursery.cancel_scope.cancel()
    assert [b.symbol for b in sink.books] == symbols * 4
    # What it published is the seeded path.
    assert sink.books == path(PaperFeed(infos(*symbols), ManualClock(T0), seed=21, tick_ms=250), symbols, 3)


@pytest.mark.trio
async def test_run_with_tick_zero_publishes_once_and_stays_still(autojump_clock: trio.testing.MockClock) -> None:
    feed = PaperFeed(infos("BTCUSDT"), ManualClock(T0), tick_ms=0)
    sink = Sink()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(feed.run, sink)
        await trio.sleep(3600)
        assert len(sink.books) == 1
        moved = feed.set_price("BTCUSDT", D(60000))
        assert sink.books == [sink.books[0], moved]
        nursery.cancel_scope.cancel()
