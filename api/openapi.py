"""The OpenAPI 3.1 document, generated from the same msgspec types the API speaks.

Routes are listed here once, with their role and the types of their request and
response; the schemas come from msgspec, so the document cannot drift from
what the handlers encode and decode.
"""

from __future__ import annotations

from typing import Any

import msgspec

from api import schemas
from engine import __version__

Route = tuple[str, str, str, str | None, Any, Any]  # method, path, summary, role, request, response

ROUTES: list[Route] = [
    ("get", "/health", "Liveness of actors and journal", None, None, dict[str, Any]),
    ("get", "/version", "Name and version", None, None, dict[str, str]),
    ("get", "/config", "Effective configuration, secrets redacted", None, None, dict[str, Any]),
    ("get", "/api/v1/me", "The caller's user id and role", "viewer", None, dict[str, str]),
    ("get", "/api/v1/market/symbols", "Tradable symbols and their rules", "viewer", None, list[schemas.SymbolOut]),
    ("get", "/api/v1/market/tickers", "Every symbol's ticker", "viewer", None, list[schemas.TickerOut]),
    ("get", "/api/v1/market/ticker/{symbol}", "One symbol's ticker", "viewer", None, schemas.TickerOut),
    ("get", "/api/v1/market/candles/{symbol}", "Candles", "viewer", None, dict[str, Any]),
    ("get", "/api/v1/market/orderbook/{symbol}", "Order book", "viewer", None, schemas.OrderBookOut),
    ("get", "/api/v1/market/trades/{symbol}", "Recent trades", "viewer", None, list[schemas.TradeOut]),
    ("get", "/api/v1/account/wallet", "The caller's balances", "viewer", None, schemas.WalletOut),
    ("post", "/api/v1/account/wallet/refresh", "Reconcile with the exchange, then the balances", "viewer", None, schemas.WalletOut),
    ("post", "/api/v1/trading/orders", "Place an order", "trader", schemas.OrderRequest, schemas.OrderOut),
    ("get", "/api/v1/trading/orders", "The caller's orders, newest first", "viewer", None, list[schemas.OrderOut]),
    ("get", "/api/v1/trading/orders/{order_id}", "One order", "viewer", None, schemas.OrderOut),
    ("delete", "/api/v1/trading/orders/{order_id}", "Cancel an open order", "trader", None, schemas.OrderOut),
    ("get", "/api/v1/status/risk/users/{user_id}", "A user's risk limits (their own and in effect), halt and daily PnL",
     "admin", None, dict[str, Any]),
    ("put", "/api/v1/status/risk/users/{user_id}", "Set a user's own risk limits (null: the engine's)", "admin",
     schemas.LimitsRequest, dict[str, Any]),
    ("post", "/api/v1/status/risk/users/{user_id}/halt", "Halt a user's new orders", "admin", schemas.HaltRequest, dict[str, Any]),
    ("post", "/api/v1/status/risk/users/{user_id}/resume", "Lift a user's halt (and today's daily-loss halt)", "admin",
     None, dict[str, Any]),
    ("post", "/api/v1/market/alerts", "Create a price alert", "viewer", schemas.AlertRequest, schemas.AlertOut),
    ("get", "/api/v1/market/alerts", "The caller's alerts, oldest first", "viewer", None, list[schemas.AlertOut]),
    ("get", "/api/v1/market/alerts/{alert_id}", "One alert", "viewer", None, schemas.AlertOut),
    ("delete", "/api/v1/market/alerts/{alert_id}", "Delete an alert", "viewer", None, schemas.AlertOut),
    ("get", "/api/v1/market/alerts/{alert_id}/firings", "Each time the alert fired, newest first", "viewer", None,
     list[schemas.FiringOut]),
    ("post", "/api/v1/trading/rules", "Create an auto-buy rule", "trader", schemas.RuleRequest, schemas.RuleOut),
    ("get", "/api/v1/trading/rules", "The caller's rules, oldest first", "viewer", None, list[schemas.RuleOut]),
    ("get", "/api/v1/trading/rules/{rule_id}", "One rule", "viewer", None, schemas.RuleOut),
    ("put", "/api/v1/trading/rules/{rule_id}", "Replace a rule's settings", "trader", schemas.RuleRequest, schemas.RuleOut),
    ("patch", "/api/v1/trading/rules/{rule_id}", "Change some of a rule's settings", "trader", None, schemas.RuleOut),
    ("delete", "/api/v1/trading/rules/{rule_id}", "Delete a rule", "trader", None, schemas.RuleOut),
    ("post", "/api/v1/trading/rules/{rule_id}/enable", "Enable a rule", "trader", None, schemas.RuleOut),
    ("post", "/api/v1/trading/rules/{rule_id}/disable", "Disable a rule", "trader", None, schemas.RuleOut),
    ("get", "/api/v1/trading/rules/{rule_id}/executions", "A rule's executions, newest first", "viewer", None,
     list[schemas.ExecutionOut]),
    ("get", "/api/v1/trading/positions", "The caller's positions (average cost, fees included), by symbol", "viewer",
     None, list[schemas.PositionOut]),
    ("get", "/api/v1/trading/positions/{symbol}", "One symbol's position (zero if never traded)", "viewer", None,
     schemas.PositionOut),
    ("get", "/api/v1/status/risk", "Kill switch, limits, failures", "admin", None, dict[str, Any]),
    ("get", "/api/v1/status/feed", "Market data per symbol: age, updates/s, conflated, stream state, triggers", "admin",
     None, list[dict[str, Any]]),
    ("post", "/api/v1/status/halt", "Halt all trading", "admin", schemas.HaltRequest, dict[str, Any]),
    ("post", "/api/v1/status/resume", "Resume trading", "admin", None, dict[str, Any]),
    ("get", "/api/v1/status/actors", "Actor liveness", "admin", None, dict[str, Any]),
    ("get", "/api/v1/status/sync", "Replication to Turso", "admin", None, dict[str, Any]),
    ("get", "/api/v1/status/reconciliation", "What reconciliation found different", "admin", None, list[dict[str, Any]]),
    ("put", "/api/v1/paper/prices/{symbol}", "Jump the simulated market to a price", "admin", schemas.PriceRequest, schemas.TickerOut),
    ("post", "/api/v1/paper/symbols", "List a new symbol on the simulator", "admin", schemas.ListingRequest, dict[str, Any]),
]

def _int(lo: int, hi: int, default: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": lo, "maximum": hi, "default": default}


# Query parameters, by (method, path): name -> (schema, description)
QUERY: dict[tuple[str, str], dict[str, tuple[dict[str, Any], str]]] = {
    ("get", "/api/v1/market/candles/{symbol}"): {
        "interval": ({"enum": ["1m", "5m", "15m", "30m", "60m", "1h", "4h", "1d"], "default": "1m"}, "candle length (1h = 60m)"),
        "limit": (_int(1, 1000, 100), "newest candles to return"),
    },
    ("get", "/api/v1/market/orderbook/{symbol}"): {"depth": (_int(1, 100, 20), "levels per side")},
    ("get", "/api/v1/market/trades/{symbol}"): {"limit": (_int(1, 500, 50), "newest trades to return")},
    ("get", "/api/v1/trading/orders"): {
        "status": ({"enum": ["open", "all"], "default": "all"}, "only open orders, or all"),
        "symbol": ({"type": "string"}, "only this symbol's orders"),
        "limit": (_int(1, 1000, 100), "newest orders to return"),
        "clientOrderId": ({"type": "string"}, "the one order with this client order id"),
    },
}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["success", "error"],
    "properties": {
        "success": {"const": False},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}},
        },
    },
}


def document() -> dict[str, Any]:
    types = [t for route in ROUTES for t in (route[4], route[5]) if t is not None]
    refs, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    by_type = dict(zip(types, refs, strict=True))  # one ref per type
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, role, request, response in ROUTES:
        operation: dict[str, Any] = {
            "summary": summary,
            "responses": {
                "2XX": {"description": "success", "content": {"application/json": {"schema": _envelope(by_type[response])}}},
                "default": {"description": "error", "content": {"application/json": {"schema": ERROR_SCHEMA}}},
            },
        }
        if role is not None:
            operation["security"] = [{"bearer": []}]
            operation["description"] = f"Needs the {role} role."
        if request is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": by_type[request]}}}
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_params(path)
        ] + [
            {"name": name, "in": "query", "required": False, "schema": schema, "description": description}
            for name, (schema, description) in QUERY.get((method, path), {}).items()
        ]
        if parameters:
            operation["parameters"] = parameters
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "cryptobot", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _envelope(data_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["success", "data"],
        "properties": {"success": {"const": True}, "data": data_schema},
    }


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
