"""ExchangeGateway: one per exchange account; the single owner of its orders' lives
at the exchange.

Orders, cancels and portfolios' open orders arrive by ``tell``; everything the
gateway learns goes back to the owning PortfolioActor as messages (Execution,
OrphanFound, Reconciled, BalancesFetched), so no portfolio ever waits on the
exchange. The adapter decides; the REST calls it asks for run on the engine's
exchange I/O workers (``ExchangeIO``) and come back here as ``JobDone``, so the
gateway itself never blocks on the network: a push is handled while an order's
answer is still out. Re-checks are due times looked at on ``GatewayTick``.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

import pykka
import structlog

from actors.base import EngineActor
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
    Reconciled,
    StreamReconnected,
    Submit,
    Track,
)
from engine.exchanges.base import ExchangeOrder
from engine.exchanges.mexc import account_io
from engine.exchanges.mexc.account_io import Job
from engine.exchanges.mexc.adapter import Effects

log = structlog.get_logger(__name__)

PROBE_EVERY_SECONDS = 1.0  # a refused key is asked about again at most this often


class ExchangeIO:
    """The worker threads that carry out every gateway's REST jobs. A fixed pool:
    the number of threads does not grow with accounts, and a slow exchange ties
    up workers, never an actor."""

    def __init__(self, workers: int = 8) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="exchange-io")

    def run(self, rest: Any, job: Job, reply_to: pykka.ActorRef) -> None:
        def done(future: Future[Any]) -> None:
            error = future.exception()
            message = JobDone(job, None if error else future.result(), error)
            try:
                reply_to.tell(message)
            except pykka.ActorDeadError:
                log.info("gateway.job_answer_dropped", kind=job.kind, client_order_id=job.client_id)

        try:
            self._pool.submit(account_io.run, rest, job).add_done_callback(done)
        except RuntimeError:  # shutting down
            log.info("gateway.job_dropped", kind=job.kind, client_order_id=job.client_id)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class ExchangeGateway(EngineActor):
    kind = "gateway"

    def __init__(self, system: Any, account: str, make_adapter: Callable[[], Any]) -> None:
        super().__init__(system, key=account)
        self.account = account
        self._make_adapter = make_adapter
        self.adapter: Any = None
        self._probed_at = 0.0

    def started(self) -> None:
        self.adapter = self._make_adapter()

    def stopping(self) -> None:
        if self.adapter is not None:
            self.system.venue.release_adapter(self.adapter)

    def handle(self, message: Any) -> Any:
        adapter = self.adapter
        if isinstance(message, JobDone):
            self._apply(adapter.on_result(message.job, message.result, message.error))
        elif isinstance(message, PrivatePush):
            self._apply(adapter.on_push(message.push))
        elif isinstance(message, Submit):
            self._apply(adapter.submit(message.order, look_after=self._marketable(message.order)))
        elif isinstance(message, CancelAtExchange):
            self._apply(adapter.cancel(message.order))
        elif isinstance(message, Track):
            self._apply(adapter.track(list(message.orders), user_id=message.user_id, token=message.token))
        elif isinstance(message, Adopt):
            self._apply(adapter.adopt(message.order, message.exchange_id, message.fills))
        elif isinstance(message, FetchBalances):
            self._apply(adapter.fetch_balances(message.user_id, message.token))
        elif isinstance(message, StreamReconnected):
            self._apply(adapter.sweep_now())  # pushes may have been missed while away
        elif isinstance(message, GatewayTick):
            self._probe_refused_key()
            self._apply(adapter.tick())
        elif isinstance(message, GatewayStatus):
            stats = dict(adapter.stats())
            if message.user_id is not None:
                stats["settled"] = int(adapter.is_settled(message.user_id))
            return stats
        else:
            raise TypeError(f"unexpected message {message!r}")
        return None

    def _apply(self, fx: Effects) -> None:
        for job in fx.jobs:
            self.system.exchange_io.run(self.adapter.rest, job, self.actor_ref)
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
                swept.user_id, Reconciled(swept.token, tuple(swept.updated), tuple(swept.resent), swept.error))
        for finding in fx.findings:
            self.system.record_finding(finding.user_id, finding.order_id, f"{finding.kind}: {finding.detail}")

    def _probe_refused_key(self) -> None:
        """While MEXC refuses the key, ask again now and then (off this thread), so a
        fixed key is noticed without waiting for an order to try it."""
        rest = self.adapter.rest
        if not getattr(rest, "refused_key", None) or time.monotonic() - self._probed_at < PROBE_EVERY_SECONDS:
            return
        self._probed_at = time.monotonic()
        self.system.exchange_io.run(rest, Job("probe"), self.actor_ref)

    def _marketable(self, order: ExchangeOrder) -> bool:
        """A MARKET order, or a LIMIT order priced through the book, fills as it
        lands; its ack alone would report it NEW, and its fills would rest on pushes
        of a user stream that may not be connected yet."""
        if order.type == "MARKET":
            return True
        if order.type != "LIMIT" or order.price is None:
            return False
        book = self.system.latest_book(order.symbol)
        if book is None:
            return False
        return order.price >= book.ask if order.side == "BUY" else order.price <= book.bid
