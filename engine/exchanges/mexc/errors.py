"""MEXC's error answers as exception types, and the one table of its codes.

MEXC reports most refusals as HTTP 400 with ``{"code": <int>, "msg": "<text>"}`` (key
order varies, sometimes with ``"_extend": null``), but a body code other than 0/200
is an error whatever the HTTP status (ccxt does the same). The class says what a
caller can do about it; ``outcome_unknown`` says whether the exchange may have acted
on the request anyway (5xx, timeouts), which decides whether a retry is safe.

``ERROR_CODES`` is shared with the loopback simulator, which answers with these
exact codes and messages, so the two can never disagree on wording.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import msgspec


class MexcError(Exception):
    """An error MEXC answered with, or a failure to get its answer."""

    # True when the request may have been executed although no success came back.
    outcome_unknown: ClassVar[bool] = False

    def __init__(self, code: int, msg: str, http_status: int = 400) -> None:
        super().__init__(f"MEXC {code}: {msg} (HTTP {http_status})")
        self.code = code
        self.msg = msg
        self.http_status = http_status


class MexcAuthError(MexcError):
    """Key, signature, IP whitelist or permission: retrying will not help."""

    @property
    def refuses_key(self) -> bool:
        """MEXC said the key itself is wrong (unknown, bad secret, IP not listed,
        no permission), not that a firewall stood in the way (a bare HTTP 403)."""
        return self.code in KEY_REFUSALS


# MEXC's codes that judge the API key itself (401 and 403 are also bare HTTP statuses).
KEY_REFUSALS = frozenset({602, 10072, 700001, 700002, 700006, 700007})


class MexcTimestampError(MexcError):
    """The request's timestamp is outside recvWindow: the clock offset is stale."""


class MexcInsufficientBalance(MexcError):
    pass


class MexcUnknownOrder(MexcError):
    pass


class MexcBadSymbol(MexcError):
    pass


class MexcMinNotional(MexcError):
    pass


class MexcPrecisionError(MexcError):
    """A quantity, price or quote amount has more decimals than the symbol allows."""


class MexcBadRequest(MexcError):
    pass


class MexcTradingDisabled(MexcError):
    """The symbol, the order type or this key may not trade right now."""


class MexcRateLimited(MexcError):
    """HTTP 429: refused, not executed. Wait ``retry_after`` seconds when given."""

    def __init__(
        self, code: int = 429, msg: str = "Too Many Requests", http_status: int = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, msg, http_status)
        self.retry_after = retry_after


class MexcIpBanned(MexcRateLimited):
    """HTTP 418: repeated 429s got the IP banned (2 minutes up to 3 days)."""

    def __init__(
        self, code: int = 418, msg: str = "IP banned", http_status: int = 418,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, msg, http_status, retry_after)


class MexcServerError(MexcError):
    """5xx: the request may or may not have been executed."""

    outcome_unknown: ClassVar[bool] = True


class MexcCircuitOpen(MexcServerError):
    """The client's circuit breaker is open: nothing was sent, so this refusal's own
    outcome is known; MEXC itself was failing moments ago."""

    outcome_unknown: ClassVar[bool] = False


class MexcTransportError(MexcError):
    """Timeout or connection failure: the request may have reached MEXC and been executed."""

    outcome_unknown: ClassVar[bool] = True

    def __init__(self, msg: str, code: int = 0, http_status: int = 0) -> None:
        super().__init__(code, msg, http_status)


# Code -> (MEXC's message, class). Messages are the docs' wording; where a real answer
# was observed with different punctuation (700002, 700003, -2013, 70011) the observed
# text is used, since that is what the exchange sends. 30002/30003 are sent with a
# suffix such as ":0.5USDT", so their message stops before the colon.
ERROR_CODES: dict[int, tuple[str, type[MexcError]]] = {
    400: ("api key required", MexcBadRequest),
    401: ("No authority", MexcAuthError),
    403: ("Access Denied", MexcAuthError),
    429: ("Too Many Requests", MexcRateLimited),
    500: ("Internal error", MexcServerError),
    503: ("service not available", MexcServerError),
    504: ("Gateway Time-out", MexcServerError),
    602: ("Signature verification failed", MexcAuthError),
    10072: ("invalid access key", MexcAuthError),
    10073: ("invalid Request-Time", MexcTimestampError),
    700001: ("API-key format invalid", MexcAuthError),
    700002: ("Signature for this request is not valid.", MexcAuthError),
    700003: ("Timestamp for this request is outside of the recvWindow.", MexcTimestampError),
    700004: ("Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null", MexcBadRequest),
    700005: ("recvWindow must less than 60000", MexcTimestampError),
    700006: ("IP non white list", MexcAuthError),
    700007: ("No permission to access the endpoint", MexcAuthError),
    700008: ("Illegal characters found in parameter", MexcBadRequest),
    700013: ("Invalid Content-Type", MexcAuthError),
    10101: ("Insufficient balance", MexcInsufficientBalance),
    30004: ("Insufficient position", MexcInsufficientBalance),
    30005: ("Oversold", MexcInsufficientBalance),
    10007: ("bad symbol", MexcBadSymbol),
    30014: ("invalid symbol", MexcBadSymbol),
    30021: ("invalid symbol", MexcBadSymbol),
    -1121: ("Invalid symbol.", MexcBadSymbol),
    730001: ("Pair not found", MexcBadSymbol),
    -2011: ("Unknown order sent", MexcUnknownOrder),
    -2013: ("Order does not exist.", MexcUnknownOrder),
    # A malformed id, not a missing order: a caller must not conclude "never placed".
    30026: ("invalid order ids", MexcBadRequest),
    30002: ("The minimum transaction volume cannot be less than", MexcMinNotional),
    30003: ("The maximum transaction volume cannot be greater than", MexcBadRequest),
    10095: ("amount cannot be null", MexcBadRequest),
    10096: ("amount decimal places is too long", MexcPrecisionError),
    10097: ("amount is error", MexcBadRequest),
    10102: ("amount cannot be zero or negative", MexcBadRequest),
    30010: ("no valid trade price", MexcBadRequest),
    30087: ("Order price exceeds allowed range", MexcBadRequest),
    30000: ("suspended transaction for the symbol", MexcTradingDisabled),
    30016: ("trading disabled", MexcTradingDisabled),
    30018: ("market order is disabled", MexcTradingDisabled),
    30019: ("api market order is disabled", MexcTradingDisabled),
    30051: ("api market order is disabled", MexcTradingDisabled),  # observed, undocumented
    30041: ("current order type can not place order", MexcBadRequest),
    30029: ("Cannot exceed the maximum order limit", MexcBadRequest),
    # The key is valid; this symbol is closed to it.
    30020: ("no permission for the symbol", MexcTradingDisabled),
    70011: ("Pair user ban trade apikey.", MexcTradingDisabled),
    26: ("operation not allowed", MexcBadRequest),
    33333: ("param is error", MexcBadRequest),
    44444: ("param cannot be null", MexcBadRequest),
    -1128: ("Combination of optional parameters invalid.", MexcBadRequest),  # observed
}

# Substrings that make a generic classification specific (ccxt's "broad" matches).
# Code 400 in particular is reused: " amount scale is invalid" is a precision error.
_BROAD: tuple[tuple[str, type[MexcError]], ...] = (
    ("oversold", MexcInsufficientBalance),
    ("insufficient position", MexcInsufficientBalance),
    ("insufficient balance", MexcInsufficientBalance),
    ("invalid symbol", MexcBadSymbol),
    ("api market order is disabled", MexcTradingDisabled),
    ("scale is invalid", MexcPrecisionError),
    ("decimal places is too long", MexcPrecisionError),
    ("minimum transaction volume", MexcMinNotional),
)

_SUCCESS_CODES = frozenset({0, 200})
_MAX_TEXT = 200  # of a non-JSON body kept in the message (HTML error pages are long)


def error_from_response(status: int, body: bytes, headers: Mapping[str, str]) -> MexcError | None:
    """The error an HTTP answer carries, or None if it is a success.

    A success is a 2xx whose body has no ``code``, or code 0/200 (the ``{"code":200,...}``
    envelopes of defaultSymbols and order/all).
    """
    code, msg = _parse_body(body)
    if status == 418:
        return MexcIpBanned(code if code is not None else 418, msg or "IP banned", status, _retry_after(headers))
    if status == 429:
        return MexcRateLimited(code if code is not None else 429, msg or "Too Many Requests", status,
                               _retry_after(headers))
    if status >= 500:
        return MexcServerError(code if code is not None else status, msg or _default_message(status), status)
    if code is not None and code not in _SUCCESS_CODES:
        return _by_code(code, msg, status, headers)
    if status >= 400:
        if status in (401, 403):
            return MexcAuthError(status, msg or _default_message(status), status)
        return MexcBadRequest(status, msg or f"HTTP {status}", status)
    return None


def _by_code(code: int, msg: str | None, status: int, headers: Mapping[str, str]) -> MexcError:
    entry = ERROR_CODES.get(code)
    text = msg if msg is not None else (entry[0] if entry else f"error {code}")
    cls: type[MexcError] = entry[1] if entry else MexcError
    if cls in (MexcBadRequest, MexcError):
        lowered = text.lower()
        for needle, specific in _BROAD:
            if needle in lowered:
                cls = specific
                break
        else:
            if cls is MexcError:
                # An undocumented code in a 4xx is still a refusal of this request.
                cls = MexcBadRequest if status >= 400 else MexcError
    if issubclass(cls, MexcRateLimited):
        return cls(code, text, status, _retry_after(headers))
    return cls(code, text, status)


def _parse_body(body: bytes) -> tuple[int | None, str | None]:
    """(code, msg) from a JSON error body; (None, text) for anything else."""
    if not body or not body.strip():
        return None, None
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None, _text(body)
    if not isinstance(data, dict):
        return None, None
    code = _as_int(data.get("code"))
    raw_msg = data.get("msg")
    msg = raw_msg if isinstance(raw_msg, str) else None
    return code, msg


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _text(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return text[:_MAX_TEXT]


def _default_message(status: int) -> str:
    entry = ERROR_CODES.get(status)
    return entry[0] if entry else f"HTTP {status}"


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds. MEXC sends seconds; an HTTP-date is not expected and
    is ignored rather than guessed at."""
    value = None
    for name, v in headers.items():
        if name.lower() == "retry-after":
            value = v
            break
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None
    return seconds
