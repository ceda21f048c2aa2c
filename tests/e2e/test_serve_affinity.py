"""CPU_AFFINITY: `cryptobot serve` keeps gunicorn and its worker on the CPUs named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.server import EngineProcess

pytestmark = pytest.mark.e2e


def test_the_engine_runs_on_the_cpus_cpu_affinity_names(tmp_path: Path) -> None:
    engine = EngineProcess(tmp_path, env={"CPU_AFFINITY": "0"}).start()
    try:
        assert engine.proc is not None
        master = engine.proc.pid  # `serve` execs gunicorn in place
        workers = [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
        assert workers, "gunicorn has a worker"
        for pid in [master, *workers]:
            assert os.sched_getaffinity(pid) == {0}
    finally:
        engine.stop()


def test_cpus_the_machine_lacks_stop_the_start_with_a_clear_line(tmp_path: Path) -> None:
    engine = EngineProcess(tmp_path, env={"CPU_AFFINITY": "4000"})
    with pytest.raises(AssertionError, match="CPU_AFFINITY 4000 cannot be applied"):
        engine.start(timeout=20)
