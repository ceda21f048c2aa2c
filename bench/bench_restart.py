"""A SIGKILLed engine on EXCHANGE=mexc with resting orders: how soon it serves again,
and how long the first wallet refresh (a reconciliation with the exchange) takes.

For each count of resting LIMIT orders: a `cryptobot simulator` process, an engine
(gunicorn) trading its account, the orders placed far from the market, the engine's
process group killed, and a new engine started on the same data directory. Times:
- startToServe: from the new process's start to its first /health 200;
- engineStart: of that, from gunicorn booting its worker to the engine's
  "engine.started" (the app's imports, the journal, the actors, the owner's
  reconciliation with the exchange), from its log;
- refresh: POST /api/v1/account/wallet/refresh right after, to its 200.
Each engine is killed and started again RESTARTS times on the same orders: the
median and the slowest are shown (the machine's other work shows in the slowest).
MEXC lets an account hold 500 open orders; for more, the simulator's limit is lifted.
Prints one JSON object per count; never fails.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.restarts import BALANCES, Rules, place_resting, timed_refresh, timed_restart  # noqa: E402
from tests.support.server import EngineProcess  # noqa: E402
from tests.support.simulator import SimulatorProcess  # noqa: E402

KEY, SECRET, USER = "bench-key", "bench-secret", "alice"
MEXC_OPEN_ORDER_LIMIT = 500
RESTARTS = 3


def engine_start_seconds(log: str) -> float | None:
    """From the last worker boot to the last engine.started in a server log."""
    booted = started = None
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        event, stamp = str(entry.get("event", "")), entry.get("timestamp")
        if stamp and event.startswith("Booting worker"):
            booted = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        elif stamp and event == "engine.started":
            started = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (started - booted).total_seconds() if booted and started and started > booted else None


def run(resting: int) -> dict[str, object]:
    limit = None if resting <= MEXC_OPEN_ORDER_LIMIT else resting
    sim = SimulatorProcess(KEY, SECRET, BALANCES, max_open_orders=limit).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp)
            env = {**sim.engine_env(USER), "ORDER_RATE_LIMIT": "0", "LOG_LEVEL": "INFO"}
            engine = EngineProcess(data, env).start()
            try:
                with engine.client(USER, timeout=30.0) as http:
                    started = time.monotonic()
                    place_resting(http, Rules(http), resting, sim)
                    placed_s = time.monotonic() - started
            finally:
                engine.kill()
            figures: dict[str, list[float]] = {"startToServe": [], "engineStart": [], "refresh": []}
            statuses = set()
            for _ in range(RESTARTS):
                restarted, serve_s = timed_restart(data, env, engine.port)
                try:
                    with restarted.client(USER, timeout=60.0) as http:
                        response, refresh_s = timed_refresh(http)
                finally:
                    restarted.kill()
                statuses.add(response.status_code)
                figures["startToServe"].append(serve_s)
                figures["refresh"].append(refresh_s)
                figures["engineStart"].append(engine_start_seconds(restarted.logs()) or float("nan"))
            result: dict[str, object] = {
                "bench": "restart", "exchange": "mexc", "restingOrders": resting,
                "simulatorOpenOrderLimit": limit or MEXC_OPEN_ORDER_LIMIT, "restarts": RESTARTS,
                "refreshStatuses": sorted(statuses), "placeSeconds": round(placed_s, 2),
            }
            for name, values in figures.items():
                result[f"{name}SecondsMedian"] = round(statistics.median(values), 3)
                result[f"{name}SecondsMax"] = round(max(values), 3)
            return result
    finally:
        sim.stop()


def main(counts: list[int]) -> None:
    for count in counts:
        print(json.dumps(run(count)), flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [200, 1000])
