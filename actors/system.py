"""ActorSystem: the composition root. Builds, wires, supervises and stops the actors.

Actors never hold references to each other: they find their peers here by role
at the moment they need them, so a restarted actor is reached at once. The
registry is the only shared mutable structure, guarded by one lock.

Start order follows the one-way flow of asks (persistence, risk, gateway,
markets; portfolios on first use) and stop order reverses it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from decimal import Decimal
from typing import Any

import pykka
import structlog

from actors.bridge import TaskHandle, TrioBridge
from actors.conflation import Conflator
from actors.gateway import ExchangeGateway, ExchangeIO
from actors.market import MarketActor
from actors.messages import (
    ActorFailed,
    Append,
    CheckWritable,
    Drain,
    GatewayTick,
    LoadCandles,
    LoadNewest,
    UsersWithOpenOrders,
    GetTicker,
    Halt,
    Passivate,
    AwaitRestored,
    GatewayStatus,
    PrivatePush,
    PruneMarketData,
    Reconcile,
    SaveCandles,
    StreamReconnected,
    VerifyJournal,
    SupervisionTick,
)
from actors.venue import NoExchangeAccount, Venue, make_venue
from actors.persistence import PersistenceActor
from actors.portfolio import PortfolioActor
from actors.risk import RiskSupervisor
from engine.clock import Clock, SystemClock
from engine.config import Config
from engine.errors import ActorUnavailable, EngineError, EngineTimeout, MarketDataUnavailable
from engine.events import RECONCILIATION_STREAM, Reconciliation, ReconciliationFound
from engine import market as market_data
from engine.candles import Candle
from engine.market import MarketData
from engine.model import BookTicker
from engine.symbols import SymbolCatalog
from persistence.backup import BackupScheduler
from persistence.turso import TursoSync
from persistence.lock import DatabaseLock

log = structlog.get_logger(__name__)

SINGLETONS = ("persistence", "risk", "gateway")
PRUNE_EVERY_SECONDS = 3600.0
START_TIMEOUT_SECONDS = 300.0
RESTORE_WAIT_SECONDS = 20.0  # open orders back on the exchange before serving (gunicorn's boot timeout is 60 s)
STOP_TIMEOUT_SECONDS = 10.0
GATEWAY_TICK_SECONDS = 0.25  # how often gateways look at due re-checks and resends


class ActorSystem:
    def __init__(self, config: Config, *, clock: Clock | None = None, venue: Venue | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.venue = venue or make_venue(config, self.clock)
        self.bridge = TrioBridge()
        self.exchange_io = ExchangeIO(config.exchange_io_threads)
        self.conflator = Conflator(self._notify_market, merge=market_data.merge)
        self._lock = threading.RLock()
        self._stream_lock = threading.Lock()  # never taken on the trio thread
        self._refs: dict[tuple[str, str], pykka.ActorRef] = {}
        self._portfolios: dict[str, pykka.ActorRef] = {}
        self._last_failure: dict[tuple[str, str], str] = {}
        self._quarantined: set[tuple[str, str]] = set()  # crashed too often: not restarted
        self._account_streams: dict[str, TaskHandle] = {}
        self.reconciliations: deque[Reconciliation] = deque(maxlen=200)
        self._next_prune = 0.0
        self.backups: BackupScheduler | None = None
        self.turso: TursoSync | None = None
        self._db_lock = DatabaseLock(config.database_path)
        self._running = False
        self.started_at: int | None = None

    @property
    def catalog(self) -> SymbolCatalog:
        """Every symbol the venue lists (it may grow while running)."""
        return self.venue.catalog

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> ActorSystem:
        self._db_lock.acquire()
        try:
            self._start_singleton("persistence", "journal")
            # Opening verifies what was written since the last check: allow for it.
            self.ask_persistence(CheckWritable(), timeout=max(START_TIMEOUT_SECONDS, self.config.ask_timeout_seconds))
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
            self._load_reconciliations()
            self._start_singleton("risk", "risk")
            for account in self.venue.accounts_at_start():
                self._start_singleton("gateway", account)
                self.ask(self.ref("gateway", account), GatewayStatus())  # waits until it is ready
            for symbol in self.venue.market_symbols:
                self._start_singleton("market", symbol)
            self.bridge.start()
            self.bridge.spawn("feed", self.venue.feed(self))
            for name, task in self.venue.background(self):
                self.bridge.spawn(name, task)
            for account in self.venue.accounts_at_start():
                self._start_account_stream(account)
            self.bridge.every("supervisor", self.config.supervisor_interval_seconds, self.supervise_tick)
            self.bridge.every("gateway-timers", GATEWAY_TICK_SECONDS, self.tick_gateways)
            # Whoever has orders open is reconciled now, not at their next request: the
            # exchange (a fresh simulator, say) must hold those orders before prices move.
            restoring = self.ask_persistence(UsersWithOpenOrders())
            # The owner of a real account is reconciled now too: its balances are the
            # exchange's, and its first order must not meet a wallet not yet read.
            for account in self.venue.accounts_at_start():
                restoring += [u for u in self.venue.users_of(account, []) if u not in restoring]
            for user_id in restoring:
                self.portfolio(user_id)  # they start (and reconcile) side by side
            self._await_restored(restoring)
        except BaseException:
            self.stop()
            raise
        self._running = True
        self.started_at = self.clock.now_ms()
        log.info("engine.started", venue=self.venue.name, symbols=self.venue.market_symbols, database=self.config.database_path)
        return self

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
                restored: Future[int] = self.ask_portfolio(user_id, AwaitRestored(),
                                                           timeout=max(deadline - time.monotonic(), 0.01))
                restored.result(timeout=max(deadline - time.monotonic(), 0.01))
            except NoExchangeAccount:
                continue
            except (EngineError, FutureTimeout) as exc:
                late.append(user_id)
                log.warning("engine.restore_pending", user_id=user_id, error=getattr(exc, "message", repr(exc)))
        log.info("engine.orders_restored", users=len(users) - len(late), pending=len(late))

    def stop(self) -> None:
        """Stop everything in reverse order; the journal flushes last."""
        self._running = False
        if self.backups is not None:
            self.backups.stop()
        if self.turso is not None:
            self.turso.stop()
        self.bridge.stop()
        with self._lock:
            portfolios = list(self._portfolios.values())
            self._portfolios.clear()
        self._stop_refs(portfolios)
        for kind in ("market", "gateway", "risk", "persistence"):
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

    # -- the market data sink (called on the trio thread) --------------------------------------

    def on_book(self, book: BookTicker) -> None:
        self.on_market(MarketData(book.symbol, book=book))

    def on_market(self, data: MarketData) -> None:
        self.conflator.offer(data.symbol, data)

    def candle_history(self, symbol: str) -> list[Candle]:
        """Candles a new MarketActor starts from: what was stored, then the
        exchange's history where it has one (newer, and it wins where both have a window)."""
        from actors.market import SERIES_INTERVALS

        stored: list[Candle] = []
        for interval in SERIES_INTERVALS:
            try:
                stored.extend(self.ask_persistence(LoadCandles(symbol, interval, 1000)))
            except EngineError as exc:
                log.warning("market.history_unavailable", symbol=symbol, error=exc.message)
        return stored + self.venue.candle_history(symbol)

    def store_candles(self, candles: list[tuple[str, Candle]]) -> None:
        try:
            self.ref("persistence", "journal").tell(SaveCandles(tuple(candles)))
        except (ActorUnavailable, pykka.ActorDeadError):
            pass  # history is a nicety; the journal's own failures are reported elsewhere

    def _notify_market(self, symbol: Any) -> bool:
        ref = self._refs.get(("market", symbol))
        if ref is None:
            return False
        try:
            ref.tell(Drain())
            return True
        except pykka.ActorDeadError:
            return False

    def start_market(self, symbol: str) -> None:
        """A MarketActor for a symbol that starts streaming while running."""
        if ("market", symbol) not in self._refs:
            self._start_singleton("market", symbol)

    def latest_book(self, symbol: str) -> BookTicker | None:
        ref = self._refs.get(("market", symbol))
        if ref is None:
            return None
        try:
            return ref.ask(GetTicker(), timeout=1.0)
        except (pykka.ActorDeadError, pykka.Timeout):
            return None

    def set_paper_price(self, symbol: str, price: Decimal) -> BookTicker:
        self.catalog.get(symbol)
        top = self.venue.set_price(symbol, price, self.bridge.run_sync)
        # Durable before it is acknowledged: a crash right after must not bring the
        # market back to where it was, under orders placed at the new price since.
        minute = self.venue.current_minute(symbol)
        if minute is not None:
            self.ask_persistence(SaveCandles(((symbol, minute),)))
        return top

    # -- finding actors ------------------------------------------------------------------------

    def ref(self, kind: str, key: str) -> pykka.ActorRef:
        ref = self._refs.get((kind, key))
        if ref is None or not ref.is_alive():
            reason = self._last_failure.get((kind, key))
            raise ActorUnavailable(f"{kind} {key} is not running" + (f" ({reason})" if reason else ""))
        return ref

    def portfolio(self, user_id: str) -> pykka.ActorRef:
        """The user's PortfolioActor, started (from the journal) if needed."""
        with self._lock:
            ref = self._portfolios.get(user_id)
            if ref is not None and ref.is_alive():
                return ref
            if not self._running and self.started_at is not None:
                raise ActorUnavailable("the engine is stopping")
            ref = PortfolioActor.start(self, user_id)
            self._portfolios[user_id] = ref
            return ref

    def live_portfolios(self) -> list[tuple[str, pykka.ActorRef]]:
        with self._lock:
            return [(u, r) for u, r in self._portfolios.items() if r.is_alive()]

    def release_portfolio(self, user_id: str, ref: pykka.ActorRef) -> bool:
        """Passivation: forget ``ref`` if it is still the user's actor."""
        with self._lock:
            if self._portfolios.get(user_id) is not ref:
                return False
            del self._portfolios[user_id]
            # In the same breath: a request that starts the user again finds no gateway
            # and starts a fresh one with its stream.
            released = self._release_account(user_id) if self.venue.accounts_per_user else None
        if released is not None:
            gateway, stream = released
            if stream is not None:
                stream.cancel()
            if gateway is not None:
                gateway.stop(block=False)
        return True

    def _release_account(self, user_id: str) -> tuple[pykka.ActorRef | None, TaskHandle | None] | None:
        """A passivated user's own exchange account lets go of its gateway and user
        stream too (nothing is open on it); the next use starts both again.
        Called with the lock held."""
        try:
            account = self.venue.account_for(user_id)
        except EngineError:
            return None
        log.info("account.released", account=account, user_id=user_id)
        return self._refs.pop(("gateway", account), None), self._account_streams.pop(account, None)

    # -- talking to actors ---------------------------------------------------------------------

    def ask(self, ref: pykka.ActorRef, message: Any, timeout: float | None = None) -> Any:
        """Ask with a deadline; a dead or silent actor becomes a clear error."""
        timeout = self.config.ask_timeout_seconds if timeout is None else timeout
        try:
            return ref.ask(message, timeout=timeout)
        except pykka.ActorDeadError:
            reason = next((self._last_failure.get(k) for k, r in list(self._refs.items()) if r is ref), None)
            suffix = f": {reason}" if reason else ""
            raise ActorUnavailable(f"{ref.actor_class.__name__} stopped before answering{suffix}") from None
        except pykka.Timeout:
            raise EngineTimeout(f"{ref.actor_class.__name__} did not answer within {timeout:g}s") from None

    def ask_portfolio(self, user_id: str, message: Any, timeout: float | None = None) -> Any:
        # A passivated actor rejects queued messages with ActorDeadError before
        # touching them, so one retry on a fresh actor is safe.
        for attempt in (1, 2):
            ref = self.portfolio(user_id)
            try:
                return self.ask(ref, message, timeout)
            except ActorUnavailable:
                if attempt == 2:
                    reason = self._last_failure.get(("portfolio", user_id))
                    if reason:
                        raise ActorUnavailable(f"portfolio of {user_id} could not start: {reason}") from None
                    raise
        raise AssertionError("unreachable")

    def tell_live_portfolio(self, user_id: str, message: Any) -> None:
        """A message only a running portfolio can use (the answer to its own request):
        it does not start one that passivated since."""
        with self._lock:
            ref = self._portfolios.get(user_id)
        try:
            if ref is not None:
                ref.tell(message)
                return
        except pykka.ActorDeadError:
            pass
        log.info("portfolio.message_dropped", user_id=user_id, message=type(message).__name__)

    def tell_portfolio(self, user_id: str, message: Any) -> None:
        for attempt in (1, 2):
            try:
                self.portfolio(user_id).tell(message)
                return
            except ActorUnavailable:  # the engine is stopping: the journal has what counts
                log.info("portfolio.message_dropped", user_id=user_id, message=type(message).__name__)
                return
            except pykka.ActorDeadError:
                if attempt == 2:
                    log.error("portfolio.message_lost", user_id=user_id, message=type(message).__name__)

    def ask_market(self, symbol: str, message: Any, timeout: float | None = None) -> Any:
        if ("market", symbol) not in self._refs and symbol in self.catalog:
            raise MarketDataUnavailable(f"{symbol} is listed but not streamed here (see MEXC_SYMBOLS)")
        return self.ask(self.ref("market", symbol), message, timeout)

    def ask_risk(self, message: Any, timeout: float | None = None) -> Any:
        return self.ask(self.ref("risk", "risk"), message, timeout)

    def gateway(self, user_id: str) -> pykka.ActorRef:
        """The gateway of the user's exchange account, started if needed. Checked,
        started and registered under the lock: two threads never start two."""
        account = self.venue.account_for(user_id)
        with self._lock:
            ref = self._refs.get(("gateway", account))
            if ref is not None and ref.is_alive():
                return ref
            if ("gateway", account) in self._quarantined:
                raise ActorUnavailable(f"the gateway of account {account} keeps failing; trading is halted")
            replaced = ref is not None  # a dead one, not yet restarted by the supervisor
            ref = self._start_singleton("gateway", account)
        # Outside the registry lock: starting a stream waits on the trio thread, whose
        # timers take that lock.
        self._start_account_stream(account)
        if replaced:
            # The supervisor finds this one alive and restarts nothing, so the orders
            # the dead one followed (a send it had put off, say) are handed over here.
            log.warning("actor.restarting", kind="gateway", key=account, reason="started again by a caller")
            self._after_restart("gateway", account)
        return ref

    def ask_gateway(self, user_id: str, message: Any, timeout: float | None = None) -> Any:
        return self.ask(self.gateway(user_id), message, timeout)

    def tell_gateway(self, user_id: str, message: Any) -> None:
        try:
            self.gateway(user_id).tell(message)
        except pykka.ActorDeadError:
            raise ActorUnavailable("the exchange gateway is not running") from None

    def tell_account(self, account: str, message: Any) -> None:
        """For the account's own streams: a message to its gateway, if it runs."""
        ref = self._refs.get(("gateway", account))
        if ref is None:
            log.warning("gateway.message_dropped", account=account, message=type(message).__name__)
            return
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            log.warning("gateway.message_dropped", account=account, message=type(message).__name__)

    def record_finding(self, user_id: str, order_id: str | None, note: str) -> None:
        """Something the gateway found that operators must hear of (an order's fills
        never added up, an order the exchange lost)."""
        self.record_reconciliation(Reconciliation(
            user_id=user_id, time=self.clock.now_ms(), orders_updated=[order_id] if order_id else [],
            orders_resent=[], balances_adjusted={}, notes=[note],
        ))

    def record_reconciliation(self, record: Reconciliation) -> None:
        self.reconciliations.append(record)  # deque.append is atomic: no lock
        finding = ReconciliationFound(time=record.time, record=record)
        # Not waited for: what reconciliation applied is durable in the user's own stream;
        # this is the operators' record of it.
        try:
            self.append(RECONCILIATION_STREAM, [finding])
        except EngineError as exc:
            log.warning("reconciliation.not_journaled", user_id=record.user_id, error=exc.message)

    def _load_reconciliations(self) -> None:
        """Earlier runs' findings, so a restart does not hide them from operators."""
        for event in self.ask_persistence(LoadNewest(RECONCILIATION_STREAM, self.reconciliations.maxlen or 200)):
            if isinstance(event, ReconciliationFound):
                self.reconciliations.append(event.record)

    def users_of(self, account: str) -> list[str]:
        return self.venue.users_of(account, [user for user, _ in self.live_portfolios()])

    def _start_account_stream(self, account: str) -> None:
        with self._stream_lock:  # one stream per account, however many threads ask
            if account in self._account_streams or not self.bridge.alive:
                return
            runner = self.venue.account_streams(
                account,
                on_push=lambda push: self.tell_account(account, PrivatePush(push)),
                on_connected=lambda: self.tell_account(account, StreamReconnected()),
            )
            if runner is not None:
                self._account_streams[account] = self.bridge.spawn(f"user-stream:{account}", runner)

    def ask_persistence(self, message: Any, timeout: float | None = None) -> Any:
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

    # -- supervision -----------------------------------------------------------------------------

    def report_failure(self, kind: str, key: str, exc: Exception) -> None:
        self._last_failure[(kind, key)] = repr(exc)
        try:
            self._refs[("risk", "risk")].tell(ActorFailed(kind, key, repr(exc)))
        except (KeyError, pykka.ActorDeadError):
            log.error("supervisor.unreachable", kind=kind, key=key, error=repr(exc))

    def journal_failed(self, exc: Exception) -> None:
        """A commit failed: what portfolios hold in memory may not be durable.
        Halt trading and drop them; they reload from the journal when used."""
        try:
            self._refs[("risk", "risk")].tell(Halt(reason=f"journal failure: {exc}", by="system"))
        except (KeyError, pykka.ActorDeadError):
            log.error("supervisor.unreachable", error=repr(exc))
        with self._lock:
            portfolios = list(self._portfolios.values())
            self._portfolios.clear()
        for ref in portfolios:
            ref.stop(block=False)

    def supervise_tick(self) -> None:
        """On the bridge's timer: keep the supervisor itself alive, then let it work."""
        if not self._running:
            return
        risk = self._refs.get(("risk", "risk"))
        if risk is None or not risk.is_alive():
            self.restart("risk", "risk", reason="found dead")
            return
        try:
            risk.tell(SupervisionTick())
        except pykka.ActorDeadError:
            pass

    def supervise_once(self) -> None:
        """Called by the RiskSupervisor: restart singletons that died silently, ask
        idle portfolios to passivate, and now and then prune old market data."""
        if not self._running:
            return
        try:
            self.ref("persistence", "journal").tell(VerifyJournal())
        except (ActorUnavailable, pykka.ActorDeadError):
            pass
        now = time.monotonic()
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY_SECONDS
            window_ms = int(self.config.market_data_retention_days * 86_400_000)
            try:
                self.ref("persistence", "journal").tell(PruneMarketData(self.clock.now_ms() - window_ms))
            except (ActorUnavailable, pykka.ActorDeadError):
                pass
        for (kind, key), ref in list(self._refs.items()):
            if kind != "risk" and not ref.is_alive() and (kind, key) not in self._quarantined:
                self.restart(kind, key, reason=self._last_failure.get((kind, key), "found dead"))
        for _, ref in self.live_portfolios():
            try:
                ref.tell(Passivate(self.config.portfolio_idle_seconds))
            except pykka.ActorDeadError:
                pass

    def tick_gateways(self) -> None:
        """On the bridge's timer: each gateway looks at what is due (re-checks,
        resends, its periodic sweep)."""
        for (kind, _), ref in list(self._refs.items()):
            if kind == "gateway":
                try:
                    ref.tell(GatewayTick())
                except pykka.ActorDeadError:
                    pass

    def quarantine(self, kind: str, key: str) -> None:
        """Stop restarting this actor (it keeps crashing) until trading resumes."""
        self._quarantined.add((kind, key))

    def release_quarantine(self) -> list[tuple[str, str]]:
        released, self._quarantined = sorted(self._quarantined), set()
        return released

    def restart(self, kind: str, key: str, *, reason: str) -> bool:
        """Replace a dead actor with a fresh one built from the journal. The check and
        the start happen under the lock: two threads never start two."""
        if not self._running or (kind, key) in self._quarantined:
            return False
        with self._lock:
            if kind == "portfolio":
                old = self._portfolios.get(key)
                if old is not None and old.is_alive():
                    return False
                self._portfolios.pop(key, None)
                log.warning("actor.restarting", kind=kind, key=key, reason=reason)
                self.portfolio(key)  # eager: it reconciles its open orders as it starts
                return True
            old = self._refs.get((kind, key))
            if old is not None and old.is_alive():
                return False
            log.warning("actor.restarting", kind=kind, key=key, reason=reason)
            self._start_singleton(kind, key)
        self._after_restart(kind, key)
        return True

    def _after_restart(self, kind: str, key: str) -> None:
        if kind == "market":
            self.conflator.renotify(key)
        elif kind == "gateway":
            # Its followed orders died with it: each owner hands them over again.
            for user_id in self.users_of(key):
                self.tell_portfolio(user_id, Reconcile(quiet=True))
        elif kind == "persistence":
            # Appends queued in the dead actor are lost: nothing in memory is trusted.
            self.journal_failed(RuntimeError(f"persistence actor restarted: {self._last_failure.get((kind, key))}"))

    def _start_singleton(self, kind: str, key: str) -> pykka.ActorRef:
        factories: dict[str, Callable[[], pykka.ActorRef]] = {
            "persistence": lambda: PersistenceActor.start(self, self.config.database_path),
            "risk": lambda: RiskSupervisor.start(self),
            "gateway": lambda: ExchangeGateway.start(self, key, lambda: self.venue.make_adapter(key)),
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
