"""Run every benchmark; print one JSON line per figure. Benchmarks never fail a build.

`python bench/run_all.py` (or `make bench`): the full run, under 10 minutes on 2 cores.
`BENCH_QUICK=1`: smaller N and fewer seconds, under 3 minutes. Each script also runs
alone (`python bench/bench_journal.py`). A benchmark that breaks prints
`{"bench": NAME, "error": ...}` and the others still run; the exit status is 0.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import emit, machine  # noqa: E402

BENCHES = ("bench_journal", "bench_market_fanout", "bench_order_api", "bench_recovery", "bench_user_scale")


def main() -> int:
    emit(**machine())
    started = time.monotonic()
    for name in BENCHES:
        began = time.monotonic()
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            emit(name.removeprefix("bench_"), error=repr(exc), trace=traceback.format_exc()[-800:], met=False)
        emit("timing", script=name, seconds=round(time.monotonic() - began, 1))
    emit("timing", script="all", seconds=round(time.monotonic() - started, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
