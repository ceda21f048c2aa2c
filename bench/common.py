"""Helpers for benchmarks: an in-process engine on a temporary database."""

from __future__ import annotations

import statistics
import tempfile
from contextlib import contextmanager
from pathlib import Path

from actors.client import EngineClient
from actors.system import ActorSystem
from engine import config as config_module
from engine import logs


@contextmanager
def engine(**env: str):
    logs.configure("ERROR", "console")
    with tempfile.TemporaryDirectory() as tmp:
        base = {"DATABASE_URL": str(Path(tmp) / "bench.db"), "PAPER_SPEED": "0", "ORDER_RATE_LIMIT": "0"}
        base.update(env)
        system = ActorSystem(config_module.load(base, isatty=False)).start()
        try:
            yield system, EngineClient(system)
        finally:
            system.stop()


def describe(latencies_s: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies_s)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms"
