"""Typed messages between actors. One struct per request; replies are documented
on each. ``deadline`` values are ``time.monotonic()`` instants: work whose caller
has already given up is refused instead of done late."""

from __future__ import annotations

from concurrent.futures import Future
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from engine.alerts import AlertFields
from engine.exchanges.base import ExchangeOrder, ExecutionReport, VenueOrder
from engine.model import Fill, Order
from engine.orders import PlaceOrder
from engine.risk import Limits
from engine.rules import RuleFields
from engine.triggers import Crossing, Trigger

if TYPE_CHECKING:  # named only in replies (strings the linter does not read): importing them here would be circular
    from actors.market import FeedStats, MarketView  # noqa: F401
    from engine.alerts import Alert, AlertFiring  # noqa: F401
    from engine.candles import Candle  # noqa: F401
    from engine.model import BookTicker  # noqa: F401
    from engine.positions import Position  # noqa: F401
    from engine.risk import RiskState, UserRisk  # noqa: F401
    from engine.rules import Execution as RuleExecution  # noqa: F401
    from engine.rules import Rule  # noqa: F401
    from persistence.journal import StreamLoad  # noqa: F401

R_co = TypeVar("R_co", covariant=True)


class Ask(msgspec.Struct, Generic[R_co], frozen=True):
    """A request answered with an ``R_co``: ``ActorSystem.ask`` and the typed asks of
    the actors' views return that type, so a caller and a handler that disagree on a
    reply are a type error. (Replies are written as strings: the types they name
    live in modules that import this one.)"""


# -- Portfolio ------------------------------------------------------------------------------


class Place(Ask["Ticket"], frozen=True):
    """ask -> Ticket"""

    command: PlaceOrder
    deadline: float


class Cancel(Ask["Ticket"], frozen=True):
    """ask -> Ticket"""

    order_id: str
    deadline: float


class GetWallet(Ask["list[tuple[str, Decimal, Decimal]]"], frozen=True):
    """ask -> list[tuple[asset, free, locked]]"""


class GetPositions(Ask["list[Position]"], frozen=True):
    """ask -> list[Position] (copies), by symbol; only ``symbol``'s if given"""

    symbol: str | None = None


class GetUserRisk(Ask["UserRisk"], frozen=True):
    """ask -> UserRisk"""


class SetUserLimits(Ask["Future[UserRisk]"], frozen=True):
    """ask -> a future of the UserRisk, resolved once the new limits are durable"""

    limits: Limits
    by: str


class HaltUser(Ask["Future[UserRisk]"], frozen=True):
    """ask -> a future of the UserRisk, resolved once the halt is durable: the user's new orders are refused"""

    reason: str
    by: str


class ResumeUser(Ask["Future[UserRisk]"], frozen=True):
    """ask -> a future of the UserRisk: the admin halt, and today's daily-loss halt, lifted"""

    by: str


class CancelAll(msgspec.Struct, frozen=True):
    """tell: cancel every open and conditional order of the user (the kill switch)."""

    reason: str


class CreateRule(Ask["Future[Rule]"], frozen=True):
    """ask -> a future of the Rule, resolved once it is durable; InvalidRule"""

    fields: RuleFields


class UpdateRule(Ask["Future[Rule]"], frozen=True):
    """ask -> a future of the Rule: ``fields`` replace the rule's settings (not what it
    has done); RuleNotFound, InvalidRule"""

    rule_id: str
    fields: RuleFields


class EnableRule(Ask["Future[Rule]"], frozen=True):
    rule_id: str
    enabled: bool


class DeleteRule(Ask["Future[Rule]"], frozen=True):
    """ask -> a future of the deleted Rule; RuleNotFound"""

    rule_id: str


class GetRules(Ask["list[Rule]"], frozen=True):
    """ask -> list[Rule] (copies), oldest first; only ``rule_id``'s if given (RuleNotFound)"""

    rule_id: str | None = None


class GetExecutions(Ask["list[RuleExecution]"], frozen=True):
    """ask -> list[engine.rules.Execution], newest first; RuleNotFound"""

    rule_id: str
    limit: int = 100


class CreateAlert(Ask["Future[Alert]"], frozen=True):
    """ask -> a future of the Alert, resolved once it is durable; InvalidAlert"""

    fields: AlertFields


class DeleteAlert(Ask["Future[Alert]"], frozen=True):
    alert_id: str


class GetAlerts(Ask["list[Alert]"], frozen=True):
    """ask -> list[Alert], oldest first; only ``alert_id``'s if given (AlertNotFound)"""

    alert_id: str | None = None


class GetAlertFirings(Ask["list[AlertFiring]"], frozen=True):
    """ask -> list[AlertFiring], newest first; AlertNotFound"""

    alert_id: str
    limit: int = 100


class ResumeRules(msgspec.Struct, frozen=True):
    """tell: the kill switch is released: the rules it paused are watched again."""


class GetOrder(Ask["Order"], frozen=True):
    """ask -> Order (a snapshot); OrderNotFound"""

    order_id: str


class ListOrders(Ask["list[Order]"], frozen=True):
    """ask -> list[Order], newest first"""

    symbol: str | None = None
    open_only: bool = False
    limit: int = 100
    client_order_id: str | None = None  # at most one order has it


class Execution(msgspec.Struct, frozen=True):
    """tell: what the exchange did with an order."""

    report: ExecutionReport


class OrphanFound(msgspec.Struct, frozen=True):
    """tell: an order with this user's engine prefix that the exchange holds and the
    gateway does not follow; adopt it if the journal lacks it."""

    order: VenueOrder


class Reconciled(msgspec.Struct, frozen=True):
    """tell: the gateway's sweep is over. ``token`` is the Track that asked for it, or
    None for a sweep of the gateway's own (a stream reconnect, its interval)."""

    token: int | None
    updated: tuple[str, ...] = ()
    resent: tuple[str, ...] = ()
    error: str | None = None  # the account could not be read: nothing was compared
    swept: bool = True  # False: answered with no sweep (the gateway followed every order already)


class BalancesFetched(msgspec.Struct, frozen=True):
    """tell: the account's totals at the exchange (None, with ``error``, if unread)."""

    token: int
    totals: dict[str, Decimal] | None
    error: str | None = None


class AwaitRestored(Ask["Future[int]"], frozen=True):
    """ask -> Future[int]: resolves once the portfolio's start reconciliation is over
    (its open orders are on the exchange, or known never to have been)."""


class Passivate(Ask["bool"], frozen=True):
    """ask (to an entity): passivate now if idle for ``idle_seconds`` and nothing under
    way needs this activation; True if it is not active afterwards."""

    idle_seconds: float


def resolve_after(durable: Future[Any] | None, target: Future[Any], value: Any = None, error: Exception | None = None) -> None:
    """Resolve ``target`` with ``value`` (or ``error``) once ``durable`` has
    committed; with the journal's error if it did not."""

    def done(source: Future[Any] | None) -> None:
        if target.done():
            return
        exc = source.exception() if source is not None else None
        if exc is not None:
            target.set_exception(exc)
        elif error is not None:
            target.set_exception(error)
        else:
            target.set_result(value)

    if durable is None:
        done(None)
    else:
        durable.add_done_callback(done)


class Ticket:
    """The answer to Place and Cancel: futures the API thread waits on.

    ``accepted`` resolves with the order once its acceptance is durable;
    ``settled`` once the exchange's first answer is applied and durable too.
    """

    __slots__ = ("order_id", "replayed", "accepted", "settled")

    def __init__(self, order_id: str, *, replayed: bool = False) -> None:
        self.order_id = order_id
        self.replayed = replayed
        self.accepted: Future[Order] = Future()
        self.settled: Future[Order] = Future()


# -- MarketActor -------------------------------------------------------------------------


class Drain(msgspec.Struct, frozen=True):
    """tell: the newest market update is waiting in the conflator."""


class GetTicker(Ask["BookTicker | None"], frozen=True):
    """ask -> BookTicker | None"""


class GetFeedStats(Ask["FeedStats"], frozen=True):
    """ask -> actors.market.FeedStats"""


class HoldTrigger(msgspec.Struct, frozen=True):
    """tell: watch ``trigger`` (replacing one of the same user and key); it fires at once
    if the last price has already reached it."""

    trigger: Trigger


class DropTrigger(msgspec.Struct, frozen=True):
    """tell: stop watching the user's trigger ``key``."""

    user_id: str
    key: str


class TriggerCrossed(msgspec.Struct, frozen=True):
    """tell (to the trigger's owner): the market reached it; the portfolio decides."""

    crossing: Crossing


# -- ExchangeGateway ---------------------------------------------------------------------


class Submit(msgspec.Struct, frozen=True):
    """tell: send an order to the exchange; the answer comes back as Execution."""

    order: ExchangeOrder


class CancelAtExchange(msgspec.Struct, frozen=True):
    """tell: cancel an order; the answer comes back as Execution."""

    order: ExchangeOrder


class Track(msgspec.Struct, frozen=True):
    """tell: a portfolio's open orders (at its activation, after its gateway was lost,
    or to reconcile): the gateway follows each and sweeps the account, unless it
    already followed them all and has swept since it started (``sweep`` forces one).
    Whatever it finds comes back as Execution (and OrphanFound) messages, then
    Reconciled(token)."""

    user_id: str
    orders: tuple[ExchangeOrder, ...]
    token: int
    sweep: bool = True


class Adopt(msgspec.Struct, frozen=True):
    """tell: the portfolio journaled an orphan the sweep found; follow it."""

    order: ExchangeOrder
    exchange_id: str
    fills: tuple[Fill, ...]


class FetchBalances(msgspec.Struct, frozen=True):
    """tell: read the account's totals; they come back as BalancesFetched(token)."""

    user_id: str
    token: int


class JobDone(msgspec.Struct, frozen=True):
    """tell (from an exchange I/O worker to its gateway): what a REST job came back with."""

    job: Any
    result: Any = None
    error: Any = None
    activation: int = 0  # of the gateway that sent it: a later one knows nothing of the job


class GatewayStatus(Ask["dict[str, int]"], frozen=True):
    """ask -> dict[str, int]: the adapter's counts; answers once the gateway is ready.
    With ``user_id``, also whether none of that user's placements awaits an outcome."""

    user_id: str | None = None


class PrivatePush(msgspec.Struct, frozen=True):
    """tell: a frame from the account's user data stream."""

    push: Any


class StreamReconnected(msgspec.Struct, frozen=True):
    """tell: the user data stream (re)connected; pushes may have been missed."""


# -- RiskEngine and Supervisor ------------------------------------------------------------


class CheckOrder(Ask["None"], frozen=True):
    """ask -> None, or raises TradingHalted / RiskLimitExceeded (portfolios run the same
    check themselves, ``engine.risk.check_order``, on the published state)"""

    user_id: str
    symbol: str
    side: str
    notional: Decimal


class Halt(Ask["RiskState"], frozen=True):
    """ask -> RiskState (published before the answer)"""

    reason: str
    by: str


class Resume(Ask["RiskState"], frozen=True):
    """ask -> RiskState"""

    by: str


class GetRiskStatus(Ask["RiskState"], frozen=True):
    """ask -> RiskState"""


class GetSupervision(Ask["tuple[list[Any], int]"], frozen=True):
    """ask the Supervisor -> (list[FailureRecord], restarts)"""


class ReleaseQuarantine(msgspec.Struct, frozen=True):
    """tell the Supervisor: trading resumed; restart what was quarantined."""


class ActorFailed(msgspec.Struct, frozen=True):
    """tell: an actor crashed; restart it and record why."""

    kind: str
    key: str
    error: str


class SupervisionTick(msgspec.Struct, frozen=True):
    """tell: periodic check of actor health and idle portfolios, and the schedule."""


class ScheduleWake(msgspec.Struct, frozen=True):
    """tell (to the supervisor): wake the user's ``key`` at ``due`` (ms), replacing an
    earlier time for it."""

    user_id: str
    key: str
    due: int


class CancelWake(msgspec.Struct, frozen=True):
    user_id: str
    key: str


class WakeDue(msgspec.Struct, frozen=True):
    """tell (to a portfolio): its ``key`` is due (a DCA rule's time, a rule to watch again)."""

    key: str


# -- PersistenceActor --------------------------------------------------------------------


class Append:
    """tell: journal ``events`` on ``stream``; ``done`` resolves with the last seq
    once committed (or with the exception). ``snapshot`` (version, payload) is the
    stream's state after these events, stored with them."""

    __slots__ = ("stream", "events", "done", "snapshot")

    def __init__(self, stream: str, events: list[Any], done: Future[int], snapshot: tuple[int, bytes] | None = None) -> None:
        self.stream = stream
        self.events = events
        self.done = done
        self.snapshot = snapshot


class Flush(msgspec.Struct, frozen=True):
    """tell (to itself): commit everything appended so far."""


class LoadStream(Ask["StreamLoad"], frozen=True):
    """ask -> StreamLoad (newest snapshot + the events after it), after every
    append queued before it is durable"""

    stream: str


class LoadNewest(Ask["list[Any]"], frozen=True):
    """ask (to PersistenceActor) -> list of the stream's last ``limit`` events, oldest first"""

    stream: str
    limit: int


class LoadAllEvents(Ask["list[Any]"], frozen=True):
    """ask -> list[event]: every event of the stream, ignoring snapshots"""

    stream: str


class FindOrder(Ask["Order | None"], frozen=True):
    """ask -> Order | None from the journal's projection, by one of its ids"""

    user_id: str
    order_id: str | None = None
    client_order_id: str | None = None
    idempotency_key: str | None = None


class LoadOrderKeys(Ask["list[tuple[str, str, str | None, str | None]]"], frozen=True):
    """ask -> list of (order id, client order id, idempotency key | None, exchange
    client id | None), one per order of the user in the journal's projection"""

    user_id: str


class UsersWithOpenOrders(Ask["list[str]"], frozen=True):
    """ask -> list[str]: users the journal has open orders for"""


class UsersWithListingRules(Ask["list[str]"], frozen=True):
    """ask -> list[str]: users with an enabled, unpaused NEW_LISTING rule (the projection)"""


class Listed(msgspec.Struct, frozen=True):
    """tell (to a holder of NEW_LISTING rules): ``symbol`` is newly listed on the exchange."""

    symbol: str


class UsersWithPausedRules(Ask["list[str]"], frozen=True):
    """ask -> list[str]: users with rules the kill switch paused (the projection)"""


class OpenAccounts(Ask["list[tuple[str, dict[str, Decimal], list[Order]]]"], frozen=True):
    """ask -> list of (user id, {asset: free + locked}, open orders): every user the
    journal has open orders for (Journal.open_accounts)"""


class LoadTriggers(Ask["list[Trigger]"], frozen=True):
    """ask -> list[Trigger]: every trigger users hold on ``symbol`` (the projection)"""

    symbol: str


class LoadOrders(Ask["list[Order]"], frozen=True):
    """ask -> list[Order] from the journal's projection, newest first"""

    user_id: str
    symbol: str | None = None
    open_only: bool = False
    limit: int = 100


class CheckWritable(Ask["None"], frozen=True):
    """ask -> None, or raises JournalUnavailable"""


class Reconcile(Ask["Future[int]"], frozen=True):
    """ask or tell (to a PortfolioActor) -> Future[int]: compare open orders with the
    exchange (the gateway sweeps the account, applies what was missed, sends again
    what it never got), then, with nothing open, the balances. The future resolves
    with the number of differences once all of it is journaled; the caller waits on
    it, never the actor. A tell passes ``quiet``: an exchange that cannot answer is
    logged, to be tried again later."""

    quiet: bool = False


class GetMarket(Ask["MarketView"], frozen=True):
    """ask -> MarketView: book, depth, recent trades and data age."""

    depth: int = 20
    trades: int = 50


class GetCandles(Ask["list[Candle]"], frozen=True):
    """ask -> list[Candle], oldest first"""

    interval: str
    limit: int = 100


class GatewayTick(msgspec.Struct, frozen=True):
    """tell: periodic; follow up orders whose placement had an unknown outcome."""


class SaveCandles(Ask["None"], frozen=True):
    """tell, or ask -> None once stored (to the CandleStoreActor): (symbol, Candle) pairs."""

    candles: tuple[tuple[str, Any], ...]


class LoadCandles(Ask["list[Candle]"], frozen=True):
    """ask (to the CandleStoreActor) -> list[Candle] stored for the symbol and interval, oldest first"""

    symbol: str
    interval: str
    limit: int


class PruneMarketData(msgspec.Struct, frozen=True):
    """tell (to the CandleStoreActor): drop stored market data older than ``before_ms``,
    a small step at a time; the actor tells itself the next step with ``removed`` so far."""

    before_ms: int
    removed: int = 0


class VerifyJournal(Ask["int"], frozen=True):
    """tell (to the JournalVerifier), or ask -> int, the last seq verified: check up
    to ``rows`` journal rows written since the last check, on a read connection."""

    rows: int = 20_000


class Verified(msgspec.Struct, frozen=True):
    """tell (to the PersistenceActor): every row through ``seq`` is verified; the mark
    is written with the next commit."""

    seq: int
