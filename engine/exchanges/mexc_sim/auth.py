"""MEXC's signed-request rules, checked the way MEXC checks them.

- ``totalParams`` is the raw query string concatenated directly (no ``&``) with
  the raw body; the ``signature`` parameter, wherever it is, is left out.
- ``signature`` = lowercase hex HMAC-SHA256 of totalParams with the secret; an
  upper-case hex signature is refused, as MEXC supports lowercase only.
- ``timestamp`` must satisfy ``timestamp < serverTime + 1000`` and
  ``serverTime - timestamp <= recvWindow`` (default 5000), else 700003;
  ``recvWindow`` of 60000 or more is 700005.
"""

from __future__ import annotations

import hmac

from engine.exchanges.mexc.signing import sign
from engine.exchanges.mexc_sim.rejects import SimReject, missing

DEFAULT_RECV_WINDOW = 5_000
MAX_RECV_WINDOW = 60_000  # exclusive
FUTURE_TOLERANCE_MS = 1_000


def split_signature(query: str, body: str) -> tuple[str, str | None]:
    """(totalParams as signed, the signature sent), from the raw request parts."""
    query_rest, in_query = _without_signature(query)
    if in_query is not None:
        return query_rest + body, in_query
    body_rest, in_body = _without_signature(body)
    return query + body_rest, in_body


def verify(secret: str, total_params: str, signature: str | None) -> None:
    if not signature:
        raise missing("signature")
    expected = sign(secret, total_params)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SimReject(700002)


def check_time(params: dict[str, str], now_ms: int) -> None:
    raw_timestamp = params.get("timestamp")
    if not raw_timestamp:
        raise missing("timestamp")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise SimReject(700003) from None
    try:
        recv_window = int(params.get("recvWindow") or DEFAULT_RECV_WINDOW)
    except ValueError:
        raise SimReject(33333) from None  # "param is error": not a window at all
    if recv_window <= 0:
        raise SimReject(33333)
    if recv_window >= MAX_RECV_WINDOW:
        raise SimReject(700005)
    if not (timestamp < now_ms + FUTURE_TOLERANCE_MS and now_ms - timestamp <= recv_window):
        raise SimReject(700003)


def _without_signature(text: str) -> tuple[str, str | None]:
    if "signature=" not in text:
        return text, None
    kept, found = [], None
    for part in text.split("&"):
        if part.startswith("signature="):
            found = part[len("signature="):]
        else:
            kept.append(part)
    return "&".join(kept), found
