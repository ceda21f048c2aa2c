"""Recovery time as the journal grows: 1 million events over 10,000 users.

Writes a journal of EVENTS events for USERS users through the real Journal
(projections and snapshots included, as the engine writes them), then times:
- `cryptobot serve` from its start to its first /health 200: the first start
  (which verifies every row) and a restart (which verifies new rows only);
- activating ACTIVATIONS cold portfolios one after another (snapshot + tail, or
  the whole stream when it is shorter than SNAPSHOT_EVERY), against replaying
  one user's whole stream by hand.
Targets: serving in <= 2 s, one activation <= 10 ms. Prints figures; never fails.
"""

from __future__ import annotations

import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.client import EngineClient  # noqa: E402
from actors.messages import LoadAllEvents  # noqa: E402
from actors.system import ActorSystem  # noqa: E402
from bench.common import QUICK, Server, emit, latency_ms, loadavg, target  # noqa: E402
from engine import config as config_module  # noqa: E402
from engine import logs  # noqa: E402
from engine.events import user_stream  # noqa: E402
from engine.orders import PlaceOrder  # noqa: E402
from engine.portfolio import SNAPSHOT_VERSION, PortfolioState, decide_close, decide_open, decide_place, evolve, snapshot_of  # noqa: E402
from engine.symbols import paper_symbol  # noqa: E402
from persistence.journal import Journal  # noqa: E402

EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else (200_000 if QUICK else 1_000_000)
USERS = int(sys.argv[2]) if len(sys.argv) > 2 else (2_000 if QUICK else 10_000)
ACTIVATIONS = 50  # cold portfolios loaded, one after another
SNAPSHOT_EVERY = 1000
BATCH = 5000


def write_journal(path: Path) -> float:
    info = paper_symbol("BTCUSDT")
    journal = Journal.open(path)
    states = {f"user-{n}": PortfolioState(f"user-{n}") for n in range(USERS)}
    since = dict.fromkeys(states, 0)
    now = 1_700_000_000_000
    written = 0
    batch: list[tuple[str, list, tuple[int, bytes] | None]] = []
    started = time.perf_counter()
    for user, state in states.items():
        evolve(state, opened := decide_open(state, {"USDT": Decimal(10**9)}, now, "bench"))
        batch.append((user_stream(user), [opened], None))
    written += USERS
    n = 0
    while written < EVENTS:
        for user, state in states.items():
            now += 1
            n += 1
            cmd = PlaceOrder(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=Decimal("0.001"), price=Decimal(1000 + n % 500))
            accepted = decide_place(state, cmd, info, None, order_id=f"{now:012x}{n:010x}", client_order_id=f"c{n}", now=now)
            evolve(state, accepted)
            closed = decide_close(state.orders[accepted.order.id], "CANCELED", "bench", now)
            evolve(state, closed)
            since[user] += 2
            snapshot = None
            if since[user] >= SNAPSHOT_EVERY:
                snapshot, since[user] = (SNAPSHOT_VERSION, snapshot_of(state)), 0
            batch.append((user_stream(user), [accepted, closed], snapshot))
            written += 2
        if len(batch) * 2 >= BATCH:
            journal.commit(batch)
            batch = []
    if batch:
        journal.commit(batch)
    journal.close()
    return time.perf_counter() - started


def serve_seconds(data: Path) -> float | None:
    """From `cryptobot serve`'s start to its first /health 200, on the journal in data/."""
    with Server(data, {"LOG_LEVEL": "WARNING"}) as server:
        return server.startup_s


def main() -> None:
    logs.configure("ERROR", "console")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        path = data / "cryptobot.db"
        load = loadavg()
        seconds = write_journal(path)
        emit("recovery_write", events=EVENTS, users=USERS, seconds=round(seconds, 1), events_per_s=round(EVENTS / seconds),
             note="through Journal.commit, projections and snapshots included", loadavg=load)
        # The first start verifies every row written since the last check (all of them
        # here, written outside an engine); a restart of an engine that wrote them has
        # checked them as it ran (the supervisor's tick), so it verifies only new rows.
        first = serve_seconds(data)
        again = serve_seconds(data)
        config = config_module.load({"DATABASE_URL": str(path), "PAPER_SPEED": "0"}, isatty=False)
        started = time.perf_counter()
        system = ActorSystem(config).start()
        ready = time.perf_counter() - started
        try:
            client = EngineClient(system)
            activations = []
            for n in range(ACTIVATIONS):
                started = time.perf_counter()
                client.wallet(f"user-{(n * 7919) % USERS}")
                activations.append(time.perf_counter() - started)
            user = "user-7"
            started = time.perf_counter()
            state = PortfolioState(user)
            events = system.ask_persistence(LoadAllEvents(user_stream(user)), timeout=600)
            for event in events:
                evolve(state, event)
            replay = time.perf_counter() - started
        finally:
            system.stop()
        act = latency_ms(activations)
        emit(
            "recovery", events=EVENTS, users=USERS, events_per_user=EVENTS // USERS, snapshot_every=SNAPSHOT_EVERY,
            serve_first_start_s=round(first, 3) if first else None, serve_s=round(again, 3) if again else None,
            engine_ready_in_process_s=round(ready, 3), activations=ACTIVATIONS,
            activation_p50_ms=act["p50_ms"], activation_max_ms=act["max_ms"],
            replay_whole_stream_ms=round(replay * 1000, 2), replayed_events=len(events),
            met=target(again, 2.0) and target(act["p50_ms"], 10.0),
            targets={"serve_s": "<=2 (a restart)", "activation_p50_ms": "<=10"}, loadavg=load,
        )


if __name__ == "__main__":
    main()
