"""MexcRestClient behaviours a real server cannot be made to show deterministically:
exact retry sequences, breaker tripping, re-sync after 700003, reconciling an order
of unknown outcome, the exact bytes of a request, and answers the simulator does not
send (integers as strings). Everything else is tested against the loopback simulator.

The transport is scripted; time is a ManualClock, and ``sleep`` advances it.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import httpx
import msgspec
import pytest
from structlog.testing import capture_logs

from engine.clock import ManualClock
from engine.exchanges.mexc.errors import (
    MexcCircuitOpen,
    MexcError,
    MexcInsufficientBalance,
    MexcIpBanned,
    MexcRateLimited,
    MexcServerError,
    MexcTimestampError,
    MexcTransportError,
)
from engine.exchanges.mexc.ratelimit import WeightLimiter
from engine.exchanges.mexc.rest import (
    MexcOrderAck,
    MexcRestClient,
)
from engine.exchanges.mexc.signing import sign

D = Decimal
KEY, SECRET = "mx0aBYs33eIilxBWC5", "45d0b3c26f2644f19bfb98b07741b2f5"
START_MS = 1_700_000_000_000

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def ok(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=msgspec.json.encode(payload), headers=headers)


def err(status: int, code: int, msg: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return ok({"code": code, "msg": msg}, status, headers)


ACK = {"symbol": "MXUSDT", "orderId": "C02__1", "orderListId": "-1", "price": "3.1", "origQty": "5",
       "type": "LIMIT", "side": "BUY", "transactTime": "1745852205223"}
ORDER = {"symbol": "MXUSDT", "orderId": "C02__1", "orderListId": "-1", "clientOrderId": "cb-1",
         "price": "3.1", "origQty": "5", "executedQty": "5", "cummulativeQuoteQty": "15.5",
         "status": "FILLED", "timeInForce": None, "type": "LIMIT", "side": "BUY", "stopPrice": None,
         "time": "1707671871000", "updateTime": 1707671871001, "isWorking": True, "origQuoteOrderQty": "0"}


class Script:
    """Answers per path, in order; the last answer of a path repeats. Records requests."""

    def __init__(self, clock: ManualClock, server_offset_ms: int = 0) -> None:
        self.clock = clock
        self.server_offset_ms = server_offset_ms
        self.replies: dict[str, list[Reply]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self.replies[f"{method} {path}"] = list(replies)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = f"{request.method} {request.url.path}"
        queue = self.replies.get(key)
        if queue is None and key == "GET /api/v3/time":
            return ok({"serverTime": self.clock.now_ms() + self.server_offset_ms})
        assert queue, f"unexpected request {key}"
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(request)
        return reply

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]


class Harness:
    def __init__(self, server_offset_ms: int = 0, **client_kwargs: Any) -> None:
        self.clock = ManualClock(START_MS)
        self.sleeps: list[float] = []
        self.script = Script(self.clock, server_offset_ms)
        self.client = MexcRestClient(
            "https://api.mexc.test", KEY, SECRET, clock=self.clock,
            transport=httpx.MockTransport(self.script.handle), sleep=self.sleep, **client_kwargs,
        )

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(round(seconds * 1000))


def query_of(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.url.query.decode(), keep_blank_values=True)


# -- request shape ---------------------------------------------------------------------


def test_signed_post_puts_everything_in_the_query_with_signature_last_and_key_header() -> None:
    h = Harness()
    h.script.on("POST", "/api/v3/order", ok(ACK))
    h.client.place_order("MXUSDT", "BUY", "LIMIT", quantity=D("5.0"), price=D("3.10"), client_order_id="cb-1")

    (request,) = h.script.sent("POST", "/api/v3/order")
    raw = request.url.query.decode()
    unsigned, _, signature = raw.rpartition("&signature=")
    assert unsigned == (f"symbol=MXUSDT&side=BUY&type=LIMIT&quantity=5&price=3.1&newClientOrderId=cb-1"
                        f"&timestamp={START_MS}&recvWindow=5000")
    assert signature == sign(SECRET, unsigned)
    assert request.headers["X-MEXC-APIKEY"] == KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.content == b""


def test_public_get_carries_neither_key_nor_signature() -> None:
    h = Harness()
    h.script.on("GET", "/api/v3/depth", ok({"lastUpdateId": 7, "bids": [], "asks": []}))
    h.client.depth("MXUSDT", 5)
    (request,) = h.script.requests
    assert request.url.query == b"symbol=MXUSDT&limit=5"
    assert "X-MEXC-APIKEY" not in request.headers and "Content-Type" not in request.headers


def test_klines_maps_1h_to_60m_and_1w_to_1W_on_the_wire() -> None:
    h = Harness()
    h.script.on("GET", "/api/v3/klines", ok([]))
    h.client.klines("MXUSDT", "1h")
    h.client.klines("MXUSDT", "1w", start=1, end=2, limit=3)
    assert [dict(query_of(r))["interval"] for r in h.script.requests] == ["60m", "1W"]
    assert query_of(h.script.requests[1])[2:] == [("startTime", "1"), ("endTime", "2"), ("limit", "3")]


def test_unsupported_kline_interval_is_refused_without_a_request() -> None:
    h = Harness()
    with pytest.raises(ValueError, match="2h"):
        h.client.klines("MXUSDT", "2h")
    assert h.script.requests == []


def test_cancel_without_any_order_id_is_refused_without_a_request() -> None:
    h = Harness()
    with pytest.raises(ValueError):
        h.client.cancel_order("MXUSDT")
    assert h.script.requests == []


# -- decoding answers the simulator does not send ------------------------------------------


def test_order_fields_sent_as_strings_or_numbers_decode_to_ints_str_ids_and_decimals() -> None:
    h = Harness()
    h.script.on("GET", "/api/v3/order", ok({**ORDER, "orderId": 4}))
    order = h.client.query_order("MXUSDT", client_order_id="cb-1")
    assert order.order_id == "4"
    assert (order.time, order.update_time, order.order_list_id) == (1707671871000, 1707671871001, -1)
    assert order.executed_qty == D("5") and order.cummulative_quote_qty == D("15.5")
    assert order.avg_price == D("3.1")
    assert order.time_in_force is None and order.stop_price is None


def test_my_trades_sample_with_string_time_and_null_client_id_decodes() -> None:
    h = Harness()
    h.script.on("GET", "/api/v3/myTrades", ok([{
        "symbol": "ATLASUSDT", "id": "dd44f79dda764c2e927a190ac5e7a1e5", "orderId": "C02__385413065019117569043",
        "orderListId": "-1", "price": "0.004542", "qty": "1220", "quoteQty": "5.54124", "commission": "0",
        "commissionAsset": "USDT", "time": "1707671871000", "isBuyer": False, "isMaker": False,
        "isBestMatch": True, "isSelfTrade": False, "clientOrderId": None}]))
    (trade,) = h.client.my_trades("ATLASUSDT")
    assert (trade.time, trade.order_list_id, trade.client_order_id) == (1707671871000, -1, None)
    assert trade.quote_qty == D("5.54124") and not trade.is_buyer


def test_ticker_with_empty_and_null_fields_decodes_them_as_none() -> None:
    h = Harness()
    h.script.on("GET", "/api/v3/ticker/24hr", ok({
        "symbol": "BTCUSDT", "priceChange": "1248.51", "priceChangePercent": "0.0173", "lastPrice": "73397.77",
        "bidQty": "", "quoteVolume": None, "count": None, "openTime": "1710328232149", "closeTime": 1710328251172}))
    ticker = h.client.ticker_24hr("BTCUSDT")
    assert ticker.bid_qty is None and ticker.quote_volume is None and ticker.count is None
    assert ticker.price_change_percent == D("0.0173") and ticker.open_time == 1710328232149


def test_json_numbers_in_money_fields_become_exact_decimals_not_floats() -> None:
    h = Harness()
    h.script.on("GET", "/api/v3/ticker/price", httpx.Response(200, content=b'{"symbol":"X","price":0.1}'))
    assert h.client.ticker_price("X").price == D("0.1")


def test_create_ack_carries_the_requested_client_order_id() -> None:
    h = Harness()
    h.script.on("POST", "/api/v3/order", ok(ACK))
    ack = h.client.place_order("MXUSDT", "BUY", "LIMIT", quantity=D(5), price=D("3.1"), client_order_id="cb-1")
    assert ack == MexcOrderAck(symbol="MXUSDT", order_id="C02__1", price=D("3.1"), orig_qty=D(5), type="LIMIT",
                               side="BUY", transact_time=1745852205223, order_list_id=-1, client_order_id="cb-1")


# -- retries of reads --------------------------------------------------------------------


def test_public_get_retries_5xx_with_exponential_delays_then_succeeds() -> None:
    h = Harness()
    h.script.on("GET", "/api/v3/ping", err(503, 503, "service not available"), httpx.Response(502), ok({}))
    h.client.ping()
    assert len(h.script.requests) == 3
    assert h.sleeps == [0.25, 0.5]


def test_signed_read_retries_a_timeout() -> None:
    h = Harness()
    h.script.on("GET", "/api/v3/account", httpx.ReadTimeout("slow"), ok({"balances": [
        {"asset": "USDT", "free": "10.5", "locked": "0"}]}))
    account = h.client.account()
    assert account.balance("USDT").free == D("10.5") and account.balance("BTC").free == 0
    assert len(h.script.sent("GET", "/api/v3/account")) == 2


def test_retries_are_logged_without_key_secret_or_signature() -> None:
    h = Harness()
    h.script.on("GET", "/api/v3/account", httpx.Response(503), ok({"balances": []}))
    with capture_logs() as logs:
        h.client.account()
    retries = [e for e in logs if e["event"] == "mexc.retry"]
    assert len(retries) == 1
    assert retries[0]["endpoint"] == "GET /api/v3/account" and retries[0]["http_status"] == 503
    text = repr(logs)
    signature = dict(query_of(h.script.sent("GET", "/api/v3/account")[0]))["signature"]
    assert KEY not in text and SECRET not in text and signature not in text


def test_read_gives_up_after_max_retries_with_the_last_error() -> None:
    h = Harness(max_retries=2, breaker_threshold=10)
    h.script.on("GET", "/api/v3/ping", httpx.Response(500))
    with pytest.raises(MexcServerError) as caught:
        h.client.ping()
    assert caught.value.http_status == 500
    assert len(h.script.requests) == 3
    assert h.sleeps == [0.25, 0.5]


def test_a_definite_refusal_of_a_read_is_not_retried() -> None:
    h = Harness()
    h.script.on("GET", "/api/v3/depth", err(400, -1121, "Invalid symbol."))
    with pytest.raises(Exception, match="Invalid symbol"):
        h.client.depth("NOPE")
    assert len(h.script.requests) == 1


# -- 429 / 418 ---------------------------------------------------------------------------


def test_429_waits_out_retry_after_then_retries_the_read() -> None:
    h = Harness()
    h.script.on("GET", "/api/v3/ping", err(429, 429, "Too Many Requests", {"Retry-After": "3"}), ok({}))
    h.client.ping()
    assert h.sleeps == [3.0]
    assert len(h.script.requests) == 2
    assert h.clock.now_ms() == START_MS + 3000


def test_after_a_429_every_endpoint_waits_until_retry_after_has_passed() -> None:
    h = Harness(max_retries=0)
    h.script.on("GET", "/api/v3/depth", err(429, 429, "Too Many Requests", {"Retry-After": "5"}))
    h.script.on("GET", "/api/v3/ticker/price", ok({"symbol": "MXUSDT", "price": "3.1"}))
    with pytest.raises(MexcRateLimited):
        h.client.depth("MXUSDT")
    h.clock.advance(1000)
    h.client.ticker_price("MXUSDT")
    assert h.sleeps == [4.0]


def test_a_block_longer_than_max_block_fails_fast_without_sending() -> None:
    h = Harness(max_block=30.0)
    h.script.on("GET", "/api/v3/ping", err(429, 429, "Too Many Requests", {"Retry-After": "600"}))
    with capture_logs() as logs, pytest.raises(MexcRateLimited):
        h.client.ping()
    assert len(h.script.requests) == 1
    assert [e["event"] for e in logs] == ["mexc.rate_limited"]  # and no pointless retries
    with pytest.raises(MexcRateLimited) as caught:
        h.client.ping()
    assert len(h.script.requests) == 1
    assert caught.value.retry_after == pytest.approx(600.0)
    assert h.sleeps == []


def test_418_ban_is_not_retried_and_later_calls_fail_fast_as_banned() -> None:
    h = Harness()
    h.script.on("GET", "/api/v3/ping", httpx.Response(418, headers={"Retry-After": "120"}))
    with pytest.raises(MexcIpBanned):
        h.client.ping()
    with pytest.raises(MexcIpBanned):
        h.client.ping()
    assert len(h.script.requests) == 1
    assert h.client.health()["blocked_for_seconds"] == pytest.approx(120.0)


# -- weight budget ------------------------------------------------------------------------


def test_limiter_makes_a_call_wait_when_the_endpoints_budget_is_spent() -> None:
    h = Harness(limiter=WeightLimiter(budget=20))
    h.script.on("GET", "/api/v3/exchangeInfo", ok({"serverTime": START_MS, "symbols": []}))
    for _ in range(3):
        h.client.exchange_info()
    assert h.sleeps == [10.0]  # the third weight-10 call waits for the first to roll out
    assert len(h.script.requests) == 3


# -- server time ---------------------------------------------------------------------------


def test_first_signed_call_measures_the_offset_and_signs_with_server_time() -> None:
    h = Harness(server_offset_ms=3000)
    h.script.on("GET", "/api/v3/openOrders", ok([]))
    h.client.open_orders("MXUSDT")
    assert [r.url.path for r in h.script.requests] == ["/api/v3/time", "/api/v3/openOrders"]
    assert dict(query_of(h.script.requests[1]))["timestamp"] == str(START_MS + 3000)
    assert h.client.health()["time_offset_ms"] == 3000


def test_700003_resyncs_the_clock_and_retries_once_with_a_fresh_timestamp() -> None:
    h = Harness()
    h.client.sync_time()
    h.script.server_offset_ms = -4000  # our clock ran ahead since
    h.script.on("POST", "/api/v3/order",
                err(400, 700003, "Timestamp for this request is outside of the recvWindow."), ok(ACK))
    ack = h.client.place_order("MXUSDT", "BUY", "LIMIT", quantity=D(5), price=D("3.1"))
    assert ack.order_id == "C02__1"
    posts = h.script.sent("POST", "/api/v3/order")
    assert [dict(query_of(p))["timestamp"] for p in posts] == [str(START_MS), str(START_MS - 4000)]
    assert len(h.script.sent("GET", "/api/v3/time")) == 2


def test_a_second_700003_in_a_row_is_raised() -> None:
    h = Harness()
    h.script.on("GET", "/api/v3/account", err(400, 700003, "Timestamp for this request is outside of the recvWindow."))
    with pytest.raises(MexcTimestampError):
        h.client.account()
    assert len(h.script.sent("GET", "/api/v3/account")) == 2


# -- placing orders safely -------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, error",
    [
        pytest.param(httpx.Response(503), MexcServerError, id="a 5xx leaves the outcome unknown: raised, not resent"),
        pytest.param(httpx.ReadTimeout("no answer"), MexcTransportError, id="a timeout is raised, not looked up"),
        pytest.param(err(400, 10101, "Insufficient balance"), MexcInsufficientBalance, id="a refusal is raised as it came"),
        pytest.param(httpx.Response(429, headers={"Retry-After": "1"}), MexcRateLimited,
                     id="a 429 is raised at once, not waited out and sent again"),
    ],
)
def test_an_order_is_sent_once_whatever_the_answer(answer: Reply, error: type[Exception]) -> None:
    h = Harness(breaker_threshold=10)
    h.script.on("POST", "/api/v3/order", answer, ok(ACK))
    with pytest.raises(error):
        h.client.place_order("MXUSDT", "BUY", "LIMIT", quantity=D(5), price=D("3.1"), client_order_id="cb-1")
    assert len(h.script.sent("POST", "/api/v3/order")) == 1
    assert h.script.sent("GET", "/api/v3/order") == []  # looking it up is the adapter's decision
    assert h.sleeps == []


def test_an_order_during_a_back_off_is_refused_without_being_sent_or_waiting() -> None:
    h = Harness()
    h.script.on("GET", "/api/v3/account", httpx.Response(429, headers={"Retry-After": "2"}), ok({"balances": []}))
    h.client.account()  # a read waits the back-off out
    h.script.on("GET", "/api/v3/openOrders", httpx.Response(429, headers={"Retry-After": "5"}))
    with pytest.raises(MexcRateLimited):
        h.client.open_orders("MXUSDT")
    sleeps = list(h.sleeps)
    with pytest.raises(MexcRateLimited) as refused:
        h.client.place_order("MXUSDT", "BUY", "LIMIT", quantity=D(5), price=D("3.1"), client_order_id="cb-1")
    assert refused.value.retry_after and refused.value.retry_after > 0
    assert h.script.sent("POST", "/api/v3/order") == [] and h.sleeps == sleeps


def test_cancel_is_not_retried_after_a_5xx() -> None:
    h = Harness()
    h.script.on("DELETE", "/api/v3/order", httpx.Response(502))
    with pytest.raises(MexcServerError):
        h.client.cancel_order("MXUSDT", order_id="C02__1")
    assert len(h.script.sent("DELETE", "/api/v3/order")) == 1


# -- circuit breaker -----------------------------------------------------------------------


def test_breaker_trips_after_consecutive_unknown_outcomes_and_then_fails_fast() -> None:
    h = Harness(max_retries=0, breaker_threshold=2, breaker_reset=30.0)
    h.script.on("GET", "/api/v3/ping", httpx.Response(500), httpx.ReadTimeout("slow"), ok({}))
    with capture_logs() as logs:
        for _ in range(2):
            with pytest.raises((MexcServerError, MexcTransportError)):
                h.client.ping()
        with pytest.raises(MexcCircuitOpen):
            h.client.ping()
    assert len(h.script.requests) == 2
    assert [(e["old"], e["new"]) for e in logs if e["event"] == "mexc.breaker"] == [("closed", "open")]
    assert h.client.health()["breaker"] == {"state": "open", "failures": 2, "opened_at": START_MS}


def test_open_breaker_is_not_retried_by_a_read_even_with_retries_left() -> None:
    h = Harness(max_retries=3, breaker_threshold=1, breaker_reset=30.0)
    h.script.on("GET", "/api/v3/ping", httpx.Response(500))
    with pytest.raises(MexcCircuitOpen):
        h.client.ping()  # the first 500 opens it; the retry is refused by the breaker
    assert len(h.script.requests) == 1
    assert h.sleeps == [0.25]


def test_breaker_lets_a_trial_through_after_the_reset_timeout_and_closes_on_success() -> None:
    h = Harness(max_retries=0, breaker_threshold=1, breaker_reset=30.0)
    h.script.on("GET", "/api/v3/ping", httpx.Response(500), ok({}))
    with pytest.raises(MexcServerError):
        h.client.ping()
    h.clock.advance(30_000)
    h.client.ping()
    assert h.client.health()["breaker"]["state"] == "closed"
    assert len(h.script.requests) == 2


def test_definite_errors_do_not_count_towards_the_breaker() -> None:
    h = Harness(max_retries=0, breaker_threshold=2)
    h.script.on("GET", "/api/v3/ping", httpx.Response(500), err(400, 33333, "param is error"),
                httpx.Response(500), ok({}))
    for _ in range(3):
        with pytest.raises(MexcError):
            h.client.ping()
    h.client.ping()
    assert h.client.health()["breaker"]["state"] == "closed"
