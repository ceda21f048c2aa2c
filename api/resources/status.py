"""/api/v1/status: operator views and controls (admin only)."""

from __future__ import annotations

import falcon
import msgspec

from actors.client import EngineClient
from actors.risk import RiskStatus
from api.auth import principal
from api.resources import read, send
from api.schemas import HaltRequest
from engine.errors import ValidationFailed
from engine.money import fmt


def risk_out(status: RiskStatus) -> dict:
    out = msgspec.to_builtins(status)
    out["max_order_notional"] = fmt(status.max_order_notional)
    return {_camel(k): v for k, v in out.items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


class Risk:
    roles = {"GET": "admin"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send(resp, risk_out(self.client.risk_status()))


class HaltTrading:
    roles = {"POST": "admin"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body: HaltRequest = read(req, HaltRequest)
        if not body.reason.strip():
            raise ValidationFailed("reason must not be empty")
        send(resp, risk_out(self.client.halt(body.reason.strip()[:500], principal(req).user_id)))


class ResumeTrading:
    roles = {"POST": "admin"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        send(resp, risk_out(self.client.resume(principal(req).user_id)))


class Actors:
    roles = {"GET": "admin"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        system = self.client.system
        send(resp, {
            "actors": system.actor_health(),
            "portfolios": system.live_portfolios(),
            "conflation": {"offered": system.markets.conflator.offered, "delivered": system.markets.conflator.delivered},
        })


class Reconciliations:
    """What reconciliation with the exchange found different, newest first."""

    roles = {"GET": "admin"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        records = list(self.client.system.reconciliations)[::-1]
        send(resp, [{_camel(k): v for k, v in msgspec.structs.asdict(r).items()} for r in records])


class Sync:
    """Replication to Turso: last success, last error, how far behind."""

    roles = {"GET": "admin"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        turso = self.client.system.turso
        if turso is None:
            config = self.client.system.config
            send(resp, {"enabled": False, "configured": bool(config.turso_enabled and config.turso_url)})
            return
        send(resp, msgspec.to_builtins(turso.status()))
