"""10,000 users, each with one resting order, 1,000 of them active in the last minute:
the real server's memory, threads, start time and wallet reads.

Users are seeded through the journal, not over HTTP (see bench/RESULTS.md): for
each user, the events the engine itself journals for a new paper user and one
LIMIT BUY far below the market (`decide_open`, `decide_place`, written by
`Journal.commit` with their projections), in a data directory. Then:
- `cryptobot serve` on it (paper venue, dev auth, the default PORTFOLIO_MAX_LIVE
  of 2,000): `startup_s` is from the process start to its first /health 200.
  The simulator starts empty, so every user with an open order is activated and
  their order put back on the exchange before the engine serves (at most 20 s);
- ACTIVE users read their wallet once each, spread over ACTIVE_OVER_S seconds
  (activated now): the set active in the last minute;
- `active_p99_ms`: ACTIVE_READS wallet reads round-robin over the active users;
- `sleeping_p99_ms`: one wallet read each of SLEEPING users that are not live
  (from /api/v1/status/actors), so each read activates a portfolio;
- `rss_mb`, `peak_rss_mb` and `threads` of the gunicorn worker (the engine), read
  after all of that.
Reads are sequential, one keep-alive connection, from this process.
Targets: rss <= 512 MB, threads <= 64, startup <= 3 s, active p99 <= 10 ms,
sleeping p99 <= 50 ms. Never fails.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench.common import QUICK, Server, emit, latency_ms, loadavg, target  # noqa: E402
from engine import logs  # noqa: E402
from engine.events import AnyEvent, user_stream  # noqa: E402
from engine.orders import PlaceOrder, exchange_client_id, new_order_id  # noqa: E402
from engine.portfolio import PortfolioState, decide_open, decide_place, evolve  # noqa: E402
from engine.symbols import paper_symbol  # noqa: E402
from persistence.journal import Journal  # noqa: E402

USERS = 2_000 if QUICK else 10_000
ACTIVE = 200 if QUICK else 1_000
ACTIVE_READS = 500 if QUICK else 1_000
SLEEPING = 100 if QUICK else 300
ACTIVE_OVER_S = 10.0 if QUICK else 45.0  # the active users' first reads, spread over this
# Bounds the whole run's time; past it, startup_s is null. BENCH_START_TIMEOUT overrides.
START_TIMEOUT = float(os.environ.get("BENCH_START_TIMEOUT") or (100.0 if QUICK else 150.0))
START_BALANCE = Decimal(10_000)
ORDER = PlaceOrder(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=Decimal("0.001"), price=Decimal(1000))


def seed(path: Path, users: int) -> float:
    info = paper_symbol("BTCUSDT")
    journal = Journal.open(path)
    started = time.perf_counter()
    now = int(time.time() * 1000) - 120_000  # placed two minutes ago
    batch: list[tuple[str, list[AnyEvent], None]] = []
    for n in range(users):
        user = f"user-{n}"
        state = PortfolioState(user)
        evolve(state, opened := decide_open(state, {"USDT": START_BALANCE}, now, "paper account opened"))
        order_id = new_order_id(now)
        exchange_id = exchange_client_id(user, order_id)
        placed = decide_place(state, ORDER, info, None, order_id=order_id, client_order_id=exchange_id, now=now,
                              exchange_client_id=exchange_id)
        batch.append((user_stream(user), [opened, placed], None))
        if len(batch) >= 1000:
            journal.commit(batch)
            batch = []
    if batch:
        journal.commit(batch)
    journal.close()
    return time.perf_counter() - started


def wallet_reads(server: Server, users: list[str], reads: int, over_s: float = 0.0) -> tuple[list[float], int]:
    """``reads`` sequential wallet reads round-robin over ``users``, spread evenly
    over ``over_s`` seconds if given."""
    tokens = {u: server.token(u) for u in dict.fromkeys(users)}
    latencies, errors = [], 0
    began = time.perf_counter()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for n in range(reads):
            wait = began + over_s * n / reads - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            user = users[n % len(users)]
            started = time.perf_counter()
            response = http.get("/api/v1/account/wallet", headers={"Authorization": f"Bearer {tokens[user]}"})
            latencies.append(time.perf_counter() - started)
            errors += response.status_code != 200
    return latencies, errors


def live_portfolios(server: Server, admin: str) -> set[str]:
    answer = httpx.get(f"{server.url}/api/v1/status/actors", headers={"Authorization": f"Bearer {admin}"}, timeout=30)
    return set(answer.json()["data"]["portfolios"])


def main() -> None:
    logs.configure("ERROR", "console")
    load = loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        seeded_s = seed(data / "cryptobot.db", USERS)
        env = {"LOG_LEVEL": "WARNING", "ORDER_RATE_LIMIT": "0"}
        server = Server(data, env).start(START_TIMEOUT, give_up=False)
        try:
            startup_s = server.startup_s
            after_start = server.worker_status()
            if startup_s is None:  # not serving: what it holds while it tries
                emit("user_scale", users=USERS, resting_orders=USERS, seeded_s=round(seeded_s, 2), startup_s=None,
                     not_serving_after_s=START_TIMEOUT, rss_mb=after_start.get("rss_mb"),
                     threads=after_start.get("threads"), met=False, loadavg=load)
                return
            admin = server.token("bench-ops", "admin")
            live_at_start = len(live_portfolios(server, admin))
            active = [f"user-{n}" for n in range(ACTIVE)]
            # The active set: each user touched once, spread over ACTIVE_OVER_S (a burst of
            # 1,000 activations at once meets the simulator's per-IP limit, see RESULTS.md).
            _, warm_errors = wallet_reads(server, active, len(active), ACTIVE_OVER_S)
            active_lat, active_errors = wallet_reads(server, active, ACTIVE_READS)
            live = live_portfolios(server, admin)
            sleeping = [u for u in (f"user-{n}" for n in range(USERS - 1, -1, -1)) if u not in live][:SLEEPING]
            sleeping_lat, sleeping_errors = wallet_reads(server, sleeping, len(sleeping))
            status = server.worker_status()
            log = server.logs().splitlines()
            restore = next((line for line in log if "engine.restore_pending" in line), None)
            limited = sum(1 for line in log if "MexcIpBanned" in line or "MexcRateLimited" in line or " 429" in line)
        finally:
            server.stop()
    active_ms, sleeping_ms = latency_ms(active_lat), latency_ms(sleeping_lat)
    checks = {
        "rss_mb": target(status.get("rss_mb"), 512), "threads": target(status.get("threads"), 64),
        "startup_s": target(startup_s, 3.0), "active_p99_ms": target(active_ms["p99_ms"], 10),
        "sleeping_p99_ms": target(sleeping_ms["p99_ms"], 50),
    }
    emit(
        "user_scale", users=USERS, resting_orders=USERS, active=ACTIVE, seeded_s=round(seeded_s, 2),
        startup_s=round(startup_s, 3) if startup_s else None, live_at_start=live_at_start,
        restore_pending_logged=restore is not None, active_over_s=ACTIVE_OVER_S, rate_limited_log_lines=limited,
        rss_mb=status.get("rss_mb"), peak_rss_mb=status.get("peak_rss_mb"), threads=status.get("threads"),
        rss_after_start_mb=after_start.get("rss_mb"), threads_after_start=after_start.get("threads"),
        active_reads=len(active_lat), active_p50_ms=active_ms["p50_ms"], active_p99_ms=active_ms["p99_ms"],
        sleeping_reads=len(sleeping_lat), sleeping_p50_ms=sleeping_ms["p50_ms"], sleeping_p99_ms=sleeping_ms["p99_ms"],
        sleeping_max_ms=sleeping_ms["max_ms"], errors=warm_errors + active_errors + sleeping_errors,
        checks=checks, met=all(checks.values()),
        targets={"rss_mb": "<=512", "threads": "<=64", "startup_s": "<=3", "active_p99_ms": "<=10", "sleeping_p99_ms": "<=50"},
        loadavg=load,
    )


if __name__ == "__main__":
    main()
