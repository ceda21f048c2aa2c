"""/api/v1/trading/rules: a user's auto-buy rules and what each execution did."""

from __future__ import annotations

import falcon
import msgspec

from actors.client import EngineClient
from api.auth import principal
from api.resources import query_int, read, send
from api.schemas import RuleRequest, decode_body, execution_out, rule_out, rule_request_of
from engine.errors import InvalidJson


class Rules:
    roles = {"GET": "viewer", "POST": "trader"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send(resp, [rule_out(r) for r in self.client.rules(principal(req).user_id)])

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body: RuleRequest = read(req, RuleRequest)
        send(resp, rule_out(self.client.create_rule(principal(req).user_id, body)), falcon.HTTP_201)


class RuleOne:
    roles = {"GET": "viewer", "PUT": "trader", "PATCH": "trader", "DELETE": "trader"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response, rule_id: str) -> None:
        [rule] = self.client.rules(principal(req).user_id, rule_id)
        send(resp, rule_out(rule))

    def on_put(self, req: falcon.Request, resp: falcon.Response, rule_id: str) -> None:
        body: RuleRequest = read(req, RuleRequest)
        send(resp, rule_out(self.client.update_rule(principal(req).user_id, rule_id, body)))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, rule_id: str) -> None:
        """The fields given replace the rule's; the others stay (null clears one)."""
        user = principal(req).user_id
        changes = read(req, dict)
        if not isinstance(changes, dict):
            raise InvalidJson("the request body must be a JSON object")
        [rule] = self.client.rules(user, rule_id)
        merged = {**rule_request_of(rule), **changes}
        body: RuleRequest = decode_body(msgspec.json.encode(merged), RuleRequest)  # type: ignore[assignment]
        send(resp, rule_out(self.client.update_rule(user, rule_id, body)))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, rule_id: str) -> None:
        send(resp, rule_out(self.client.delete_rule(principal(req).user_id, rule_id)))


class RuleSwitch:
    roles = {"POST": "trader"}

    def __init__(self, client: EngineClient, enabled: bool) -> None:
        self.client = client
        self.enabled = enabled

    def on_post(self, req: falcon.Request, resp: falcon.Response, rule_id: str) -> None:
        send(resp, rule_out(self.client.enable_rule(principal(req).user_id, rule_id, self.enabled)))


class RuleExecutions:
    roles = {"GET": "viewer"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response, rule_id: str) -> None:
        limit = query_int(req, "limit", 100, 1, 200)
        send(resp, [execution_out(e) for e in self.client.executions(principal(req).user_id, rule_id, limit)])
