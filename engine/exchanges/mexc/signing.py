"""Request signing for MEXC's SIGNED endpoints.

``signature = lowercase_hex(HMAC_SHA256(secret, totalParams))`` where totalParams is
the query string concatenated with the body, byte for byte as sent. This client sends
everything in the query string (as ccxt and Mexc.Net do), so totalParams is the
encoded query string and the signature is appended last.

The server hashes what it received, so encoding must be deterministic: order is kept
as given, percent-escapes are uppercase (``%2C``, not ``%2c``: Mexc.Net uppercases
them before signing for this reason), and numbers are rendered one way only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from decimal import Decimal
from urllib.parse import quote

from engine.money import fmt

# RFC 3986 unreserved characters; everything else is escaped. urllib's escapes are
# uppercase already. A space becomes %20, never "+", which servers read differently.
_SAFE = "-_.~"


def sign(secret: str, total_params: str) -> str:
    return hmac.new(secret.encode("utf-8"), total_params.encode("utf-8"), hashlib.sha256).hexdigest()


def render(value: object) -> str:
    """One parameter value as MEXC expects it: Decimal without exponent or trailing
    zeros, bools lowercase. Floats are refused: money is Decimal, and a float's text
    is not the amount anyone meant."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return fmt(value)
    if isinstance(value, (int, str)):
        return str(value)
    raise TypeError(f"cannot send a {type(value).__name__} as a MEXC parameter: {value!r}")


def encode_params(pairs: Iterable[tuple[str, object]]) -> str:
    """``k=v&k=v`` in the given order; pairs whose value is None are left out."""
    return "&".join(
        f"{quote(key, safe=_SAFE)}={quote(render(value), safe=_SAFE)}"
        for key, value in pairs
        if value is not None
    )


def signed_query(
    pairs: Iterable[tuple[str, object]], secret: str, timestamp_ms: int, recv_window: int | None
) -> str:
    """The full signed query string: params, ``timestamp``, ``recvWindow``, then
    ``signature`` last (ccxt's order)."""
    tail: list[tuple[str, object]] = [("timestamp", timestamp_ms)]
    if recv_window is not None:
        tail.append(("recvWindow", recv_window))
    query = encode_params([*pairs, *tail])
    return f"{query}&signature={sign(secret, query)}"
