"""EngineClient: the synchronous face of the actor system for the API, tools and tests.

Each method is one ask (or a few independent ones) with a deadline, plus the
wait on a Ticket where an answer must be durable first. Nothing here decides
anything: it carries requests to the actors that own the state.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from decimal import Decimal
from typing import Any

import msgspec
import pykka

from actors.market import FeedStats, MarketView
from actors.messages import (
    Cancel,
    CreateAlert,
    CreateRule,
    DeleteAlert,
    DeleteRule,
    EnableRule,
    GetAlertFirings,
    GetAlerts,
    GetCandles,
    GetExecutions,
    GetFeedStats,
    GetMarket,
    GetOrder,
    GetPositions,
    GetRiskStatus,
    GetRules,
    GetSupervision,
    GetTicker,
    GetUserRisk,
    GetWallet,
    Halt,
    HaltUser,
    ListOrders,
    Place,
    Reconcile,
    Resume,
    ResumeUser,
    SetUserLimits,
    Ticket,
    UpdateRule,
)
from actors.risk import RiskStatus
from actors.system import ActorSystem
from engine.alerts import Alert, AlertFields, AlertFiring
from engine.candles import Candle
from engine.errors import ActorUnavailable, EngineError, EngineTimeout, SymbolNotFound
from engine.model import BookTicker, Order
from engine.orders import PlaceOrder
from engine.positions import Position
from engine.risk import Limits, RiskState, UserRisk
from engine.rules import Execution, Rule, RuleFields


class PlacedOrder(msgspec.Struct, frozen=True):
    order: Order
    replayed: bool  # an idempotent retry: this is the first request's order
    pending: bool  # accepted and durable, but the exchange has not answered yet


class WalletLine(msgspec.Struct, frozen=True):
    asset: str
    free: Decimal
    locked: Decimal


SLOW_COMMIT_SECONDS = 2.0  # the longest a commit may run before /health calls the journal unhealthy


class HealthReport(msgspec.Struct, frozen=True):
    ok: bool
    checks: dict[str, Any]
    problems: list[str]


class EngineClient:
    def __init__(self, system: ActorSystem) -> None:
        self.system = system
        self.timeout = system.config.ask_timeout_seconds

    # -- trading -----------------------------------------------------------------------

    def place_order(self, user_id: str, command: PlaceOrder) -> PlacedOrder:
        deadline = time.monotonic() + self.timeout
        ticket: Ticket = self.system.ask_portfolio(user_id, Place(command, deadline))
        try:
            order = ticket.settled.result(timeout=max(deadline - time.monotonic(), 0.0))
            return PlacedOrder(order=order, replayed=ticket.replayed, pending=False)
        except FutureTimeout:
            pass
        # The exchange is slow; if the acceptance itself is durable, say so.
        try:
            order = ticket.accepted.result(timeout=0)
        except FutureTimeout:
            raise EngineTimeout(
                "the order was not confirmed in time; query it by clientOrderId before retrying"
            ) from None
        return PlacedOrder(order=order, replayed=ticket.replayed, pending=True)

    def cancel_order(self, user_id: str, order_id: str) -> Order:
        deadline = time.monotonic() + self.timeout
        ticket: Ticket = self.system.ask_portfolio(user_id, Cancel(order_id, deadline))
        try:
            return ticket.settled.result(timeout=max(deadline - time.monotonic(), 0.0))
        except FutureTimeout:
            raise EngineTimeout("the exchange did not confirm the cancel in time; the order may still be open") from None

    def get_order(self, user_id: str, order_id: str) -> Order:
        return self.system.ask_portfolio(user_id, GetOrder(order_id))

    def list_orders(
        self, user_id: str, *, symbol: str | None = None, open_only: bool = False, limit: int = 100,
        client_order_id: str | None = None,
    ) -> list[Order]:
        return self.system.ask_portfolio(user_id, ListOrders(symbol, open_only, limit, client_order_id))

    def refresh_wallet(self, user_id: str) -> list[WalletLine]:
        """Reconcile with the exchange first (orders, then balances), then answer. The
        portfolio hands back a future and carries on; this request thread waits on it."""
        deadline = time.monotonic() + self.timeout
        done: Future[int] = self.system.ask_portfolio(user_id, Reconcile())
        try:
            done.result(timeout=max(deadline - time.monotonic(), 0.0))
        except FutureTimeout:
            raise EngineTimeout("the exchange did not answer the reconciliation in time; retry") from None
        return self.wallet(user_id)

    def wallet(self, user_id: str) -> list[WalletLine]:
        lines = self.system.ask_portfolio(user_id, GetWallet())
        return [WalletLine(asset, free, locked) for asset, free, locked in lines]

    def positions(self, user_id: str, symbol: str | None = None) -> list[tuple[Position, Decimal | None]]:
        """The user's positions, each with the last price it is valued at (None before
        the symbol's first market data). One symbol's: a known symbol never traded is
        a position of zero."""
        if symbol is not None:
            self._known(symbol)
        positions = self.system.ask_portfolio(user_id, GetPositions(symbol))
        if symbol is not None and not positions:
            positions = [Position(symbol)]
        out = []
        for position in positions:
            book = self.system.markets.latest_book(position.symbol)
            out.append((position, None if book is None else book.last))
        return out

    # -- market ------------------------------------------------------------------------

    def ticker(self, symbol: str) -> BookTicker | None:
        self._known(symbol)
        return self.system.ask_market(symbol, GetTicker(), self.timeout)

    def tickers(self) -> list[tuple[str, BookTicker | None]]:
        """Every symbol's ticker; the asks run concurrently under one deadline."""
        deadline = time.monotonic() + self.timeout
        futures = [(s, self.system.ref("market", s).ask(GetTicker(), block=False)) for s in self.system.venue.market_symbols]
        out = []
        for symbol, future in futures:
            try:
                out.append((symbol, future.get(timeout=max(deadline - time.monotonic(), 0.0))))
            except pykka.Timeout:
                raise EngineTimeout(f"market {symbol} did not answer in time") from None
            except pykka.ActorDeadError:
                raise ActorUnavailable(f"market {symbol} stopped before answering") from None
        return out

    def market(self, symbol: str, depth: int, trades: int) -> MarketView:
        self._known(symbol)
        return self.system.ask_market(symbol, GetMarket(depth, trades), self.timeout)

    def candles(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        self._known(symbol)
        return self.system.ask_market(symbol, GetCandles(interval, limit), self.timeout)

    def feed_status(self) -> list[dict[str, Any]]:
        """Per streamed symbol, for operators: the age of its newest update, updates/s, how
        many were merged away by conflation, its stream's state and its triggers."""
        deadline = time.monotonic() + self.timeout
        conflator = self.system.markets.conflator
        now = self.system.clock.now_ms()
        out: list[dict[str, Any]] = []
        for symbol in list(self.system.venue.market_symbols):
            try:
                stats: FeedStats = self.system.ask_market(symbol, GetFeedStats(), max(deadline - time.monotonic(), 0.05))
            except EngineError:
                out.append({"symbol": symbol, "actor": "unavailable", "stream": self.system.venue.stream_state(symbol)})
                continue
            offered = conflator.offered_by.get(symbol, 0)
            out.append({
                "symbol": symbol,
                "lastUpdateAgeMs": None if stats.updated_at is None else max(now - stats.updated_at, 0),
                "updatesPerSecond": stats.updates_per_s,
                "updates": stats.updates,
                "offered": offered,
                "conflated": offered - conflator.delivered_by.get(symbol, 0),
                "stream": self.system.venue.stream_state(symbol),
                "triggers": stats.triggers,
                "crossings": stats.crossings,
            })
        return out

    def _known(self, symbol: str) -> None:
        if symbol not in self.system.catalog:
            raise SymbolNotFound(f"unknown symbol {symbol!r}", details={"symbol": symbol})

    def list_paper_symbol(self, symbol: str, price: Decimal, base_precision: int, quote_precision: int) -> None:
        self.system.venue.list_symbol(symbol, price, base_precision, quote_precision)

    def set_paper_price(self, symbol: str, price: Decimal) -> BookTicker:
        self._known(symbol)
        return self.system.markets.set_paper_price(symbol, price)

    # -- operations ----------------------------------------------------------------------

    def risk_status(self) -> RiskStatus:
        return self._status(self.system.ask_risk(GetRiskStatus()))

    def halt(self, reason: str, by: str) -> RiskStatus:
        return self._status(self.system.ask_risk(Halt(reason, by)))

    def resume(self, by: str) -> RiskStatus:
        return self._status(self.system.ask_risk(Resume(by)))

    # -- alerts ----------------------------------------------------------------------------

    def create_alert(self, user_id: str, fields: AlertFields) -> Alert:
        return self._wait(self.system.ask_portfolio(user_id, CreateAlert(fields)))

    def delete_alert(self, user_id: str, alert_id: str) -> Alert:
        return self._wait(self.system.ask_portfolio(user_id, DeleteAlert(alert_id)))

    def alerts(self, user_id: str, alert_id: str | None = None) -> list[Alert]:
        return self.system.ask_portfolio(user_id, GetAlerts(alert_id))

    def alert_firings(self, user_id: str, alert_id: str, limit: int = 100) -> list[AlertFiring]:
        return self.system.ask_portfolio(user_id, GetAlertFirings(alert_id, limit))

    # -- rules -----------------------------------------------------------------------------

    def create_rule(self, user_id: str, fields: RuleFields) -> Rule:
        return self._wait(self.system.ask_portfolio(user_id, CreateRule(fields)))

    def update_rule(self, user_id: str, rule_id: str, fields: RuleFields) -> Rule:
        return self._wait(self.system.ask_portfolio(user_id, UpdateRule(rule_id, fields)))

    def enable_rule(self, user_id: str, rule_id: str, enabled: bool) -> Rule:
        return self._wait(self.system.ask_portfolio(user_id, EnableRule(rule_id, enabled)))

    def delete_rule(self, user_id: str, rule_id: str) -> Rule:
        return self._wait(self.system.ask_portfolio(user_id, DeleteRule(rule_id)))

    def rules(self, user_id: str, rule_id: str | None = None) -> list[Rule]:
        return self.system.ask_portfolio(user_id, GetRules(rule_id))

    def executions(self, user_id: str, rule_id: str, limit: int = 100) -> list[Execution]:
        return self.system.ask_portfolio(user_id, GetExecutions(rule_id, limit))

    def _wait(self, future: Future[Any]) -> Any:
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            raise EngineTimeout("the change was not durable in time; read it back before retrying") from None

    def user_risk(self, user_id: str) -> UserRisk:
        return self.system.ask_portfolio(user_id, GetUserRisk())

    def set_user_limits(self, user_id: str, limits: Limits, by: str) -> UserRisk:
        return self._wait(self.system.ask_portfolio(user_id, SetUserLimits(limits, by)))

    def halt_user(self, user_id: str, reason: str, by: str) -> UserRisk:
        return self._wait(self.system.ask_portfolio(user_id, HaltUser(reason, by)))

    def resume_user(self, user_id: str, by: str) -> UserRisk:
        return self._wait(self.system.ask_portfolio(user_id, ResumeUser(by)))


    def _status(self, state: RiskState) -> RiskStatus:
        failures, restarts = self.system.ask_supervisor(GetSupervision())
        return RiskStatus(halted=state.halted, halt_reason=state.halt_reason, halted_by=state.halted_by,
                          halted_at=state.halted_at, max_order_notional=state.max_order_notional,
                          failures=failures, restarts=restarts, limits=state.global_limits)

    def health(self) -> HealthReport:
        problems: list[str] = []
        checks: dict[str, Any] = {}
        # What the journal's writer published at its last commit: /health writes
        # nothing and waits for no commit (a dead writer shows under actors). A commit
        # that takes longer than an order may wait (at most 2 s) is a problem.
        journal = self.system.journal_status
        now = time.monotonic()
        checks["journal"] = journal.as_check(now)
        problem = journal.problem(now, slow_after=min(self.timeout, SLOW_COMMIT_SECONDS))
        if problem is not None:
            problems.append(f"journal: {problem}")
        actors = self.system.actor_health()
        checks["actors"] = actors
        problems.extend(f"actor {name} is not running" for name, alive in actors.items() if not alive)
        checks["bridge"] = "running" if self.system.bridge.alive else "stopped"
        if not self.system.bridge.alive:
            problems.append("the I/O thread is not running")
        checks["portfolios"] = len(self.system.live_portfolios())
        if self.system.backups is not None:
            checks["backups"] = self.system.backups.status().as_dict()
        self.system.venue.probe_key()  # a refused key is asked about again: a fixed key shows at once
        exchange = self.system.venue.health()
        checks["exchange"] = exchange
        for name in ("public", "account"):
            breaker = exchange.get(name, {}).get("breaker", {})
            if breaker.get("state") == "open":
                problems.append(f"exchange {name} API: circuit breaker open after {breaker.get('failures')} failures")
        credentials = exchange.get("account", {}).get("credentials", "")
        if credentials.startswith("refused"):
            problems.append(f"exchange account: MEXC {credentials} (check MEXC_API_KEY and MEXC_SECRET_KEY)")
        try:
            checks["tradingHalted"] = self.risk_status().halted
        except EngineError:
            pass
        return HealthReport(ok=not problems, checks=checks, problems=problems)
