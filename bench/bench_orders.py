"""Order placement through the actors (no HTTP): throughput and latency.

Each order is acknowledged only after it is durable (synchronous=FULL), so this
measures the whole write path including group commit.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

from bench.common import describe, engine
from engine.orders import PlaceOrder

ORDER = PlaceOrder(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity=Decimal("0.001"), price=Decimal(1000))


def run(threads: int, per_thread: int) -> None:
    with engine(PAPER_START_BALANCE="100000000") as (system, client):
        for t in range(threads):
            client.wallet(f"bench-{t}")  # start portfolios outside the timing
        latencies: list[float] = []
        lock = threading.Lock()

        def worker(t: int) -> None:
            mine = []
            for _ in range(per_thread):
                start = time.perf_counter()
                client.place_order(f"bench-{t}", ORDER)
                mine.append(time.perf_counter() - start)
            with lock:
                latencies.extend(mine)

        workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - start
        journal = system.ref("persistence", "journal").proxy()
        total = threads * per_thread
        print(
            f"orders: {threads} users x {per_thread}: {total / elapsed:,.0f} orders/s, {describe(latencies)}, "
            f"{journal.appends.get() / max(journal.batches.get(), 1):.1f} appends per commit"
        )


if __name__ == "__main__":
    run(1, 500)
    run(8, 300)
