"""engine.exchanges.mexc.signing: HMAC-SHA256 over the exact encoded query string."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from engine.exchanges.mexc.signing import encode_params, render, sign, signed_query

SECRET = "45d0b3c26f2644f19bfb98b07741b2f5"  # MEXC docs' example key


def test_documented_query_string_vector_signs_to_the_verified_signature() -> None:
    total = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11&recvWindow=5000&timestamp=1644489390087"
    assert sign(SECRET, total) == "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a"


def test_documented_mixed_vector_signs_query_and_body_joined_without_ampersand() -> None:
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT"
    body = "quantity=1&price=11&recvWindow=5000&timestamp=1644489390087"
    assert sign(SECRET, query + body) == "d1a676610ceb39174c8039b3f548357994b2a34139a8addd33baadba65684592"


def test_signature_is_64_lowercase_hex_digits() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", sign("SeCrEt", "a=1&B=2"))


def test_encode_params_reproduces_the_documented_string_from_pairs() -> None:
    pairs = [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", Decimal("1")),
             ("price", Decimal("11")), ("recvWindow", 5000), ("timestamp", 1644489390087)]
    assert encode_params(pairs) == (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11&recvWindow=5000&timestamp=1644489390087"
    )


def test_encode_params_keeps_the_given_order_rather_than_sorting() -> None:
    assert encode_params([("z", "1"), ("a", "2"), ("m", "3")]) == "z=1&a=2&m=3"


def test_encode_params_uses_uppercase_percent_escapes_for_json_punctuation() -> None:
    encoded = encode_params([("batchOrders", '[{"a":1},2]')])
    assert encoded == "batchOrders=%5B%7B%22a%22%3A1%7D%2C2%5D"
    assert not re.search(r"%[0-9A-F]?[a-f]", encoded)


def test_encode_params_escapes_a_space_as_percent_20_not_plus() -> None:
    assert encode_params([("note", "a b+c")]) == "note=a%20b%2Bc"


def test_encode_params_leaves_out_pairs_whose_value_is_none() -> None:
    assert encode_params([("symbol", "MXUSDT"), ("limit", None), ("side", "SELL")]) == "symbol=MXUSDT&side=SELL"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1.500"), "1.5"),
        (Decimal("1E+2"), "100"),
        (Decimal("0.00000100"), "0.000001"),
        (Decimal("1E-8"), "0.00000001"),
        (Decimal("0.000"), "0"),
        (True, "true"),
        (False, "false"),
        (5000, "5000"),
    ],
)
def test_render_writes_decimals_without_exponent_or_trailing_zeros_and_bools_lowercase(
    value: object, text: str
) -> None:
    assert render(value) == text


def test_render_refuses_a_float_because_money_is_decimal() -> None:
    with pytest.raises(TypeError):
        render(0.1)


def test_render_refuses_a_non_finite_decimal() -> None:
    with pytest.raises(ValueError):
        render(Decimal("NaN"))


def test_signed_query_appends_timestamp_then_recv_window_then_the_signature_last() -> None:
    pairs = [("symbol", "BTCUSDT"), ("side", "BUY"), ("quantity", Decimal("1.0"))]
    query = signed_query(pairs, SECRET, 1644489390087, 5000)
    unsigned, _, signature = query.rpartition("&signature=")
    assert unsigned == "symbol=BTCUSDT&side=BUY&quantity=1&timestamp=1644489390087&recvWindow=5000"
    assert signature == sign(SECRET, unsigned)


def test_signed_query_without_params_or_recv_window_signs_the_timestamp_alone() -> None:
    query = signed_query([], SECRET, 1644489390087, None)
    assert query == f"timestamp=1644489390087&signature={sign(SECRET, 'timestamp=1644489390087')}"
