"""/api/v1/market/alerts: a user's price alerts and each time they fired."""

from __future__ import annotations

import falcon

from actors.client import EngineClient
from api.auth import principal
from api.resources import query_int, read, send
from api.schemas import AlertRequest, alert_out, firing_out


class Alerts:
    roles = {"GET": "viewer", "POST": "viewer"}  # watching prices trades nothing

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send(resp, [alert_out(a) for a in self.client.alerts(principal(req).user_id)])

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body: AlertRequest = read(req, AlertRequest)
        send(resp, alert_out(self.client.create_alert(principal(req).user_id, body)), falcon.HTTP_201)


class AlertOne:
    roles = {"GET": "viewer", "DELETE": "viewer"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response, alert_id: str) -> None:
        [alert] = self.client.alerts(principal(req).user_id, alert_id)
        send(resp, alert_out(alert))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, alert_id: str) -> None:
        send(resp, alert_out(self.client.delete_alert(principal(req).user_id, alert_id)))


class AlertFirings:
    roles = {"GET": "viewer"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response, alert_id: str) -> None:
        limit = query_int(req, "limit", 100, 1, 200)
        send(resp, [firing_out(f) for f in self.client.alert_firings(principal(req).user_id, alert_id, limit)])
