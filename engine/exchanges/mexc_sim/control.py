"""The simulator's own controls over HTTP, under /_sim/ (never one of MEXC's paths).

For tests and demos driving a simulator in another process (``cryptobot
simulator``). JSON in, JSON out; amounts are strings, as everywhere in MEXC.

    POST /_sim/accounts         {"apiKey", "secret", "balances": {"USDT": "10000"}}
    POST /_sim/price            {"symbol", "price"}
    POST /_sim/symbols          {"symbol", "basePrecision", "quotePrecision", "price", "afterSeconds"?}
    POST /_sim/faults           {"kind": "fail_next", "count", "status", "retryAfter"?, "method"?, "path"?}
                                {"kind": "fail_after_order", "count", "status"}
                                {"kind": "delay", "seconds", "count"?}
                                {"kind": "pushes", "apiKey", "mode", "count"?, "probability"?, "ms"?, "seed"?}
                                    mode "drop" | "duplicate" | "delay" (ms) | "reorder" (count = window,
                                    ms = longest wait for it) | "deals_last"; see Faults.pushes
                                {"kind": "trades_lag", "apiKey", "ms"}
                                {"kind": "unknown_order", "apiKey", "ms"}
                                {"kind": "clear", "apiKey"?}   every fault, or only that account's
                                (an "apiKey" must name an account: 400 otherwise)
    GET  /_sim/faults?apiKey=   {"seen", "dropped", "duplicated", "held"}: what its push faults did
    POST /_sim/drop-websockets
    GET  /_sim/orders?apiKey=   every order ever accepted for the key (MEXC's order shape)
    GET  /_sim/balances?apiKey= {"USDT": {"free", "locked"}, ...}
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

import falcon
import msgspec

from engine.exchanges.mexc_sim import shapes
from engine.exchanges.mexc_sim.faults import Faults
from engine.exchanges.mexc_sim.model import SimOrder
from engine.model import Balance
from engine.money import amount_problem, to_decimal


class SimControls(Protocol):
    faults: Faults

    def add_account(self, api_key: str, secret: str, balances: dict[str, Decimal] | None = None) -> None: ...

    def has_account(self, api_key: str) -> bool: ...

    def set_price(self, symbol: str, price: Decimal) -> Decimal: ...

    def list_symbol(self, symbol: str, base_precision: int, quote_precision: int, price: Decimal) -> object: ...

    def orders_seen(self, api_key: str) -> list[SimOrder]: ...

    def account_balances(self, api_key: str) -> dict[str, Balance]: ...


class _Bad(Exception):
    pass


def _body(req: falcon.Request) -> dict[str, Any]:
    raw = req.bounded_stream.read()
    if not raw.strip():
        return {}
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise _Bad("body is not JSON") from None
    if not isinstance(data, dict):
        raise _Bad("body must be a JSON object")
    return data


def _field(data: dict[str, Any], name: str) -> Any:
    if data.get(name) in (None, ""):
        raise _Bad(f"{name} is required")
    return data[name]


def _decimal(data: dict[str, Any], name: str) -> Decimal:
    value = to_decimal(str(_field(data, name)))
    if value is None:
        raise _Bad(f"{name} must be a decimal number")
    return value


def _int(data: dict[str, Any], name: str, default: int | None = None) -> int:
    raw = data.get(name)
    if raw is None and default is not None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise _Bad(f"{name} must be an integer")
    try:
        return int(raw)
    except ValueError:
        raise _Bad(f"{name} must be an integer") from None


def _float(data: dict[str, Any], name: str, default: float | None = None) -> float:
    raw = data.get(name)
    if raw is None and default is not None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise _Bad(f"{name} must be a number")
    try:
        return float(raw)
    except ValueError:
        raise _Bad(f"{name} must be a number") from None


def _answer(resp: falcon.Response, body: Any, status: int = 200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = msgspec.json.encode(body)


class _Resource:
    def __init__(self, sim: SimControls) -> None:
        self.sim = sim

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._guard(req, resp, self.post)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._guard(req, resp, self.get)

    def _guard(self, req: falcon.Request, resp: falcon.Response, action: Any) -> None:
        try:
            _answer(resp, action(req))
        except falcon.HTTPError:
            raise
        except _Conflict as exc:
            _answer(resp, {"error": str(exc)}, 409)
        except (_Bad, ValueError, KeyError) as exc:
            _answer(resp, {"error": str(exc)}, 400)
        except Exception as exc:  # noqa: BLE001 - a SimReject, e.g. an unknown symbol
            _answer(resp, {"error": str(exc)}, 400)

    def post(self, req: falcon.Request) -> Any:
        raise falcon.HTTPMethodNotAllowed(["GET"])

    def get(self, req: falcon.Request) -> Any:
        raise falcon.HTTPMethodNotAllowed(["POST"])


class _Conflict(Exception):
    pass


class Accounts(_Resource):
    def post(self, req: falcon.Request) -> Any:
        data = _body(req)
        api_key, secret = str(_field(data, "apiKey")), str(_field(data, "secret"))
        balances = {}
        for asset, value in (data.get("balances") or {}).items():
            amount = _decimal({"v": value}, "v")
            problem = amount_problem(amount) if amount != 0 else None
            if problem is not None:
                raise _Bad(f"balance of {asset} {problem}")
            balances[str(asset)] = amount
        update = data.get("update", False)
        if not isinstance(update, bool):
            raise _Bad("update must be true or false")
        if self.sim.has_account(api_key) and not update:
            raise _Conflict(f"account {api_key} exists; a running engine may be using it (send \"update\": true to change it)")
        # An update rotates the secret and sets the listed assets' free balances (a
        # deposit or withdrawal the engine did not make), pushed like any balance change.
        self.sim.add_account(api_key, secret, balances)
        return {"apiKey": api_key}


class Price(_Resource):
    def post(self, req: falcon.Request) -> Any:
        data = _body(req)
        symbol = str(_field(data, "symbol"))
        price = self.sim.set_price(symbol, _decimal(data, "price"))
        return {"symbol": symbol, "price": shapes.num(price)}


class Symbols(_Resource):
    def post(self, req: falcon.Request) -> Any:
        data = _body(req)
        symbol = str(_field(data, "symbol"))
        base_p, quote_p = _int(data, "basePrecision"), _int(data, "quotePrecision")
        price = _decimal(data, "price")
        after = _float(data, "afterSeconds", 0.0)
        if not 0 <= after <= 86_400:
            raise _Bad("afterSeconds must be 0 to 86400")
        if after > 0:
            self.sim.faults.list_later(after, symbol, base_p, quote_p, price)
            return {"symbol": symbol, "listedIn": after}
        self.sim.list_symbol(symbol, base_p, quote_p, price)
        return {"symbol": symbol, "listedIn": 0}


class FaultsResource(_Resource):
    def post(self, req: falcon.Request) -> Any:
        data = _body(req)
        kind = str(_field(data, "kind"))
        faults = self.sim.faults
        count = _int(data, "count", 1)
        if kind == "fail_next":
            retry = data.get("retryAfter")
            method, path = data.get("method"), data.get("path")
            faults.fail_next(
                count, _int(data, "status", 429), None if retry is None else _int(data, "retryAfter"),
                method=None if method is None else str(method).upper(), path=None if path is None else str(path).strip("/"),
            )
        elif kind == "fail_after_order":
            faults.fail_after_order(count, _int(data, "status", 500))
        elif kind == "delay":
            faults.delay(_float(data, "seconds"), None if data.get("count") is None else count)
        elif kind == "pushes":
            faults.pushes(
                self._account(data), str(_field(data, "mode")),
                count=None if data.get("count") is None else count,
                probability=None if data.get("probability") is None else _float(data, "probability"),
                ms=None if data.get("ms") is None else _int(data, "ms"), seed=_int(data, "seed", 0),
            )
        elif kind == "trades_lag":
            faults.lag_trades(self._account(data), _int(data, "ms"))
        elif kind == "unknown_order":
            faults.unknown_after_create(self._account(data), _int(data, "ms"))
        elif kind == "clear":
            faults.clear(None if data.get("apiKey") is None else self._account(data))
        else:
            raise _Bad(f"unknown fault kind {kind!r}")
        return {"kind": kind}

    def get(self, req: falcon.Request) -> Any:
        stats = self.sim.faults.push_stream.statistics(_api_key(req))
        return msgspec.structs.asdict(stats)

    def _account(self, data: dict[str, Any]) -> str:
        api_key = str(_field(data, "apiKey"))
        if not self.sim.has_account(api_key):
            raise _Bad(f"no account {api_key}")
        return api_key


class DropWebsockets(_Resource):
    def post(self, req: falcon.Request) -> Any:
        return {"dropped": self.sim.faults.drop_websockets()}


def _api_key(req: falcon.Request) -> str:
    api_key = req.get_param("apiKey")
    if not api_key:
        raise _Bad("apiKey is required")
    return api_key


class Orders(_Resource):
    def get(self, req: falcon.Request) -> Any:
        api_key = _api_key(req)
        return [shapes.order(o) for o in self.sim.orders_seen(api_key)]


class Balances(_Resource):
    def get(self, req: falcon.Request) -> Any:
        api_key = _api_key(req)
        return {
            asset: {"free": shapes.num(b.free), "locked": shapes.num(b.locked)}
            for asset, b in self.sim.account_balances(api_key).items()
        }


def add_routes(app: falcon.App[falcon.Request, falcon.Response], sim: SimControls) -> None:
    app.add_route("/_sim/accounts", Accounts(sim))
    app.add_route("/_sim/price", Price(sim))
    app.add_route("/_sim/symbols", Symbols(sim))
    app.add_route("/_sim/faults", FaultsResource(sim))
    app.add_route("/_sim/drop-websockets", DropWebsockets(sim))
    app.add_route("/_sim/orders", Orders(sim))
    app.add_route("/_sim/balances", Balances(sim))
