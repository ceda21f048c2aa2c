"""MEXC spot REST client (API v3) on a synchronous ``httpx.Client``.

Requests are built the way ccxt builds them: every parameter in the query string,
for POST/PUT/DELETE too, with ``timestamp``, ``recvWindow`` and then ``signature``
last; the key in ``X-MEXC-APIKEY``; ``Content-Type: application/json`` on
POST/PUT/DELETE although there is no body.

Safety of retries decides most of the shape of this module:
- Public GETs and signed reads are retried on 5xx, timeouts and 429 (after the
  client-wide back-off), with a bounded exponential delay.
- Orders and cancels are sent once and never waited for: a 5xx or a timeout leaves
  their outcome unknown, a 429 or the client's own back-off refuses them at once
  (``MexcRateLimited`` with ``retry_after``). Whether and when to look an order up or
  send it again is decided by one owner, the account adapter, on its timer.
- A 700003 (timestamp outside recvWindow) is a definite refusal, so any signed call
  re-syncs the clock offset and is sent once more.
- After ``breaker_threshold`` consecutive outcome-unknown failures the client stops
  calling (``MexcCircuitOpen``) until ``breaker_reset`` seconds have passed.

Time comes from a ``Clock`` and waiting goes through ``sleep``, so tests run on
simulated time. Responses are decoded into msgspec Structs with ``Decimal`` money;
integers MEXC sends as strings ("1707671871000", "-1") are accepted.
"""

from __future__ import annotations

import ssl
import threading
import time as _time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Literal, TypeVar, overload

import certifi
import httpx
import msgspec
import structlog

from engine.clock import Clock, SystemClock
from engine.exchanges.mexc.errors import (
    MexcAuthError,
    MexcCircuitOpen,
    MexcError,
    MexcIpBanned,
    MexcRateLimited,
    MexcServerError,
    MexcTimestampError,
    MexcTransportError,
    error_from_response,
)
from engine.exchanges.mexc.ratelimit import (
    Backoff,
    BreakerSnapshot,
    BreakerState,
    CircuitBreaker,
    Mode,
    WeightLimiter,
    retry_delay,
)
from engine.exchanges.mexc.rules import MexcSymbolInfo, mexc_symbol_info
from engine.exchanges.mexc.signing import encode_params, signed_query
from engine.model import Side
from engine.money import divide

log = structlog.get_logger(__name__)

T = TypeVar("T")
Params = list[tuple[str, object]]

MexcOrderType = Literal["LIMIT", "MARKET", "LIMIT_MAKER", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"]
_ORDER_TYPES = frozenset({"LIMIT", "MARKET", "LIMIT_MAKER", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"})
_SIDES = frozenset({"BUY", "SELL"})

# REST kline intervals; there is no "1h" or "1w" (ccxt maps them as here).
_INTERVALS = {
    "1m": "1m", "5m": "5m", "15m": "15m", "30m": "30m", "60m": "60m", "1h": "60m",
    "4h": "4h", "1d": "1d", "1W": "1W", "1w": "1W", "1M": "1M",
}

# Codes after which a fresh server-time offset makes the same request acceptable.
_RESYNC_CODES = frozenset({700003, 10073})

# Endpoint weights from MEXC's docs (ccxt 4.5.90 uses newer, higher costs for a few
# public ones; the docs' numbers are what the budget is documented against).
W_PING = W_TIME = W_DEPTH = W_KLINES = W_BOOK_TICKER = 1
W_EXCHANGE_INFO = 10
W_TRADES = 5
W_TICKER_24H_ONE, W_TICKER_24H_ALL = 1, 40
W_TICKER_PRICE_ONE, W_TICKER_PRICE_ALL = 1, 2
W_ORDER = W_TEST_ORDER = W_CANCEL = W_CANCEL_OPEN = 1
W_CANCEL_ALL = 1  # undocumented
W_QUERY_ORDER = 2
W_OPEN_ORDERS = 3
W_ALL_ORDERS = W_ACCOUNT = W_MY_TRADES = 10
W_LISTEN_KEY = 1  # undocumented


# -- results --------------------------------------------------------------------------


class MexcDepth(msgspec.Struct, frozen=True, rename="camel"):
    last_update_id: int
    bids: list[tuple[Decimal, Decimal]]  # (price, quantity), best first
    asks: list[tuple[Decimal, Decimal]]
    timestamp: int | None = None


class MexcPublicTrade(msgspec.Struct, frozen=True, rename="camel"):
    price: Decimal
    qty: Decimal
    time: int
    id: str | None = None  # MEXC sends null
    quote_qty: Decimal | None = None
    is_buyer_maker: bool | None = None
    is_best_match: bool | None = None
    trade_type: str | None = None  # "BID" / "ASK"


class MexcKline(msgspec.Struct, frozen=True, array_like=True):
    """One row of /klines: ``[openTime, open, high, low, close, volume, closeTime, quoteVolume]``."""

    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # base
    close_time: int
    quote_volume: Decimal


class MexcTicker24h(msgspec.Struct, frozen=True, rename="camel"):
    symbol: str
    price_change: Decimal | None = None
    price_change_percent: Decimal | None = None  # a fraction: 0.0173 is 1.73%
    prev_close_price: Decimal | None = None
    last_price: Decimal | None = None
    bid_price: Decimal | None = None
    bid_qty: Decimal | None = None
    ask_price: Decimal | None = None
    ask_qty: Decimal | None = None
    open_price: Decimal | None = None
    high_price: Decimal | None = None
    low_price: Decimal | None = None
    volume: Decimal | None = None
    quote_volume: Decimal | None = None
    open_time: int | None = None
    close_time: int | None = None
    count: int | None = None


class MexcTickerPrice(msgspec.Struct, frozen=True):
    symbol: str
    price: Decimal


class MexcBookTicker(msgspec.Struct, frozen=True, rename="camel"):
    symbol: str
    bid_price: Decimal | None = None
    bid_qty: Decimal | None = None
    ask_price: Decimal | None = None
    ask_qty: Decimal | None = None


class MexcExchangeInfo(msgspec.Struct, frozen=True):
    symbols: list[MexcSymbolInfo]
    server_time: int | None = None
    timezone: str | None = None

    def get(self, symbol: str) -> MexcSymbolInfo | None:
        return next((s for s in self.symbols if s.symbol == symbol), None)


class MexcOrderAck(msgspec.Struct, frozen=True, rename="camel"):
    """POST /api/v3/order's answer: no status, no fills. ``client_order_id`` is not in
    MEXC's answer; it is filled in from the request (as ccxt does)."""

    symbol: str
    order_id: str
    price: Decimal | None = None
    orig_qty: Decimal | None = None
    type: str | None = None
    side: str | None = None
    transact_time: int | None = None
    order_list_id: int | None = None
    client_order_id: str | None = None


class MexcOrder(msgspec.Struct, frozen=True, rename="camel"):
    """An order as GET /order, /openOrders, /allOrders and the cancels return it.

    The cancel answers are often shorter (no status, no executed quantities), hence
    the optional fields. ``status`` is kept as MEXC's text: NEW, PARTIALLY_FILLED,
    FILLED, CANCELED, PARTIALLY_CANCELED (and undocumented ones seen in the wild)."""

    symbol: str
    order_id: str
    client_order_id: str | None = None
    orig_client_order_id: str | None = None
    status: str | None = None
    type: str | None = None
    side: str | None = None
    price: Decimal | None = None
    orig_qty: Decimal | None = None
    executed_qty: Decimal | None = None
    cummulative_quote_qty: Decimal | None = None  # MEXC's spelling
    orig_quote_order_qty: Decimal | None = None
    time_in_force: str | None = None
    stop_price: Decimal | None = None
    time: int | None = None
    update_time: int | None = None
    is_working: bool | None = None
    order_list_id: int | None = None

    @property
    def avg_price(self) -> Decimal | None:
        if not self.executed_qty or self.cummulative_quote_qty is None:
            return None
        return divide(self.cummulative_quote_qty, self.executed_qty)


class MexcBalance(msgspec.Struct, frozen=True):
    asset: str
    free: Decimal
    locked: Decimal


class MexcAccount(msgspec.Struct, frozen=True, rename="camel"):
    balances: list[MexcBalance]
    can_trade: bool | None = None
    can_withdraw: bool | None = None
    can_deposit: bool | None = None
    update_time: int | None = None
    account_type: str | None = None
    permissions: list[str] = msgspec.field(default_factory=list)
    maker_commission: Decimal | None = None
    taker_commission: Decimal | None = None

    def balance(self, asset: str) -> MexcBalance:
        found = next((b for b in self.balances if b.asset == asset), None)
        return found or MexcBalance(asset=asset, free=Decimal(0), locked=Decimal(0))


class MexcTrade(msgspec.Struct, frozen=True, rename="camel"):
    """One of the account's own fills (GET /api/v3/myTrades)."""

    symbol: str
    id: str
    order_id: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str | None
    time: int
    is_buyer: bool
    is_maker: bool
    is_best_match: bool | None = None
    is_self_trade: bool | None = None
    client_order_id: str | None = None
    order_list_id: int | None = None


class _ServerTime(msgspec.Struct, frozen=True, rename="camel"):
    server_time: int


class _ListenKey(msgspec.Struct, frozen=True, rename="camel"):
    listen_key: str


class _ListenKeys(msgspec.Struct, frozen=True, rename="camel"):
    listen_key: list[str]


# -- decoding -------------------------------------------------------------------------

# JSON numbers become Decimal, never float: a price must not pass through binary.
_JSON = msgspec.json.Decoder(float_hook=Decimal)

# Ids MEXC has sent as numbers in some answers (orderId: 4 in the docs) and as
# strings in others; the Structs say str.
_ID_KEYS = frozenset({"orderId", "id", "clientOrderId", "origClientOrderId"})


def _normalize(value: Any) -> Any:
    """Ids to str, and "" to None (the docs show ``bidQty: ""``), recursively."""
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v == "":
                v = None
            elif k in _ID_KEYS and isinstance(v, int) and not isinstance(v, bool):
                v = str(v)
            else:
                v = _normalize(v)
            out[k] = v
        return out
    return value


def _parse(content: bytes) -> Any:
    try:
        return _JSON.decode(content)
    except msgspec.DecodeError as exc:
        # A 200 that is not JSON (a proxy's page): whatever was asked may have happened.
        raise MexcServerError(0, f"undecodable response: {exc}", 200) from exc


def _convert(data: Any, type_: type[T]) -> T:
    try:
        return msgspec.convert(_normalize(data), type_, strict=False)
    except msgspec.ValidationError as exc:
        raise MexcServerError(0, f"unexpected response shape: {exc}", 200) from exc


# -- the client -----------------------------------------------------------------------




_TLS: ssl.SSLContext | None = None
_TLS_LOCK = threading.Lock()


def _tls_context() -> ssl.SSLContext:
    """One TLS context (httpx's defaults: certifi's roots) shared by every client.
    httpx builds one per client otherwise, ~0.85 MB each: with a client per
    exchange account that was most of what an account cost."""
    global _TLS
    with _TLS_LOCK:
        if _TLS is None:
            _TLS = ssl.create_default_context(cafile=certifi.where())
        return _TLS


class MexcRestClient:
    """One MEXC account (or none, for market data) over one connection pool.

    Thread-safe to the extent httpx.Client is; the limiter, back-off and breaker
    lock themselves.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        secret: str | None = None,
        *,
        recv_window: int = 5000,
        timeout: float = 10.0,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 3,
        sleep: Callable[[float], None] | None = None,
        breaker_threshold: int = 5,
        breaker_reset: float = 30.0,
        max_block: float = 30.0,
        time_offsets: dict[str, int] | None = None,
        limiter: WeightLimiter | None = None,
    ) -> None:
        if not 0 < recv_window < 60000:
            raise ValueError("recvWindow must be between 1 and 59999 ms (MEXC refuses 60000+)")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self._secret = secret
        self.recv_window = recv_window
        self.max_retries = max_retries
        # Longest a call waits out a 429/418 block before failing instead.
        self.max_block = max_block
        self._clock: Clock = clock or SystemClock()
        self._sleep = sleep or _time.sleep
        self._limiter = limiter or WeightLimiter()
        self._backoff = Backoff()
        self._banned = False
        # The last signed call's verdict on the key: None until one is answered,
        # "" when accepted, else MEXC's refusal. Nothing retries a refusal, so /health says it.
        self._credentials: str | None = None
        self._breaker = CircuitBreaker(breaker_threshold, breaker_reset, self._clock, self._breaker_changed)
        # MEXC's clock is one for every account: clients given the same ``time_offsets``
        # (a venue's) start from the offset another measured, rather than each spending
        # the host's per-IP budget on /time (500 new accounts met its limit at once).
        self._offsets: dict[str, int] = {} if time_offsets is None else time_offsets
        self._offset_ms: int | None = self._offsets.get(self.base_url)
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            verify=_tls_context(),
            # Connecting should be quick; a slow answer to an order can legitimately take longer.
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"Accept": "application/json", "User-Agent": "cryptobot-mexc/1"},
        )

    # -- lifecycle --

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MexcRestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def health(self) -> dict[str, Any]:
        snap = self._breaker.snapshot()
        return {
            "breaker": msgspec.structs.asdict(snap),
            "blocked_for_seconds": self._backoff.wait(self._now()),
            "time_offset_ms": self._offset_ms,
            "credentials": {None: "unchecked", "": "accepted"}.get(self._credentials, f"refused: {self._credentials}"),
        }

    # -- public market data --

    def ping(self) -> None:
        self._call("GET", "/api/v3/ping", [], weight=W_PING)

    def server_time(self) -> int:
        return _convert(self._call("GET", "/api/v3/time", [], weight=W_TIME), _ServerTime).server_time

    def sync_time(self) -> int:
        """Measure and keep the offset between MEXC's clock and ours; returns it (ms).

        offset = serverTime - local time *after* the answer (ccxt's rule): the server
        read its clock before we got the answer, so timestamps err into the past,
        which recvWindow tolerates, never into the future, which MEXC refuses past 1 s.
        """
        server = self.server_time()
        self._offset_ms = self._offsets[self.base_url] = server - self._clock.now_ms()
        log.info("mexc.time_synced", offset_ms=self._offset_ms)
        return self._offset_ms

    def exchange_info(self, symbols: Sequence[str] | None = None) -> MexcExchangeInfo:
        params: Params = []
        if symbols:
            params = [("symbol", symbols[0])] if len(symbols) == 1 else [("symbols", ",".join(symbols))]
        data = self._call("GET", "/api/v3/exchangeInfo", params, weight=W_EXCHANGE_INFO)
        if not isinstance(data, dict) or not isinstance(data.get("symbols"), list):
            raise MexcServerError(0, "unexpected exchangeInfo shape", 200)
        infos = []
        for raw in data["symbols"]:
            try:
                infos.append(mexc_symbol_info(raw))
            except (ValueError, TypeError, AttributeError) as exc:
                # One odd listing must not hide every other symbol.
                log.warning("mexc.symbol_skipped", symbol=raw.get("symbol") if isinstance(raw, dict) else None,
                            reason=str(exc))
        server_time = data.get("serverTime")
        timezone = data.get("timezone")
        return MexcExchangeInfo(
            symbols=infos,
            server_time=int(str(server_time)) if str(server_time).isdigit() else None,
            timezone=timezone if isinstance(timezone, str) else None,
        )

    def depth(self, symbol: str, limit: int | None = None) -> MexcDepth:
        data = self._call("GET", "/api/v3/depth", [("symbol", symbol), ("limit", limit)], weight=W_DEPTH)
        return _convert(data, MexcDepth)

    def trades(self, symbol: str, limit: int | None = None) -> list[MexcPublicTrade]:
        data = self._call("GET", "/api/v3/trades", [("symbol", symbol), ("limit", limit)], weight=W_TRADES)
        return _convert(data, list[MexcPublicTrade])

    def klines(
        self, symbol: str, interval: str, start: int | None = None, end: int | None = None,
        limit: int | None = None,
    ) -> list[MexcKline]:
        """Candles; ``start``/``end`` are ms. "1h" and "1w" are sent as "60m" and "1W"."""
        mexc_interval = _INTERVALS.get(interval)
        if mexc_interval is None:
            raise ValueError(f"unsupported kline interval {interval!r}; one of {sorted(set(_INTERVALS))}")
        params: Params = [("symbol", symbol), ("interval", mexc_interval), ("startTime", start),
                          ("endTime", end), ("limit", limit)]
        return _convert(self._call("GET", "/api/v3/klines", params, weight=W_KLINES), list[MexcKline])

    @overload
    def ticker_24hr(self, symbol: str) -> MexcTicker24h: ...
    @overload
    def ticker_24hr(self, symbol: None = None) -> list[MexcTicker24h]: ...
    def ticker_24hr(self, symbol: str | None = None) -> MexcTicker24h | list[MexcTicker24h]:
        weight = W_TICKER_24H_ONE if symbol else W_TICKER_24H_ALL
        data = self._call("GET", "/api/v3/ticker/24hr", [("symbol", symbol)], weight=weight)
        return _convert(data, MexcTicker24h) if symbol else _convert(data, list[MexcTicker24h])

    @overload
    def ticker_price(self, symbol: str) -> MexcTickerPrice: ...
    @overload
    def ticker_price(self, symbol: None = None) -> list[MexcTickerPrice]: ...
    def ticker_price(self, symbol: str | None = None) -> MexcTickerPrice | list[MexcTickerPrice]:
        weight = W_TICKER_PRICE_ONE if symbol else W_TICKER_PRICE_ALL
        data = self._call("GET", "/api/v3/ticker/price", [("symbol", symbol)], weight=weight)
        return _convert(data, MexcTickerPrice) if symbol else _convert(data, list[MexcTickerPrice])

    @overload
    def book_ticker(self, symbol: str) -> MexcBookTicker: ...
    @overload
    def book_ticker(self, symbol: None = None) -> list[MexcBookTicker]: ...
    def book_ticker(self, symbol: str | None = None) -> MexcBookTicker | list[MexcBookTicker]:
        data = self._call("GET", "/api/v3/ticker/bookTicker", [("symbol", symbol)], weight=W_BOOK_TICKER)
        return _convert(data, MexcBookTicker) if symbol else _convert(data, list[MexcBookTicker])

    # -- orders --

    def place_order(
        self,
        symbol: str,
        side: Side,
        type: MexcOrderType,
        quantity: Decimal | None = None,
        quote_order_qty: Decimal | None = None,
        price: Decimal | None = None,
        client_order_id: str | None = None,
    ) -> MexcOrderAck:
        """Place an order, once. Returns MEXC's ack (no status, no fills).

        Values are sent as given: format and check them with ``rules`` first. Nothing
        here sends it again: an unknown outcome (5xx, timeout) is raised to the
        caller, which looks the order up by ``client_order_id`` before deciding.
        """
        params = _order_params(symbol, side, type, quantity, quote_order_qty, price, client_order_id)
        return self._ack(self._call("POST", "/api/v3/order", params, signed=True, weight=W_ORDER,
                                    retry=False, block=False), client_order_id)

    def test_order(
        self,
        symbol: str,
        side: Side,
        type: MexcOrderType,
        quantity: Decimal | None = None,
        quote_order_qty: Decimal | None = None,
        price: Decimal | None = None,
        client_order_id: str | None = None,
    ) -> None:
        """Validate an order without placing it. It changes nothing, so it is retried."""
        params = _order_params(symbol, side, type, quantity, quote_order_qty, price, client_order_id)
        self._call("POST", "/api/v3/order/test", params, signed=True, weight=W_TEST_ORDER, retry=True)

    def cancel_order(self, symbol: str, order_id: str | None = None, client_order_id: str | None = None) -> MexcOrder:
        # Not retried: a second cancel of a cancelled order is an error (-2011) that
        # would hide the first one's success.
        params = _order_ref(symbol, order_id, client_order_id)
        return _convert(self._call("DELETE", "/api/v3/order", params, signed=True, weight=W_CANCEL,
                                   retry=False, block=False), MexcOrder)

    def cancel_open_orders(self, symbol: str) -> list[MexcOrder]:
        data = self._call("DELETE", "/api/v3/openOrders", [("symbol", symbol)], signed=True,
                          weight=W_CANCEL_OPEN, retry=False)
        return _convert(data, list[MexcOrder])

    def cancel_all(self) -> None:
        """Cancel every open order on every symbol (DELETE /api/v3/order/all)."""
        self._call("DELETE", "/api/v3/order/all", [], signed=True, weight=W_CANCEL_ALL, retry=False)

    def query_order(self, symbol: str, order_id: str | None = None, client_order_id: str | None = None) -> MexcOrder:
        params = _order_ref(symbol, order_id, client_order_id)
        return _convert(self._call("GET", "/api/v3/order", params, signed=True, weight=W_QUERY_ORDER), MexcOrder)

    def open_orders(self, symbol: str | None = None) -> list[MexcOrder]:
        data = self._call("GET", "/api/v3/openOrders", [("symbol", symbol)], signed=True, weight=W_OPEN_ORDERS)
        return _convert(data, list[MexcOrder])

    def all_orders(
        self, symbol: str, start: int | None = None, end: int | None = None, limit: int | None = None
    ) -> list[MexcOrder]:
        params: Params = [("symbol", symbol), ("startTime", start), ("endTime", end), ("limit", limit)]
        return _convert(self._call("GET", "/api/v3/allOrders", params, signed=True, weight=W_ALL_ORDERS),
                        list[MexcOrder])

    # -- account --

    def account(self) -> MexcAccount:
        return _convert(self._call("GET", "/api/v3/account", [], signed=True, weight=W_ACCOUNT), MexcAccount)

    def my_trades(
        self, symbol: str, order_id: str | None = None, start: int | None = None, end: int | None = None,
        limit: int | None = None,
    ) -> list[MexcTrade]:
        params: Params = [("symbol", symbol), ("orderId", order_id), ("startTime", start), ("endTime", end),
                          ("limit", limit)]
        return _convert(self._call("GET", "/api/v3/myTrades", params, signed=True, weight=W_MY_TRADES),
                        list[MexcTrade])

    # -- user data stream keys --

    def create_listen_key(self) -> str:
        # Not retried: each success makes a key, and an account may hold only 60.
        data = self._call("POST", "/api/v3/userDataStream", [], signed=True, weight=W_LISTEN_KEY, retry=False)
        return _convert(data, _ListenKey).listen_key

    def keepalive_listen_key(self, key: str) -> str:
        # Extending a key twice is harmless, so this write is retried like a read.
        data = self._call("PUT", "/api/v3/userDataStream", [("listenKey", key)], signed=True,
                          weight=W_LISTEN_KEY, retry=True)
        return _convert(data, _ListenKey).listen_key

    def delete_listen_key(self, key: str) -> None:
        self._call("DELETE", "/api/v3/userDataStream", [("listenKey", key)], signed=True,
                   weight=W_LISTEN_KEY, retry=False)

    def listen_keys(self) -> list[str]:
        data = self._call("GET", "/api/v3/userDataStream", [], signed=True, weight=W_LISTEN_KEY)
        return _convert(data, _ListenKeys).listen_key

    # -- machinery --

    def _ack(self, data: Any, client_order_id: str | None) -> MexcOrderAck:
        ack = _convert(data, MexcOrderAck)
        if client_order_id is not None and ack.client_order_id is None:
            ack = msgspec.structs.replace(ack, client_order_id=client_order_id)
        return ack

    def _call(
        self, method: str, path: str, params: Params, *, signed: bool = False, weight: int = 1,
        retry: bool = True, block: bool = True,
    ) -> Any:
        """Send with the retry policy; returns the decoded JSON. ``retry``: whether
        the request is safe to repeat (reads). Without ``block``, a
        back-off or spent weight budget refuses the call (MexcRateLimited) instead
        of waiting for it."""
        attempt = 0
        resynced = False
        while True:
            try:
                return _parse(self._send(method, path, params, signed=signed, weight=weight, block=block))
            except MexcTimestampError as exc:
                if not signed or resynced or exc.code not in _RESYNC_CODES:
                    raise
                resynced = True
                log.warning("mexc.timestamp_rejected", endpoint=f"{method} {path}", code=exc.code)
                self.sync_time()
            except (MexcServerError, MexcTransportError, MexcRateLimited) as exc:
                if not self._may_retry(exc, retry, attempt):
                    raise
                # After a 429 the back-off already holds the next send; do not add to it.
                delay = 0.0 if isinstance(exc, MexcRateLimited) else retry_delay(attempt)
                attempt += 1
                log.warning("mexc.retry", endpoint=f"{method} {path}", attempt=attempt, delay=delay,
                            error=_type_name(exc), code=exc.code, http_status=exc.http_status)
                if delay:
                    self._sleep(delay)

    def _may_retry(self, exc: MexcError, retry: bool, attempt: int) -> bool:
        if not retry or attempt >= self.max_retries or isinstance(exc, (MexcCircuitOpen, MexcIpBanned)):
            return False
        if isinstance(exc, MexcRateLimited):
            return self._backoff.wait(self._now()) <= self.max_block
        return True

    def _send(self, method: str, path: str, params: Params, *, signed: bool, weight: int, block: bool = True) -> bytes:
        """One request: waits out the back-off and the weight budget, asks the
        breaker, sends, and turns an error answer into a MexcError."""
        endpoint = f"{method} {path}"
        if signed and (not self.api_key or not self._secret):
            raise MexcAuthError(400, "api key required", 0)
        if signed and self._offset_ms is None:
            # Another client of the venue may have measured it since this one was made.
            self._offset_ms = self._offsets.get(self.base_url)
            if self._offset_ms is None:
                self.sync_time()
        self._wait_for_backoff(block)
        self._wait_for_weight(endpoint, weight, "uid" if signed else "ip", block)

        # Built after every wait, so the timestamp is fresh when it leaves, and before
        # the breaker is asked, so nothing can fail between a half-open trial and its send.
        headers = {}
        if signed:
            assert self._secret is not None and self._offset_ms is not None and self.api_key
            query = signed_query(params, self._secret, self._clock.now_ms() + self._offset_ms, self.recv_window)
            headers["X-MEXC-APIKEY"] = self.api_key
        else:
            query = encode_params(params)
        if method in ("POST", "PUT", "DELETE"):
            headers["Content-Type"] = "application/json"
        url = f"{path}?{query}" if query else path
        if not self._breaker.allow():
            snap = self._breaker.snapshot()
            raise MexcCircuitOpen(503, f"circuit open since {snap.opened_at} ms: MEXC calls suspended", 0)

        try:
            response = self._http.request(method, url, headers=headers)
        except httpx.TimeoutException as exc:
            self._breaker.record_failure()
            raise MexcTransportError(f"{endpoint}: timed out ({_type_name(exc)})") from exc
        except httpx.TransportError as exc:
            self._breaker.record_failure()
            raise MexcTransportError(f"{endpoint}: {_type_name(exc)}: {exc}") from exc
        except BaseException:
            # Whatever it was, the breaker's half-open trial must not stay out forever.
            self._breaker.record_failure()
            raise

        error = error_from_response(response.status_code, response.content, response.headers)
        if error is not None and error.outcome_unknown:
            self._breaker.record_failure()
        else:
            self._breaker.record_success()
        if isinstance(error, MexcRateLimited):
            self._banned = isinstance(error, MexcIpBanned)
            blocked = self._backoff.on_rate_limited(self._now(), error.retry_after, banned=self._banned)
            log.warning("mexc.rate_limited", endpoint=endpoint, http_status=error.http_status,
                        retry_after=error.retry_after, blocked_for=blocked)
        elif error is None:
            self._backoff.on_success()
        if signed:
            self._note_credentials(error)
        if error is not None:
            raise error
        return response.content

    @property
    def refused_key(self) -> str | None:
        """MEXC's refusal of the key at the last signed call, if it refused it."""
        return self._credentials or None

    def problem(self) -> str | None:
        """What stops this client's calls from working now, if anything."""
        if self._credentials:
            return f"MEXC refused the account's API key: {self._credentials}"
        wait = self._breaker.blocked_for()
        if wait > 0:
            return f"MEXC calls are suspended for {wait:.0f}s after repeated failures"
        return None

    def _note_credentials(self, error: MexcError | None) -> None:
        if isinstance(error, MexcAuthError) and error.refuses_key:
            refusal = f"{error.msg} ({error.code})"
            if self._credentials != refusal:
                log.error("mexc.credentials_refused", code=error.code, error=error.msg)
            self._credentials = refusal
        elif error is None or (error.http_status == 400 and not isinstance(error, MexcAuthError)):  # the key passed
            self._credentials = ""

    def _wait_for_backoff(self, block: bool = True) -> None:
        wait = self._backoff.wait(self._now())
        if wait <= 0:
            return
        if wait > self.max_block or not block:
            cls = MexcIpBanned if self._banned else MexcRateLimited
            raise cls(msg=f"client blocked for {wait:.1f}s after a {'418' if self._banned else '429'}",
                      http_status=0, retry_after=wait)
        log.info("mexc.backoff_wait", seconds=wait)
        self._sleep(wait)

    def _wait_for_weight(self, endpoint: str, weight: int, mode: Mode, block: bool = True) -> None:
        while (wait := self._limiter.acquire(endpoint, weight, self._now(), mode)) > 0:
            if not block:
                raise MexcRateLimited(msg=f"{endpoint}: weight budget spent for {wait:.2f}s", http_status=0,
                                      retry_after=wait)
            log.info("mexc.throttle", endpoint=endpoint, seconds=wait)
            self._sleep(wait)

    def _now(self) -> float:
        return self._clock.now_ms() / 1000

    def _breaker_changed(self, old: BreakerState, new: BreakerState, snap: BreakerSnapshot) -> None:
        log.warning("mexc.breaker", old=old, new=new, failures=snap.failures, opened_at=snap.opened_at)


def _order_params(
    symbol: str, side: str, type: str, quantity: Decimal | None, quote_order_qty: Decimal | None,
    price: Decimal | None, client_order_id: str | None,
) -> Params:
    if side not in _SIDES:
        raise ValueError(f"side must be BUY or SELL, not {side!r}")
    if type not in _ORDER_TYPES:
        raise ValueError(f"unknown MEXC order type {type!r}")
    return [("symbol", symbol), ("side", side), ("type", type), ("quantity", quantity),
            ("quoteOrderQty", quote_order_qty), ("price", price), ("newClientOrderId", client_order_id)]


def _order_ref(symbol: str, order_id: str | None, client_order_id: str | None) -> Params:
    # Caught here rather than spending a request on MEXC's 700004.
    if order_id is None and client_order_id is None:
        raise ValueError("give order_id or client_order_id")
    return [("symbol", symbol), ("orderId", order_id), ("origClientOrderId", client_order_id)]


def _type_name(exc: BaseException) -> str:
    return type(exc).__name__
