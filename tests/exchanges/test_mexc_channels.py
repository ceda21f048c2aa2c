"""engine.exchanges.mexc.channels: building MEXC channel names and parsing them back."""

from __future__ import annotations

import pytest

from engine.exchanges.mexc import channels
from engine.exchanges.mexc.channels import Channel, parse

# -- builders -----------------------------------------------------------------------


def test_public_builders_write_the_documented_names() -> None:
    assert channels.deals("BTCUSDT") == "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
    assert channels.deals("BTCUSDT", "10ms") == "spot@public.aggre.deals.v3.api.pb@10ms@BTCUSDT"
    assert channels.book_ticker("ETHUSDT") == "spot@public.aggre.bookTicker.v3.api.pb@100ms@ETHUSDT"
    assert channels.depth("BTCUSDT", "10ms") == "spot@public.aggre.depth.v3.api.pb@10ms@BTCUSDT"
    assert channels.limit_depth("BTCUSDT", 20) == "spot@public.limit.depth.v3.api.pb@BTCUSDT@20"
    assert channels.kline("BTCUSDT", "1m") == "spot@public.kline.v3.api.pb@BTCUSDT@Min1"


def test_private_channel_names_are_the_documented_ones() -> None:
    assert channels.PRIVATE_ORDERS == "spot@private.orders.v3.api.pb"
    assert channels.PRIVATE_DEALS == "spot@private.deals.v3.api.pb"
    assert channels.PRIVATE_ACCOUNT == "spot@private.account.v3.api.pb"


def test_a_connection_takes_at_most_30_subscriptions() -> None:
    assert channels.MAX_SUBSCRIPTIONS_PER_CONNECTION == 30


@pytest.mark.parametrize(
    ("interval", "mexc"),
    [
        ("1m", "Min1"),
        ("5m", "Min5"),
        ("15m", "Min15"),
        ("30m", "Min30"),
        ("60m", "Min60"),
        ("1h", "Min60"),
        ("4h", "Hour4"),
        ("8h", "Hour8"),
        ("1d", "Day1"),
        ("1W", "Week1"),
        ("1M", "Month1"),
    ],
)
def test_kline_maps_engine_intervals_to_mexc_names(interval: str, mexc: str) -> None:
    assert channels.kline("SOLUSDT", interval) == f"spot@public.kline.v3.api.pb@SOLUSDT@{mexc}"


def test_builders_upper_case_the_symbol() -> None:
    assert channels.deals("btcusdt") == "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"
    assert channels.kline("ethusdt", "1d").endswith("@ETHUSDT@Day1")


@pytest.mark.parametrize(
    "build",
    [
        lambda: channels.deals("BTCUSDT", "1s"),
        lambda: channels.book_ticker("BTCUSDT", "100"),
        lambda: channels.depth("BTCUSDT", "1000ms"),
        lambda: channels.limit_depth("BTCUSDT", 15),
        lambda: channels.limit_depth("BTCUSDT", True),  # a bool is not a level count
        lambda: channels.kline("BTCUSDT", "2h"),
        lambda: channels.kline("BTCUSDT", "Min1"),  # engine names only
        lambda: channels.deals(""),
        lambda: channels.deals("BTC@USDT"),
        lambda: channels.depth("BTC/USDT"),
    ],
)
def test_builders_reject_what_mexc_has_no_channel_for(build) -> None:
    with pytest.raises(ValueError):
        build()


# -- parse --------------------------------------------------------------------------

ROUND_TRIPS = [
    (channels.deals("BTCUSDT"), Channel("deals", "BTCUSDT", interval="100ms")),
    (channels.deals("BTCUSDT", "10ms"), Channel("deals", "BTCUSDT", interval="10ms")),
    (channels.book_ticker("ETHUSDT"), Channel("book_ticker", "ETHUSDT", interval="100ms")),
    (channels.depth("SOLUSDT", "10ms"), Channel("depth", "SOLUSDT", interval="10ms")),
    (channels.limit_depth("BTCUSDT", 5), Channel("limit_depth", "BTCUSDT", levels=5)),
    (channels.limit_depth("BTCUSDT", 10), Channel("limit_depth", "BTCUSDT", levels=10)),
    (channels.kline("BTCUSDT", "1m"), Channel("kline", "BTCUSDT", interval="1m")),
    (channels.kline("BTCUSDT", "1h"), Channel("kline", "BTCUSDT", interval="60m")),
    (channels.kline("BTCUSDT", "1W"), Channel("kline", "BTCUSDT", interval="1W")),
    (channels.kline("BTCUSDT", "1M"), Channel("kline", "BTCUSDT", interval="1M")),
    (channels.PRIVATE_ORDERS, Channel("private_orders")),
    (channels.PRIVATE_DEALS, Channel("private_deals")),
    (channels.PRIVATE_ACCOUNT, Channel("private_account")),
]


@pytest.mark.parametrize(("name", "expected"), ROUND_TRIPS)
def test_parse_reads_back_what_each_builder_wrote(name: str, expected: Channel) -> None:
    parsed = parse(name)
    assert parsed == expected
    assert parsed.name == name


@pytest.mark.parametrize("interval", ["1m", "5m", "15m", "30m", "60m", "4h", "8h", "1d", "1W", "1M"])
def test_every_kline_interval_round_trips(interval: str) -> None:
    name = channels.kline("BTCUSDT", interval)
    assert parse(name).interval == interval
    assert channels.kline("BTCUSDT", parse(name).interval or "") == name


def test_only_private_channels_have_no_symbol() -> None:
    assert parse(channels.PRIVATE_ACCOUNT).private
    assert not parse(channels.depth("BTCUSDT")).private


@pytest.mark.parametrize(
    "name",
    [
        "",
        "spot@public.deals.v3.api@BTCUSDT",  # the blocked JSON channels
        "spot@public.miniTicker.v3.api@BTCUSDT@UTC+0",
        "spot@public.aggre.deals.v3.api@100ms@BTCUSDT",
        "spot@public.aggre.deals.v3.api.pb@BTCUSDT",  # no push interval
        "spot@public.aggre.deals.v3.api.pb@1ms@BTCUSDT",
        "spot@public.aggre.deals.v3.api.pb@100ms@btcusdt",
        "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT@extra",
        "spot@public.limit.depth.v3.api.pb@BTCUSDT@7",
        "spot@public.limit.depth.v3.api.pb@BTCUSDT@05",
        "spot@public.kline.v3.api.pb@BTCUSDT@Min2",
        "spot@public.kline.v3.api.pb@BTCUSDT@1m",
        "spot@public.bookTicker.batch.v3.api.pb@BTCUSDT",
        "spot@private.orders.v3.api",
        "spot@private.orders.v3.api.pb@BTCUSDT",
        "swap@public.aggre.deals.v3.api.pb@100ms@BTCUSDT",
    ],
)
def test_parse_rejects_unknown_channels(name: str) -> None:
    with pytest.raises(ValueError):
        parse(name)


def test_a_refusal_is_known_by_its_text_whatever_the_code() -> None:
    from engine.exchanges.mexc.channels import refused_in

    # The reference's exact reply (two spaces, a full-width colon).
    assert refused_in("Not Subscribed successfully! [spot@public.miniTicker.v3.api@BTCUSDT@UTC+0].  Reason： Blocked!")
    assert not refused_in("spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT")
    assert not refused_in(None)
