"""MEXC's spot REST API under /api/v3, as a Falcon WSGI app over a SimExchange.

One table names every endpoint with its weight and whether it is signed (the
handlers live by job: ``rest_market``, ``rest_trade``, ``rest_account``); one
function takes a request through MEXC's steps in order: injected faults, route,
parameters (query string, then form or JSON body; the query string wins;
unknown ones ignored), API key, rate budget (per IP, or per UID when keyed, and
a calls-per-second limit where MEXC states one), signature and timestamp, the
handler, and MEXC's JSON or error answer. Business errors are HTTP 400 with
``{"code", "msg"}``; 429 and 418 carry Retry-After.

MEXC's futures API shares the host; of it the simulator answers only the
contract list, and lists none, so that clients that load spot and futures
markets together (ccxt's ``load_markets``) find the spot ones.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import falcon
import msgspec
import structlog

from engine.clock import Clock
from engine.exchanges.mexc_sim import auth
from engine.exchanges.mexc_sim.calls import BAD_PARAM, Call, Endpoint, Routes
from engine.exchanges.mexc_sim.core import SimExchange
from engine.exchanges.mexc_sim.faults import Faults
from engine.exchanges.mexc_sim.limits import RateLimiter, RatePolicy
from engine.exchanges.mexc_sim.listenkeys import ListenKeys
from engine.exchanges.mexc_sim.rejects import SimReject, message_for
from engine.exchanges.mexc_sim.rest_account import AccountApi
from engine.exchanges.mexc_sim.rest_market import MarketData
from engine.exchanges.mexc_sim.rest_trade import Trading

if TYPE_CHECKING:
    from engine.exchanges.mexc_sim.control import SimControls

log = structlog.get_logger(__name__)

API_PREFIX = "/api/v3/"
MAX_BODY_BYTES = 1 << 20


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
        self._faults = faults
        self._limiter = limiter
        self._clock = clock
        self.routes: Routes = {
            **MarketData(exchange).routes(),
            **Trading(exchange, faults).routes(),
            **AccountApi(exchange, listen_keys, faults).routes(),
        }
        # Calls-per-second limits MEXC states beside some weights (batchOrders: 2 per
        # second); going over is a 429 like the weight budget's, never a ban.
        self._per_second = {
            route: RateLimiter(clock, RatePolicy(budget=e.per_second, window_ms=1_000, ban_after=sys.maxsize))
            for route, e in self.routes.items()
            if e.per_second
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
            api_key = self._authenticate(req, path, endpoint, params, query, body)
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
        self, req: falcon.Request, path: str, endpoint: Endpoint, params: dict[str, str], query: str, body: str
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
        per_second = self._per_second.get((req.method, path))
        if per_second is not None:
            self._charge(f"uid:{uid}", route, 1, per_second)
        total_params, signature = auth.split_signature(query, body)
        auth.verify(secret, total_params, signature)
        auth.check_time(params, self._clock.now_ms())
        return api_key

    def _charge(self, scope: str, route: str, weight: int, limiter: RateLimiter | None = None) -> None:
        refusal = (limiter or self._limiter).charge(scope, route, weight)
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


class _Refused(Exception):
    def __init__(self, reject: SimReject, retry_after: int) -> None:
        super().__init__(reject.msg)
        self.reject = reject
        self.retry_after = retry_after


def _http_failure(status: int) -> SimReject:
    """A 429, 418 or 5xx answer with MEXC's wording for it."""
    return SimReject(status, msg="IP banned" if status == 418 else message_for(status), http_status=status)


class _NoContracts:
    """``GET /api/v1/contract/detail``: MEXC's futures contract list, empty here."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = msgspec.json.encode({"success": True, "code": 0, "data": []})


def build_app(api: MexcRestApi, control: SimControls | None = None) -> falcon.App[falcon.Request, falcon.Response]:
    """The WSGI app: MEXC's API, and the simulator's own controls under /_sim/."""
    app = falcon.App(media_type=falcon.MEDIA_JSON)
    app.add_sink(api, prefix=r"^/api/v3/")
    app.add_route("/api/v1/contract/detail", _NoContracts())
    if control is not None:
        from engine.exchanges.mexc_sim.control import add_routes

        add_routes(app, control)
    return app
