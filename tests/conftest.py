"""Fixtures shared by all tests: an engine in-process, or a real server process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.client import EngineClient
from actors.embedded import embedded_engine
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
def client(config: Config) -> Iterator[EngineClient]:
    """An engine in this process through its embedded entry point, as a notebook or a
    tool would start one."""
    with embedded_engine(config) as client:
        yield client


@pytest.fixture
def system(client: EngineClient) -> ActorSystem:
    """The actors behind ``client``, for tests that look inside."""
    return client.system


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    """One real engine (gunicorn + app) shared by the API tests; each test uses its own users."""
    engine = EngineProcess(tmp_path_factory.mktemp("server")).start()
    try:
        yield engine
    finally:
        engine.stop()
