"""Fixtures shared by all tests: an engine in-process, or a real server process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.client import EngineClient
from actors.system import ActorSystem
from engine import config as config_module
from engine import logs
from engine.config import Config
from tests.support.server import EngineProcess

logs.configure("WARNING", "console")


def make_config(tmp: Path, **env: str) -> Config:
    base = {
        "DATABASE_URL": str(tmp / "cryptobot.db"),
        "PAPER_SPEED": "0",
        "MARKET_STALE_SECONDS": "86400",
        "SUPERVISOR_INTERVAL_SECONDS": "0.05",
        "ASK_TIMEOUT_SECONDS": "5",
    }
    base.update(env)
    return config_module.load(base, isatty=False)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
def system(config: Config) -> Iterator[ActorSystem]:
    system = ActorSystem(config).start()
    try:
        yield system
    finally:
        system.stop()


@pytest.fixture
def client(system: ActorSystem) -> EngineClient:
    return EngineClient(system)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    """One real engine (gunicorn + app) shared by the API tests; each test uses its own users."""
    engine = EngineProcess(tmp_path_factory.mktemp("server")).start()
    try:
        yield engine
    finally:
        engine.stop()
