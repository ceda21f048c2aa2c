"""Builds the engine and its HTTP app from the environment: what a web worker runs."""

from __future__ import annotations

import threading

import falcon
import structlog

from actors.client import EngineClient
from actors.system import ActorSystem
from api.app import create_app
from engine import config as config_module
from engine import logs
from engine.auth import verifier_for
from engine.config import Config

log = structlog.get_logger(__name__)


class Server:
    """One engine and its app; ``close`` stops the engine exactly once."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.system = ActorSystem(config).start()
        self.client = EngineClient(self.system)
        self.app: falcon.App = create_app(self.client, verifier_for(config))
        self._closed = threading.Event()

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self.system.stop()


def from_environment() -> Server:
    config = config_module.load()
    logs.configure(config.log_level, config.log_format)
    return Server(config)
