"""A real engine process: `cryptobot serve` (gunicorn + the app) on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from engine.auth import issue_dev_token, load_or_create_dev_key
from tests.support.waiting import wait_for

BASE_ENV = {
    "HOST": "127.0.0.1",
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "INFO",
    "PAPER_SPEED": "0",  # a still market unless a test moves it
    "MARKET_STALE_SECONDS": "86400",
    "WEB_THREADS": "16",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EngineProcess:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.env = {**os.environ, **BASE_ENV, "PORT": str(self.port), "DATABASE_URL": str(data_dir / "cryptobot.db")}
        self.env.update(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"server-{self.port}.log"
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> EngineProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill -9 takes the worker too
            )
        wait_for(self._healthy, timeout, interval=0.05, message=f"engine on port {self.port} to become healthy")
        return self

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"engine exited with {self.proc.returncode}:\n{self.logs()[-4000:]}")
        try:
            return httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, not a shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def token(self, user: str, role: str = "trader") -> str:
        return issue_dev_token(load_or_create_dev_key(self.data_dir), user, role)

    def client(self, user: str | None = None, role: str = "trader", **kwargs: Any) -> httpx.Client:
        headers = {}
        if user is not None:
            headers["Authorization"] = f"Bearer {self.token(user, role)}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 15.0), **kwargs)


@contextmanager
def running(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[EngineProcess]:
    """An engine process for a module's tests, stopped after them."""
    engine = EngineProcess(data_dir, env=env).start()
    try:
        yield engine
    finally:
        engine.stop()


def new_user(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
