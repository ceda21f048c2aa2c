"""Chaos at the exchange boundary: random schedules of orders and faults against a
real ActorSystem on the paper venue (the MEXC simulator in-process), then, once
the faults are cleared and the engine has settled, the engine's books must equal
the exchange's exactly.

Why it is built this way
------------------------
- One system for the module, a fresh user (and so a fresh simulator account,
  gateway and user stream) for each example: starting an engine per example
  would cost more than the schedules. Each example passivates its user at the
  end, so the gateways of earlier examples do not pile up.
- Real time, not a ManualClock: the adapter's rules (3 s grace for "no such
  order", the MARKET send window, the fills wait) run on the engine clock, and
  the faults are kept short enough that a schedule settles within seconds
  (unknown-after-create and timeouts below the grace, trades lag and push delays
  under two seconds, at most four outcome-unknown failures so the REST client's
  breaker, five in a row, never opens).
- Seeded: ``CHAOS_SEED`` (default below) seeds hypothesis, push faults draw their
  own seeds from it, and every assertion names the seed, the user and the whole
  schedule. Threads make the interleaving differ from run to run, so a failure
  is a schedule to replay, not always a replay of the same race.
- "Settled": every placement has had its first answer (the faults set before the
  last orders still meet them), then the faults are cleared, the user's
  portfolio reconciles (what POST refresh does: pushes lost for good are found
  by a sweep), and the engine must agree with the simulator within
  SETTLE_SECONDS; every order still open is canceled, and with nothing open a
  last reconciliation must find nothing to change: no order, and no balance
  (a BalanceAdjusted in the journal would mean the ledger was wrong).
- An order the engine holds REJECTED may exist on the simulator only if it was
  canceled there with nothing executed (counted in the tally; none seen so far).
- No shrinking by default: an example takes seconds, and hypothesis' shrinker
  would run hundreds of them. ``CHAOS_SHRINK=1`` turns it on.
- ``CHAOS_EXAMPLES`` (default 25) sets the number of schedules, run over each of
  ``CHAOS_TRANSPORTS`` (default ``loopback,inprocess``): the paper venue over loopback
  HTTP and a WebSocket per account, where a timeout and a dropped user stream are
  real, and in process, the default path, where pushes race the answers differently
  (a delay there only slows an answer: no client timeout fires in process).
"""

from __future__ import annotations

import functools
import itertools
import os
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from decimal import Decimal
from typing import Any

import apsw
import msgspec
import pytest
from hypothesis import HealthCheck, Phase, given, note, seed, settings
from hypothesis import strategies as st

from actors.messages import GetTicker, GetWallet, ListOrders, Passivate, Reconcile, Ticket
from actors.system import ActorSystem
from engine.errors import EngineError
from engine.events import user_stream
from engine.model import Order
from engine.orders import PlaceOrder, is_engine_id
from tests.conftest import make_config
from tests.support.trading import SYMBOL, cancel, place, sent_as
from tests.support.waiting import wait_for

EXAMPLES = int(os.environ.get("CHAOS_EXAMPLES", "25"))
SEED = int(os.environ.get("CHAOS_SEED", "20250101"))
VERBOSE = os.environ.get("CHAOS_VERBOSE", "") not in ("", "0")  # each schedule and what it did, as it passes
SHRINK = os.environ.get("CHAOS_SHRINK", "") not in ("", "0")
# Over loopback HTTP and a WebSocket per account (timeouts and dropped user streams are
# real there), and in process (the default paper path: pushes race the answers differently).
TRANSPORTS = os.environ.get("CHAOS_TRANSPORTS", "loopback,inprocess").split(",")

BASE_PRICE = Decimal(50000)
TICK = Decimal("0.01")
LOT = Decimal("0.0001")
MEXC_TIMEOUT_SECONDS = 1.0
TIMEOUT_DELAY_SECONDS = 1.5  # an answer held past the client's timeout (the request is handled after it)
UNKNOWN_OUTCOME_FAULTS = 4  # the REST client's breaker opens after five in a row
SETTLE_SECONDS = 25.0

# MEXC's status -> the engine's (PARTIALLY_CANCELED is CANCELED with fills).
SIM_STATUS = {"NEW": "NEW", "PARTIALLY_FILLED": "PARTIALLY_FILLED", "FILLED": "FILLED", "CANCELED": "CANCELED",
              "PARTIALLY_CANCELED": "CANCELED"}


# -- the schedule's steps ----------------------------------------------------------------------


class Limit(msgspec.Struct, frozen=True, tag=True):
    """A LIMIT order ``offset`` ticks from the base price, towards the other side of
    the book: positive crosses (a buy above the ask, a sell below the bid), small
    ones rest among the market maker's levels, where a large order of the user's
    own can take them in part."""

    side: str
    lots: int
    offset: int


class Market(msgspec.Struct, frozen=True, tag=True):
    """A MARKET order: a buy by quote amount (``by="quote"``, in USDT) or by quantity, a sell by quantity."""

    side: str
    by: str
    size: int  # USDT for by="quote", lots otherwise


class CancelOrder(msgspec.Struct, frozen=True, tag=True):
    pick: int  # index (mod count) into the orders placed so far


class Move(msgspec.Struct, frozen=True, tag=True):
    """The price jumps to ``bps`` away from the base price; orders it crosses fill."""

    bps: int


class Wait(msgspec.Struct, frozen=True, tag=True):
    """Every placement so far has the exchange's first answer: later faults meet live orders."""


class HttpFault(msgspec.Struct, frozen=True, tag=True):
    """The next ``count`` requests of ``method`` to ``path`` are answered ``status`` unhandled."""

    status: int
    method: str
    path: str
    count: int


class AfterPlace(msgspec.Struct, frozen=True, tag=True):
    """The next placement lands on the book, and its answer is ``status``."""

    status: int


class Timeout(msgspec.Struct, frozen=True, tag=True):
    """The next response (of any request) is held past the client's timeout."""


class Pushes(msgspec.Struct, frozen=True, tag=True):
    mode: str  # drop | duplicate | delay | reorder | deals_last
    count: int
    ms: int
    seed: int


class LagTrades(msgspec.Struct, frozen=True, tag=True):
    ms: int


class UnknownAfterCreate(msgspec.Struct, frozen=True, tag=True):
    ms: int


class DropWebsockets(msgspec.Struct, frozen=True, tag=True):
    pass


class RestartGateway(msgspec.Struct, frozen=True, tag=True):
    pass


Step = Limit | Market | CancelOrder | Move | Wait | HttpFault | AfterPlace | Timeout | Pushes | LagTrades | \
    UnknownAfterCreate | DropWebsockets | RestartGateway

sides = st.sampled_from(["BUY", "SELL"])
lots = st.one_of(st.integers(1, 40), st.integers(40, 600))  # large ones walk the book
orders_ = st.one_of(
    st.builds(Limit, side=sides, lots=lots, offset=st.one_of(st.integers(-40, 40), st.integers(-75_000, 75_000))),
    st.builds(Market, side=st.just("BUY"), by=st.just("quote"), size=st.one_of(st.integers(5, 200), st.integers(200, 3000))),
    st.builds(Market, side=sides, by=st.just("quantity"), size=lots),
)
faults_ = st.one_of(
    st.builds(HttpFault, status=st.sampled_from([429, 500, 503]), method=st.just("POST"), path=st.just("order"),
              count=st.integers(1, 2)),
    st.builds(HttpFault, status=st.sampled_from([429, 500, 503]),
              method=st.sampled_from(["GET", "DELETE"]), path=st.just("order"), count=st.integers(1, 2)),
    st.builds(HttpFault, status=st.sampled_from([429, 500]), method=st.just("GET"),
              path=st.sampled_from(["openOrders", "allOrders", "myTrades"]), count=st.integers(1, 2)),
    st.builds(AfterPlace, status=st.sampled_from([500, 502, 503, 504])),
    st.builds(Timeout),
    st.builds(Pushes, mode=st.sampled_from(["drop", "duplicate", "delay", "reorder", "deals_last"]),
              count=st.integers(1, 4), ms=st.integers(50, 1500), seed=st.integers(0, 2**31)),
    st.builds(LagTrades, ms=st.integers(100, 2000)),
    st.builds(UnknownAfterCreate, ms=st.integers(100, 2500)),
    st.builds(DropWebsockets),
    st.builds(RestartGateway),
)
steps_ = st.one_of(
    orders_,
    orders_,
    orders_,
    st.builds(CancelOrder, pick=st.integers(0, 1000)),
    st.builds(Move, bps=st.integers(-200, 200)),
    st.builds(Wait),
    faults_,
    faults_,
)


def unknown_outcome(step: Step) -> int:
    """Failures the REST client's breaker counts (5xx, timeouts)."""
    if isinstance(step, HttpFault):
        return step.count if step.status >= 500 else 0
    return 1 if isinstance(step, (AfterPlace, Timeout)) else 0


def capped(steps: list[Step]) -> list[Step]:
    """The schedule without the outcome-unknown faults past UNKNOWN_OUTCOME_FAULTS."""
    out, spent = [], 0
    for step in steps:
        cost = unknown_outcome(step)
        if cost and spent + cost > UNKNOWN_OUTCOME_FAULTS:
            continue
        spent += cost
        out.append(step)
    return out


schedules = st.lists(steps_, min_size=6, max_size=20).map(capped)


def describe(schedule: list[Step]) -> str:
    return "\n".join(f"  {i:2d}. {step!r}" for i, step in enumerate(schedule))


# -- the engine under test -------------------------------------------------------------------


@pytest.fixture(scope="module", params=TRANSPORTS)
def system(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[ActorSystem]:
    config = make_config(
        tmp_path_factory.mktemp("chaos"),
        PAPER_TRANSPORT=request.param,
        ORDER_RATE_LIMIT="0",
        MEXC_TIMEOUT_SECONDS=str(MEXC_TIMEOUT_SECONDS),
        PAPER_PRICES="walk",
        PAPER_SYMBOLS=SYMBOL,
    )
    system = ActorSystem(config).start()
    TALLY.clear()
    try:
        yield system
    finally:
        system.stop()
        print(f"\nchaos summary ({request.param}, CHAOS_SEED={SEED}): " + ", ".join(f"{k}: {v}" for k, v in sorted(TALLY.items())))


TALLY: Counter[str] = Counter()  # what the schedules came to, printed at the end (pytest -s)


_users = itertools.count(1)


class Run:
    """One schedule against the engine, and what it needs to say about a failure."""

    def __init__(self, system: ActorSystem, schedule: list[Step]) -> None:
        self.system = system
        self.schedule = schedule
        self.user = f"chaos-{next(_users)}-{os.getpid()}"
        self.account = system.venue.account_for(self.user)
        self.api_key = system.venue._credentials(self.account)[0]  # type: ignore[attr-defined]
        self.simulator = system.venue.simulator  # type: ignore[attr-defined]
        self.placed: list[str] = []  # engine order ids, in the order placed
        self.tickets: list[Ticket] = []
        self.log: list[str] = []  # what each step did
        self.rejected_yet_sent: set[str] = set()  # REJECTED here, CANCELED unexecuted on the exchange

    def where(self, order: str | None = None) -> str:
        about = f" order {order}" if order else ""
        return (f"user {self.user}{about}, CHAOS_SEED={SEED}\nschedule:\n{describe(self.schedule)}\n"
                f"what the steps did:\n" + "\n".join(f"  {line}" for line in self.log)
                + f"\nfindings: {self.findings()}")

    def findings(self) -> list[str]:
        return [note for r in list(self.system.reconciliations) if r.user_id == self.user for note in r.notes]

    # -- steps ------------------------------------------------------------------------------

    def price(self, bps: int) -> Decimal:
        return (BASE_PRICE * (1 + Decimal(bps) / 10000)).quantize(TICK)

    def run(self) -> None:
        self.system.markets.set_paper_price(SYMBOL, BASE_PRICE)
        # A MARKET order needs the market actor's book: a system just started may not have it yet.
        wait_for(lambda: self.system.ask_market(SYMBOL, GetTicker()), timeout=10, message="the first book")
        self.system.ask_portfolio(self.user, GetWallet())  # the portfolio, its account, gateway and stream
        # Something to sell: a fault-free buy first.
        setup = self.place(PlaceOrder(symbol=SYMBOL, side="BUY", type="MARKET", quote_quantity=Decimal(3000)))
        assert setup is not None, self.where()
        setup.settled.result(timeout=10)
        self.placed.clear()  # the schedule's cancels pick among its own orders
        for i, step in enumerate(self.schedule):
            self.log.append(f"{i:2d}. {self.step(step)}")

    def place(self, command: PlaceOrder) -> Ticket | None:
        try:
            ticket = place(self.system, command, self.user)
        except EngineError as exc:
            self.log.append(f"    refused: {exc.code}")
            return None
        self.placed.append(ticket.order_id)
        self.tickets.append(ticket)
        ticket.accepted.result(timeout=5)
        return ticket

    def step(self, step: Step) -> str:
        faults = self.simulator.faults
        if isinstance(step, Limit):
            ticks = step.offset if step.side == "BUY" else -step.offset
            price = (BASE_PRICE + TICK * ticks).quantize(TICK)
            ticket = self.place(PlaceOrder(symbol=SYMBOL, side=step.side, type="LIMIT",  # type: ignore[arg-type]
                                           quantity=LOT * step.lots, price=price))
            return f"limit {step.side} {LOT * step.lots} @ {price}: {ticket and ticket.order_id}"
        if isinstance(step, Market):
            if step.by == "quote":
                command = PlaceOrder(symbol=SYMBOL, side="BUY", type="MARKET", quote_quantity=Decimal(step.size))
            else:
                command = PlaceOrder(symbol=SYMBOL, side=step.side, type="MARKET",  # type: ignore[arg-type]
                                     quantity=LOT * step.size)
            ticket = self.place(command)
            return f"market {step.side} {step.by} {step.size}: {ticket and ticket.order_id}"
        if isinstance(step, CancelOrder):
            if not self.placed:
                return "cancel: nothing placed"
            order_id = self.placed[step.pick % len(self.placed)]
            try:
                cancel(self.system, order_id, self.user)
            except EngineError as exc:
                return f"cancel {order_id}: refused {exc.code}"
            return f"cancel {order_id}: asked"
        if isinstance(step, Move):
            top = self.system.markets.set_paper_price(SYMBOL, self.price(step.bps))
            return f"price -> {self.price(step.bps)} (bid {top.bid}, ask {top.ask})"
        if isinstance(step, Wait):
            return f"waited: {self.wait_settled()}"
        if isinstance(step, HttpFault):
            faults.fail_next(step.count, step.status, method=step.method, path=step.path)
        elif isinstance(step, AfterPlace):
            faults.fail_after_order(1, step.status)
        elif isinstance(step, Timeout):
            faults.delay(TIMEOUT_DELAY_SECONDS, 1)
        elif isinstance(step, Pushes):
            if step.mode == "reorder":
                faults.pushes(self.api_key, "reorder", count=step.count + 1, ms=step.ms, seed=step.seed)
            elif step.mode == "delay":
                faults.pushes(self.api_key, "delay", count=step.count, ms=step.ms, seed=step.seed)
            else:
                faults.pushes(self.api_key, step.mode, count=step.count, seed=step.seed)
        elif isinstance(step, LagTrades):
            faults.lag_trades(self.api_key, step.ms)
        elif isinstance(step, UnknownAfterCreate):
            faults.unknown_after_create(self.api_key, step.ms)
        elif isinstance(step, DropWebsockets):
            return f"websockets dropped: {self.simulator.drop_websockets()}"
        elif isinstance(step, RestartGateway):
            return self.restart_gateway()
        return "fault set"

    def wait_settled(self) -> list[str]:
        """Each placement's first answer (an order's status, or the error its caller got)."""
        out: list[str] = []
        for ticket in self.tickets:
            try:
                out.append(ticket.settled.result(timeout=SETTLE_SECONDS).status)
            except EngineError as exc:
                out.append(exc.code)
            except FutureTimeout:
                pytest.fail(f"order {ticket.order_id} had no first answer within {SETTLE_SECONDS}s\n"
                            f"{self.where(ticket.order_id)}")
        return out

    def restart_gateway(self) -> str:
        old = self.system.activation("gateway", self.account)
        if old is None:
            return "gateway restart: not running"
        self.system.fail_entity("gateway", self.account, "restarted by the schedule")
        # The supervisor starts it again (or a portfolio's next message does).
        wait_for(lambda: self.system.activation("gateway", self.account) not in (None, old), timeout=5,
                 message=f"the gateway of {self.user} to restart")
        return "gateway restarted"

    # -- settling ---------------------------------------------------------------------------

    def reconcile(self) -> int:
        future = self.system.ask_portfolio(self.user, Reconcile())
        try:
            return future.result(timeout=SETTLE_SECONDS)
        except FutureTimeout:
            pytest.fail(f"a reconciliation did not finish within {SETTLE_SECONDS}s\n{self.state()}\n{self.where()}")

    def state(self) -> str:
        """What the gateway and the portfolio hold, for a failure's message."""
        try:
            return self._state()
        except Exception as exc:  # noqa: BLE001 - a failure's message must not fail itself
            return f"(state unavailable: {exc!r})"

    def _state(self) -> str:
        # A host that is gone raises here, and where() reports that instead.
        gateway = self.system.gateway_host(self.account)._actor_weakref()._live.get(self.account)  # type: ignore[union-attr]
        portfolio = self.system.portfolio_host(self.user)._actor_weakref()._live.get(self.user)  # type: ignore[union-attr]
        out = []
        if gateway is not None:
            adapter = gateway.adapter
            out.append(f"gateway: {adapter.stats()}, sweep {adapter._sweep}, next sweep {adapter._next_sweep}, "
                       f"sweep due in {adapter._sweep_due - self.system.clock.now_ms()} ms")
        else:
            out.append("gateway: not active")
        if portfolio is not None:
            out.append(f"portfolio: reconciling {sorted(portfolio._reconciling)}, placing {sorted(portfolio._placing)}, "
                       f"canceling {sorted(portfolio._canceling)}, "
                       f"last append done {portfolio._last_append and portfolio._last_append.done()}")
        return "\n".join(out)

    def settle(self) -> None:
        """Once every placement has its first answer, no faults from now on: the
        engine catches up, every order it holds open is canceled, and the balances
        are compared once nothing is open."""
        # The last placements meet the faults set before them, then the faults go.
        self.log.append(f"settle: first answers {self.wait_settled()}")
        self.simulator.faults.clear()
        wait_for(self.reconciled, timeout=SETTLE_SECONDS, message=f"a reconciliation of {self.user}")
        self.wait_agreed("the engine agrees with the exchange")
        for order in self.engine_orders():
            if order.is_open:
                wait_for(functools.partial(self._canceled, order.id), timeout=SETTLE_SECONDS,
                         message=f"the cancel of {order.id} ({self.user})")
        self.wait_agreed("nothing open, and the engine agrees with the exchange", closed=True)

    def reconciled(self) -> bool:
        try:
            self.reconcile()
        except EngineError as exc:
            self.log.append(f"    reconciliation failed: {exc.code} {exc.message}")
            return False
        return True

    def _canceled(self, order_id: str) -> bool:
        try:
            ticket = cancel(self.system, order_id, self.user)
        except EngineError as exc:
            return exc.code == "ORDER_NOT_CANCELABLE"  # it ended meanwhile
        try:
            # A cancel the gateway lost (it was restarted) is never answered; the
            # portfolio sends it again when asked after ASK_TIMEOUT, as a client retries.
            return ticket.settled.result(timeout=self.system.config.ask_timeout_seconds + 1).status == "CANCELED"
        except (EngineError, FutureTimeout):
            return False  # not carried out: asked again

    def wait_agreed(self, what: str, *, closed: bool = False) -> None:
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            problems = self.differences(closed=closed)
            if not problems:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {SETTLE_SECONDS}s:\n" + "\n".join(problems)
                            + f"\n{self.state()}\n{self.where()}")
            time.sleep(0.05)

    # -- what is compared -----------------------------------------------------------------------

    def engine_orders(self) -> list[Order]:
        return self.system.ask_portfolio(self.user, ListOrders(symbol=SYMBOL, limit=1000))

    def differences(self, *, closed: bool = False) -> list[str]:
        """Every way the engine's orders differ from the simulator's (empty: none)."""
        problems: list[str] = []
        engine = self.engine_orders()
        sim = self.simulator.orders_seen(self.api_key)
        by_cid = {o.client_order_id: o for o in sim}
        trades: dict[str, list[Any]] = {}
        for trade in self.simulator.exchange.my_trades(self.api_key, SYMBOL, limit=10**9):
            trades.setdefault(trade.order_id, []).append(trade)
        for cid, n in Counter(o.client_order_id for o in sim).items():
            if n > 1:
                problems.append(f"client order id {cid} placed {n} times")
        known = set()
        for order in engine:
            cid = sent_as(order)
            known.add(cid)
            found = by_cid.get(cid)
            if closed and order.is_open:
                problems.append(f"{order.id}: still {order.status} in the engine")
            if found is None:
                if order.status not in ("REJECTED", "CANCELED") or order.executed_quantity or order.fills:
                    problems.append(f"{order.id} ({order.type} {order.side}): {order.status} executed "
                                    f"{order.executed_quantity} in the engine, the exchange never had it")
                continue
            want = SIM_STATUS[found.status]
            if order.status != want:
                if order.status == "REJECTED" and found.status == "CANCELED" and not found.executed_qty:
                    self.rejected_yet_sent.add(order.id)  # allowed, and counted
                else:
                    problems.append(f"{order.id} ({order.type} {order.side}): engine {order.status} "
                                    f"({order.reason}), exchange {found.status}")
            if order.executed_quantity != found.executed_qty:
                problems.append(f"{order.id}: engine executed {order.executed_quantity}, exchange {found.executed_qty}")
            if order.executed_quote != found.cum_quote:
                problems.append(f"{order.id}: engine executed quote {order.executed_quote}, exchange {found.cum_quote}")
            ours = {(f.trade_id, f.price, f.quantity, f.quote, f.fee, f.fee_asset, f.is_maker) for f in order.fills}
            theirs = {(t.trade_id, t.price, t.qty, t.quote, t.fee, t.fee_asset, t.is_maker)
                      for t in trades.get(found.order_id, [])}
            if ours != theirs:
                problems.append(f"{order.id}: fills differ: engine only {sorted(ours - theirs)}, "
                                f"exchange only {sorted(theirs - ours)}")
        for found in sim:
            if not is_engine_id(found.client_order_id, self.user):
                problems.append(f"exchange order {found.order_id} ({found.client_order_id}) is not the engine's")
            elif found.client_order_id not in known:
                problems.append(f"exchange order {found.order_id} ({found.client_order_id}, {found.status}, executed "
                                f"{found.executed_qty}) is unknown to the engine")
            if closed and found.is_open:
                problems.append(f"exchange order {found.order_id} ({found.client_order_id}) still {found.status}")
        return problems

    def balances(self) -> tuple[dict[str, tuple[Decimal, Decimal]], dict[str, tuple[Decimal, Decimal]]]:
        engine = {a: (free, locked) for a, free, locked in self.system.ask_portfolio(self.user, GetWallet()) if free or locked}
        sim = {a: (b.free, b.locked) for a, b in self.simulator.account_balances(self.api_key).items()
               if b.free or b.locked}
        return engine, sim

    def journaled_types(self) -> list[str]:
        conn = apsw.Connection(self.system.config.database_path, flags=apsw.SQLITE_OPEN_READONLY)
        try:
            return [t for (t,) in conn.execute("SELECT type FROM events WHERE stream = ? ORDER BY seq",
                                               (user_stream(self.user),))]
        finally:
            conn.close()

    def check(self) -> None:
        engine, sim = self.balances()
        assert engine == sim, f"balances differ: engine {engine}, exchange {sim}\n{self.where()}"
        # With nothing open, a reconciliation compares the balances and journals a
        # difference as BalanceAdjusted: the engine's own ledger must not need one.
        differences = self.reconcile()
        types = self.journaled_types()
        assert "BalanceAdjusted" not in types, f"the ledger needed an adjustment: {types}\n{self.where()}"
        assert differences == 0, f"a reconciliation with nothing open found {differences} differences\n{self.where()}"
        for order in self.engine_orders():
            TALLY[f"engine {order.type} {order.status}"] += 1
        TALLY["rejected here, canceled unexecuted there"] += len(self.rejected_yet_sent)
        TALLY["examples"] += 1
        for finding in self.findings():
            TALLY[f"finding {finding.split(':')[0]}"] += 1
        engine, sim = self.balances()
        assert engine == sim, f"balances differ after reconciling: engine {engine}, exchange {sim}\n{self.where()}"

    def passivate(self) -> None:
        """Let the user go, open orders or not; with nothing to follow, its gateway and
        stream go too."""
        wait_for(lambda: self.system.ask_portfolio(self.user, Passivate(0.0)),
                 timeout=SETTLE_SECONDS, message=f"{self.user} to passivate")
        self.system.ask_account(self.account, Passivate(0.0))


@pytest.mark.timeout(max(120, EXAMPLES * 30))
@seed(SEED)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=False,
    phases=[Phase.explicit, Phase.generate, Phase.shrink] if SHRINK else [Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
@given(schedule=schedules)
def test_after_any_schedule_of_orders_and_faults_the_engine_equals_the_exchange(
    system: ActorSystem, schedule: list[Step]
) -> None:
    began = time.monotonic()
    run = Run(system, schedule)
    note(f"user {run.user}, CHAOS_SEED={SEED}\nschedule:\n{describe(schedule)}")
    run.run()
    run.settle()
    run.check()
    run.passivate()
    if VERBOSE:
        print(f"\n{run.user}: {time.monotonic() - began:.1f}s\n{describe(schedule)}\n" + "\n".join(run.log))
