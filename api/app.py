"""create_app: the Falcon WSGI application over a running engine."""

from __future__ import annotations

import falcon

from actors.client import EngineClient
from api import errors
from api.auth import AuthMiddleware
from api.logging import RequestLogMiddleware
from api.resources import account, alerts, health, market, paper, rules, status, trading
from engine.auth import TokenVerifier


def create_app(client: EngineClient, verifier: TokenVerifier) -> falcon.App:
    app = falcon.App(middleware=(RequestLogMiddleware(), AuthMiddleware(verifier)))
    app.req_options.strip_url_path_trailing_slash = True
    errors.install(app)
    config = client.system.config

    app.add_route("/health", health.Health(client))
    app.add_route("/version", health.Version())
    app.add_route("/config", health.ConfigView(config))
    app.add_route("/openapi.json", health.OpenApi())

    v1 = "/api/v1"
    app.add_route(f"{v1}/me", account.Me())
    app.add_route(f"{v1}/account/wallet", account.Wallet(client))
    app.add_route(f"{v1}/account/wallet/refresh", account.WalletRefresh(client))
    app.add_route(f"{v1}/market/symbols", market.Symbols(client))
    app.add_route(f"{v1}/market/tickers", market.Tickers(client))
    app.add_route(f"{v1}/market/ticker/{{symbol}}", market.Ticker(client))
    app.add_route(f"{v1}/market/candles/{{symbol}}", market.Candles(client))
    app.add_route(f"{v1}/market/orderbook/{{symbol}}", market.OrderBook(client))
    app.add_route(f"{v1}/market/trades/{{symbol}}", market.Trades(client))
    app.add_route(f"{v1}/market/alerts", alerts.Alerts(client))
    app.add_route(f"{v1}/market/alerts/{{alert_id}}", alerts.AlertOne(client))
    app.add_route(f"{v1}/market/alerts/{{alert_id}}/firings", alerts.AlertFirings(client))
    app.add_route(f"{v1}/trading/orders", trading.Orders(client))
    app.add_route(f"{v1}/trading/orders/{{order_id}}", trading.Order(client))
    app.add_route(f"{v1}/trading/rules", rules.Rules(client))
    app.add_route(f"{v1}/trading/rules/{{rule_id}}", rules.RuleOne(client))
    app.add_route(f"{v1}/trading/rules/{{rule_id}}/enable", rules.RuleSwitch(client, True))
    app.add_route(f"{v1}/trading/rules/{{rule_id}}/disable", rules.RuleSwitch(client, False))
    app.add_route(f"{v1}/trading/rules/{{rule_id}}/executions", rules.RuleExecutions(client))
    app.add_route(f"{v1}/trading/positions", trading.Positions(client))
    app.add_route(f"{v1}/trading/positions/{{symbol}}", trading.PositionOfSymbol(client))
    app.add_route(f"{v1}/status/risk", status.Risk(client))
    app.add_route(f"{v1}/status/risk/users/{{user_id}}", status.UserRiskLimits(client))
    app.add_route(f"{v1}/status/risk/users/{{user_id}}/halt", status.UserHalt(client))
    app.add_route(f"{v1}/status/risk/users/{{user_id}}/resume", status.UserResume(client))
    app.add_route(f"{v1}/status/halt", status.HaltTrading(client))
    app.add_route(f"{v1}/status/resume", status.ResumeTrading(client))
    app.add_route(f"{v1}/status/actors", status.Actors(client))
    app.add_route(f"{v1}/status/feed", status.Feed(client))
    app.add_route(f"{v1}/status/reconciliation", status.Reconciliations(client))
    app.add_route(f"{v1}/status/sync", status.Sync(client))
    # Always routed: on a real exchange it answers 409 NOT_SUPPORTED, which says why.
    app.add_route(f"{v1}/paper/prices/{{symbol}}", paper.PaperPrice(client))
    app.add_route(f"{v1}/paper/symbols", paper.PaperListing(client))
    return app
