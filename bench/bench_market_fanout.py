"""Market data for 200 symbols fed from the trio side: how many updates per second
the engine absorbs, and whether memory stays bounded when fed ten times faster
than its market actors can apply.

An engine in this process (`ActorSystem` with every actor, its journal on a
temporary file) on a venue whose feed is a trio task on the engine's trio thread:
it hands the sink (`MarketFeeds.on_market`, the call the MEXC streams make)
ready-made updates (a book ticker; every fourth also a trade) round-robin over
SYMBOLS, yielding to trio every YIELD_EVERY updates, as a stream does between
messages. The rest of the engine is real: the merging conflator, 200
MarketActors (candles in seven intervals, stored closed candles).

Phases:
- `flat_out`: the feed as fast as it goes for SECONDS: `absorbed_per_s` is what
  the sink took (target >= 100,000/s), `applied_per_s` what the MarketActors
  applied (the rest was merged away by conflation).
- `overload`: the feed paced at 10x the applied rate of the first phase (or flat
  out if it cannot reach that) for OVERLOAD_SECONDS; RSS sampled every 0.25 s:
  `rss_growth_mb` = the highest sample minus the RSS before (target <= 50 MB).
Never fails.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trio  # noqa: E402

from actors.system import ActorSystem  # noqa: E402
from bench.common import QUICK, emit, loadavg, proc_status, target  # noqa: E402
from engine import config as config_module  # noqa: E402
from engine import logs  # noqa: E402
from engine.market import MarketData, Trade  # noqa: E402
from engine.model import BookTicker  # noqa: E402
from engine.symbols import SymbolCatalog, paper_symbol  # noqa: E402

SYMBOLS = [f"S{n:03d}USDT" for n in range(200)]
SECONDS = 4.0 if QUICK else 10.0
OVERLOAD_SECONDS = 6.0 if QUICK else 20.0
OVERLOAD = 10
YIELD_EVERY = 50
VARIANTS = 64  # distinct ready-made updates per symbol


class FeedVenue:
    """Just enough of a venue for market data: no accounts, a feed we drive."""

    name = "bench-feed"
    accounts_per_user = False
    accounts_outlive_engine = False

    def __init__(self, symbols: list[str]) -> None:
        self.catalog = SymbolCatalog([paper_symbol(s) for s in symbols])
        self.market_symbols = list(symbols)
        self.rate: float | None = None  # updates/s; None: flat out
        self.offered = 0
        self.running = threading.Event()
        now = int(time.time() * 1000)
        self.updates: list[list[MarketData]] = []
        for symbol in symbols:
            mine = []
            for v in range(VARIANTS):
                price = Decimal(100) + Decimal(v) / 100
                book = BookTicker(symbol=symbol, bid=price, bid_qty=Decimal(1), ask=price + Decimal("0.01"),
                                  ask_qty=Decimal(2), last=price, time=now + v)
                trades = (Trade(price, Decimal("0.5"), "BUY", now + v),) if v % 4 == 0 else ()
                mine.append(MarketData(symbol, book=book, trades=trades))
            self.updates.append(mine)

    def feed(self, sink: Any):
        async def run() -> None:
            n = 0
            width = len(self.updates)
            started = time.perf_counter()
            while True:
                if not self.running.is_set():
                    await trio.sleep(0.01)
                    started, n0 = time.perf_counter(), self.offered
                    continue
                for _ in range(YIELD_EVERY):
                    sink.on_market(self.updates[n % width][(n // width) % VARIANTS])
                    n += 1
                self.offered += YIELD_EVERY
                if self.rate is not None:
                    ahead = (self.offered - n0) / self.rate - (time.perf_counter() - started)
                    if ahead > 0:
                        await trio.sleep(ahead)
                        continue
                await trio.sleep(0)

        return run

    def background(self, system: Any) -> list:
        return []

    def accounts_at_start(self) -> list[str]:
        return []

    def users_of(self, account: str, live_users: list[str]) -> list[str]:
        return []

    def restore_accounts(self, accounts: list) -> list[str]:
        return [user for user, _, _ in accounts]  # none here: no user has an order

    def candle_history(self, symbol: str) -> list:
        return []

    def current_minute(self, symbol: str) -> None:
        return None

    def opening_deposits(self) -> dict:
        return {}

    def health(self) -> dict:
        return {"venue": self.name}

    def account_problem(self) -> None:
        return None

    def probe_key(self) -> None:
        pass

    def close(self) -> None:
        pass


def applied(system: ActorSystem) -> int:
    return sum(system.ref("market", s).proxy().updates.get() for s in SYMBOLS)


def phase(system: ActorSystem, venue: FeedVenue, seconds: float, rate: float | None) -> dict:
    venue.rate = rate
    before_rss = proc_status()["rss_mb"]
    offered0, applied0 = venue.offered, applied(system)
    peak = before_rss
    venue.running.set()
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        time.sleep(0.25)
        peak = max(peak, proc_status()["rss_mb"])
    elapsed = time.perf_counter() - started
    offered, done = venue.offered - offered0, applied(system) - applied0
    venue.running.clear()
    status = proc_status()
    return {
        "absorbed_per_s": round(offered / elapsed), "applied_per_s": round(done / elapsed),
        "overload": round(offered / max(done, 1), 1), "rss_before_mb": before_rss, "rss_peak_mb": peak,
        "rss_growth_mb": round(peak - before_rss, 1), "threads": status["threads"],
    }


def main() -> None:
    logs.configure("ERROR", "console")
    with tempfile.TemporaryDirectory() as tmp:
        config = config_module.load({"DATABASE_URL": str(Path(tmp) / "bench.db"), "PAPER_SYMBOLS": "BTCUSDT"}, isatty=False)
        venue = FeedVenue(SYMBOLS)
        system = ActorSystem(config, venue=venue).start()  # type: ignore[arg-type]  # only what a feed needs
        try:
            phase(system, venue, 1.0, None)  # warm up: every actor has its series
            load = loadavg()
            flat = phase(system, venue, SECONDS, None)
            emit("market_fanout", phase="flat_out", symbols=len(SYMBOLS), seconds=SECONDS, **flat,
                 met=target(flat["absorbed_per_s"], 100_000, at_least=True), targets={"absorbed_per_s": ">=100000"},
                 loadavg=load)
            load = loadavg()
            rate = OVERLOAD * max(flat["applied_per_s"], 1)
            over = phase(system, venue, OVERLOAD_SECONDS, rate if rate < flat["absorbed_per_s"] else None)
            emit("market_fanout", phase="overload", symbols=len(SYMBOLS), seconds=OVERLOAD_SECONDS,
                 paced_at=rate if rate < flat["absorbed_per_s"] else "flat out", **over,
                 conflator_offered=system.markets.conflator.offered, conflator_delivered=system.markets.conflator.delivered,
                 met=target(over["rss_growth_mb"], 50) and over["overload"] >= OVERLOAD * 0.8,
                 targets={"rss_growth_mb": "<=50", "overload": f">={OVERLOAD}x applied"}, loadavg=load)
        finally:
            system.stop()


if __name__ == "__main__":
    main()
