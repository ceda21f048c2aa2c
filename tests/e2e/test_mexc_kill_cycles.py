"""SIGKILL cycles on EXCHANGE=mexc against a `cryptobot simulator` process that outlives
every engine: 20 times, while four traders send orders and cancels, the engine's whole
process group is killed at a seeded point and started again on the same data directory.

The simulator's price moves while the engine runs and while it is down, so resting
orders fill on the exchange behind a dead engine. After each restart, once the engine
has settled: every acknowledged order (a 2xx) is in the engine with the exchange's
status, executed quantity and fills; no client order id is on the exchange twice;
every order of the engine's on the exchange is known to it (no orphan); and the
wallet, free and locked, is the exchange account's.

On EXCHANGE=mexc the engine trades one exchange account (MEXC_API_KEY) for one user
(MEXC_ACCOUNT_USER); any other user is refused NO_EXCHANGE_ACCOUNT. So the four
traders are four client threads of that user, each with Idempotency-Keys of its own.

Seeded: KILL_CYCLES_SEED=<n> replays a run's choices (what each trader sends, where
the engine is killed, how the price moves); thread timing still varies.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.orders import is_engine_id
from tests.support.restarts import BALANCES, SYMBOLS, Rules
from tests.support.server import EngineProcess
from tests.support.simulator import SimulatorProcess
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

KEY, SECRET, USER = "cycle-key", "cycle-secret", "alice"
CYCLES = 20
TRADERS = 4
SEED = int(os.environ.get("KILL_CYCLES_SEED", "20261202"))
SETTLE_SECONDS = 30.0
ENDS = ("FILLED", "CANCELED", "REJECTED")


@dataclass
class Ack:
    """What a 2xx said of an order."""

    order_id: str
    status: str
    executed: Decimal


class Ledger:
    """What the traders were told, and how many of their requests were answered."""

    def __init__(self) -> None:
        self.acked: dict[str, Ack] = {}
        self.answered = 0
        self._changed = threading.Condition()

    def answer(self, order: dict[str, Any] | None = None) -> None:
        with self._changed:
            if order is not None:
                self.acked[order["id"]] = Ack(order["id"], order["status"], Decimal(order["executedQuantity"]))
            self.answered += 1
            self._changed.notify_all()

    def wait_answered(self, count: int, timeout: float = 30.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.answered >= count, timeout):
                raise AssertionError(f"only {self.answered} of {count} requests answered in {timeout}s")


class Market:
    """The simulator's prices, moved by the test around where they started."""

    def __init__(self, sim: SimulatorProcess, rules: Rules, rng: random.Random) -> None:
        self.sim, self.rules, self.rng = sim, rules, rng
        self.start = dict(rules.prices)
        self.now = dict(rules.prices)

    def move(self) -> None:
        symbol = self.rng.choice(SYMBOLS)
        target = self.start[symbol] * (1 + Decimal(self.rng.randint(-30, 30)) / 1000)
        self.now[symbol] = self.sim.set_price(symbol, self.rules.price(symbol, target))


class Trader:
    """One client thread of the account's user: resting and crossing LIMIT orders,
    MARKET orders and cancels of its own resting orders. A placement whose answer was
    lost is sent again, with its key, until something answers it."""

    def __init__(self, n: int, market: Market) -> None:
        self.n, self.market = n, market
        self.rng = random.Random(f"{SEED}:{n}")
        self.keys = itertools.count()
        self.resting: list[str] = []
        self.pending: tuple[dict[str, str], str] | None = None
        self.tries = 0

    def run(self, engine: EngineProcess, ledger: Ledger, stop: threading.Event) -> None:
        with engine.client(USER, timeout=5.0) as http:
            while not stop.is_set():
                if self.pending is None and self.resting and self.rng.random() < 0.25:
                    self._cancel(http, ledger)
                else:
                    self._place(http, ledger)

    def _order(self) -> dict[str, str]:
        rules, rng = self.market.rules, self.rng
        symbol, side = rng.choice(SYMBOLS), rng.choice(("BUY", "SELL"))
        price, notional = self.market.now[symbol], Decimal(rng.randint(10, 100))
        sign = 1 if side == "BUY" else -1
        roll = rng.random()
        if roll < 0.5:  # rests until the price comes to it
            return rules.limit(symbol, side, price * (1 - sign * Decimal(rng.randint(2, 30)) / 1000), notional)
        if roll < 0.7:  # crosses the book: fills at once
            return rules.limit(symbol, side, price * (1 + sign * Decimal("0.01")), notional)
        if side == "BUY":
            return {"symbol": symbol, "side": side, "type": "MARKET", "quoteQuantity": str(notional)}
        return {"symbol": symbol, "side": side, "type": "MARKET", "quantity": str(rules.quantity(symbol, notional, price))}

    def _place(self, http: httpx.Client, ledger: Ledger) -> None:
        if self.pending is None:
            self.pending, self.tries = (self._order(), f"trader{self.n}-{next(self.keys)}"), 0
        body, key = self.pending
        self.tries += 1
        try:
            response = http.post("/api/v1/trading/orders", json=body, headers={"Idempotency-Key": key})
        except httpx.HTTPError:
            return  # the engine is down: sent again with the same key when it is back
        if response.status_code == 503 and self.tries < 5:
            return
        self.pending = None
        if response.status_code in (201, 202):
            order = response.json()["data"]
            ledger.answer(order)
            if order["type"] == "LIMIT" and order["status"] in ("NEW", "PARTIALLY_FILLED"):
                self.resting.append(order["id"])
        else:
            ledger.answer()

    def _cancel(self, http: httpx.Client, ledger: Ledger) -> None:
        target = self.resting.pop(self.rng.randrange(len(self.resting)))
        try:
            response = http.delete(f"/api/v1/trading/orders/{target}")
        except httpx.HTTPError:
            return  # it may have been canceled: the checks compare it with the exchange
        ledger.answer(response.json()["data"] if response.status_code == 200 else None)


def differences(http: httpx.Client, sim: SimulatorProcess, ledger: Ledger) -> list[str]:
    """Everything in which the engine differs from the exchange (empty: none). Fills
    are compared with what the exchange executed, order by order; trade by trade
    (myTrades) only at the end, as its weight counts against the budget the engine
    spends on the account."""
    if (health := http.get("/health")).status_code != 200:
        return [f"/health answers {health.status_code}: {health.text[:300]}"]
    refreshed = http.post("/api/v1/account/wallet/refresh")
    if refreshed.status_code != 200:
        return [f"the wallet refresh answers {refreshed.status_code}: {refreshed.text[:300]}"]
    ours = http.get("/api/v1/trading/orders", params={"status": "all", "limit": 1000}).json()["data"]
    assert len(ours) < 1000, "more orders than one listing shows: fewer per cycle"
    exchange = sim.orders()
    problems = [f"{cid} is on the exchange {n} times" for cid, n in Counter(o["clientOrderId"] for o in exchange).items() if n > 1]
    on_exchange = {o["clientOrderId"]: o for o in exchange}
    known = {o["clientOrderId"] for o in ours}
    problems += [f"orphan: {cid} ({o['status']}) is on the exchange, not in the engine"
                 for cid, o in on_exchange.items() if is_engine_id(cid, USER) and cid not in known]
    for order in ours:
        problems += _order_differences(order, on_exchange.get(order["clientOrderId"]))
    by_id = {o["id"]: o for o in ours}
    for ack in ledger.acked.values():
        order = by_id.get(ack.order_id)
        if order is None:
            problems.append(f"acknowledged order {ack.order_id} is not in the engine")
        elif ack.status in ENDS and order["status"] != ack.status:
            problems.append(f"acknowledged {ack.status}, order {ack.order_id} is now {order['status']}")
        elif Decimal(order["executedQuantity"]) < ack.executed:
            problems.append(f"acknowledged {ack.executed} executed, order {ack.order_id} now has {order['executedQuantity']}")
    wallet = {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in refreshed.json()["data"]["balances"]}
    wallet = {a: b for a, b in wallet.items() if any(b)}
    if wallet != (balances := sim.balances()):
        problems.append(f"the wallet (free, locked) {wallet} is not the exchange's {balances}")
    return problems


def _order_differences(order: dict[str, Any], seen: dict[str, Any] | None) -> list[str]:
    name = f"order {order['id']} ({order['clientOrderId']}, {order['status']})"
    fills_quantity = sum((Decimal(f["quantity"]) for f in order["fills"]), Decimal(0))
    fills_quote = sum((Decimal(f["quoteQuantity"]) for f in order["fills"]), Decimal(0))
    if seen is None:
        # Only an order that never reached the exchange may be missing from it.
        never_sent = order["status"] == "REJECTED" or (order["status"] == "CANCELED" and not order["fills"])
        return [] if never_sent else [f"{name} is not on the exchange"]
    status = {"PARTIALLY_CANCELED": "CANCELED"}.get(seen["status"], seen["status"])
    problems = []
    if order["status"] != status:
        problems.append(f"{name}: the exchange says {seen['status']}")
    if Decimal(order["executedQuantity"]) != Decimal(seen["executedQty"]):
        problems.append(f"{name}: executed {order['executedQuantity']}, on the exchange {seen['executedQty']}")
    if (fills_quantity, fills_quote) != (Decimal(seen["executedQty"]), Decimal(seen["cummulativeQuoteQty"])):
        problems.append(f"{name}: fills add up to {fills_quantity} for {fills_quote}, the exchange executed "
                        f"{seen['executedQty']} for {seen['cummulativeQuoteQty']}")
    return problems


def trade_differences(ours: list[dict[str, Any]], sim: SimulatorProcess, since_ms: int) -> list[str]:
    """The exchange's trades since ``since_ms`` (myTrades, signed) against the engine's
    fills, one for one: price, quantity, fee, fee asset and maker flag."""
    # By trade id and order: a self-trade is a fill of each of the two orders, under one id.
    fills = {(f["tradeId"], o["clientOrderId"]): f for o in ours for f in o["fills"] if f["time"] >= since_ms}
    problems = []
    for symbol in SYMBOLS:
        for trade in sim.trades(symbol, since_ms):
            fill = fills.pop((trade["id"], trade["clientOrderId"]), None)
            theirs = (Decimal(trade["price"]), Decimal(trade["qty"]), Decimal(trade["commission"]),
                      trade["commissionAsset"], trade["isMaker"])
            if fill is None:
                problems.append(f"trade {trade['id']} of {trade['clientOrderId']} {theirs} is not among the engine's fills")
                continue
            mine = (Decimal(fill["price"]), Decimal(fill["quantity"]), Decimal(fill["fee"]), fill["feeAsset"], fill["isMaker"])
            if mine != theirs:
                problems.append(f"trade {trade['id']} of {trade['clientOrderId']}: the engine has {mine}, the exchange {theirs}")
    problems += [f"fill {trade_id} of {cid} is not among the exchange's trades" for trade_id, cid in fills]
    return problems


def settle(engine: EngineProcess, sim: SimulatorProcess, ledger: Ledger) -> int:
    """Wait, within SETTLE_SECONDS, until nothing differs; fail naming what still does.
    Returns how many rounds of comparison it took."""
    last: list[str] = []
    rounds = 0

    def settled() -> bool:
        nonlocal rounds
        rounds += 1
        last[:] = differences(http, sim, ledger)
        return not last

    with engine.client(USER, timeout=15.0) as http:
        try:
            # Polled slowly: each round reconciles with the exchange (a sweep of the account).
            wait_for(settled, SETTLE_SECONDS, interval=1.0, message="the engine equals the exchange")
        except AssertionError as exc:
            shown = "\n  ".join(last[:25])
            raise AssertionError(f"{exc}; {len(last)} differences:\n  {shown}") from None
    return rounds


@pytest.fixture
def sim() -> Iterator[SimulatorProcess]:
    simulator = SimulatorProcess(KEY, SECRET, BALANCES, seed=SEED).start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.mark.timeout(300)
def test_twenty_kill_cycles_while_four_traders_trade_leave_the_engine_equal_to_the_exchange(
    tmp_path: Path, sim: SimulatorProcess
) -> None:
    rng = random.Random(SEED)
    env = {**sim.engine_env(USER), "ORDER_RATE_LIMIT": "0"}
    began_ms = int(time.time() * 1000)
    engine = EngineProcess(tmp_path, env).start()
    ledger = Ledger()
    cycle, rounds = 0, []
    try:
        with engine.client(USER) as http:
            market = Market(sim, Rules(http), rng)
        traders = [Trader(n, market) for n in range(TRADERS)]
        for _cycle in range(1, CYCLES + 1):
            kill_at = ledger.answered + rng.randint(8, 40)
            move_at = rng.randint(ledger.answered + 1, kill_at)
            stop = threading.Event()
            threads = [threading.Thread(target=t.run, args=(engine, ledger, stop), daemon=True) for t in traders]
            for thread in threads:
                thread.start()
            try:
                ledger.wait_answered(move_at)
                market.move()  # fills what it crosses while the engine runs
                ledger.wait_answered(kill_at)
                engine.kill()  # mid-stream: requests are in flight
            finally:
                stop.set()
                for thread in threads:
                    thread.join(30)
            for _ in range(rng.randint(1, 3)):
                market.move()  # fills behind the dead engine
            engine = EngineProcess(tmp_path, env, port=engine.port).start()
            rounds.append(settle(engine, sim, ledger))
        with engine.client(USER) as http:
            ours = http.get("/api/v1/trading/orders", params={"status": "all", "limit": 1000}).json()["data"]
        engine.stop()  # the account's myTrades budget is the test's alone now
        assert not (problems := trade_differences(ours, sim, began_ms)), "\n  ".join(problems[:25])
        assert len(ledger.acked) >= CYCLES * 5, "the traders barely traded"
        print(f"{len(ledger.acked)} orders acknowledged, {ledger.answered} requests answered, "
              f"rounds to settle per restart {rounds}")
    except AssertionError as exc:
        logs = engine.logs()[-3000:]
        raise AssertionError(f"KILL_CYCLES_SEED={SEED}, cycle {cycle}: {exc}\nengine log tail:\n{logs}") from exc
    finally:
        engine.stop()
