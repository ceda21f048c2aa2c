"""MEXC's spot REST API under /api/v3, as a Falcon WSGI app over a SimExchange.

One table names every endpoint with its weight and whether it is signed; one
function takes a request through MEXC's steps in order: injected faults, route,
parameters (query string, then form or JSON body; the query string wins;
unknown ones ignored), API key, rate budget (per IP, or per UID when keyed),
signature and timestamp, the handler, and MEXC's JSON or error answer. Business
errors are HTTP 400 with ``{"code", "msg"}``; 429 and 418 carry Retry-After.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import falcon
import msgspec
import structlog

from engine.clock import Clock
from engine.exchanges.mexc_sim import auth, shapes
from engine.exchanges.mexc_sim.core import UNKNOWN_ORDER, SimExchange
from engine.exchanges.mexc_sim.faults import Faults
from engine.exchanges.mexc_sim.limits import RateLimiter
from engine.exchanges.mexc_sim.listenkeys import ListenKeyLimit, ListenKeys
from engine.exchanges.mexc_sim.model import SimOrder
from engine.exchanges.mexc_sim.rejects import SimReject, message_for, missing
from engine.money import to_decimal

log = structlog.get_logger(__name__)

API_PREFIX = "/api/v3/"
MAX_BODY_BYTES = 1 << 20
LISTEN_KEY_LIMIT = 26  # "operation not allowed"
BAD_PARAM = 33333  # "param is error"


class Call(msgspec.Struct):
    """One request as a handler sees it."""

    params: dict[str, str]
    api_key: str | None
    now: int


Handler = Callable[[Call], Any]


class Endpoint(msgspec.Struct, frozen=True):
    handler: Handler
    weight: Callable[[dict[str, str]], int]
    signed: bool


def _w(n: int) -> Callable[[dict[str, str]], int]:
    return lambda params: n


def _w_symbol(with_symbol: int, without: int) -> Callable[[dict[str, str]], int]:
    return lambda params: with_symbol if params.get("symbol") else without


class MexcRestApi:
    def __init__(
        self,
        exchange: SimExchange,
        listen_keys: ListenKeys,
        faults: Faults,
        limiter: RateLimiter,
        clock: Clock,
    ) -> None:
        self._x = exchange
        self._keys = listen_keys
        self._faults = faults
        self._limiter = limiter
        self._clock = clock
        self.routes: dict[tuple[str, str], Endpoint] = {
            ("GET", "ping"): Endpoint(lambda c: {}, _w(1), False),
            ("GET", "time"): Endpoint(lambda c: {"serverTime": c.now}, _w(1), False),
            ("GET", "defaultSymbols"): Endpoint(self._default_symbols, _w(1), False),
            ("GET", "exchangeInfo"): Endpoint(self._exchange_info, _w(10), False),
            ("GET", "depth"): Endpoint(self._depth, _w(1), False),
            ("GET", "trades"): Endpoint(self._trades, _w(5), False),
            ("GET", "aggTrades"): Endpoint(self._agg_trades, _w(1), False),
            ("GET", "klines"): Endpoint(self._klines, _w(1), False),
            ("GET", "avgPrice"): Endpoint(self._avg_price, _w(1), False),
            ("GET", "ticker/24hr"): Endpoint(self._ticker_24h, _w_symbol(1, 40), False),
            ("GET", "ticker/price"): Endpoint(self._ticker_price, _w_symbol(1, 2), False),
            ("GET", "ticker/bookTicker"): Endpoint(self._book_ticker, _w(1), False),
            ("POST", "order"): Endpoint(self._new_order, _w(1), True),
            ("POST", "order/test"): Endpoint(self._test_order, _w(1), True),
            ("DELETE", "order"): Endpoint(self._cancel_order, _w(1), True),
            ("GET", "order"): Endpoint(self._get_order, _w(2), True),
            ("GET", "openOrders"): Endpoint(self._open_orders, _w(3), True),
            ("DELETE", "openOrders"): Endpoint(self._cancel_open_orders, _w(1), True),
            ("DELETE", "order/all"): Endpoint(self._cancel_all, _w(1), True),
            ("GET", "allOrders"): Endpoint(self._all_orders, _w(10), True),
            ("GET", "account"): Endpoint(self._account, _w(10), True),
            ("GET", "myTrades"): Endpoint(self._my_trades, _w(10), True),
            ("POST", "userDataStream"): Endpoint(self._create_listen_key, _w(1), True),
            ("GET", "userDataStream"): Endpoint(self._list_listen_keys, _w(1), True),
            ("PUT", "userDataStream"): Endpoint(self._keep_alive_listen_key, _w(1), True),
            ("DELETE", "userDataStream"): Endpoint(self._delete_listen_key, _w(1), True),
        }

    # -- the request pipeline ----------------------------------------------------------

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        """Falcon sink for everything under /api/v3/."""
        delay = self._faults.take_delay()
        if delay > 0:
            time.sleep(delay)  # a slow exchange, on this request's own server thread
        path = req.path[len(API_PREFIX):].rstrip("/")
        fault = self._faults.take_before(req.method, path)
        if fault is not None:
            self._answer_error(resp, _http_failure(fault.status), fault.retry_after)
            return
        endpoint = self.routes.get((req.method, path))
        if endpoint is None:
            known = any(p == path for _, p in self.routes)
            status = 405 if known else 404
            resp.status = status
            resp.content_type = falcon.MEDIA_JSON
            resp.data = msgspec.json.encode({"code": status, "msg": "Method Not Allowed" if known else "Not Found"})
            return
        try:
            query = req.query_string or ""
            body = self._read_body(req)
            params = self._params(query, body, req.content_type or "")
            api_key = self._authenticate(req, endpoint, params, query, body)
            result = endpoint.handler(Call(params, api_key, self._clock.now_ms()))
        except _Refused as refused:
            self._answer_error(resp, refused.reject, refused.retry_after)
            return
        except SimReject as reject:
            self._answer_error(resp, reject, None)
            return
        except Exception as exc:  # noqa: BLE001 - MEXC answers 500, never a traceback
            log.error("sim.rest_failed", path=req.path, error=repr(exc), exc_info=exc)
            self._answer_error(resp, SimReject(500, http_status=500), None)
            return
        if (req.method, path) == ("POST", "order"):
            after = self._faults.take_after_order()
            if after is not None:  # the order is in the book; the client is told otherwise
                self._answer_error(resp, _http_failure(after.status), after.retry_after)
                return
        resp.status = 200
        resp.content_type = falcon.MEDIA_JSON
        resp.data = msgspec.json.encode(result)

    def _read_body(self, req: falcon.Request) -> str:
        length = req.content_length or 0
        if length <= 0:
            return ""
        if length > MAX_BODY_BYTES:
            raise SimReject(BAD_PARAM)
        return req.bounded_stream.read(length).decode("utf-8", errors="replace")

    @staticmethod
    def _params(query: str, body: str, content_type: str) -> dict[str, str]:
        params: dict[str, str] = {}
        if body.strip():
            if "json" in content_type.lower() or body.lstrip().startswith("{"):
                try:
                    decoded = json.loads(body)
                except ValueError:
                    raise SimReject(BAD_PARAM) from None
                if isinstance(decoded, dict):
                    params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in decoded.items()})
            else:
                params.update(parse_qsl(body, keep_blank_values=True))
        params.update(parse_qsl(query, keep_blank_values=True))  # the query string wins
        return params

    def _authenticate(
        self, req: falcon.Request, endpoint: Endpoint, params: dict[str, str], query: str, body: str
    ) -> str | None:
        weight = endpoint.weight(params)
        route = f"{req.method} {req.path}"
        if not endpoint.signed:
            self._charge(f"ip:{req.remote_addr}", route, weight)
            return None
        api_key = req.get_header("X-MEXC-APIKEY")
        if not api_key:
            raise SimReject(400)  # "api key required"
        found = self._x.credentials(api_key)
        if found is None:
            raise SimReject(10072)
        secret, uid = found
        self._charge(f"uid:{uid}", route, weight)
        total_params, signature = auth.split_signature(query, body)
        auth.verify(secret, total_params, signature)
        auth.check_time(params, self._clock.now_ms())
        return api_key

    def _charge(self, scope: str, route: str, weight: int) -> None:
        refusal = self._limiter.charge(scope, route, weight)
        if refusal is not None:
            log.info("sim.rate_limited", scope=scope, route=route, status=refusal.status, retry_after=refusal.retry_after)
            raise _Refused(_http_failure(refusal.status), refusal.retry_after)

    @staticmethod
    def _answer_error(resp: falcon.Response, reject: SimReject, retry_after: int | None) -> None:
        resp.status = reject.http_status
        resp.content_type = falcon.MEDIA_JSON
        if retry_after is not None:
            resp.set_header("Retry-After", str(retry_after))
        resp.data = msgspec.json.encode(reject.body())

    # -- market data --------------------------------------------------------------------

    def _default_symbols(self, c: Call) -> Any:
        return {"code": 200, "data": [s.symbol for s in self._x.symbols()], "msg": None}

    def _exchange_info(self, c: Call) -> Any:
        listed = {s.symbol: s for s in self._x.symbols()}
        names = _names(c.params.get("symbol") or c.params.get("symbols"))
        if names:
            if any(n not in listed for n in names):
                raise SimReject(-1121)
            chosen = [listed[n] for n in names]
        else:
            chosen = list(listed.values())
        return {
            "timezone": "CST",
            "serverTime": c.now,
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [shapes.symbol_info(s, self._x.maker_fee, self._x.taker_fee) for s in chosen],
        }

    def _depth(self, c: Call) -> Any:
        symbol = _required(c.params, "symbol")
        limit = _limit(c.params, default=100, maximum=5000)
        version, bids, asks = self._x.depth(symbol, limit)
        return {"lastUpdateId": version, "bids": shapes.levels(bids), "asks": shapes.levels(asks), "timestamp": c.now}

    def _trades(self, c: Call) -> Any:
        symbol = _required(c.params, "symbol")
        deals = self._x.recent_deals(symbol, _limit(c.params, default=500, maximum=1000))
        return [shapes.trade(d) for d in reversed(deals)]  # newest first, as MEXC lists them

    def _agg_trades(self, c: Call) -> Any:
        symbol = _required(c.params, "symbol")
        limit = _limit(c.params, default=500, maximum=1000)
        start, end = _int(c.params, "startTime"), _int(c.params, "endTime")
        if (start is None) != (end is None):
            raise SimReject(-1128)
        if start is not None and end is not None:
            deals = self._x.deals_between(symbol, start, end, limit)
        else:
            deals = self._x.recent_deals(symbol, limit)
        return [shapes.agg_trade(d) for d in deals]

    def _klines(self, c: Call) -> Any:
        symbol = _required(c.params, "symbol")
        interval = _required(c.params, "interval")
        limit = _limit(c.params, default=500, maximum=1000)
        rows = self._x.klines(symbol, interval, _int(c.params, "startTime"), _int(c.params, "endTime"), limit)
        return [shapes.kline(k) for k in rows]

    def _avg_price(self, c: Call) -> Any:
        price = self._x.avg_price(_required(c.params, "symbol"))
        return {"mins": 5, "price": shapes.num(price)}

    def _ticker_24h(self, c: Call) -> Any:
        symbol = c.params.get("symbol")
        if symbol:
            return shapes.ticker_24h(self._x.ticker_24h(symbol))
        return [shapes.ticker_24h(self._x.ticker_24h(s.symbol)) for s in self._x.symbols()]

    def _ticker_price(self, c: Call) -> Any:
        symbol = c.params.get("symbol")
        if symbol:
            return {"symbol": symbol, "price": shapes.num(self._x.last_price(symbol))}
        return [{"symbol": s.symbol, "price": shapes.num(self._x.last_price(s.symbol))} for s in self._x.symbols()]

    def _book_ticker(self, c: Call) -> Any:
        symbol = c.params.get("symbol")
        if symbol:
            return shapes.book_ticker(self._x.book_top(symbol))
        return [shapes.book_ticker(self._x.book_top(s.symbol)) for s in self._x.symbols()]

    # -- trading ------------------------------------------------------------------------

    def _place(self, c: Call, test: bool) -> Any:
        p = c.params
        assert c.api_key is not None
        return self._x.place_order(
            c.api_key,
            _required(p, "symbol"),
            _required(p, "side").upper(),
            _required(p, "type").upper(),
            quantity=_amount(p, "quantity", 10097),
            quote_qty=_amount(p, "quoteOrderQty", 10097),
            price=_amount(p, "price", BAD_PARAM),
            client_order_id=p.get("newClientOrderId") or None,
            test=test,
        )

    def _new_order(self, c: Call) -> Any:
        return shapes.new_order(self._place(c, test=False))

    def _test_order(self, c: Call) -> Any:
        self._place(c, test=True)
        return {}

    def _cancel_order(self, c: Call) -> Any:
        symbol = _required(c.params, "symbol")
        order_id, client_id = _order_ref(c.params)
        assert c.api_key is not None
        self._unless_hidden(c, self._x.get_order(c.api_key, symbol, order_id, client_id))
        order = self._x.cancel_order(c.api_key, symbol, order_id, client_id)
        return shapes.canceled(order, c.params.get("newClientOrderId"))

    def _get_order(self, c: Call) -> Any:
        symbol = _required(c.params, "symbol")
        order_id, client_id = _order_ref(c.params)
        assert c.api_key is not None
        return shapes.order(self._unless_hidden(c, self._x.get_order(c.api_key, symbol, order_id, client_id)))

    def _unless_hidden(self, c: Call, order: SimOrder) -> SimOrder:
        """The order, or MEXC's answer for one it does not know yet (an injected fault)."""
        if self._faults.hides_order(order.api_key, order.time, c.now):
            raise SimReject(UNKNOWN_ORDER)
        return order

    def _open_orders(self, c: Call) -> Any:
        assert c.api_key is not None
        found = self._x.open_orders(c.api_key, c.params.get("symbol") or None)
        return [shapes.order(o) for o in found if not self._faults.hides_order(c.api_key, o.time, c.now)]

    def _cancel_open_orders(self, c: Call) -> Any:
        symbols = _names(_required(c.params, "symbol"))
        if len(symbols) > 5:
            raise SimReject(BAD_PARAM)
        assert c.api_key is not None
        return [shapes.canceled(o) for o in self._x.cancel_open_orders(c.api_key, symbols)]

    def _cancel_all(self, c: Call) -> Any:
        assert c.api_key is not None
        self._x.cancel_open_orders(c.api_key, None)
        return {"code": 200, "msg": "success", "timestamp": c.now}

    def _all_orders(self, c: Call) -> Any:
        symbol = _required(c.params, "symbol")
        limit = _limit(c.params, default=500, maximum=1000)
        assert c.api_key is not None
        orders = self._x.all_orders(c.api_key, symbol, _int(c.params, "startTime"), _int(c.params, "endTime"), limit)
        return [shapes.order(o) for o in orders]

    def _account(self, c: Call) -> Any:
        assert c.api_key is not None
        return shapes.account(
            self._x.balances(c.api_key), self._x.account_update_time(c.api_key), self._x.maker_fee, self._x.taker_fee
        )

    def _my_trades(self, c: Call) -> Any:
        symbol = _required(c.params, "symbol")
        limit = _limit(c.params, default=100, maximum=100)
        assert c.api_key is not None
        end = self._faults.trades_visible_until(c.api_key, c.now, _int(c.params, "endTime"))
        trades = self._x.my_trades(c.api_key, symbol, c.params.get("orderId") or None, _int(c.params, "startTime"), end, limit)
        return [shapes.my_trade(t) for t in trades]

    # -- listen keys --------------------------------------------------------------------

    def _create_listen_key(self, c: Call) -> Any:
        assert c.api_key is not None
        try:
            return {"listenKey": self._keys.create(c.api_key)}
        except ListenKeyLimit:
            raise SimReject(LISTEN_KEY_LIMIT) from None

    def _list_listen_keys(self, c: Call) -> Any:
        assert c.api_key is not None
        return {"listenKey": self._keys.list(c.api_key)}

    def _keep_alive_listen_key(self, c: Call) -> Any:
        key = _required(c.params, "listenKey")
        assert c.api_key is not None
        if not self._keys.keep_alive(c.api_key, key):
            raise SimReject(BAD_PARAM)
        return {"listenKey": key}

    def _delete_listen_key(self, c: Call) -> Any:
        key = _required(c.params, "listenKey")
        assert c.api_key is not None
        if not self._keys.delete(c.api_key, key):
            raise SimReject(BAD_PARAM)
        return {"listenKey": key}


class _Refused(Exception):
    def __init__(self, reject: SimReject, retry_after: int) -> None:
        super().__init__(reject.msg)
        self.reject = reject
        self.retry_after = retry_after


def _http_failure(status: int) -> SimReject:
    """A 429, 418 or 5xx answer with MEXC's wording for it."""
    return SimReject(status, msg="IP banned" if status == 418 else message_for(status), http_status=status)


# -- parameter helpers ----------------------------------------------------------------


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise missing(name)
    return value


def _names(value: str | None) -> list[str]:
    if not value:
        return []
    text = value.strip()
    if text.startswith("["):  # symbols=["BTCUSDT","ETHUSDT"], as some clients send it
        try:
            return [str(s) for s in json.loads(text)]
        except ValueError:
            raise SimReject(BAD_PARAM) from None
    return [s.strip() for s in text.split(",") if s.strip()]


def _int(params: dict[str, str], name: str) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)  # type: ignore[arg-type]
    except ValueError:
        raise SimReject(BAD_PARAM) from None


def _limit(params: dict[str, str], *, default: int, maximum: int) -> int:
    value = _int(params, "limit")
    if value is None:
        return default
    return max(1, min(value, maximum))


def _amount(params: dict[str, str], name: str, bad_code: int) -> Decimal | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    value = to_decimal(raw)
    if value is None:
        raise SimReject(bad_code)
    return value


def _order_ref(params: dict[str, str]) -> tuple[str | None, str | None]:
    order_id = params.get("orderId") or None
    client_id = params.get("origClientOrderId") or None
    if order_id is None and client_id is None:
        raise SimReject(700004)
    return order_id, client_id


def build_app(api: MexcRestApi, control: object | None = None) -> falcon.App:
    """The WSGI app: MEXC's API, and the simulator's own controls under /_sim/."""
    app = falcon.App(media_type=falcon.MEDIA_JSON)
    app.add_sink(api, prefix=r"^/api/v3/")
    if control is not None:
        from engine.exchanges.mexc_sim.control import add_routes

        add_routes(app, control)
    return app
