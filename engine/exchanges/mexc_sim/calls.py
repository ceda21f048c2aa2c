"""What a REST handler is given, and MEXC's rules for reading its parameters.

A route is an ``Endpoint``: its handler, its weight (which may depend on the
parameters, as ``ticker/24hr`` with and without a symbol) and whether it is
signed. Every parameter arrives as a string; the helpers here turn them into
what a handler needs, refusing with MEXC's codes. Unknown parameters are never
an error: handlers read what they know and ignore the rest, as MEXC does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec

from engine.exchanges.mexc_sim.rejects import SimReject, missing
from engine.money import to_decimal

BAD_PARAM = 33333  # "param is error"


class Call(msgspec.Struct):
    """One request as a handler sees it."""

    params: dict[str, str]
    api_key: str | None
    now: int

    @property
    def key(self) -> str:
        """The caller's API key, on a signed endpoint (the pipeline has checked it)."""
        assert self.api_key is not None, "only signed endpoints ask for the key"
        return self.api_key


Handler = Callable[[Call], Any]
Routes = dict[tuple[str, str], "Endpoint"]


class Endpoint(msgspec.Struct, frozen=True):
    handler: Handler
    weight: Callable[[dict[str, str]], int]
    signed: bool
    per_second: int = 0  # a call-count limit per UID on top of the weight budget (0: none)


def weight(n: int) -> Callable[[dict[str, str]], int]:
    return lambda params: n


def weight_by_symbol(with_symbol: int, without: int) -> Callable[[dict[str, str]], int]:
    return lambda params: with_symbol if params.get("symbol") else without


def required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise missing(name)
    return value


def names(value: str | None) -> list[str]:
    """A list of symbols: comma-separated, or a JSON array as some clients send it."""
    if not value:
        return []
    text = value.strip()
    if text.startswith("["):
        try:
            return [str(s) for s in json.loads(text)]
        except ValueError:
            raise SimReject(BAD_PARAM) from None
    return [s.strip() for s in text.split(",") if s.strip()]


def integer(params: dict[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise SimReject(BAD_PARAM) from None


def limit(params: dict[str, str], *, default: int, maximum: int) -> int:
    value = integer(params, "limit")
    if value is None:
        return default
    return max(1, min(value, maximum))


def amount(params: dict[str, str], name: str, bad_code: int) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    value = to_decimal(raw)
    if value is None:
        raise SimReject(bad_code)
    return value


def order_ref(params: dict[str, str]) -> tuple[str | None, str | None]:
    """(orderId, origClientOrderId): one of them is required (700004)."""
    order_id = params.get("orderId") or None
    client_id = params.get("origClientOrderId") or None
    if order_id is None and client_id is None:
        raise SimReject(700004)
    return order_id, client_id
