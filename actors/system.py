"""ActorSystem: the composition root. Builds, registers, finds, starts and stops the actors.

Actors never hold references to each other: they find their peers here by role
at the moment they need them, so a restarted actor is reached at once. The
registry is the only shared mutable structure, guarded by one lock.

Start order follows the one-way flow of asks (persistence, risk, gateway,
markets; portfolios on first use) and stop order reverses it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from decimal import Decimal
from typing import Any, TypeVar

import pykka
import structlog

from actors.account_streams import AccountStreams
from actors.bridge import TrioBridge
from actors.candle_store import CandleStoreActor
from actors.gateway import ExchangeIO, GatewayHost
from actors.hosting import FailEntity, Refused, Reloading, ToEntity, host_index
from actors.market import MarketActor
from actors.market_data import MarketFeeds
from actors.messages import (
    Append,
    Ask,
    CheckWritable,
    GatewayStatus,
    GetRiskStatus,
    Listed,
    PrivatePush,
    UsersWithListingRules,
)
from actors.persistence import JournalStatus, JournalVerifier, PersistenceActor
from actors.portfolio import PortfolioHost
from actors.reconciliation_log import ReconciliationLog
from actors.risk import RiskEngine
from actors.supervisor import Supervision, Supervisor
from actors.venue import Venue, make_venue
from engine.clock import Clock, SystemClock
from engine.config import Config
from engine.errors import ActorUnavailable, EngineError, EngineTimeout, MarketDataUnavailable
from engine.risk import RiskState, risk_state_of
from engine.symbols import SymbolCatalog
from persistence.backup import BackupScheduler
from persistence.lock import DatabaseLock
from persistence.turso import TursoSync

R = TypeVar("R")
log = structlog.get_logger(__name__)

START_TIMEOUT_SECONDS = 300.0
STOP_TIMEOUT_SECONDS = 10.0
GATEWAY_TICK_SECONDS = 0.25  # how often gateways look at due re-checks and resends


class ActorSystem:
    def __init__(self, config: Config, *, clock: Clock | None = None, venue: Venue | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.venue = venue or make_venue(config, self.clock)
        self.bridge = TrioBridge()
        self.exchange_io = ExchangeIO(config.exchange_io_threads)
        self._lock = threading.RLock()
        self._refs: dict[tuple[str, str], pykka.ActorRef] = {}
        self._live: dict[str, dict[str, int]] = {"portfolio": {}, "gateway": {}}  # kind -> key -> activation
        self._activations = 0
        self.backups: BackupScheduler | None = None
        self.turso: TursoSync | None = None
        self._db_lock = DatabaseLock(config.database_path)
        self._running = False
        self.started_at: int | None = None
        self.supervision = Supervision(self)  # the restart policy, quarantine and periodic jobs
        self.markets = MarketFeeds(self)  # the feed's sink, the market actors' plumbing
        self.account_streams = AccountStreams(self)  # each account's user stream, for its gateway
        self.reconciliations = ReconciliationLog(self)  # what reconciliation found, for operators
        # Replaced whole (one reference, atomically) by the risk engine; read by portfolios.
        self.risk_state = risk_state_of(config)
        # Replaced whole by the journal's writer around each commit; read by /health.
        self.journal_status = JournalStatus()

    @property
    def catalog(self) -> SymbolCatalog:
        """Every symbol the venue lists (it may grow while running)."""
        return self.venue.catalog

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> ActorSystem:
        self._db_lock.acquire()
        try:
            self.start_singleton("persistence", "journal")
            # Opening verifies what was written since the last check: allow for it.
            self.ask_persistence(CheckWritable(), timeout=max(START_TIMEOUT_SECONDS, self.config.ask_timeout_seconds))
            self.start_singleton("verifier", "journal")
            self.start_singleton("candles", "candles")  # after the journal: it moves old candles there
            if self.config.backup_interval_seconds > 0:
                self.backups = BackupScheduler(
                    self.config.database_path,
                    self.config.backup_path,
                    self.config.backup_interval_seconds,
                    self.config.backup_keep,
                    clock=self.clock,
                )
                self.backups.start()
            if self.config.turso_enabled and self.config.turso_sync_enabled and self.config.turso_url:
                self.turso = TursoSync(
                    self.config.database_path,
                    self.config.turso_url,
                    self.config.turso_auth_token,
                    batch_size=self.config.turso_batch_size,
                    interval=self.config.turso_sync_interval_seconds,
                    clock=self.clock,
                ).start()
            self.reconciliations.load()
            self.start_singleton("supervisor", "supervisor")
            self.start_singleton("risk", "risk")
            self.ask_risk(GetRiskStatus())  # its state is published before any order
            for index in range(self.config.gateway_hosts):
                self.start_singleton("gateways", str(index))
            for index in range(self.config.portfolio_hosts):
                self.start_singleton("portfolios", str(index))
            for symbol in self.venue.market_symbols:
                self.start_singleton("market", symbol)
            self.bridge.start()
            self.bridge.spawn("feed", self.venue.feed(self.markets))
            for name, task in self.venue.background(self):
                self.bridge.spawn(name, task)
            for account in self.venue.accounts_at_start():
                self.ask_account(account, GatewayStatus())  # started, with its user stream
            self.bridge.every("supervisor", self.config.supervisor_interval_seconds, self.supervision.tick)
            self.bridge.every("gateway-timers", GATEWAY_TICK_SECONDS, self.supervision.tick_gateways)
            # Whoever has orders open is on the exchange before prices move.
            self.supervision.restore_at_start(read_timeout=START_TIMEOUT_SECONDS)
        except BaseException:
            self.stop()
            raise
        self._running = True
        self.started_at = self.clock.now_ms()
        log.info("engine.started", venue=self.venue.name, symbols=self.venue.market_symbols, database=self.config.database_path)
        return self

    def stop(self) -> None:
        """Stop everything in reverse order; the journal flushes last."""
        self._running = False
        if self.backups is not None:
            self.backups.stop()
        if self.turso is not None:
            self.turso.stop()
        self.bridge.stop()
        for kind in ("portfolios", "market", "candles", "gateways", "risk", "supervisor", "verifier", "persistence"):
            with self._lock:
                refs = [ref for (k, _), ref in self._refs.items() if k == kind]
            self._stop_refs(refs)
        with self._lock:
            self._refs.clear()
        self.exchange_io.close()
        self.venue.close()
        self._db_lock.release()
        log.info("engine.stopped")

    @staticmethod
    def _stop_refs(refs: list[pykka.ActorRef]) -> None:
        futures = []
        for ref in refs:
            try:
                futures.append(ref.stop(block=False))
            except pykka.ActorDeadError:
                pass
        for future in futures:
            try:
                future.get(timeout=STOP_TIMEOUT_SECONDS)
            except (pykka.Timeout, pykka.ActorDeadError):
                pass

    @property
    def running(self) -> bool:
        return self._running

    # -- finding actors ------------------------------------------------------------------------

    def find(self, kind: str, key: str) -> pykka.ActorRef | None:
        """The actor registered for ``kind``/``key``, alive or not (None if there is none)."""
        return self._refs.get((kind, key))

    def ref(self, kind: str, key: str) -> pykka.ActorRef:
        ref = self._refs.get((kind, key))
        if ref is None or not ref.is_alive():
            reason = self.supervision.last_failure(kind, key)
            raise ActorUnavailable(f"{kind} {key} is not running" + (f" ({reason})" if reason else ""))
        return ref

    def portfolio_host(self, user_id: str) -> pykka.ActorRef:
        """The actor hosting the user's portfolio (it activates it when addressed)."""
        return self._host("portfolios", user_id, self.config.portfolio_hosts)

    def gateway_host(self, account: str) -> pykka.ActorRef:
        return self._host("gateways", account, self.config.gateway_hosts)

    def _host(self, kind: str, key: str, hosts: int) -> pykka.ActorRef:
        if not self._running and self.started_at is not None:
            raise ActorUnavailable("the engine is stopping")
        return self.ref(kind, str(host_index(key, hosts)))

    def live_portfolios(self) -> list[str]:
        """Users whose portfolio is active now."""
        with self._lock:
            return list(self._live["portfolio"])

    def live_gateways(self) -> list[str]:
        with self._lock:
            return list(self._live["gateway"])

    def activation(self, kind: str, key: str) -> int | None:
        """Which activation of the entity is live (they are numbered), if one is."""
        with self._lock:
            return self._live.get(kind, {}).get(key)

    def entity_activated(self, kind: str, key: str) -> None:
        with self._lock:
            self._activations += 1
            self._live.setdefault(kind, {})[key] = self._activations

    def entity_passivated(self, kind: str, key: str) -> None:
        with self._lock:
            self._live.setdefault(kind, {}).pop(key, None)

    # -- talking to actors ---------------------------------------------------------------------

    def ask(self, ref: pykka.ActorRef, message: Ask[R], timeout: float | None = None) -> R:
        """Ask with a deadline; a dead or silent actor becomes a clear error. The
        answer has the type the message declares."""
        answer: R = self._ask(ref, message, timeout)
        return answer

    def _ask(self, ref: pykka.ActorRef, message: Any, timeout: float | None = None) -> Any:
        """``ask`` for any message, an envelope to an entity among them."""
        timeout = self.config.ask_timeout_seconds if timeout is None else timeout
        try:
            answer = ref.ask(message, timeout=timeout)
        except pykka.ActorDeadError:
            reason = next((self.supervision.last_failure(*k) for k, r in list(self._refs.items()) if r is ref), None)
            suffix = f": {reason}" if reason else ""
            raise ActorUnavailable(f"{self._name_of(ref, message)} stopped before answering{suffix}") from None
        except pykka.Timeout:
            raise EngineTimeout(f"{self._name_of(ref, message)} did not answer within {timeout:g}s") from None
        if isinstance(answer, Refused):
            raise answer.error
        return answer

    @staticmethod
    def _name_of(ref: pykka.ActorRef, message: Any) -> str:
        if isinstance(message, ToEntity):
            kind = "the portfolio of" if ref.actor_class.__name__ == "PortfolioHost" else "the gateway of"
            return f"{kind} {message.key}"
        return ref.actor_class.__name__

    def ask_portfolio(self, user_id: str, message: Ask[R], timeout: float | None = None) -> R:
        # A portfolio that refused a message because it must reload from the journal
        # did nothing with it: one retry meets the reloaded one.
        for attempt in (1, 2):
            try:
                answer: R = self._ask(self.portfolio_host(user_id), ToEntity(user_id, message), timeout)
                return answer
            except Reloading:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def tell_live_portfolio(self, user_id: str, message: Any) -> None:
        """A message only an active portfolio can use (the answer to its own request):
        it does not activate one that passivated since."""
        self._tell_host(self.portfolio_host, user_id, ToEntity(user_id, message, live_only=True))

    def tell_portfolio(self, user_id: str, message: Any) -> None:
        self._tell_host(self.portfolio_host, user_id, ToEntity(user_id, message))

    def _tell_host(self, host: Callable[[str], pykka.ActorRef], key: str, envelope: ToEntity) -> None:
        try:
            host(key).tell(envelope)
        except ActorUnavailable:  # stopping, or the host is being restarted: the journal has what counts
            log.info("entity.message_dropped", key=key, message=type(envelope.message).__name__)
        except pykka.ActorDeadError:
            log.error("entity.message_lost", key=key, message=type(envelope.message).__name__)

    def on_listings(self, symbols: list[str]) -> list[str]:
        """New symbols on the exchange: if any user holds a NEW_LISTING rule, each gets a
        market actor at once and every holder is told. Returns those to stream."""
        try:
            holders = self.ask_persistence(UsersWithListingRules())
        except EngineError as exc:
            log.error("listing.holders_unread", symbols=symbols, error=exc.message)
            return []
        if not holders:
            return []
        started = []
        for symbol in symbols:
            if symbol not in self.venue.market_symbols:
                self.venue.market_symbols.append(symbol)
                started.append(symbol)
            self.markets.start_market(symbol)
            for user_id in holders:
                self.tell_portfolio(user_id, Listed(symbol))
        log.info("listing.announced", symbols=symbols, holders=len(holders))
        return started

    def tell_market(self, symbol: str, message: Any) -> None:
        """A tell to the symbol's market actor; dropped if it has none running (one that
        starts loads what it must watch from the journal's projection)."""
        ref = self._refs.get(("market", symbol))
        if ref is None:
            return
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            log.info("market.message_dropped", symbol=symbol, message=type(message).__name__)

    def ask_market(self, symbol: str, message: Ask[R], timeout: float | None = None) -> R:
        if ("market", symbol) not in self._refs and symbol in self.catalog:
            raise MarketDataUnavailable(f"{symbol} is listed but not streamed here (see MEXC_SYMBOLS)")
        return self.ask(self.ref("market", symbol), message, timeout)

    def ask_risk(self, message: Ask[R], timeout: float | None = None) -> R:
        return self.ask(self.ref("risk", "risk"), message, timeout)

    def tell_risk(self, message: Any) -> None:
        self._tell_singleton("risk", "risk", message)

    def publish_risk(self, state: RiskState) -> None:
        self.risk_state = state

    def ask_supervisor(self, message: Ask[R], timeout: float | None = None) -> R:
        return self.ask(self.ref("supervisor", "supervisor"), message, timeout)

    def tell_supervisor(self, message: Any) -> None:
        self._tell_singleton("supervisor", "supervisor", message)

    def _tell_singleton(self, kind: str, key: str, message: Any) -> None:
        try:
            self._refs[(kind, key)].tell(message)
        except (KeyError, pykka.ActorDeadError):
            log.error(f"{kind}.unreachable", message=type(message).__name__)

    def account_of(self, user_id: str) -> str:
        """The user's exchange account (NoExchangeAccount if they have none)."""
        account = self.venue.account_for(user_id)
        self.supervision.check_not_quarantined("gateway", account)
        return account

    def ask_gateway(self, user_id: str, message: Ask[R], timeout: float | None = None) -> R:
        return self.ask_account(self.account_of(user_id), message, timeout)

    def ask_account(self, account: str, message: Ask[R], timeout: float | None = None) -> R:
        answer: R = self._ask(self.gateway_host(account), ToEntity(account, message), timeout)
        return answer

    def tell_gateway(self, user_id: str, message: Any) -> None:
        account = self.account_of(user_id)
        try:
            self.gateway_host(account).tell(ToEntity(account, message))
        except pykka.ActorDeadError:
            raise ActorUnavailable("the exchange gateway is not running") from None

    def deliver_push(self, account: str, push: Any) -> None:
        """A private push of the account, from a stream shared by accounts: it starts
        the account's gateway if none is live (a fill of a sleeping user's order)."""
        self.tell_account(account, PrivatePush(push))

    def tell_account(self, account: str, message: Any, *, live_only: bool = False) -> None:
        """For the account's own streams: a message to its gateway."""
        self._tell_host(self.gateway_host, account, ToEntity(account, message, live_only=live_only))

    def fail_entity(self, kind: str, key: str, reason: str) -> None:
        """Drop an entity as if it had failed (for tools and tests): the supervisor
        restarts it as it would after a crash."""
        host = self.portfolio_host(key) if kind == "portfolio" else self.gateway_host(key)
        self._ask(host, FailEntity(key, reason))

    def users_of(self, account: str) -> list[str]:
        return self.venue.users_of(account, self.live_portfolios())

    def ask_persistence(self, message: Ask[R], timeout: float | None = None) -> R:
        return self.ask(self.ref("persistence", "journal"), message, timeout)

    def append(self, stream: str, events: list[Any], snapshot: tuple[int, bytes] | None = None) -> Future[int]:
        """Journal ``events``; the future resolves after they are durable."""
        done: Future[int] = Future()
        try:
            self.ref("persistence", "journal").tell(Append(stream, events, done, snapshot))
        except pykka.ActorDeadError:
            raise ActorUnavailable("the journal is not running") from None
        return done

    def opening_deposits(self) -> dict[str, Decimal]:
        return self.venue.opening_deposits()

    # -- the registry's primitives (the supervisor decides when to use them) -------------------

    def refs(self) -> list[tuple[tuple[str, str], pykka.ActorRef]]:
        """Every registered actor, alive or not (a copy)."""
        return list(self._refs.items())

    def refs_of(self, kind: str) -> list[pykka.ActorRef]:
        return [ref for (k, _), ref in list(self._refs.items()) if k == kind]

    def replace_dead(self, kind: str, key: str, *, reason: str) -> bool:
        """Start a fresh actor in place of a dead (or missing) one. The check and the
        start happen under the lock: two threads never start two."""
        with self._lock:
            old = self._refs.get((kind, key))
            if old is not None and old.is_alive():
                return False
            log.warning("actor.restarting", kind=kind, key=key, reason=reason)
            self.start_singleton(kind, key)
        return True

    def start_singleton(self, kind: str, key: str) -> pykka.ActorRef:
        factories: dict[str, Callable[[], pykka.ActorRef]] = {
            "persistence": lambda: PersistenceActor.start(self, self.config.database_path),
            "verifier": lambda: JournalVerifier.start(self, self.config.database_path),
            "candles": lambda: CandleStoreActor.start(self, self.config.database_path),
            "risk": lambda: RiskEngine.start(self),
            "supervisor": lambda: Supervisor.start(self),
            "gateways": lambda: GatewayHost.start(self, int(key)),
            "portfolios": lambda: PortfolioHost.start(self, int(key)),
            "market": lambda: MarketActor.start(self, key),
        }
        ref = factories[kind]()
        with self._lock:
            self._refs[(kind, key)] = ref
        return ref

    # -- status ----------------------------------------------------------------------------------

    def actor_health(self) -> dict[str, bool]:
        with self._lock:
            return {f"{kind}:{key}": ref.is_alive() for (kind, key), ref in sorted(self._refs.items())}

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` until true or the deadline passes (for tools and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.005)
        return predicate()


__all__ = ["ActorSystem", "EngineError"]
