"""A real Turso (libSQL) server on loopback: the `turso` npm package's binary.

Installed by the test setup (`npm --prefix tests/turso ci`); started with
``--sync-server`` it serves a database file over HTTP (Hrana's /v2/pipeline).
It can be stopped and started again on the same file and port, which is how
the tests make Turso unreachable for a while.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.server import free_port
from tests.support.waiting import wait_for

MODULES = Path(__file__).parents[1] / "turso" / "node_modules"


def turso_binary() -> Path:
    found = sorted(MODULES.glob("@tursodatabase/cli-*/tursodb"))
    if not found:
        pytest.skip("the turso server is not installed: run `npm --prefix tests/turso ci`")
    return found[0]


class TursoServer:
    def __init__(self, db_path: Path, port: int | None = None) -> None:
        self.db_path = db_path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = db_path.with_suffix(".log")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> TursoServer:
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [str(turso_binary()), str(self.db_path), "--sync-server", f"127.0.0.1:{self.port}"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._answers, timeout=20, message=f"turso server on port {self.port}")
        return self

    def _answers(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise AssertionError(f"turso exited: {self.log_path.read_text(errors='replace')[-2000:]}")
        try:
            response = httpx.post(
                f"{self.url}/v2/pipeline",
                json={"requests": [{"type": "execute", "stmt": {"sql": "SELECT 1"}}]},
                timeout=2.0,
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def query(self, sql: str) -> list[list[object]]:
        """Rows of a statement, straight from the server (for assertions)."""
        response = httpx.post(
            f"{self.url}/v2/pipeline", json={"requests": [{"type": "execute", "stmt": {"sql": sql}}]}, timeout=10.0
        )
        result = response.json()["results"][0]
        assert result["type"] == "ok", result
        return [[cell.get("value") for cell in row] for row in result["response"]["result"]["rows"]]

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        self._proc = None
