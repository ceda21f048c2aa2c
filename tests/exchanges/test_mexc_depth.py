"""engine.exchanges.mexc.depth: a book from a REST snapshot plus version-checked diffs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.exchanges.mexc.codec import DepthLevel, DepthPush
from engine.exchanges.mexc.depth import DepthBook, DepthGap

D = Decimal


def diff(
    from_version: int,
    to_version: int,
    bids: list[tuple[str, str]] | None = None,
    asks: list[tuple[str, str]] | None = None,
) -> DepthPush:
    return DepthPush(
        asks=tuple(DepthLevel(D(p), D(q)) for p, q in asks or []),
        bids=tuple(DepthLevel(D(p), D(q)) for p, q in bids or []),
        event_type="spot@public.aggre.depth.v3.api.pb@100ms",
        from_version=from_version,
        to_version=to_version,
    )


def book_at(version: int = 100) -> DepthBook:
    book = DepthBook("BTCUSDT")
    book.load_snapshot(
        version,
        bids=[("99", "1"), ("98", "2")],
        asks=[("101", "1"), ("102", "2")],
    )
    return book


# -- snapshot and in-order diffs ----------------------------------------------------


def test_snapshot_gives_a_synced_book_at_its_version() -> None:
    book = book_at(100)
    assert book.synced and book.version == 100
    assert book.bids() == [(D(99), D(1)), (D(98), D(2))]
    assert book.asks() == [(D(101), D(1)), (D(102), D(2))]


def test_in_order_diffs_update_levels_and_version() -> None:
    book = book_at(100)
    assert book.apply(diff(101, 103, bids=[("99", "5"), ("99.5", "0.25")]))
    assert book.apply(diff(104, 104, asks=[("100.5", "3")]))
    assert book.version == 104
    assert book.best_bid() == (D("99.5"), D("0.25"))
    assert book.best_ask() == (D("100.5"), D(3))
    assert book.bids() == [(D("99.5"), D("0.25")), (D(99), D(5)), (D(98), D(2))]


def test_first_diff_may_start_before_the_snapshot_if_it_covers_the_next_version() -> None:
    book = book_at(100)
    assert book.apply(diff(95, 105, bids=[("97", "4")]))
    assert book.version == 105
    assert (D(97), D(4)) in book.bids()


def test_first_diff_starting_right_after_the_snapshot_applies() -> None:
    book = book_at(100)
    assert book.apply(diff(101, 101, asks=[("103", "1")]))
    assert book.version == 101


def test_quantity_zero_removes_the_level() -> None:
    book = book_at(100)
    book.apply(diff(101, 101, bids=[("99", "0")], asks=[("101", "0.000")]))
    assert book.best_bid() == (D(98), D(2))
    assert book.best_ask() == (D(102), D(2))


def test_removing_a_level_that_is_not_there_changes_nothing() -> None:
    book = book_at(100)
    book.apply(diff(101, 101, bids=[("50", "0")]))
    assert book.bids() == [(D(99), D(1)), (D(98), D(2))]


def test_a_price_written_with_other_trailing_zeros_is_the_same_level() -> None:
    book = book_at(100)
    book.apply(diff(101, 101, bids=[("99.00", "7")]))
    assert book.bids() == [(D(99), D(7)), (D(98), D(2))]


def test_snapshot_levels_with_zero_quantity_are_not_in_the_book() -> None:
    book = DepthBook("BTCUSDT")
    book.load_snapshot(1, bids=[("99", "0"), ("98", "1")], asks=[])
    assert book.bids() == [(D(98), D(1))]
    assert book.best_ask() is None


def test_snapshot_takes_rest_string_pairs_and_decimals() -> None:
    book = DepthBook("BTCUSDT")
    book.load_snapshot(7, bids=[["93180.18", "0.21976424"]], asks=[(D("93180.19"), D("1.5"))])
    assert book.best_bid() == (D("93180.18"), D("0.21976424"))
    assert book.best_ask() == (D("93180.19"), D("1.5"))


def test_snapshot_refuses_float_prices() -> None:
    book = DepthBook("BTCUSDT")
    with pytest.raises(ValueError):
        book.load_snapshot(1, bids=[(99.1, "1")], asks=[])  # type: ignore[list-item]  # a float, on purpose


# -- stale and gaps -----------------------------------------------------------------


@pytest.mark.parametrize(("from_version", "to_version"), [(90, 99), (95, 100), (100, 100)])
def test_diffs_already_in_the_snapshot_are_dropped(from_version: int, to_version: int) -> None:
    book = book_at(100)
    assert not book.apply(diff(from_version, to_version, bids=[("99", "0")], asks=[("50", "1")]))
    assert book.version == 100
    assert book.bids() == [(D(99), D(1)), (D(98), D(2))]
    assert book.best_ask() == (D(101), D(1))
    assert book.apply(diff(101, 102))  # the chain still starts at the snapshot


def test_first_diff_after_the_next_version_is_a_gap() -> None:
    book = book_at(100)
    with pytest.raises(DepthGap) as gap:
        book.apply(diff(102, 105))
    assert gap.value.expected_from == 101
    assert not book.synced and book.version is None


def test_a_skipped_version_between_diffs_raises_depth_gap_and_clears_the_book() -> None:
    book = book_at(100)
    book.apply(diff(101, 110))
    with pytest.raises(DepthGap) as gap:
        book.apply(diff(112, 115))
    assert gap.value.expected_from == 111 and gap.value.symbol == "BTCUSDT"
    assert not book.synced
    assert book.bids() == [] and book.best_ask() is None


def test_an_overlapping_diff_after_sync_is_a_gap_too() -> None:
    book = book_at(100)
    book.apply(diff(101, 110))
    with pytest.raises(DepthGap):
        book.apply(diff(105, 115))


# -- buffering ----------------------------------------------------------------------


def test_diffs_before_the_snapshot_are_buffered_and_replayed() -> None:
    book = DepthBook("BTCUSDT")
    assert not book.apply(diff(90, 95, bids=[("1", "1")]))  # older than the snapshot
    assert not book.apply(diff(96, 102, bids=[("99", "3")]))
    assert not book.apply(diff(103, 104, asks=[("100", "2")]))
    assert not book.synced and book.pending == 3

    book.load_snapshot(100, bids=[("99", "1")], asks=[("101", "1")])

    assert book.synced and book.version == 104 and book.pending == 0
    assert book.bids() == [(D(99), D(3))]  # the stale diff's level never arrived
    assert book.asks() == [(D(100), D(2)), (D(101), D(1))]


def test_snapshot_older_than_the_buffered_diffs_raises_and_keeps_them() -> None:
    book = DepthBook("BTCUSDT")
    book.apply(diff(201, 205))
    book.apply(diff(206, 210, bids=[("99", "9")]))
    with pytest.raises(DepthGap):
        book.load_snapshot(100, bids=[("99", "1")], asks=[])
    assert not book.synced and book.pending == 2

    book.load_snapshot(203, bids=[("99", "1")], asks=[])
    assert book.version == 210
    assert book.bids() == [(D(99), D(9))]


def test_after_a_gap_diffs_are_buffered_for_the_next_snapshot() -> None:
    book = book_at(100)
    book.apply(diff(101, 101))
    with pytest.raises(DepthGap):
        book.apply(diff(103, 104, bids=[("99", "4")]))
    assert not book.apply(diff(105, 106, asks=[("101", "6")]))
    assert book.pending == 2

    book.load_snapshot(103, bids=[("99", "1")], asks=[("101", "1")])
    assert book.synced and book.version == 106
    assert book.best_bid() == (D(99), D(4)) and book.best_ask() == (D(101), D(6))


def test_the_buffer_is_bounded_and_drops_the_oldest() -> None:
    book = DepthBook("BTCUSDT", max_pending=3)
    for v in range(1, 6):
        book.apply(diff(v, v, bids=[(str(v), "1")]))
    assert book.pending == 3

    book.load_snapshot(2, bids=[], asks=[])  # diffs 3..5 are kept, 1..2 were dropped
    assert book.version == 5
    assert [price for price, _ in book.bids()] == [D(5), D(4), D(3)]


# -- ordering -----------------------------------------------------------------------


def test_levels_sort_by_numeric_price_best_first() -> None:
    book = DepthBook("BTCUSDT")
    # As strings "9.5" > "10.25" > "100"; as prices the order is reversed.
    book.load_snapshot(
        1,
        bids=[("9.5", "1"), ("100", "1"), ("10.25", "1")],
        asks=[("1000", "1"), ("200.5", "1"), ("99.99", "1")],
    )
    assert [p for p, _ in book.bids()] == [D(100), D("10.25"), D("9.5")]
    assert [p for p, _ in book.asks()] == [D("99.99"), D("200.5"), D(1000)]
    assert book.best_bid() == (D(100), D(1)) and book.best_ask() == (D("99.99"), D(1))


def test_n_limits_each_side_to_its_best_levels() -> None:
    book = book_at(100)
    book.apply(diff(101, 101, bids=[("97", "1"), ("99.5", "1")], asks=[("100.5", "1")]))
    assert book.bids(2) == [(D("99.5"), D(1)), (D(99), D(1))]
    assert book.asks(1) == [(D("100.5"), D(1))]
    assert book.asks(10) == book.asks()


def test_an_empty_book_has_no_best_levels() -> None:
    book = DepthBook("BTCUSDT")
    assert book.best_bid() is None and book.best_ask() is None
    assert book.bids() == [] and book.version is None and not book.synced
