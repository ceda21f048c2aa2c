"""engine.money: parsing, precision checks, rounding and formatting of Decimals."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest

from engine.money import decimal_places, divide, fits_places, fmt, round_up, to_decimal, truncate

D = Decimal

# -- fmt ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("0.0001"), "0.0001"),
        (D("1E-8"), "0.00000001"),  # a tiny value is written out, not as 1E-8
        (D("9900"), "9900"),
        (D("1E+2"), "100"),  # an exponent above zero is expanded too
        (D("1.500"), "1.5"),  # trailing zeros dropped
        (D("100.000"), "100"),  # ... including the whole fraction
        (D("-1.2500"), "-1.25"),
        (D("95000.01"), "95000.01"),
        (D("123456789012345678.123456789"), "123456789012345678.123456789"),
    ],
)
def test_fmt_writes_plain_decimal_without_exponent_or_trailing_zeros(value: Decimal, text: str) -> None:
    assert fmt(value) == text


@pytest.mark.parametrize("zero", [D(0), D("0.00000000"), D("-0"), D("0E+5"), D("-0.0")])
def test_fmt_writes_every_zero_as_plain_0(zero: Decimal) -> None:
    assert fmt(zero) == "0"


def test_fmt_of_none_is_none() -> None:
    assert fmt(None) is None


def test_fmt_round_trips_through_decimal() -> None:
    for text in ["0.1", "12.34", "100", "0.000001", "-7.5"]:
        assert D(fmt(D(text))) == D(text)


# -- decimal_places / fits_places -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "places"),
    [
        (D("1.10"), 1),  # trailing zeros are not significant
        (D("100"), 0),
        (D("1E+2"), 0),  # a positive exponent is never negative places
        (D("0.000"), 0),
        (D("0.05"), 2),
        (D("-0.05"), 2),
        (D("0.00000001"), 8),
        (D("95000.12"), 2),
    ],
)
def test_decimal_places_counts_significant_fraction_digits(value: Decimal, places: int) -> None:
    assert decimal_places(value) == places


def test_fits_places_accepts_up_to_and_including_the_limit() -> None:
    assert fits_places(D("0.12"), 2)
    assert fits_places(D("0.1"), 2)
    assert fits_places(D("5"), 0)


def test_fits_places_refuses_one_place_too_many() -> None:
    assert not fits_places(D("0.123"), 2)
    assert not fits_places(D("0.5"), 0)


def test_fits_places_ignores_trailing_zeros() -> None:
    assert fits_places(D("1.2300000"), 2)


# -- to_decimal ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.5", D("1.5")),
        (" 2.25 ", D("2.25")),
        ("1e3", D(1000)),
        ("-3", D(-3)),
        (7, D(7)),
        (D("0.1"), D("0.1")),
    ],
)
def test_to_decimal_parses_finite_numbers(value: object, expected: Decimal) -> None:
    result = to_decimal(value)
    assert isinstance(result, Decimal)
    assert result == expected


@pytest.mark.parametrize(
    "value",
    [
        "NaN",
        "nan",
        "sNaN",
        "inf",
        "Infinity",
        "-Infinity",
        D("NaN"),
        D("Infinity"),
        D("-Infinity"),
        "abc",
        "",
        "1.2.3",
        "1,5",
        "0x10",
        None,
        1.5,  # a float is never money: its value is not what was written
        True,  # nor a bool, although it is an int
        [1],
    ],
)
def test_to_decimal_returns_none_for_non_finite_or_garbage(value: object) -> None:
    assert to_decimal(value) is None


def test_to_decimal_keeps_exact_value_of_string() -> None:
    # 0.1 as a string stays exactly 0.1 (a float would not).
    a, b = to_decimal("0.1"), to_decimal("0.2")
    assert a is not None and b is not None
    assert a + b == D("0.3")


# -- truncate / round_up ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (D("1.239"), 2, D("1.23")),
        (D("1.231"), 2, D("1.23")),
        (D("1.23"), 2, D("1.23")),
        (D("0.0000019"), 6, D("0.000001")),
        (D("0.0000009"), 6, D("0")),
        (D("123.999"), 0, D("123")),
        (D("-1.239"), 2, D("-1.23")),  # toward zero
    ],
)
def test_truncate_rounds_toward_zero(value: Decimal, places: int, expected: Decimal) -> None:
    assert truncate(value, places) == expected


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (D("1.231"), 2, D("1.24")),
        (D("1.2301"), 2, D("1.24")),
        (D("1.23"), 2, D("1.23")),  # already exact: unchanged
        (D("954.7501005"), 2, D("954.76")),
        (D("0.0000001"), 6, D("0.000001")),
        (D("123.001"), 0, D("124")),
        (D("-1.231"), 2, D("-1.24")),  # away from zero
    ],
)
def test_round_up_rounds_away_from_zero(value: Decimal, places: int, expected: Decimal) -> None:
    assert round_up(value, places) == expected


def test_truncate_and_round_up_results_have_exactly_the_requested_places() -> None:
    assert truncate(D("5"), 2).as_tuple().exponent == -2
    assert round_up(D("5"), 3).as_tuple().exponent == -3


def test_divide_is_independent_of_thread_context() -> None:
    expected = divide(D(100), D(3))
    with localcontext() as ctx:
        ctx.prec = 3
        assert divide(D(100), D(3)) == expected
    assert expected == D("33.33333333333333333333333333")


def test_truncate_and_round_up_are_independent_of_thread_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 4
        assert truncate(D("12345.678"), 2) == D("12345.67")
        assert round_up(D("12345.671"), 2) == D("12345.68")
