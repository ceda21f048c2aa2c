"""engine.exchanges.mexc.codec: MEXC's protobuf pushes and JSON control frames."""

from __future__ import annotations

from decimal import Decimal

import pytest
from google.protobuf.descriptor import FieldDescriptor as FD

from engine.exchanges.mexc.codec import (
    BookTickerPush,
    DealItem,
    DealsPush,
    DepthLevel,
    DepthPush,
    KlinePush,
    LimitDepthPush,
    PrivateAccountPush,
    PrivateDealPush,
    PrivateOrderPush,
    Push,
    PushDecodeError,
    decode_control,
    decode_push,
    encode_push,
)
from engine.exchanges.mexc.proto import push_pb2 as pb

D = Decimal
INT64_MAX = 2**63 - 1

FULL_ORDER = PrivateOrderPush(
    id="C02__526524402193514496077",
    client_id="my-order-1",
    price=D("0.8"),
    quantity=D("10"),
    amount=D("8"),
    avg_price=D("0.79"),
    order_type=1,
    trade_type=2,
    is_maker=True,
    remain_amount=D("4.05"),
    remain_quantity=D("5"),
    cumulative_quantity=D("5"),
    cumulative_amount=D("3.95"),
    status=3,
    create_time=1736417034280,
    last_deal_quantity=D("2.5"),
    market="USDT",
    trigger_type=1,
    trigger_price=D("0.75"),
    state=2,
    oco_id="oco-7",
    route_factor="rf",
    symbol_id="sym-1",
    market_id="mkt-1",
    market_currency_id="mc-1",
    currency_id="c-1",
)

# One push of every modelled kind, every field set.
PUSHES = {
    "deals": Push(
        "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT",
        "BTCUSDT",
        "sym-btc",
        1754741322100,
        1754741322152,
        DealsPush(
            (
                DealItem(D("117145.49"), D("0.00123"), 1, 1754741322150, "t-1"),
                DealItem(D("117145.5"), D("2"), 2, 1754741322151, "t-2"),
            ),
            "spot@public.aggre.deals.v3.api.pb@100ms",
        ),
    ),
    "book_ticker": Push(
        "spot@public.aggre.bookTicker.v3.api.pb@100ms@BTCUSDT",
        "BTCUSDT",
        body=BookTickerPush(D("117145.49"), D("1.5"), D("117145.50"), D("0.25"), 43296363255, 1754741322000),
    ),
    "depth": Push(
        "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT",
        "BTCUSDT",
        send_time=1754741322152,
        body=DepthPush(
            (DepthLevel(D("117145.49"), D("0")), DepthLevel(D("117146"), D("3.2"))),
            (DepthLevel(D("117140.01"), D("0.5")),),
            "spot@public.aggre.depth.v3.api.pb@100ms",
            43296363236,
            43296363255,
        ),
    ),
    "limit_depth": Push(
        "spot@public.limit.depth.v3.api.pb@BTCUSDT@5",
        "BTCUSDT",
        body=LimitDepthPush(
            (DepthLevel(D("101"), D("1")),),
            (DepthLevel(D("99"), D("2")), DepthLevel(D("98"), D("3"))),
            "spot@public.limit.depth.v3.api.pb",
            36913565463,
        ),
    ),
    "kline": Push(
        "spot@public.kline.v3.api.pb@BTCUSDT@Min1",
        "BTCUSDT",
        body=KlinePush(
            "Min1", 1754741280, D("100"), D("101.5"), D("102"), D("99.25"), D("12.5"), D("1260.3125"), 1754741340
        ),
    ),
    "private_order": Push("spot@private.orders.v3.api.pb", "BTCUSDT", body=FULL_ORDER),
    "private_deal": Push(
        "spot@private.deals.v3.api.pb",
        "BTCUSDT",
        body=PrivateDealPush(
            price=D("0.8"),
            quantity=D("5"),
            amount=D("4"),
            trade_type=1,
            is_maker=False,
            is_self_trade=False,
            trade_id="505979017439002624X1",
            client_order_id="my-order-1",
            order_id="C02__5059",
            fee_amount=D("0.004"),
            fee_currency="USDT",
            time=1736417034332,
        ),
    ),
    "private_account": Push(
        "spot@private.account.v3.api.pb",
        body=PrivateAccountPush(
            asset="USDT",
            free=D("95.5"),
            free_change=D("-4.5"),
            locked=D("4.5"),
            locked_change=D("4.5"),
            type="ENTRUST_PLACE",
            time=1736417034281,
            coin_id="128f589271cb4951b03e71e6323eb7be",
        ),
    ),
}


# -- round trips --------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(PUSHES))
def test_every_push_kind_decodes_to_what_was_encoded(kind: str) -> None:
    push = PUSHES[kind]
    decoded = decode_push(encode_push(push))
    assert decoded == push
    assert type(decoded.body) is type(push.body)


def test_private_order_without_optional_fields_round_trips_with_none() -> None:
    bare = PrivateOrderPush(
        id="o-1",
        client_id=None,
        price=D("1"),
        quantity=D("2"),
        amount=D("2"),
        avg_price=D("0"),
        order_type=5,
        trade_type=1,
        is_maker=False,
        remain_amount=D("2"),
        remain_quantity=D("2"),
        cumulative_quantity=D("0"),
        cumulative_amount=D("0"),
        status=1,
        create_time=1,
    )
    data = encode_push(Push(channel="spot@private.orders.v3.api.pb", body=bare))
    wire = pb.PushDataV3ApiWrapper.FromString(data)
    for name in ("lastDealQuantity", "market", "triggerType", "triggerPrice", "state", "ocoId", "currencyId"):
        assert not wire.privateOrders.HasField(name), name  # absent, not sent as a default
    assert decode_push(data).body == bare


def test_push_without_header_fields_keeps_them_none() -> None:
    push = Push(channel="spot@private.account.v3.api.pb")
    wire = pb.PushDataV3ApiWrapper.FromString(encode_push(push))
    assert not wire.HasField("symbol") and not wire.HasField("sendTime")
    decoded = decode_push(encode_push(push))
    assert decoded == push
    assert decoded.symbol is None and decoded.create_time is None and decoded.body is None


def test_all_default_body_still_decodes_as_its_kind() -> None:
    push = Push(channel="spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT", body=DealsPush((), ""))
    assert decode_push(encode_push(push)).body == DealsPush((), "")


# -- field numbers ------------------------------------------------------------------

S, I32, I64, B, M = FD.TYPE_STRING, FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_BOOL, FD.TYPE_MESSAGE

# Transcribed from the reference notes (section 4), independently of push.proto.
REFERENCE_FIELDS: dict[str, dict[str, tuple[int, int]]] = {
    "PushDataV3ApiWrapper": {
        "channel": (1, S), "symbol": (3, S), "symbolId": (4, S), "createTime": (5, I64), "sendTime": (6, I64),
        "publicDeals": (301, M), "publicIncreaseDepths": (302, M), "publicLimitDepths": (303, M),
        "privateOrders": (304, M), "publicBookTicker": (305, M), "privateDeals": (306, M),
        "privateAccount": (307, M), "publicSpotKline": (308, M), "publicMiniTicker": (309, M),
        "publicMiniTickers": (310, M), "publicBookTickerBatch": (311, M), "publicIncreaseDepthsBatch": (312, M),
        "publicAggreDepths": (313, M), "publicAggreDeals": (314, M), "publicAggreBookTicker": (315, M),
    },
    "PublicAggreDealsV3Api": {"deals": (1, M), "eventType": (2, S)},
    "PublicAggreDealsV3ApiItem": {
        "price": (1, S), "quantity": (2, S), "tradeType": (3, I32), "time": (4, I64), "tradeId": (5, S),
    },
    "PublicDealsV3ApiItem": {"price": (1, S), "quantity": (2, S), "tradeType": (3, I32), "time": (4, I64)},
    "PublicAggreBookTickerV3Api": {
        "bidPrice": (1, S), "bidQuantity": (2, S), "askPrice": (3, S), "askQuantity": (4, S),
        "version": (5, S), "lastOrderCreateTime": (6, I64),
    },
    "PublicBookTickerV3Api": {"bidPrice": (1, S), "bidQuantity": (2, S), "askPrice": (3, S), "askQuantity": (4, S)},
    "PublicBookTickerBatchV3Api": {"items": (1, M), "version": (2, S), "lastOrderCreateTime": (3, I64)},
    "PublicAggreDepthsV3Api": {
        "asks": (1, M), "bids": (2, M), "eventType": (3, S), "fromVersion": (4, S), "toVersion": (5, S),
        "lastOrderCreateTime": (6, I64),
    },
    "PublicAggreDepthV3ApiItem": {"price": (1, S), "quantity": (2, S)},
    "PublicLimitDepthsV3Api": {
        "asks": (1, M), "bids": (2, M), "eventType": (3, S), "version": (4, S), "lastOrderCreateTime": (5, I64),
    },
    "PublicIncreaseDepthsV3Api": {"asks": (1, M), "bids": (2, M), "eventType": (3, S), "version": (4, S)},
    "PublicSpotKlineV3Api": {
        "interval": (1, S), "windowStart": (2, I64), "openingPrice": (3, S), "closingPrice": (4, S),
        "highestPrice": (5, S), "lowestPrice": (6, S), "volume": (7, S), "amount": (8, S), "windowEnd": (9, I64),
    },
    "PublicMiniTickerV3Api": {
        "symbol": (1, S), "price": (2, S), "rate": (3, S), "zonedRate": (4, S), "high": (5, S), "low": (6, S),
        "volume": (7, S), "quantity": (8, S), "lastCloseRate": (9, S), "lastCloseZonedRate": (10, S),
        "lastCloseHigh": (11, S), "lastCloseLow": (12, S),
    },
    "PublicMiniTickersV3Api": {"items": (1, M)},
    "PrivateAccountV3Api": {
        "vcoinName": (1, S), "coinId": (2, S), "balanceAmount": (3, S), "balanceAmountChange": (4, S),
        "frozenAmount": (5, S), "frozenAmountChange": (6, S), "type": (7, S), "time": (8, I64),
    },
    "PrivateDealsV3Api": {
        "price": (1, S), "quantity": (2, S), "amount": (3, S), "tradeType": (4, I32), "isMaker": (5, B),
        "isSelfTrade": (6, B), "tradeId": (7, S), "clientOrderId": (8, S), "orderId": (9, S),
        "feeAmount": (10, S), "feeCurrency": (11, S), "time": (12, I64),
    },
    "PrivateOrdersV3Api": {
        "id": (1, S), "clientId": (2, S), "price": (3, S), "quantity": (4, S), "amount": (5, S), "avgPrice": (6, S),
        "orderType": (7, I32), "tradeType": (8, I32), "isMaker": (9, B), "remainAmount": (10, S),
        "remainQuantity": (11, S), "lastDealQuantity": (12, S), "cumulativeQuantity": (13, S),
        "cumulativeAmount": (14, S), "status": (15, I32), "createTime": (16, I64), "market": (17, S),
        "triggerType": (18, I32), "triggerPrice": (19, S), "state": (20, I32), "ocoId": (21, S),
        "routeFactor": (22, S), "symbolId": (23, S), "marketId": (24, S), "marketCurrencyId": (25, S),
        "currencyId": (26, S),
    },
}


@pytest.mark.parametrize("message", sorted(REFERENCE_FIELDS))
def test_proto_fields_have_the_reference_numbers_and_types(message: str) -> None:
    descriptor = pb.DESCRIPTOR.message_types_by_name[message]
    actual = {f.name: (f.number, f.type) for f in descriptor.fields}
    assert actual == REFERENCE_FIELDS[message]


def test_optional_fields_track_presence_as_in_the_reference() -> None:
    wrapper = pb.DESCRIPTOR.message_types_by_name["PushDataV3ApiWrapper"]
    orders = pb.DESCRIPTOR.message_types_by_name["PrivateOrdersV3Api"]
    header = {f.name for f in wrapper.fields if f.has_presence and f.type != M}
    assert header == {"symbol", "symbolId", "createTime", "sendTime"}
    assert {f.name for f in orders.fields if f.has_presence} == {
        "lastDealQuantity", "market", "triggerType", "triggerPrice", "state", "ocoId", "routeFactor",
        "symbolId", "marketId", "marketCurrencyId", "currencyId",
    }


def test_proto_declares_no_package_as_mexc() -> None:
    assert pb.DESCRIPTOR.package == ""
    assert pb.PushDataV3ApiWrapper.DESCRIPTOR.full_name == "PushDataV3ApiWrapper"


def test_wrapper_built_with_push_pb2_decodes_to_typed_views() -> None:
    wrapper = pb.PushDataV3ApiWrapper(
        channel="spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT",
        symbol="BTCUSDT",
        sendTime=1754741322152,
    )
    depth = wrapper.publicAggreDepths
    depth.asks.add(price="117145.49", quantity="0")
    depth.bids.add(price="117140.00", quantity="1.25")
    depth.eventType = "spot@public.aggre.depth.v3.api.pb@100ms"
    depth.fromVersion = "43296363236"
    depth.toVersion = "43296363255"
    depth.lastOrderCreateTime = 1754741322000

    push = decode_push(wrapper.SerializeToString())

    assert push.channel == "spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT"
    assert push.symbol == "BTCUSDT" and push.send_time == 1754741322152 and push.create_time is None
    assert push.body == DepthPush(
        asks=(DepthLevel(D("117145.49"), D("0")),),
        bids=(DepthLevel(D("117140.00"), D("1.25")),),
        event_type="spot@public.aggre.depth.v3.api.pb@100ms",
        from_version=43296363236,
        to_version=43296363255,
    )


def test_hand_written_wire_bytes_decode_by_the_reference_field_numbers() -> None:
    # No generated code: field 1 channel, 3 symbol, 314 (tag bytes d2 13) the aggregated deals,
    # inside it field 1 an item {1 price, 2 quantity, 3 tradeType, 4 time, 5 tradeId}.
    item = b"\x0a\x031.5" + b"\x12\x012" + b"\x18\x02" + b"\x20\x01" + b"\x2a\x02t9"
    body = b"\x0a" + bytes([len(item)]) + item + b"\x12\x01e"
    data = b"\x0a\x02ch" + b"\x1a\x03ABC" + b"\xd2\x13" + bytes([len(body)]) + body
    push = decode_push(data)
    assert push.channel == "ch" and push.symbol == "ABC"
    assert push.body == DealsPush((DealItem(D("1.5"), D("2"), 2, 1, "t9"),), "e")


def test_deal_without_trade_id_from_servers_before_2026_06_has_none() -> None:
    wrapper = pb.PushDataV3ApiWrapper(channel="spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT")
    wrapper.publicAggreDeals.deals.add(price="1", quantity="1", tradeType=1, time=5)
    body = decode_push(wrapper.SerializeToString()).body
    assert isinstance(body, DealsPush)
    assert body.deals[0].trade_id is None


def test_book_ticker_without_2026_06_fields_has_no_version_or_order_time() -> None:
    wrapper = pb.PushDataV3ApiWrapper(channel="spot@public.aggre.bookTicker.v3.api.pb@100ms@BTCUSDT")
    wrapper.publicAggreBookTicker.bidPrice = "1"
    wrapper.publicAggreBookTicker.askPrice = "2"
    body = decode_push(wrapper.SerializeToString()).body
    assert isinstance(body, BookTickerPush)
    assert (body.bid_price, body.ask_price) == (D(1), D(2))
    assert body.version is None and body.last_order_create_time is None


def test_empty_required_money_fields_read_as_zero_and_empty_client_ids_as_none() -> None:
    wrapper = pb.PushDataV3ApiWrapper(channel="spot@private.orders.v3.api.pb")
    wrapper.privateOrders.id = "o-1"
    wrapper.privateOrders.lastDealQuantity = ""  # sent, but empty
    body = decode_push(wrapper.SerializeToString()).body
    assert isinstance(body, PrivateOrderPush)
    assert body.avg_price == 0 and isinstance(body.avg_price, Decimal)
    assert body.client_id is None
    assert body.last_deal_quantity is None


def test_unmodelled_push_kinds_keep_the_header_and_have_no_body() -> None:
    wrapper = pb.PushDataV3ApiWrapper(channel="spot@public.miniTicker.v3.api.pb@BTCUSDT@UTC+8", symbol="BTCUSDT")
    wrapper.publicMiniTicker.price = "1"
    push = decode_push(wrapper.SerializeToString())
    assert push.channel == "spot@public.miniTicker.v3.api.pb@BTCUSDT@UTC+8"
    assert push.symbol == "BTCUSDT"
    assert push.body is None


# -- numbers ------------------------------------------------------------------------


def test_int64_times_and_versions_survive_beyond_32_bits() -> None:
    push = Push(
        channel="spot@public.aggre.depth.v3.api.pb@100ms@BTCUSDT",
        create_time=INT64_MAX,
        send_time=2**40 + 1,
        body=DepthPush((), (), "e", 2**62 + 1, INT64_MAX),
    )
    decoded = decode_push(encode_push(push))
    assert decoded.create_time == INT64_MAX and decoded.send_time == 2**40 + 1
    assert isinstance(decoded.body, DepthPush)
    assert (decoded.body.from_version, decoded.body.to_version) == (2**62 + 1, INT64_MAX)

    kline = KlinePush("Min1", 2**35, D(1), D(1), D(1), D(1), D(0), D(0), 2**35 + 60)
    decoded_kline = decode_push(encode_push(Push(channel="k", body=kline))).body
    assert isinstance(decoded_kline, KlinePush)
    assert (decoded_kline.window_start, decoded_kline.window_end) == (2**35, 2**35 + 60)


@pytest.mark.parametrize(
    "text",
    ["0.00000001", "117145.49", "1.10", "123456789012345678.123456789012345678", "0.1", "-4.5", "100"],
)
def test_decimals_are_exact_and_keep_their_digits(text: str) -> None:
    wrapper = pb.PushDataV3ApiWrapper(channel="c")
    wrapper.publicAggreDeals.deals.add(price=text, quantity=text, tradeType=1, time=1)
    deal = decode_push(wrapper.SerializeToString()).body.deals[0]  # type: ignore[union-attr]
    assert isinstance(deal.price, Decimal)
    # No float on the way: the same digits and exponent, trailing zeros too.
    assert deal.price.as_tuple() == D(text).as_tuple()
    reencoded = encode_push(decode_push(wrapper.SerializeToString()))
    again = decode_push(reencoded).body.deals[0]  # type: ignore[union-attr]
    assert again.quantity.as_tuple() == D(text).as_tuple()


def test_encoding_writes_decimals_without_exponents() -> None:
    push = Push(channel="c", body=DealsPush((DealItem(D("1E-8"), D("1E+2"), 1, 1),), "e"))
    item = pb.PushDataV3ApiWrapper.FromString(encode_push(push)).publicAggreDeals.deals[0]
    assert (item.price, item.quantity) == ("0.00000001", "100")


# -- garbage ------------------------------------------------------------------------


def test_push_decode_error_is_a_value_error() -> None:
    assert issubclass(PushDecodeError, ValueError)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xff\xff\xff",
        b"hello world",  # parses as unknown fields only
        b"",
        encode_push(PUSHES["depth"])[:-5],  # truncated
        b'{"id":0,"code":0,"msg":"PONG"}',  # a text frame is not a push
        b"\x0a\x02\xff\xfe",  # channel that is not UTF-8
    ],
)
def test_bytes_that_are_not_a_push_raise_push_decode_error(data: bytes) -> None:
    with pytest.raises(PushDecodeError):
        decode_push(data)


@pytest.mark.parametrize("price", ["abc", "NaN", "Infinity", "1e5", " 1", "1_000", "0x10", "\u0661\u0662"])
def test_prices_that_are_not_plain_decimals_raise_push_decode_error(price: str) -> None:
    wrapper = pb.PushDataV3ApiWrapper(channel="c")
    wrapper.publicAggreDepths.asks.add(price=price, quantity="1")
    wrapper.publicAggreDepths.fromVersion = "1"
    wrapper.publicAggreDepths.toVersion = "2"
    with pytest.raises(PushDecodeError):
        decode_push(wrapper.SerializeToString())


@pytest.mark.parametrize(
    ("from_version", "to_version"), [("", "2"), ("1", ""), ("-1", "2"), ("1.5", "2"), ("\u0661", "2")]
)
def test_depth_push_without_usable_versions_raises_push_decode_error(from_version: str, to_version: str) -> None:
    wrapper = pb.PushDataV3ApiWrapper(channel="c")
    wrapper.publicAggreDepths.fromVersion = from_version
    wrapper.publicAggreDepths.toVersion = to_version
    with pytest.raises(PushDecodeError):
        decode_push(wrapper.SerializeToString())


# -- control frames -----------------------------------------------------------------


def test_subscription_ack_decodes_with_id_code_and_msg() -> None:
    ack = decode_control('{"id":0,"code":0,"msg":"spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"}')
    assert ack == {"id": 0, "code": 0, "msg": "spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT"}


def test_control_frame_missing_keys_get_none() -> None:
    assert decode_control('{"msg":"PONG"}') == {"id": None, "code": None, "msg": "PONG"}


def test_blocked_subscription_reply_keeps_its_exact_text() -> None:
    text = "Not Subscribed successfully! [spot@public.miniTicker.v3.api@BTCUSDT@UTC+0].  Reason： Blocked!"
    reply = decode_control('{"id":0,"code":0,"msg":"' + text + '"}')
    assert reply["msg"] == text


def test_bare_text_frame_comes_back_as_msg() -> None:
    assert decode_control("Invalid listen key") == {"id": None, "code": None, "msg": "Invalid listen key"}


@pytest.mark.parametrize("text", ["{not json", "", "   ", "{\"id\":1"])
def test_malformed_control_frames_raise_push_decode_error(text: str) -> None:
    with pytest.raises(PushDecodeError):
        decode_control(text)


def test_control_frame_that_is_json_but_not_an_object_raises() -> None:
    with pytest.raises(PushDecodeError):
        decode_control("[1, 2]")
