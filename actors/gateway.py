"""The exchange gateway: each exchange account's single owner of its orders' lives at
the exchange, hosted (as virtual actors) by a few ``GatewayHost`` actors.

Orders, cancels and portfolios' open orders arrive by ``tell``; everything an
account's gateway learns goes back to the owning portfolio as messages (Execution,
OrphanFound, Reconciled, BalancesFetched), so no portfolio ever waits on the
exchange. The adapter decides; the REST calls it asks for run on the engine's
exchange I/O workers (``ExchangeIO``) and come back as ``JobDone``, so a host never
blocks on the network: a push is handled while an order's answer is still out.
Re-checks are due times looked at on ``GatewayTick``.

An account's gateway lives while it follows anything (an order, a sweep, a call out);
idle, it lets go of its REST client and user stream, and the next order or push
for the account starts it again. Where pushes reach an account with no gateway
(the paper venue in process), orders resting quietly do not keep it either.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import structlog

from actors.hosting import Entity, EntityHost, ToEntity
from actors.messages import (
    Adopt,
    BalancesFetched,
    CancelAtExchange,
    Execution,
    FetchBalances,
    GatewayStatus,
    GatewayTick,
    JobDone,
    OrphanFound,
    PrivatePush,
    Reconcile,
    Reconciled,
    StreamReconnected,
    Submit,
    Track,
)
from actors.peers import GatewayPeers
from engine.exchanges.base import ExchangeOrder
from engine.exchanges.mexc import account_io
from engine.exchanges.mexc.account_io import Job
from engine.exchanges.mexc.adapter import Effects
from engine.model import IMMEDIATE_TYPES

log = structlog.get_logger(__name__)
_activations = itertools.count(1)  # numbers each gateway activation (next() is atomic under the GIL)

PROBE_EVERY_SECONDS = 1.0  # a refused key is asked about again at most this often
CLOSE_WAIT_SECONDS = 3.0  # how long a stopping engine waits for REST calls under way


class ExchangeIO:
    """The worker threads that carry out every gateway's REST jobs. A fixed pool:
    the number of threads does not grow with accounts, and a slow exchange ties
    up workers, never an actor."""

    def __init__(self, workers: int = 8) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="exchange-io")
        self._out: set[Future[Any]] = set()  # jobs submitted and not done
        self._lock = threading.Lock()

    def run(self, rest: Any, job: Job, reply: Callable[[JobDone], None], activation: int = 0) -> None:
        def done(future: Future[Any]) -> None:
            with self._lock:
                self._out.discard(future)
            error = future.exception()
            reply(JobDone(job, None if error else future.result(), error, activation))

        try:
            future = self._pool.submit(account_io.run, rest, job)
        except RuntimeError:  # shutting down
            log.info("gateway.job_dropped", kind=job.kind, client_order_id=job.client_id)
            return
        with self._lock:
            self._out.add(future)
        future.add_done_callback(done)

    def close(self, timeout: float = CLOSE_WAIT_SECONDS) -> None:
        """Cancel the jobs not started, and give those under way ``timeout`` to end:
        a call the exchange is answering finishes (its answer is dropped) rather than
        outliving the engine; one that hangs is left to its own REST timeout."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            running = [f for f in self._out if not f.done()]
        _, late = wait(running, timeout=timeout)
        if late:
            log.warning("gateway.jobs_outlive_stop", jobs=len(late))


class AccountGateway(Entity):
    kind = "gateway"
    wants_ticks = True

    system: GatewayPeers

    def __init__(self, system: GatewayPeers, account: str, host: GatewayHost) -> None:
        super().__init__(system, account)
        self.account = account
        self._host = host
        self.adapter: Any = None
        self._probed_at = 0.0
        self._jobs_out = 0
        self.activation = 0
        self._due: int | None = None  # clock ms before which its adapter has nothing due; None: look
        self._keep = account in system.venue.accounts_at_start()  # a real account is always followed

    def activate(self) -> None:
        self.activation = next(_activations)
        self.adapter = self.system.venue.make_adapter(self.account)
        self.system.account_streams.start(self.account)

    def deactivate(self) -> None:
        self.system.account_streams.stop(self.account)
        if self.adapter is not None:
            self.system.venue.release_adapter(self.adapter)
            self.adapter = None

    def can_passivate(self, idle_seconds: float, now: float) -> bool:
        if self._keep or self._jobs_out or now - self.last_active < idle_seconds:
            return False
        stats = self.adapter.stats()
        if not (stats["orders"] or stats["sweeping"]):
            return True
        # Resting orders alone do not keep it where a push reaches the account asleep:
        # the push starts it again, and the owner hands its open orders over.
        return bool(self.system.venue.pushes_wake_accounts) and self.adapter.is_quiet()

    def tick(self, now: float) -> None:
        self._probe_refused_key()
        if self._due is not None and self.system.clock.now_ms() < self._due:
            return  # nothing of its own is due: a host of thousands of accounts skips it
        self._apply(self.adapter.tick())
        self._due = self.adapter.next_due()

    def handle(self, message: Any) -> Any:
        adapter = self.adapter
        if not isinstance(message, GatewayStatus):
            self.last_active = time.monotonic()
            self._due = None  # what it was told may make something due: the next tick looks
        if isinstance(message, JobDone):
            if message.activation != self.activation:
                # A job of an activation that failed since: this adapter never asked for it.
                self.log.info("gateway.stale_job_answer", kind=message.job.kind, client_order_id=message.job.client_id)
                return None
            self._jobs_out -= 1
            self._apply(adapter.on_result(message.job, message.result, message.error))
        elif isinstance(message, PrivatePush):
            self._apply(adapter.on_push(message.push))
        elif isinstance(message, Submit):
            self._apply(adapter.submit(message.order, look_after=self._marketable(message.order)))
        elif isinstance(message, CancelAtExchange):
            self._apply(adapter.cancel(message.order))
        elif isinstance(message, Track):
            self._apply(adapter.track(list(message.orders), user_id=message.user_id, token=message.token,
                                      sweep=message.sweep))
        elif isinstance(message, Adopt):
            self._apply(adapter.adopt(message.order, message.exchange_id, message.fills))
        elif isinstance(message, FetchBalances):
            self._apply(adapter.fetch_balances(message.user_id, message.token))
        elif isinstance(message, StreamReconnected):
            self._apply(adapter.sweep_now())  # pushes may have been missed while away
        elif isinstance(message, GatewayTick):
            self.tick(time.monotonic())
        elif isinstance(message, GatewayStatus):
            stats = dict(adapter.stats())
            if message.user_id is not None:
                stats["settled"] = int(adapter.is_settled(message.user_id))
            return stats
        else:
            raise TypeError(f"unexpected message {message!r}")
        return None

    def _run(self, job: Job) -> None:
        self._jobs_out += 1
        self.system.exchange_io.run(self.adapter.rest, job, self._host.reply_for(self.account), self.activation)

    def _apply(self, fx: Effects) -> None:
        for job in fx.jobs:
            self._run(job)
        for report in fx.reports:
            self.system.tell_portfolio(report.user_id, Execution(report))
        for orphan in fx.orphans:
            # Its owner says whether the journal has it (usually: a closed order of its own).
            self.log.info("gateway.untracked_order", user_id=orphan.user_id, client_order_id=orphan.order.client_order_id,
                          status=orphan.order.status)
            self.system.tell_portfolio(orphan.user_id, OrphanFound(orphan.order))
        # Answers to a portfolio's own requests: one that passivated meanwhile is not woken
        # for them (what changed reached it as Execution, which does wake it).
        for read in fx.balances:
            self.system.tell_live_portfolio(read.user_id, BalancesFetched(read.token, read.totals, read.error))
        for swept in fx.swept:
            self.system.tell_live_portfolio(
                swept.user_id, Reconciled(swept.token, tuple(swept.updated), tuple(swept.resent), swept.error,
                                          swept=swept.swept))
        for user_id in dict.fromkeys(fx.handovers):
            self.system.tell_portfolio(user_id, Reconcile(quiet=True))  # wakes a sleeping owner
        for finding in fx.findings:
            self.system.reconciliations.record_finding(finding.user_id, finding.order_id, f"{finding.kind}: {finding.detail}")

    def _probe_refused_key(self) -> None:
        """While MEXC refuses the key, ask again now and then (off this thread), so a
        fixed key is noticed without waiting for an order to try it."""
        rest = self.adapter.rest
        if not getattr(rest, "refused_key", None) or time.monotonic() - self._probed_at < PROBE_EVERY_SECONDS:
            return
        self._probed_at = time.monotonic()
        self._run(Job("probe"))

    def _marketable(self, order: ExchangeOrder) -> bool:
        """A MARKET, IMMEDIATE_OR_CANCEL or FILL_OR_KILL order, or a LIMIT order priced
        through the book, is done or filled as it lands; its ack alone would report it
        NEW, and its fills would rest on pushes of a user stream that may not be
        connected yet. (A LIMIT_MAKER that would cross is refused, never filled.)"""
        if order.type in IMMEDIATE_TYPES:
            return True
        if order.type != "LIMIT" or order.price is None:
            return False
        book = self.system.markets.latest_book(order.symbol)
        if book is None:
            return False
        return order.price >= book.ask if order.side == "BUY" else order.price <= book.bid


class GatewayHost(EntityHost):
    """Hosts the gateways of the accounts that hash to it."""

    kind = "gateways"

    def __init__(self, system: GatewayPeers, index: int) -> None:
        super().__init__(system, str(index), entity_kind="gateway",
                         factory=lambda account: AccountGateway(system, account, self),
                         max_live=1 << 30)  # no cap: one with work under way is never let go

    def reply_for(self, account: str) -> Callable[[JobDone], None]:
        ref = self.actor_ref

        def reply(message: JobDone) -> None:
            try:
                # An answer for a gateway that is gone (it failed) does not start a new
                # one: that one knows nothing of the job.
                ref.tell(ToEntity(account, message, live_only=True))
            except Exception:  # noqa: BLE001 - the host stopped: the engine is stopping
                log.info("gateway.job_answer_dropped", kind=message.job.kind, client_order_id=message.job.client_id)

        return reply

    def handle_own(self, message: Any) -> Any:
        if isinstance(message, GatewayTick):
            self.tick_entities(time.monotonic())
            return None
        return super().handle_own(message)
