"""Durable LIMIT orders over HTTP against the real server, with `GET /version` on the
same server as the ceiling; once as started, once pinned to one CPU (`taskset -c 0`).

For each of the two: a fresh `cryptobot serve` (paper venue, dev auth,
ORDER_RATE_LIMIT=0 so the per-user order limit is not what is measured), USERS users
whose portfolios are started first, then wrk with CONNECTIONS connections:
`GET /version` for SECONDS, then `POST /api/v1/trading/orders` (bench/wrk/orders.lua,
round-robin over the users' tokens) for SECONDS. Each order rests (a BUY far below
the market) and is answered only once durable (synchronous=FULL).

Figures: `ratio` = order rps / version rps; `p99_ms` of the orders. Targets: ratio
>= 0.5, p99 <= 25 ms. Never fails.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench.common import QUICK, Server, emit, have_wrk, loadavg, target, wrk  # noqa: E402

USERS = 16
CONNECTIONS = 32
SECONDS = 5 if QUICK else 15
WARMUP_SECONDS = 2
ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "1000"}


def run(cpus: str | None) -> dict:
    load = loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"ORDER_RATE_LIMIT": "0", "PAPER_START_BALANCE": "1000000", "LOG_LEVEL": "INFO"}
        with Server(Path(tmp), env, cpus=cpus) as server:
            users = [f"bench-{n}" for n in range(USERS)]
            tokens = [server.token(u) for u in users]
            with httpx.Client(base_url=server.url, timeout=30) as http:
                for token in tokens:  # portfolios started, accounts opened, outside the timing
                    auth = {"Authorization": f"Bearer {token}"}
                    http.get("/api/v1/account/wallet", headers=auth).raise_for_status()
                    http.post("/api/v1/trading/orders", json=ORDER, headers=auth).raise_for_status()
            wenv = {"BENCH_TOKENS": ",".join(tokens)}
            wrk(f"{server.url}/version", seconds=WARMUP_SECONDS, connections=CONNECTIONS)
            version = wrk(f"{server.url}/version", seconds=SECONDS, connections=CONNECTIONS)
            wrk(server.url, seconds=WARMUP_SECONDS, connections=CONNECTIONS, script="orders.lua", env=wenv)
            orders = wrk(server.url, seconds=SECONDS, connections=CONNECTIONS, script="orders.lua", env=wenv)
            status = server.worker_status()
            with httpx.Client(base_url=server.url, timeout=30) as http:
                mine = http.get("/api/v1/trading/orders", params={"status": "open", "limit": 1000},
                                headers={"Authorization": f"Bearer {tokens[0]}"}).json()["data"]
            open_orders = len(mine["orders"] if isinstance(mine, dict) else mine)
    ratio = orders["rps"] / version["rps"] if orders["rps"] and version["rps"] else None
    return emit(
        "order_api", pinned=cpus or "no", connections=CONNECTIONS, users=USERS, seconds=SECONDS,
        version_rps=version["rps"], version_p99_ms=version["p99_ms"],
        orders_rps=orders["rps"], p50_ms=orders["p50_ms"], p90_ms=orders["p90_ms"], p99_ms=orders["p99_ms"],
        ratio=round(ratio, 3) if ratio else None, non_2xx=orders["non_2xx"] + version["non_2xx"],
        socket_errors=orders["socket_errors"], open_orders_user0=open_orders,
        worker_threads=status.get("threads"), worker_rss_mb=status.get("rss_mb"),
        met=target(ratio, 0.5, at_least=True) and target(orders["p99_ms"], 25),
        targets={"ratio": ">=0.5", "p99_ms": "<=25"}, loadavg=load,
    )


def main() -> None:
    if not have_wrk():
        emit("order_api", skipped="wrk not found: apt-get install -y wrk (Debian), then run again", met=False)
        return
    run(None)
    run("0")


if __name__ == "__main__":
    main()
