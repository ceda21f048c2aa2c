"""Run every benchmark and print its figures. Benchmarks never fail a build."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import bench_orders, bench_recovery, bench_restart  # noqa: E402

if __name__ == "__main__":
    bench_orders.run(1, 500)
    bench_orders.run(8, 300)
    bench_recovery.main()
    bench_restart.main([200, 1000])
