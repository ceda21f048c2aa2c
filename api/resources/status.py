"""/api/v1/status: operator views and controls (admin only)."""

from __future__ import annotations

from decimal import Decimal

import falcon
import msgspec

from actors.client import EngineClient
from actors.risk import RiskStatus
from api.auth import principal
from api.resources import read, send
from api.schemas import HaltRequest, LimitsRequest, camel
from engine.errors import ValidationFailed
from engine.money import fmt
from engine.risk import Limits, UserRisk


def risk_out(status: RiskStatus) -> dict:
    out = msgspec.to_builtins(status)
    out["max_order_notional"] = fmt(status.max_order_notional)
    out["limits"] = limits_out(status.limits)
    return {camel(k): v for k, v in out.items()}


def limits_out(limits: Limits) -> dict:
    """Every limit by name; null where none is set."""
    return {camel(name): (fmt(value) if isinstance(value, Decimal) else value)
            for name, value in ((f, getattr(limits, f)) for f in limits.__struct_fields__)}


def user_risk_out(risk: UserRisk) -> dict:
    return {
        "userId": risk.user_id,
        "limits": limits_out(risk.limits),
        "effective": limits_out(risk.effective),
        "halted": risk.halted,
        "haltReason": risk.halt_reason,
        "dailyLossHalted": risk.daily_loss_halted,
        "dailyPnl": fmt(risk.daily_pnl.quantize(Decimal("1e-10"))),
    }


class UserRiskLimits:
    roles = {"GET": "admin", "PUT": "admin"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        send(resp, user_risk_out(self.client.user_risk(user_id)))

    def on_put(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        body: LimitsRequest = read(req, LimitsRequest)
        send(resp, user_risk_out(self.client.set_user_limits(user_id, body.to_limits(), principal(req).user_id)))


class UserHalt:
    roles = {"POST": "admin"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        body: HaltRequest = read(req, HaltRequest)
        if not body.reason.strip():
            raise ValidationFailed("reason must not be empty")
        send(resp, user_risk_out(self.client.halt_user(user_id, body.reason.strip()[:500], principal(req).user_id)))


class UserResume:
    roles = {"POST": "admin"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        send(resp, user_risk_out(self.client.resume_user(user_id, principal(req).user_id)))


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
        send(resp, [{camel(k): v for k, v in msgspec.structs.asdict(r).items()} for r in records])


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


class Feed:
    """Market data per symbol: how fresh, how fast, how much conflation merged away."""

    roles = {"GET": "admin"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send(resp, self.client.feed_status())
