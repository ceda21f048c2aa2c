"""engine.triggers: the price-sorted index, wicks, trailing anchors; engine.market's extremes."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.market import MarketData, Trade, extremes, merge
from engine.model import BookTicker
from engine.triggers import Crossing, Trigger, TriggerIndex, trailing_level

D = Decimal


def fall(user: str, level: str, key: str = "k") -> Trigger:
    return Trigger(user, key, "BTCUSDT", "FALL", D(level))


def rise(user: str, level: str, key: str = "k") -> Trigger:
    return Trigger(user, key, "BTCUSDT", "RISE", D(level))


def keys(crossings: list[Crossing]) -> set[tuple[str, str]]:
    return {(c.trigger.user_id, c.trigger.key) for c in crossings}


def test_an_update_fires_exactly_the_levels_its_range_reached_and_forgets_them() -> None:
    index = TriggerIndex()
    for level in ("90", "95", "99", "100"):
        index.add(fall(f"f{level}", level))
    for level in ("101", "105", "110"):
        index.add(rise(f"r{level}", level))
    crossed = index.crossed(D("95"), D("105"), 1)
    assert keys(crossed) == {("f95", "k"), ("f99", "k"), ("f100", "k"), ("r101", "k"), ("r105", "k")}
    assert {c.price for c in crossed if c.trigger.direction == "FALL"} == {D("95")}
    assert len(index) == 2
    assert index.crossed(D("95"), D("105"), 2) == []  # fired once, then gone


def test_a_wick_merged_into_one_update_still_crosses() -> None:
    book = BookTicker("BTCUSDT", D("100"), D(1), D("100.1"), D(1), D("100"), 1)
    first = MarketData("BTCUSDT", book=book, trades=(Trade(D("100"), D(1), "SELL", 1), Trade(D("93"), D(1), "SELL", 2)))
    second = MarketData("BTCUSDT", book=book, trades=(Trade(D("100"), D(1), "BUY", 3),))
    merged = merge(first, second)
    assert extremes(merged) == (D("93"), D("100"))
    # Even once the wick's trade is beyond the merged bound, its price is kept.
    many = MarketData("BTCUSDT", book=book, trades=tuple(Trade(D("100"), D(1), "BUY", 10 + i) for i in range(600)))
    merged = merge(merged, many)
    assert all(t.price == 100 for t in merged.trades)
    assert extremes(merged) == (D("93"), D("100"))
    index = TriggerIndex()
    index.add(fall("u", "95"))
    span = extremes(merged)
    assert span is not None
    assert keys(index.crossed(span[0], span[1], 5)) == {("u", "k")}


def test_removing_and_replacing_a_trigger() -> None:
    index = TriggerIndex()
    index.add(fall("u", "95", "a"))
    index.add(fall("u", "90", "a"))  # the same key again: replaced
    index.add(fall("v", "95", "a"))
    assert len(index) == 2
    assert keys(index.crossed(D("94"), D("94"), 1)) == {("v", "a")}
    index.remove("u", "a")
    assert index.crossed(D("1"), D("1"), 2) == []


def test_a_trailing_stop_follows_the_high_and_fires_on_the_fall_from_it() -> None:
    index = TriggerIndex()
    trailing = Trigger("u", "t", "BTCUSDT", "FALL", D("95"), trailing=D("0.05"), anchor=D("100"))
    index.add(trailing)
    assert index.crossed(D("96"), D("110"), 1) == []  # 96 is above 95; the anchor is 110 now
    assert index.anchor_of("u", "t") == D("110")
    assert index.crossed(D("105"), D("108"), 2) == []  # 105 > 104.5
    [crossing] = index.crossed(D("104.5"), D("106"), 3)
    assert crossing.anchor == D("110") and crossing.price == D("104.5")
    assert trailing_level(D("110"), D("0.05")) == D("104.50")


def test_trailing_groups_merge_when_the_price_passes_their_anchors() -> None:
    index = TriggerIndex()
    index.add(Trigger("a", "t", "X", "FALL", D(0), trailing=D("0.10"), anchor=D("100")))
    index.add(Trigger("b", "t", "X", "FALL", D(0), trailing=D("0.05"), anchor=D("120")))
    assert index.crossed(D("115"), D("125"), 1) == []  # a: 115 > 90; b: 115 > 114
    assert index.anchor_of("a", "t") == index.anchor_of("b", "t") == D("125")  # one group now
    assert keys(index.crossed(D("118"), D("119"), 2)) == {("b", "t")}  # 118 <= 118.75
    assert keys(index.crossed(D("112.5"), D("113"), 3)) == {("a", "t")}  # 112.5 <= 112.5


def test_levels_are_judged_on_the_anchor_from_before_the_update() -> None:
    index = TriggerIndex()
    index.add(Trigger("b", "t", "X", "FALL", D(0), trailing=D("0.02"), anchor=D("120")))
    [crossing] = index.crossed(D("117"), D("125"), 1)  # 117 <= 117.6 of the old anchor
    assert crossing.anchor == D("120")
    index.add(Trigger("c", "t", "X", "FALL", D(0), trailing=D("0.02"), anchor=D("120")))
    assert index.crossed(D("118"), D("130"), 2) == []
    assert index.anchor_of("c", "t") == D("130")


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["FALL", "RISE"]), st.integers(1, 200)), min_size=0, max_size=60),
       st.integers(1, 200), st.integers(0, 50))
def test_the_index_fires_what_a_scan_of_every_trigger_would(levels: list[tuple[str, int]], low: int, width: int) -> None:
    index = TriggerIndex()
    for n, (direction, level) in enumerate(levels):
        index.add(Trigger(f"u{n % 7}", f"k{n}", "X", direction, D(level)))  # type: ignore[arg-type]
    high = low + width
    expected = {(f"u{n % 7}", f"k{n}") for n, (d, level) in enumerate(levels)
                if (d == "FALL" and low <= level) or (d == "RISE" and high >= level)}
    assert keys(index.crossed(D(low), D(high), 1)) == expected
    assert len(index) == len(levels) - len(expected)


def test_many_triggers_far_from_the_price_cost_an_update_nothing_to_scan() -> None:
    index = TriggerIndex()
    rng = random.Random(7)
    for n in range(20_000):
        index.add(Trigger(f"u{n}", "k", "X", "FALL", D(rng.randint(1, 50))))
    # Nothing near 100: the search finds that at once (and fires nothing).
    assert index.crossed(D("99"), D("101"), 1) == []
    assert len(index) == 20_000


def test_a_fall_within_a_window_is_measured_from_the_windows_high_and_old_highs_leave_it() -> None:
    index = TriggerIndex()
    drop = Trigger("u", "rule:r", "X", "FALL", D(0), window_ms=60_000, drop=D("0.05"))
    index.add(drop, [(0, D("100")), (10_000, D("98"))])
    assert index.crossed(D("96"), D("97"), 20_000) == []  # 4% off the high of 100
    [crossing] = index.crossed(D("95"), D("96"), 30_000)  # 5%
    assert crossing.anchor == D("100") and crossing.price == D("95")
    index.add(drop, [(20_000, D("97")), (30_000, D("96"))])
    # The window has moved on: 100 (at 0) is older than 60 s; its high is 97 (at 20 s).
    assert index.crossed(D("93"), D("93"), 70_000) == []  # 93 is 4.1% below 97
    assert len(index) == 1
    [crossing] = index.crossed(D("92"), D("92"), 75_000)  # 5.2% below 97
    assert crossing.anchor == D("97")


def test_rule_triggers_follow_the_rule() -> None:
    from engine.rules import Rule
    from engine.triggers import rule_trigger

    rule = Rule(id="r", user_id="u", kind="PRICE_BELOW", quote_amount=D(10), created_at=1, updated_at=1,
                symbol="X", threshold=D("90"))
    trigger = rule_trigger(rule)
    assert trigger is not None and (trigger.direction, trigger.level, trigger.key) == ("FALL", D("90"), "rule:r")
    rule.max_executions, rule.executions = 1, 1
    assert rule_trigger(rule) is None  # exhausted: nothing to watch
    dca = Rule(id="d", user_id="u", kind="DCA", quote_amount=D(10), created_at=1_000, updated_at=1, symbol="X",
               every_seconds=60)
    timed = rule_trigger(dca)
    assert timed is not None and timed.due == 61_000 and timed.symbol == ""


def test_a_trigger_on_the_close_ignores_a_late_trade_from_before_the_move() -> None:
    index = TriggerIndex()
    index.add(Trigger("u", "alert:a:rearm", "X", "FALL", D("102"), on_close=True))
    index.add(Trigger("v", "k", "X", "FALL", D("102")))
    # The update's range reaches 100 (an old trade), but it ended at 103.
    assert keys(index.crossed(D("100"), D("103"), 1, close=D("103"))) == {("v", "k")}
    assert keys(index.crossed(D("101"), D("101"), 2, close=D("101"))) == {("u", "alert:a:rearm")}
