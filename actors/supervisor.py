"""Supervision: the restart policy and the engine's periodic jobs.

Two parts. ``Supervision`` is the policy and its state: why each actor last failed,
which actors are quarantined, what a restart must set right afterwards (a market's
pending update, the orders a gateway followed, a journal that lost appends), the
same for the engine's own start (every user with open orders reconciled before it
serves), and the periodic jobs (journal verification, pruning, passivation, the gateways'
timers). It is a plain object the system builds and holds (``system.supervision``),
not actor state, because it must outlive the Supervisor actor: the trio-side timer
restarts that actor through it, and hosts and the API read the quarantine from any
thread. It reaches the actors only through the registry primitives of
``SupervisorPeers`` (find, list, replace a dead one, address a host).

The ``Supervisor`` actor serialises the decisions: it restarts crashed actors and
entities (recording why), and quarantines one that keeps crashing (more than
RESTART_LIMIT times in RESTART_WINDOW_SECONDS), halting trading through the risk
engine so an operator looks at it. On its tick it runs the periodic jobs.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import msgspec
import pykka
import structlog

from actors.base import EngineActor
from actors.hosting import Activate, DropAll, PassivateIdle, host_index
from actors.messages import (
    ActorFailed,
    AwaitRestored,
    CancelWake,
    GatewayTick,
    GetSupervision,
    Halt,
    LoadTriggers,
    OpenAccounts,
    PruneMarketData,
    Reconcile,
    ReleaseQuarantine,
    ScheduleWake,
    SupervisionTick,
    UsersWithOpenOrders,
    VerifyJournal,
    WakeDue,
)
from actors.peers import SupervisorPeers
from actors.risk import FailureRecord
from actors.venue import NoExchangeAccount
from engine.errors import ActorUnavailable, EngineError

log = structlog.get_logger(__name__)

RESTART_LIMIT = 5
RESTART_WINDOW_SECONDS = 60.0
PRUNE_EVERY_SECONDS = 3600.0
RESTORE_WAIT_SECONDS = 20.0  # open orders back on the exchange before serving (gunicorn's boot timeout is 60 s)


class Supervision:
    """The policy: what is restarted, what is quarantined, what follows a restart,
    and the periodic jobs. Called from the Supervisor actor, the trio-side timers and
    (for failure reports and the quarantine check) any actor's thread."""

    def __init__(self, peers: SupervisorPeers) -> None:
        self._peers = peers
        self._last_failure: dict[tuple[str, str], str] = {}
        self._quarantined: set[tuple[str, str]] = set()  # crashed too often: not restarted
        self._next_prune = 0.0

    # -- failures (reported on the failing actor's thread) -----------------------------------

    def report_failure(self, kind: str, key: str, exc: Exception) -> None:
        self._last_failure[(kind, key)] = repr(exc)
        self._peers.tell_supervisor(ActorFailed(kind, key, repr(exc)))

    def last_failure(self, kind: str, key: str) -> str | None:
        """Why the actor or entity last failed, if it did (for error messages)."""
        return self._last_failure.get((kind, key))

    def journal_failed(self, exc: Exception) -> None:
        """A commit failed: what portfolios hold in memory may not be durable.
        Halt trading and drop them; they reload from the journal when used."""
        peers = self._peers
        peers.publish_risk(msgspec.structs.replace(peers.risk_state, halted=True, halt_reason=f"journal failure: {exc}",
                                                   halted_by="system", halted_at=peers.clock.now_ms()))
        peers.tell_risk(Halt(reason=f"journal failure: {exc}", by="system"))
        for ref in peers.refs_of("portfolios"):
            try:
                ref.tell(DropAll())
            except pykka.ActorDeadError:
                pass

    # -- quarantine --------------------------------------------------------------------------

    def quarantine(self, kind: str, key: str) -> None:
        """Stop restarting this actor (it keeps crashing) until trading resumes."""
        self._quarantined.add((kind, key))

    def release_quarantine(self) -> list[tuple[str, str]]:
        released, self._quarantined = sorted(self._quarantined), set()
        return released

    def check_not_quarantined(self, kind: str, key: str) -> None:
        if (kind, key) in self._quarantined:
            what = "the gateway of account" if kind == "gateway" else f"the {kind} of"
            raise ActorUnavailable(f"{what} {key} keeps failing; trading is halted")

    # -- the timers (on the trio thread) -----------------------------------------------------

    def tick(self) -> None:
        """On the bridge's timer: keep the supervisor itself alive, then let it work."""
        if not self._peers.running:
            return
        supervisor = self._peers.find("supervisor", "supervisor")
        if supervisor is None or not supervisor.is_alive():
            self.restart("supervisor", "supervisor", reason="found dead")
            return
        try:
            supervisor.tell(SupervisionTick())
        except pykka.ActorDeadError:
            pass

    def tick_gateways(self) -> None:
        """On the bridge's timer: each gateway looks at what is due (re-checks,
        resends, its periodic sweep)."""
        for ref in self._peers.refs_of("gateways"):
            try:
                ref.tell(GatewayTick())
            except pykka.ActorDeadError:
                pass

    # -- the supervisor's tick ---------------------------------------------------------------

    def supervise_once(self) -> None:
        """Called by the Supervisor: restart singletons that died silently, ask
        idle portfolios to passivate, and now and then prune old market data."""
        peers = self._peers
        if not peers.running:
            return
        try:
            peers.ref("verifier", "journal").tell(VerifyJournal())
        except (ActorUnavailable, pykka.ActorDeadError):
            pass
        now = time.monotonic()
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY_SECONDS
            window_ms = int(peers.config.market_data_retention_days * 86_400_000)
            try:
                peers.ref("candles", "candles").tell(PruneMarketData(peers.clock.now_ms() - window_ms))
            except (ActorUnavailable, pykka.ActorDeadError):
                pass
        for (kind, key), ref in peers.refs():
            if kind != "supervisor" and not ref.is_alive() and (kind, key) not in self._quarantined:
                self.restart(kind, key, reason=self._last_failure.get((kind, key), "found dead"))
        for kind in ("portfolios", "gateways"):
            for ref in peers.refs_of(kind):
                try:
                    ref.tell(PassivateIdle(peers.config.portfolio_idle_seconds))
                except pykka.ActorDeadError:
                    pass

    # -- the engine's own start: reconciliation before serving ------------------------------

    def restore_at_start(self, *, read_timeout: float) -> None:
        """A paper venue rebuilds the accounts of users with open orders in bulk (their
        portfolios sleep on); users it cannot, and every user of a real exchange, are
        reconciled now, not at their next request."""
        peers = self._peers
        restoring = peers.venue.restore_accounts(peers.ask_persistence(OpenAccounts(), timeout=read_timeout))
        # The owner of a real account is reconciled now too: its balances are the
        # exchange's, and its first order must not meet a wallet not yet read.
        for account in peers.venue.accounts_at_start():
            restoring += [u for u in peers.venue.users_of(account, []) if u not in restoring]
        for user_id in restoring:
            peers.portfolio_host(user_id).tell(Activate(user_id))  # they start (and reconcile) side by side
        self._await_restored(restoring)

    def _await_restored(self, users: list[str]) -> None:
        """Wait, within RESTORE_WAIT_SECONDS, until the open orders of ``users`` are
        back on the exchange: a request served earlier could move a price through an
        order the exchange does not hold yet. An exchange that cannot answer in time
        does not keep the engine down; those orders follow when it can."""
        deadline = time.monotonic() + RESTORE_WAIT_SECONDS
        late = []
        for user_id in users:
            try:
                # The portfolio's start reconciliation is over once its gateway has swept
                # the account and every order it sent again has its answer.
                restored: Future[int] = self._peers.ask_portfolio(user_id, AwaitRestored(),
                                                                  timeout=max(deadline - time.monotonic(), 0.01))
                restored.result(timeout=max(deadline - time.monotonic(), 0.01))
            except NoExchangeAccount:
                continue
            except (EngineError, FutureTimeout) as exc:
                late.append(user_id)
                log.warning("engine.restore_pending", user_id=user_id, error=getattr(exc, "message", repr(exc)))
        log.info("engine.orders_restored", users=len(users) - len(late), pending=len(late))

    # -- restarts ----------------------------------------------------------------------------

    def restart(self, kind: str, key: str, *, reason: str) -> bool:
        """Replace a failed actor or entity with a fresh one built from the journal.
        An actor is replaced only if it is dead (the registry checks and starts under
        its lock: two threads never start two). An entity (a portfolio, an account's
        gateway) was dropped by its host when it failed: activating it again is the restart."""
        peers = self._peers
        if not peers.running or (kind, key) in self._quarantined:
            return False
        if kind in ("portfolio", "gateway"):
            log.warning("actor.restarting", kind=kind, key=key, reason=reason)
            host = peers.portfolio_host(key) if kind == "portfolio" else peers.gateway_host(key)
            try:
                host.tell(Activate(key))  # a portfolio hands its open orders to the gateway as it starts
            except pykka.ActorDeadError:
                return False
        elif not peers.replace_dead(kind, key, reason=reason):
            return False
        self._after_restart(kind, key)
        return True

    def _after_restart(self, kind: str, key: str) -> None:
        peers = self._peers
        if kind == "market":
            peers.markets.renotify(key)
        elif kind == "gateway":
            # Its followed orders died with it: each owner hands them over again.
            self._reconcile_owners(lambda account: account == key, also=peers.users_of(key))
        elif kind == "gateways":
            # Every account it hosted lost what it followed.
            index = int(key)
            self._reconcile_owners(lambda account: host_index(account, peers.config.gateway_hosts) == index,
                                   also=[u for a in peers.venue.accounts_at_start() for u in peers.users_of(a)])
        elif kind == "persistence":
            # Appends queued in the dead actor are lost: nothing in memory is trusted.
            self.journal_failed(RuntimeError(f"persistence actor restarted: {self._last_failure.get((kind, key))}"))

    def _reconcile_owners(self, lost: Callable[[str], bool], also: list[str]) -> None:
        """Users (sleeping or not) with orders open on an account whose gateway lost
        what it followed hand those orders over again; so do the users in ``also``."""
        peers = self._peers
        try:
            users: list[str] = peers.ask_persistence(UsersWithOpenOrders())
        except EngineError as exc:
            log.warning("supervisor.open_orders_unread", error=exc.message)
            users = []
        owners = dict.fromkeys(also)
        for user_id in users + peers.live_portfolios():
            try:
                if lost(peers.venue.account_for(user_id)):
                    owners[user_id] = None
            except EngineError:
                continue
        for user_id in owners:
            peers.tell_portfolio(user_id, Reconcile(quiet=True))


class Supervisor(EngineActor):
    kind = "supervisor"

    system: SupervisorPeers

    def __init__(self, system: SupervisorPeers) -> None:
        super().__init__(system, key="supervisor")
        self.failures: deque[FailureRecord] = deque(maxlen=100)
        self.restarts = 0
        self._recent: dict[tuple[str, str], deque[float]] = {}
        # The schedule: (due ms, user, key) in a heap; _due holds each key's current time,
        # so a replaced or canceled entry left in the heap is skipped when it comes up.
        self._heap: list[tuple[int, str, str]] = []
        self._due: dict[tuple[str, str], int] = {}

    def started(self) -> None:
        # The times the journal holds (DCA rules): those of sleeping users too.
        try:
            for trigger in self.system.ask_persistence(LoadTriggers("")):
                if trigger.due is not None:
                    self._schedule(trigger.user_id, trigger.key, trigger.due)
        except EngineError as exc:
            self.log.error("supervisor.schedule_unloaded", error=exc.message)
            raise

    def _schedule(self, user_id: str, key: str, due: int) -> None:
        self._due[(user_id, key)] = due
        heapq.heappush(self._heap, (due, user_id, key))

    def _wake_due(self) -> None:
        now = self.system.clock.now_ms()
        while self._heap and self._heap[0][0] <= now:
            due, user_id, key = heapq.heappop(self._heap)
            if self._due.get((user_id, key)) != due:
                continue  # replaced or canceled since
            del self._due[(user_id, key)]
            self.system.tell_portfolio(user_id, WakeDue(key))

    def handle(self, message: Any) -> Any:
        policy = self.system.supervision
        if isinstance(message, SupervisionTick):
            policy.supervise_once()
            self._wake_due()
            return None
        if isinstance(message, ScheduleWake):
            self._schedule(message.user_id, message.key, message.due)
            return None
        if isinstance(message, CancelWake):
            self._due.pop((message.user_id, message.key), None)
            return None
        if isinstance(message, ActorFailed):
            return self._on_failure(message)
        if isinstance(message, ReleaseQuarantine):
            for kind, key in policy.release_quarantine():
                self._recent.pop((kind, key), None)
                policy.restart(kind, key, reason="trading resumed")
            return None
        if isinstance(message, GetSupervision):
            return list(self.failures), self.restarts
        raise TypeError(f"unexpected message {message!r}")

    def _on_failure(self, failure: ActorFailed) -> None:
        policy = self.system.supervision
        now = time.monotonic()
        recent = self._recent.setdefault((failure.kind, failure.key), deque(maxlen=RESTART_LIMIT + 1))
        recent.append(now)
        storm = len(recent) > RESTART_LIMIT and now - recent[0] < RESTART_WINDOW_SECONDS
        restarted = False
        if storm:
            self.log.error("supervisor.restart_storm", kind=failure.kind, key=failure.key, error=failure.error)
            policy.quarantine(failure.kind, failure.key)
            if not self.system.risk_state.halted:
                reason = f"{failure.kind} {failure.key} keeps failing: {failure.error}"
                self.system.tell_risk(Halt(reason=reason, by="supervisor"))
        else:
            restarted = policy.restart(failure.kind, failure.key, reason=failure.error)
            if restarted:
                self.restarts += 1
        self.failures.append(
            FailureRecord(failure.kind, failure.key, failure.error, self.system.clock.now_ms(), restarted)
        )
