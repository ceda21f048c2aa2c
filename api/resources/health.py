"""Operational endpoints that need no token: /health, /version, /config."""

from __future__ import annotations

import platform

import falcon
import msgspec

from actors.client import EngineClient
from api import openapi
from api.errors import error_body
from api.resources import send
from engine import __version__
from engine.config import Config


class Health:
    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        report = self.client.health()
        if report.ok:
            send(resp, {"status": "ok", "checks": report.checks})
            return
        resp.status = falcon.HTTP_503
        resp.content_type = falcon.MEDIA_JSON
        resp.data = error_body("UNHEALTHY", "; ".join(report.problems), {"checks": report.checks})


class Version:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send(resp, {"name": "cryptobot", "version": __version__, "python": platform.python_version()})


class OpenApi:
    def __init__(self) -> None:
        self.body = msgspec.json.encode(openapi.document())

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self.body


class ConfigView:
    def __init__(self, config: Config) -> None:
        self.config = config

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send(resp, self.config.public())
