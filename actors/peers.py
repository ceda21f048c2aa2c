"""What each actor may use of the rest of the engine: narrow, typed views of the
ActorSystem, one per kind of actor. An actor is handed the system typed as its
view, so the checker refuses a use past what its job needs.

The ActorSystem satisfies every view structurally (nothing here is inherited). That
it does is checked where the system hands itself to a plain object (``Supervision``,
``MarketFeeds``, ...); pykka's ``Actor.start(*args)`` is untyped, so an actor's own
start is not checked against its view.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pykka

from engine.clock import Clock
from engine.config import Config
from engine.model import BookTicker
from engine.risk import RiskState
from engine.symbols import SymbolCatalog

if TYPE_CHECKING:
    from actors.bridge import TrioBridge
    from actors.conflation import Conflator
    from actors.gateway import ExchangeIO
    from actors.messages import Ask
    from actors.supervisor import Supervision
    from engine.candles import Candle
    from engine.events import Reconciliation

R = TypeVar("R")


class FailureReports(Protocol):
    """Where a crash is reported (``Supervision``, actors/supervisor.py)."""

    def report_failure(self, kind: str, key: str, exc: Exception) -> None: ...


class Supervised(Protocol):
    """Every actor: where its crash is reported."""

    @property
    def supervision(self) -> FailureReports: ...


class HostSupervision(FailureReports, Protocol):
    """A host also refuses to activate an entity that is quarantined."""

    def check_not_quarantined(self, kind: str, key: str) -> None: ...


class HostPeers(Supervised, Protocol):
    """A host of entities (portfolios, gateways): the registry of who is live."""

    @property
    def supervision(self) -> HostSupervision: ...

    def entity_activated(self, kind: str, key: str) -> None: ...
    def entity_passivated(self, kind: str, key: str) -> None: ...


class PaperAccounts(Protocol):
    """What a portfolio asks of its venue: never a call to the exchange."""

    accounts_outlive_engine: bool

    def prepare_account(self, user_id: str, totals: dict[str, Decimal]) -> None: ...
    def account_problem(self) -> str | None: ...


class PortfolioPeers(HostPeers, Protocol):
    clock: Clock
    config: Config
    risk_state: RiskState

    @property
    def catalog(self) -> SymbolCatalog: ...
    @property
    def venue(self) -> PaperAccounts: ...

    def ask_persistence(self, message: Ask[R], timeout: float | None = None) -> R: ...
    def append(self, stream: str, events: list[Any], snapshot: tuple[int, bytes] | None = None) -> Future[int]: ...
    def ask_market(self, symbol: str, message: Ask[R], timeout: float | None = None) -> R: ...
    def tell_gateway(self, user_id: str, message: Any) -> None: ...
    def tell_market(self, symbol: str, message: Any) -> None: ...
    def tell_supervisor(self, message: Any) -> None: ...
    def account_of(self, user_id: str) -> str: ...
    @property
    def markets(self) -> PublishedBooks: ...
    @property
    def reconciliations(self) -> ReconciliationRecords: ...
    def opening_deposits(self) -> dict[str, Decimal]: ...


class AccountVenue(Protocol):
    """What a gateway asks of its venue: its account's adapter, made and let go."""

    pushes_wake_accounts: bool

    def make_adapter(self, account: str) -> Any: ...
    def release_adapter(self, adapter: Any) -> None: ...
    def accounts_at_start(self) -> list[str]: ...


class GatewayPeers(HostPeers, Protocol):
    clock: Clock
    exchange_io: ExchangeIO

    @property
    def venue(self) -> AccountVenue: ...

    def tell_portfolio(self, user_id: str, message: Any) -> None: ...
    def tell_live_portfolio(self, user_id: str, message: Any) -> None: ...
    @property
    def markets(self) -> PublishedBooks: ...
    @property
    def reconciliations(self) -> Findings: ...
    @property
    def account_streams(self) -> AccountStreamControl: ...


class AccountStreamControl(Protocol):
    """A gateway starts its account's user stream as it activates, and stops it (``AccountStreams``)."""

    def start(self, account: str) -> None: ...
    def stop(self, account: str) -> None: ...


class StreamVenue(Protocol):
    def account_streams(
        self, account: str, on_push: Callable[[Any], None], on_connected: Callable[[], None]
    ) -> Callable[[], Any] | None: ...


class StreamPeers(Protocol):
    """What ``AccountStreams`` uses of the system: the trio bridge, the venue's
    streams, and the account's gateway to hand what arrives to."""

    bridge: TrioBridge

    @property
    def venue(self) -> StreamVenue: ...

    def tell_account(self, account: str, message: Any, *, live_only: bool = False) -> None: ...


class ReconciliationRecords(Protocol):
    """Where a portfolio records what its reconciliation changed (``ReconciliationLog``)."""

    def record(self, record: Reconciliation) -> None: ...


class Findings(Protocol):
    """Where a gateway reports what operators must hear of (``ReconciliationLog``)."""

    def record_finding(self, user_id: str, order_id: str | None, note: str) -> None: ...


class ReconciliationJournal(Protocol):
    """What the reconciliation log uses of the system: the journal and the time."""

    clock: Clock

    def ask_persistence(self, message: Ask[R], timeout: float | None = None) -> R: ...
    def append(self, stream: str, events: list[Any], snapshot: tuple[int, bytes] | None = None) -> Future[int]: ...


class PublishedBooks(Protocol):
    """The tops of book the market actors publish, read without asking them."""

    def latest_book(self, symbol: str) -> BookTicker | None: ...


class MarketFeed(Protocol):
    """What a market actor uses of the feed's plumbing (``MarketFeeds``, actors/market_data.py)."""

    conflator: Conflator

    def candle_history(self, symbol: str) -> list[Candle]: ...
    def store_candles(self, candles: list[tuple[str, Candle]]) -> None: ...
    def publish_book(self, symbol: str, book: BookTicker) -> None: ...


class MarketPeers(Supervised, Protocol):
    clock: Clock

    @property
    def markets(self) -> MarketFeed: ...
    def ask_persistence(self, message: Ask[R], timeout: float | None = None) -> R: ...
    def tell_portfolio(self, user_id: str, message: Any) -> None: ...


class MarketVenue(Protocol):
    """What the feed's plumbing asks of the venue: history, and paper prices."""

    def candle_history(self, symbol: str) -> list[Candle]: ...
    def set_price(self, symbol: str, price: Decimal, run_sync: Callable[..., Any]) -> BookTicker: ...
    def current_minute(self, symbol: str) -> Candle | None: ...


class MarketRegistry(Protocol):
    """What ``MarketFeeds`` uses of the system: the registry, to find and start the
    market actors and to reach the candle store."""

    bridge: TrioBridge

    @property
    def catalog(self) -> SymbolCatalog: ...
    @property
    def venue(self) -> MarketVenue: ...

    def find(self, kind: str, key: str) -> pykka.ActorRef | None: ...
    def start_singleton(self, kind: str, key: str) -> pykka.ActorRef: ...
    def ref(self, kind: str, key: str) -> pykka.ActorRef: ...
    def ask(self, ref: pykka.ActorRef, message: Ask[R], timeout: float | None = None) -> R: ...


class RiskPeers(Supervised, Protocol):
    clock: Clock
    config: Config

    def publish_risk(self, state: RiskState) -> None: ...
    def tell_supervisor(self, message: Any) -> None: ...
    def tell_portfolio(self, user_id: str, message: Any) -> None: ...
    def live_portfolios(self) -> list[str]: ...
    def ask_persistence(self, message: Ask[R], timeout: float | None = None) -> R: ...
    def append(self, stream: str, events: list[Any], snapshot: tuple[int, bytes] | None = None) -> Future[int]: ...


class SupervisedVenue(Protocol):
    """What the restart policy asks of the venue: whose account is whose, and the
    accounts a paper venue rebuilds at start."""

    def account_for(self, user_id: str) -> str: ...
    def accounts_at_start(self) -> list[str]: ...
    def users_of(self, account: str, live_users: list[str]) -> list[str]: ...
    def restore_accounts(self, accounts: list[tuple[str, dict[str, Decimal], list[Any]]]) -> list[str]: ...


class Renotify(Protocol):
    def renotify(self, symbol: str) -> None: ...


class SupervisorPeers(Protocol):
    """The Supervisor actor and the restart policy (``Supervision``): the registry's
    primitives (find, list, replace a dead actor, address a host) and whom a restart
    must tell. Deciding what to restart is theirs, not the system's."""

    clock: Clock
    config: Config
    risk_state: RiskState

    @property
    def supervision(self) -> Supervision: ...
    @property
    def running(self) -> bool: ...
    @property
    def venue(self) -> SupervisedVenue: ...
    @property
    def markets(self) -> Renotify: ...

    def find(self, kind: str, key: str) -> pykka.ActorRef | None: ...
    def refs(self) -> list[tuple[tuple[str, str], pykka.ActorRef]]: ...
    def refs_of(self, kind: str) -> list[pykka.ActorRef]: ...
    def replace_dead(self, kind: str, key: str, *, reason: str) -> bool: ...
    def ref(self, kind: str, key: str) -> pykka.ActorRef: ...
    def portfolio_host(self, user_id: str) -> pykka.ActorRef: ...
    def gateway_host(self, account: str) -> pykka.ActorRef: ...
    def ask_persistence(self, message: Ask[R], timeout: float | None = None) -> R: ...
    def ask_portfolio(self, user_id: str, message: Ask[R], timeout: float | None = None) -> R: ...
    def tell_portfolio(self, user_id: str, message: Any) -> None: ...
    def tell_risk(self, message: Any) -> None: ...
    def tell_supervisor(self, message: Any) -> None: ...
    def publish_risk(self, state: RiskState) -> None: ...
    def live_portfolios(self) -> list[str]: ...
    def users_of(self, account: str) -> list[str]: ...


class JournalSupervision(FailureReports, Protocol):
    """The journal's writer also reports a failed commit."""

    def journal_failed(self, exc: Exception) -> None: ...


class PersistencePeers(Supervised, Protocol):
    """The journal's writer and its verifier."""

    clock: Clock
    journal_status: Any  # replaced whole by the writer after each commit; read by /health

    @property
    def supervision(self) -> JournalSupervision: ...

    def ref(self, kind: str, key: str) -> Any: ...

