"""MEXC's signing rule written out for tests, so the simulator is checked against the
rule and not against itself: HMAC-SHA256 of the exact query string, lowercase hex,
``signature`` last."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from urllib.parse import urlencode

import httpx


def hmac_hex(secret: str, total_params: str) -> str:
    return hmac.new(secret.encode(), total_params.encode(), hashlib.sha256).hexdigest()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def signed_query(params: Sequence[tuple[str, object]], secret: str, ts: int | None = None, recv: object = None) -> str:
    pairs = [*params, ("timestamp", now_ms() if ts is None else ts)]
    if recv is not None:
        pairs.append(("recvWindow", recv))
    query = urlencode(pairs)
    return f"{query}&signature={hmac_hex(secret, query)}"


def signed_call(
    http: httpx.Client,
    method: str,
    path: str,
    params: list[tuple[str, object]],
    key: str,
    secret: str,
    ts: int | None = None,
    recv: object = None,
) -> httpx.Response:
    """A signed request to ``/api/v3/<path>``, stamped ``ts`` (default: now)."""
    return http.request(method, f"/api/v3/{path}?{signed_query(params, secret, ts, recv)}", headers={"X-MEXC-APIKEY": key})
