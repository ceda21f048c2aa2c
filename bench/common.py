"""Helpers for benchmarks: JSON figures, the machine, /proc readings, an engine
in-process or as the real server (`cryptobot serve`, gunicorn), and wrk.

Every figure is one JSON line, ``{"bench": NAME, ...}``. Benchmarks never fail a
build: a missed target is ``"met": false`` in its line, never an exit status.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from actors.embedded import embedded_engine  # noqa: E402
from engine import config as config_module  # noqa: E402
from engine import logs  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")


# -- output -------------------------------------------------------------------------------


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine() -> dict[str, Any]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_mb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_mb = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {
        "bench": "machine", "commit": commit(), "cores": os.cpu_count(), "cpu": model, "mem_mb": mem_mb,
        "python": platform.python_version(), "kernel": platform.release(), "quick": QUICK, "loadavg": loadavg(),
    }


def emit(bench: str, **fields: Any) -> dict[str, Any]:
    """Print one figure as a JSON line (with the load average now) and return it."""
    line = {"bench": bench, **fields}
    line.setdefault("loadavg", loadavg())
    print(json.dumps(line, default=str), flush=True)
    return line


def target(value: float | None, bound: float, *, at_least: bool = False) -> bool:
    if value is None or value != value:  # None or NaN: not measured, so not met
        return False
    return value >= bound if at_least else value <= bound


# -- numbers ------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def latency_ms(latencies_s: list[float]) -> dict[str, float | None]:
    ms = sorted(x * 1000 for x in latencies_s)
    if not ms:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 3),
        "max_ms": round(ms[-1], 3),
    }


def describe(latencies_s: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies_s)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms"


# -- /proc ----------------------------------------------------------------------------------


def proc_status(pid: int | str = "self") -> dict[str, float]:
    """rss_mb, peak rss_mb (VmHWM) and threads of a process, from /proc/<pid>/status."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "VmRSS":
            out["rss_mb"] = round(int(value.split()[0]) / 1024, 1)
        elif key == "VmHWM":
            out["peak_rss_mb"] = round(int(value.split()[0]) / 1024, 1)
        elif key == "Threads":
            out["threads"] = int(value)
    return out


def children(pid: int) -> list[int]:
    kids: list[int] = []
    task = Path(f"/proc/{pid}/task")
    for t in task.glob("*"):
        try:
            kids += [int(c) for c in (t / "children").read_text().split()]
        except OSError:
            pass
    return kids


# -- an engine in this process ------------------------------------------------------------


@contextmanager
def engine(**env: str):
    logs.configure("ERROR", "console")
    with tempfile.TemporaryDirectory() as tmp:
        base = {"DATABASE_URL": str(Path(tmp) / "bench.db"), "PAPER_SPEED": "0", "ORDER_RATE_LIMIT": "0"}
        base.update(env)
        with embedded_engine(config_module.load(base, isatty=False)) as client:  # as a notebook or tool starts one
            yield client.system, client


# -- the real server: `cryptobot serve` (gunicorn, one worker) ----------------------------

SERVER_ENV = {
    "HOST": "127.0.0.1",
    "LOG_FORMAT": "json",
    "PAPER_SPEED": "0",  # a still market: resting orders stay resting
    "MARKET_STALE_SECONDS": "86400",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cryptobot() -> list[str]:
    exe = Path(sys.executable).with_name("cryptobot")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "api.cli"]


class Server:
    """`cryptobot serve` on a data directory, optionally pinned with ``taskset -c``."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, *, cpus: str | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **SERVER_ENV, "PORT": str(self.port), "DATABASE_URL": str(data_dir / "cryptobot.db")}
        self.env.update(env or {})
        self.cpus = cpus
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"server-{self.port}.log"
        self.startup_s: float | None = None

    def start(self, timeout: float = 120.0, *, give_up: bool = True) -> Server:
        """Start and wait for /health 200. Past ``timeout``: stop and raise, or with
        ``give_up=False`` leave it running with ``startup_s`` None."""
        import httpx

        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = cryptobot() + ["serve"]
        if self.cpus is not None:
            command = ["taskset", "-c", self.cpus] + command
        with open(self.log_path, "ab") as log:
            started = time.monotonic()
            self.proc = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                         start_new_session=True)
        deadline = started + timeout
        with httpx.Client(timeout=2.0) as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"engine exited with {self.proc.returncode}:\n{self.logs()[-3000:]}")
                try:
                    if http.get(f"{self.url}/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    if not give_up:
                        return self
                    self.stop()
                    raise RuntimeError(f"engine not healthy within {timeout} s:\n{self.logs()[-3000:]}")
                time.sleep(0.02)
        self.startup_s = time.monotonic() - started
        return self

    def worker_pid(self) -> int | None:
        """The gunicorn worker: the process the engine lives in."""
        if self.proc is None:
            return None
        kids = children(self.proc.pid)
        return kids[0] if kids else None

    def worker_status(self) -> dict[str, float]:
        pid = self.worker_pid()
        return proc_status(pid) if pid else {}

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def token(self, user: str, role: str = "trader") -> str:
        from engine.auth import issue_dev_token, load_or_create_dev_key

        return issue_dev_token(load_or_create_dev_key(self.data_dir), user, role)

    def __enter__(self) -> Server:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- wrk ------------------------------------------------------------------------------------

WRK_DIR = Path(__file__).resolve().parent / "wrk"


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, *, seconds: int, connections: int, threads: int = 2, script: str | None = None,
        env: dict[str, str] | None = None, cpus: str | None = None) -> dict[str, Any]:
    """Run wrk with --latency; return rps, latency percentiles (ms), errors."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", str(WRK_DIR / script)]
    command.append(url)
    if cpus is not None:
        command = ["taskset", "-c", cpus] + command
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=seconds + 60)
    out = done.stdout
    result: dict[str, Any] = {}
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result["rps"] = float(match.group(1)) if match else None
    match = re.search(r"(\d+) requests in", out)
    result["requests"] = int(match.group(1)) if match else None
    for q in ("50", "75", "90", "99"):
        match = re.search(rf"^\s+{q}(?:\.000)?%\s+(\S+)", out, re.M)
        result[f"p{q}_ms"] = round(_ms(match.group(1)), 3) if match else None
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = int(match.group(1)) if match else 0
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["socket_errors"] = sum(int(g) for g in match.groups()) if match else 0
    if result["rps"] is None:
        result["wrk_output"] = (out + done.stderr)[-500:]
    return result
