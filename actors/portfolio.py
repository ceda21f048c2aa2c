"""The portfolio: one per user, a virtual actor (``actors.hosting``) activated by
anything addressed to the user and passivated when idle, open orders or not.

It owns the user's balances and orders. Commands are decided by the pure
functions of ``engine.portfolio``; the resulting events go to the journal and
are applied to the state in the same step, so the live state and a replay of
the journal agree. The caller gets a Ticket: futures that resolve only when
what they report is durable.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from concurrent.futures import Future
from decimal import Decimal
from typing import Any

import msgspec

from actors.alertbook import AlertBook
from actors.hosting import Entity, EntityHost, Reloading
from actors.messages import (
    Adopt,
    AwaitRestored,
    BalancesFetched,
    Cancel,
    CancelAll,
    CancelAtExchange,
    CreateAlert,
    CreateRule,
    DeleteAlert,
    DeleteRule,
    DropTrigger,
    EnableRule,
    Execution,
    FetchBalances,
    FindOrder,
    GetAlertFirings,
    GetAlerts,
    GetExecutions,
    GetOrder,
    GetPositions,
    GetRules,
    GetTicker,
    GetUserRisk,
    GetWallet,
    HaltUser,
    HoldTrigger,
    Listed,
    ListOrders,
    LoadAllEvents,
    LoadOrderKeys,
    LoadOrders,
    LoadStream,
    OrphanFound,
    Place,
    Reconcile,
    Reconciled,
    ResumeRules,
    ResumeUser,
    SetUserLimits,
    Submit,
    Ticket,
    Track,
    TriggerCrossed,
    UpdateRule,
    WakeDue,
    resolve_after,
)
from actors.peers import PortfolioPeers
from actors.rulebook import RuleBook
from actors.venue import NoExchangeAccount
from engine.errors import (
    ActorUnavailable,
    ClientOrderIdReused,
    DailyLossLimit,
    EngineError,
    EngineTimeout,
    ExchangeUnavailable,
    IdempotencyKeyReused,
    MarketDataUnavailable,
    OrderNotCancelable,
    OrderNotFound,
    RateLimited,
)
from engine.events import AnyEvent, OrderCanceled, Reconciliation, UserHalted, UserLimitsSet, UserResumed, user_stream
from engine.exchanges.base import ExchangeOrder, ExecutionReport, VenueOrder
from engine.model import CONDITIONAL_TYPES, IMMEDIATE_TYPES, Order
from engine.money import fmt
from engine.orders import PlaceOrder, differences, exchange_client_id, new_order_id, validate
from engine.portfolio import (
    SNAPSHOT_VERSION,
    PortfolioState,
    decide_adjust,
    decide_adopt,
    decide_bracket,
    decide_close,
    decide_complete,
    decide_fill,
    decide_open,
    decide_place,
    decide_trigger,
    estimate_notional,
    evolve,
    snapshot_of,
    state_from,
)
from engine.positions import utc_day
from engine.ratelimit import TokenBucket
from engine.risk import Limits, OrderRisk, UserRisk, check_daily_loss, check_order
from engine.triggers import Crossing, order_trigger
from persistence.journal import StreamLoad

RECONCILE_FORGET_SECONDS = 120.0  # a reconciliation the gateway never answered (it died) is let go


BALANCE_REREADS = 3  # a balance read overtaken by the user's own trading is asked for again, this often

class _Reconciling:
    """One reconciliation under way: the gateway sweeps, then (with nothing open) the
    balances are read; ``future`` resolves with the number of differences."""

    __slots__ = ("future", "quiet", "since", "updated", "resent", "adopted", "swept", "covered", "moves", "rereads")

    def __init__(self, future: Future[int] | None, quiet: bool) -> None:
        self.future = future
        self.quiet = quiet
        self.swept = False  # the gateway's sweep for it is over
        self.covered: list[Future[int]] = []  # earlier ones whose own Track was lost: this answers them
        self.since = time.monotonic()
        self.updated: list[str] = []
        self.resent: list[str] = []
        self.adopted: list[str] = []
        self.moves = -1  # the portfolio's count of journaled events when the balances were asked for
        self.rereads = 0


class Portfolio(Entity):
    kind = "portfolio"

    system: PortfolioPeers

    def __init__(self, system: PortfolioPeers, user_id: str) -> None:
        super().__init__(system, user_id)
        self.user_id = user_id
        self.stream = user_stream(user_id)
        self.state = PortfolioState(user_id)
        self._placing: dict[str, Ticket] = {}  # orders waiting for the exchange's first answer
        self._reconciling: dict[int, _Reconciling] = {}  # token -> reconciliation under way
        self._tokens = itertools.count(1)
        self._restored: Future[int] = Future()  # the start reconciliation
        self._canceling: dict[str, tuple[Ticket, float]] = {}  # order id -> (ticket, monotonic time sent)
        self._cancel_reasons: dict[str, str] = {}  # order id -> why the engine canceled it (the kill switch)
        self._last_append: Future[int] | None = None
        self._unconfirmed: list[Future[int]] = []  # appends applied but not yet committed
        self._since_snapshot = 0  # events since the newest snapshot
        self._moves = 0  # events journaled by this activation: a balance read older than one is stale
        rate = system.config.order_rate_limit
        self._bucket = TokenBucket(rate, burst=max(rate * 2, 1))
        self.rulebook = RuleBook(self)
        self.alertbook = AlertBook(self)

    # -- lifecycle -------------------------------------------------------------------

    def activate(self) -> None:
        load = self.system.ask_persistence(LoadStream(self.stream))
        if load.snapshot is not None:
            _, version, payload = load.snapshot
            restored = state_from(payload, version)
            if restored is None:  # an older snapshot format: replay everything instead
                load = StreamLoad(snapshot=None, events=self.system.ask_persistence(LoadAllEvents(self.stream)))
            else:
                self.state = restored
                # The snapshot indexes only the orders it holds; a replay from the
                # start would index every order, so add the retired ones' keys.
                self.state.index_keys(self.system.ask_persistence(LoadOrderKeys(self.user_id)))
        events = load.events
        for event in events:
            evolve(self.state, event)
        self._since_snapshot = len(events)
        if not self.state.opened:
            deposits = self.system.opening_deposits()
            event = decide_open(self.state, deposits, self.system.clock.now_ms(), reason="paper account opened")
            self._record([event]).result(timeout=self.system.config.ask_timeout_seconds)
            self.log.info("account.opened", user_id=self.user_id, deposits={k: fmt(v) for k, v in deposits.items()})
        self.log.info("portfolio.loaded", user_id=self.user_id, events=len(events), open_orders=len(self.state.open_orders()))
        totals = {asset: b.free + b.locked for asset, b in self.state.balances.items()}
        self.system.venue.prepare_account(self.user_id, totals)
        # Its gateway learns the open orders and sweeps the account; the answers come as
        # messages, so an exchange that is slow or down does not keep the portfolio down.
        # Its conditional orders' triggers again (the market actors loaded them from the
        # journal; this makes good a registration lost to a market actor's restart).
        for order in self.state.held_orders():
            self._hold(order)
        self.rulebook.arm_all()
        self.alertbook.arm_all()
        if self.state.exchange_orders() or self.system.venue.accounts_outlive_engine:
            self._restored = self._reconcile_now(quiet=True)
        else:
            # A paper account lives in this process's simulator, made from the journal
            # just now: with nothing open there is nothing it could differ in.
            self._restored.set_result(0)

    # -- dispatch ----------------------------------------------------------------------

    def handle(self, message: Any) -> Any:
        refused = self._refused_append()
        if refused is not None:
            # The state holds events the journal did not take: start again from the journal.
            self.broken = refused
            raise Reloading("the portfolio is reloading from the journal; retry")
        if isinstance(message, Execution):
            return self._on_execution(message.report)
        if isinstance(message, TriggerCrossed):
            if message.crossing.trigger.key.startswith("rule:"):
                return self.rulebook.on_crossing(message.crossing)
            if message.crossing.trigger.key.startswith("alert:"):
                return self.alertbook.on_crossing(message.crossing)
            return self._on_crossing(message.crossing)
        if isinstance(message, WakeDue):
            if message.key.startswith("alert:"):
                return self.alertbook.on_wake(message.key)
            return self.rulebook.on_wake(message.key)
        if isinstance(message, CancelAll):
            self.rulebook.pause_all()
            return self._cancel_all(message.reason)
        if isinstance(message, ResumeRules):
            return self.rulebook.resume_all()
        if isinstance(message, Listed):
            return self.rulebook.on_listed(message.symbol)
        if isinstance(message, GetUserRisk):
            return self._user_risk()
        if isinstance(message, SetUserLimits):
            return self._set_limits(message.limits, message.by)
        if isinstance(message, HaltUser):
            return self._halt_user(message.reason, message.by)
        if isinstance(message, ResumeUser):
            return self._resume_user(message.by)
        if isinstance(message, OrphanFound):
            return self._on_orphan(message.order)
        if isinstance(message, Reconciled):
            return self._on_reconciled(message)
        if isinstance(message, BalancesFetched):
            return self._on_balances(message)
        if isinstance(message, Reconcile):
            return self._reconcile_now(quiet=message.quiet)
        if isinstance(message, AwaitRestored):
            return self._restored
        self.last_active = time.monotonic()  # only a user's request counts as activity
        if isinstance(message, Place):
            return self._place(message)
        if isinstance(message, Cancel):
            return self._cancel(message)
        if isinstance(message, GetWallet):
            return self._wallet()
        if isinstance(message, CreateAlert):
            return self.alertbook.create(message.fields)
        if isinstance(message, DeleteAlert):
            return self.alertbook.delete(message.alert_id)
        if isinstance(message, GetAlerts):
            return self.alertbook.get(message.alert_id)
        if isinstance(message, GetAlertFirings):
            return self.alertbook.firings(message.alert_id, message.limit)
        if isinstance(message, CreateRule):
            return self.rulebook.create(message.fields)
        if isinstance(message, UpdateRule):
            return self.rulebook.update(message.rule_id, message.fields)
        if isinstance(message, EnableRule):
            return self.rulebook.enable(message.rule_id, message.enabled)
        if isinstance(message, DeleteRule):
            return self.rulebook.delete(message.rule_id)
        if isinstance(message, GetRules):
            return self.rulebook.get(message.rule_id)
        if isinstance(message, GetExecutions):
            return self.rulebook.executions(message.rule_id, message.limit)
        if isinstance(message, GetPositions):
            positions = self.state.positions
            chosen = [positions[message.symbol]] if message.symbol in positions else [] if message.symbol else [
                positions[s] for s in sorted(positions)]
            return [p.copy() for p in chosen]
        if isinstance(message, GetOrder):
            return self._any_order(message.order_id)
        if isinstance(message, ListOrders):
            if message.client_order_id is not None:
                return self._by_client_id(message)
            return self.system.ask_persistence(
                LoadOrders(self.user_id, message.symbol, message.open_only, message.limit)
            )
        raise TypeError(f"unexpected message {message!r}")

    # -- commands ----------------------------------------------------------------------

    def _place(self, message: Place) -> Ticket:
        if time.monotonic() > message.deadline:
            raise EngineTimeout("the request waited too long to be processed and was not executed")
        cmd = message.command
        # Every key of the user is in memory: a new one is known new without a journal read.
        existing_id = self.state.existing_order_id(cmd) or self._adopted_as(cmd)
        if existing_id is not None:
            existing = self._order(existing_id)  # from the journal only if retired from memory
            # A retry is the same request; anything else under a used id is a mistake
            # that must not be answered with another order's outcome.
            changed = differences(existing, cmd)
            if changed and cmd.idempotency_key is not None and cmd.idempotency_key == existing.idempotency_key:
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {cmd.idempotency_key!r} was used for order {existing.id} with other "
                    f"{', '.join(changed)}; use a new key for a new order",
                    details={"orderId": existing.id, "fields": changed},
                )
            if changed:
                raise ClientOrderIdReused(
                    f"clientOrderId {cmd.client_order_id!r} was used for order {existing.id} with other "
                    f"{', '.join(changed)}; use a new clientOrderId for a new order",
                    details={"orderId": existing.id, "clientOrderId": cmd.client_order_id, "fields": changed},
                )
            return self._replay(existing)
        self._throttle()
        return self._accept(cmd)

    def _accept(self, cmd: PlaceOrder, *, also: Callable[[Order], list[AnyEvent]] | None = None,
                protect: tuple[Decimal | None, Decimal | None, Decimal | None] = (None, None, None)) -> Ticket:
        """Decide, check, journal and send a new order. ``also(order)``: events journaled
        in the same batch (a rule's execution record)."""
        info = self.system.catalog.get(cmd.symbol)
        validate(cmd, info)
        self.system.account_of(self.user_id)  # refuses a user with no exchange account
        problem = self.system.venue.account_problem()
        if problem is not None:
            # Refused before it is accepted: nothing is journaled, and a retry with the
            # same Idempotency-Key places it once the exchange takes calls again.
            raise ExchangeUnavailable(f"{problem}; the order was not placed, retry later")
        now = self.system.clock.now_ms()
        book = None
        if cmd.type == "MARKET" or cmd.type in CONDITIONAL_TYPES or (
                cmd.price is None and (cmd.stop_loss_price is not None or cmd.take_profit_price is not None)):
            book = self.system.ask_market(cmd.symbol, GetTicker())
            if book is not None and now - book.time > self.system.config.market_stale_seconds * 1000:
                raise MarketDataUnavailable(f"market data for {cmd.symbol} is stale; refusing a MARKET order")
        order_id = new_order_id(now)
        exchange_id = exchange_client_id(self.user_id, order_id, idempotency_key=cmd.idempotency_key,
                                         client_order_id=cmd.client_order_id)
        client_order_id = cmd.client_order_id or exchange_id
        event = decide_place(self.state, cmd, info, book, order_id=order_id, client_order_id=client_order_id, now=now,
                             exchange_client_id=exchange_id)
        self._check_risk(cmd, book, estimate_notional(cmd, book), now)
        # A rule's protection, in percent of what it will pay: (stop-loss, take-profit, trailing).
        event.order.stop_loss_percent, event.order.take_profit_percent, trailing = protect
        if trailing is not None:
            event.order.trailing_percent = trailing

        durable = self._record([event, *(also(event.order) if also is not None else [])])
        order = self.state.orders[order_id]
        ticket = Ticket(order_id)
        resolve_after(durable, ticket.accepted, order.snapshot())
        if order.is_conditional:
            # Held here until its trigger: its answer is its acceptance, durable.
            resolve_after(durable, ticket.settled, order.snapshot())
        else:
            self._placing[order_id] = ticket
        self.log.info(
            "order.accepted",
            user_id=self.user_id,
            order_id=order_id,
            client_order_id=client_order_id,
            symbol=cmd.symbol,
            side=cmd.side,
            type=cmd.type,
            quantity=fmt(cmd.quantity),
            quote_quantity=fmt(cmd.quote_quantity),
            price=fmt(cmd.price),
            trigger_price=fmt(order.trigger_price),
        )
        if order.is_conditional:
            self._hold(order)
        else:
            self._submit(order)
        return ticket

    # -- conditional orders ------------------------------------------------------------

    def _hold(self, order: Order) -> None:
        """Have the symbol's market actor watch the order's trigger."""
        trigger = order_trigger(order)
        if trigger is not None:
            self.system.tell_market(order.symbol, HoldTrigger(trigger))

    def _on_crossing(self, crossing: Crossing) -> None:
        """The market reached a trigger of this user's: decide, and act."""
        order = self.state.orders.get(crossing.trigger.key)
        if order is None or not order.is_open or order.on_exchange:
            return  # canceled or triggered meanwhile: a crossing is only a hint
        events = decide_trigger(self.state, order, crossing.price, self.system.clock.now_ms(), crossing.anchor)
        if not events:
            self._hold(order)  # not reached by its own measure: watched again
            return
        self._record(events)
        self.log.info("order.triggered", user_id=self.user_id, order_id=order.id, type=order.type,
                      trigger_price=fmt(order.trigger_price), price=fmt(crossing.price), symbol=order.symbol)
        for event in events[1:]:
            if isinstance(event, OrderCanceled):
                self.system.tell_market(order.symbol, DropTrigger(self.user_id, event.order_id))
                self.log.info("order.canceled", user_id=self.user_id, order_id=event.order_id, reason=event.reason)
        self._submit(order)

    def _cancel_held(self, order: Order) -> Ticket:
        """Cancel a conditional order still waiting for its trigger (and its
        one-cancels-the-other partner): the exchange never had it."""
        now = self.system.clock.now_ms()
        events: list[AnyEvent] = [decide_close(order, "CANCELED", "canceled by the user", now)]
        partner = self.state.orders.get(order.oco_id) if order.oco_id else None
        if partner is not None and partner.is_open and not partner.on_exchange:
            events.append(decide_close(partner, "CANCELED", f"one-cancels-the-other: {order.id} was canceled", now))
        durable = self._record(events)
        for closed in (order, partner):
            if closed is not None:
                self.system.tell_market(order.symbol, DropTrigger(self.user_id, closed.id))
        self.log.info("order.canceled", user_id=self.user_id, order_id=order.id, held=True)
        ticket = Ticket(order.id)
        resolve_after(durable, ticket.accepted, order.snapshot())
        resolve_after(durable, ticket.settled, order.snapshot())
        return ticket

    def _protect(self, order: Order) -> None:
        """Once a BUY with a stop-loss or take-profit price is done, its pair is placed
        for what it bought, in the same journal batch as nothing else needs."""
        if order.side != "BUY" or order.is_open:
            return
        now = self.system.clock.now_ms()
        info = self.system.catalog.get(order.symbol)
        legs = decide_bracket(self.state, order, info, now, [new_order_id(now), new_order_id(now)])
        if not legs:
            protected = any(v is not None for v in (order.stop_loss_price, order.take_profit_price, order.trailing_percent,
                                                     order.stop_loss_percent, order.take_profit_percent))
            if protected and order.id not in self.state.bracketed and order.executed_quantity > 0:
                self.log.warning("order.protection_not_placed", user_id=self.user_id, order_id=order.id,
                                 reason="what it bought is below the symbol's minimum")
            return
        self._record(list(legs))
        for leg in legs:
            placed = self.state.orders[leg.order.id]
            self.log.info("order.accepted", user_id=self.user_id, order_id=placed.id, symbol=placed.symbol,
                          side=placed.side, type=placed.type, quantity=fmt(placed.quantity),
                          trigger_price=fmt(placed.trigger_price), parent_id=order.id)
            self._hold(placed)

    # -- risk ------------------------------------------------------------------------------

    def _check_risk(self, cmd: Any, book: Any, notional: Any, now: int) -> None:
        """The pre-trade checks, on the state the risk engine published and this user's
        own limits and halt. Reaching the daily loss limit halts the user's new orders
        until the UTC day is over (journaled, so a restart keeps it)."""
        state = self.system.risk_state
        today = utc_day(now)
        limits = self.state.limits.over(state.global_limits)
        if not state.halted and self.state.halt_reason is None and self._daily_halted(today):
            # Halted for the day: refused as the order that reached the limit was, with
            # today's figure (even if the market has given some of it back since).
            pnl = self._daily_pnl(today)
            check_daily_loss(limits, pnl if limits.max_daily_loss is None or -pnl >= limits.max_daily_loss
                             else -limits.max_daily_loss)
        top = book if book is not None else self.system.markets.latest_book(cmd.symbol)
        last = top.last if top is not None and top.last > 0 else None
        position = self.state.positions.get(cmd.symbol)
        held = position.quantity * last if position is not None and last is not None else Decimal(0)
        daily = None
        if limits.max_daily_loss is not None and self.state.lifted_day != today:
            daily = self._daily_pnl(today)
        risk = OrderRisk(notional=notional, side=cmd.side, price=cmd.price if cmd.price is not None else cmd.trigger_price,
                         last=last, position_value=held, open_orders=len(self.state.open_orders()), daily_pnl=daily)
        try:
            check_order(state, notional, user=self.state.limits, order=risk, user_halt=self.state.halt_reason)
        except DailyLossLimit as exc:
            if self.state.daily_halt_day != today:
                self._record([UserHalted(time=now, reason=exc.message, by="risk", day=today)])
                self.log.warning("risk.user_halted", user_id=self.user_id, reason="daily loss limit", **exc.details)
            raise

    def _daily_halted(self, today: int) -> bool:
        return self.state.daily_halt_day == today and self.state.lifted_day != today

    def _daily_pnl(self, today: int) -> Decimal:
        total = Decimal(0)
        for position in self.state.positions.values():
            total += position.realized_on(today)
            if position.quantity > 0:
                top = self.system.markets.latest_book(position.symbol)
                unrealized = position.unrealized(top.last if top is not None else None)
                total += unrealized or 0
        return total

    def _user_risk(self) -> UserRisk:
        today = utc_day(self.system.clock.now_ms())
        return UserRisk(
            user_id=self.user_id, limits=self.state.limits,
            effective=self.state.limits.over(self.system.risk_state.global_limits),
            halted=self.state.halt_reason is not None, halt_reason=self.state.halt_reason,
            daily_loss_halted=self._daily_halted(today), daily_pnl=self._daily_pnl(today),
        )

    def _set_limits(self, limits: Limits, by: str) -> Future[UserRisk]:
        durable = self._record([UserLimitsSet(time=self.system.clock.now_ms(), limits=limits, by=by)])
        self.log.warning("risk.user_limits_set", user_id=self.user_id, by=by, **msgspec.structs.asdict(limits))
        return self._answer_after(durable)

    def _halt_user(self, reason: str, by: str) -> Future[UserRisk]:
        durable = self._record([UserHalted(time=self.system.clock.now_ms(), reason=reason, by=by)])
        self.log.warning("risk.user_halted", user_id=self.user_id, by=by, reason=reason)
        return self._answer_after(durable)

    def _resume_user(self, by: str) -> Future[UserRisk]:
        now = self.system.clock.now_ms()
        durable = self._record([UserResumed(time=now, by=by, day=utc_day(now))])
        self.log.warning("risk.user_resumed", user_id=self.user_id, by=by)
        return self._answer_after(durable)

    def _answer_after(self, durable: Future[int]) -> Future[UserRisk]:
        answer: Future[UserRisk] = Future()
        resolve_after(durable, answer, self._user_risk())
        return answer

    def _cancel_all(self, reason: str) -> None:
        """The kill switch: every open order canceled, held ones at once, the others at
        the exchange (their ends come back as executions)."""
        now = self.system.clock.now_ms()
        held = self.state.held_orders()
        if held:
            self._record([decide_close(o, "CANCELED", reason, now) for o in held])
            for order in held:
                self.system.tell_market(order.symbol, DropTrigger(self.user_id, order.id))
        sent = self.state.exchange_orders()
        for order in sent:
            self._cancel_reasons[order.id] = reason  # what its end will say, when the exchange confirms it
            self.system.tell_gateway(self.user_id, CancelAtExchange(ExchangeOrder.from_order(order)))
        self.log.warning("risk.orders_canceled", user_id=self.user_id, held=len(held), at_exchange=len(sent), reason=reason)

    def _throttle(self) -> None:
        wait = self._bucket.take(time.monotonic())
        if wait:
            retry_after = max(1, int(wait + 0.999))
            raise RateLimited(
                f"more than {self.system.config.order_rate_limit:g} orders per second; retry after {retry_after}s",
                retry_after=retry_after,
            )

    def _replay(self, order: Order) -> Ticket:
        ticket = Ticket(order.id, replayed=True)
        original = self._placing.get(order.id)
        if original is not None:
            ticket.accepted, ticket.settled = original.accepted, original.settled
        else:
            snapshot = order.snapshot()
            resolve_after(self._last_append, ticket.accepted, snapshot)
            resolve_after(self._last_append, ticket.settled, snapshot)
        self.log.info("order.replayed", user_id=self.user_id, order_id=order.id, client_order_id=order.client_order_id)
        return ticket

    def _cancel(self, message: Cancel) -> Ticket:
        if time.monotonic() > message.deadline:
            raise EngineTimeout("the request waited too long to be processed and was not executed")
        order = self._order(message.order_id)
        self._throttle()
        if not order.is_open:
            raise OrderNotCancelable(f"order {order.id} is {order.status} and cannot be canceled",
                                     details={"status": order.status})
        if not order.on_exchange:
            return self._cancel_held(order)
        pending = self._canceling.get(order.id)
        if pending is not None:
            ticket, sent = pending
            if time.monotonic() - sent < self.system.config.ask_timeout_seconds:
                return ticket
            # No answer for that long (a gateway restart loses its work): ask again.
            if not ticket.settled.done():
                ticket.settled.set_exception(EngineTimeout("the exchange has not answered the cancel; it was sent again"))
        self.system.tell_gateway(self.user_id, CancelAtExchange(ExchangeOrder.from_order(order)))
        ticket = Ticket(order.id)
        ticket.accepted.set_result(order.snapshot())
        self._canceling[order.id] = (ticket, time.monotonic())
        self.log.info("order.cancel_requested", user_id=self.user_id, order_id=order.id)
        return ticket

    # -- exchange answers --------------------------------------------------------------

    def _on_execution(self, report: ExecutionReport) -> None:
        order = self.state.orders.get(report.order_id)
        if order is None:
            self.log.warning("execution.unknown_order", user_id=self.user_id, order_id=report.order_id, status=report.status)
            return
        events = self._events_for(order, report)
        durable = self._record(events) if events else self._last_append
        for event in events:
            self._log_event(order, event)
        if events and not order.is_open:
            self._protect(order)
        snapshot = order.snapshot()
        # A MARKET, IOC or FOK order is done at once on any exchange: answer its caller
        # with the outcome, not with the acknowledgement or a first partial fill that
        # the user stream brings ahead of the order's final state.
        still_executing = order.exchange_type in IMMEDIATE_TYPES and order.is_open
        placing = None if still_executing else self._placing.pop(order.id, None)
        if placing is not None:
            resolve_after(durable, placing.settled, snapshot)
        if not order.is_open:
            canceling = self._canceling.pop(order.id, None)
            if canceling is not None:
                error: EngineError | None = None if order.status == "CANCELED" else OrderNotCancelable(
                    f"order {order.id} is {order.status} and cannot be canceled", details={"status": order.status}
                )
                resolve_after(durable, canceling[0].settled, snapshot, error)
        elif report.cancel_failed:
            canceling = self._canceling.pop(order.id, None)
            if canceling is not None:
                error = ExchangeUnavailable(
                    f"{report.reason or 'the exchange did not cancel the order'}; it is still {order.status}: retry the cancel",
                    details={"status": order.status},
                )
                resolve_after(durable, canceling[0].settled, snapshot, error)

    def _events_for(self, order: Order, report: ExecutionReport) -> list[AnyEvent]:
        """The events ``report`` causes, decided on a scratch copy of the order so
        the real state changes only in ``_record``."""
        info = self.system.catalog.get(order.symbol)
        scratch = PortfolioState(self.user_id)
        copy = scratch.orders[order.id] = order.snapshot()
        events: list[AnyEvent] = []
        last = len(report.fills) - 1
        for i, fill in enumerate(report.fills):
            if copy.is_open:
                final = i == last and report.status in ("FILLED", "PARTIALLY_FILLED")
                status = report.status if final else "PARTIALLY_FILLED"
            else:
                status = report.status  # a fill after the order closed: applied all the same
            event: AnyEvent | None = decide_fill(copy, info, fill, status)
            if event is not None:
                evolve(scratch, event)
                events.append(event)
        if copy.is_open and report.status == "FILLED":
            # The last fill came earlier as a partial one; now the exchange says done.
            event = decide_complete(copy, report.time)
            evolve(scratch, event)
            events.append(event)
        if copy.is_open and report.status in ("CANCELED", "REJECTED"):
            asked = self._cancel_reasons.pop(order.id, None) if report.status == "CANCELED" else None
            reason = asked or report.reason or report.status.lower()
            event = decide_close(copy, report.status, reason, report.time)
            evolve(scratch, event)
            events.append(event)
        return events

    def _log_event(self, order: Order, event: AnyEvent) -> None:
        name = {
            "OrderFilled": "order.filled",
            "OrderCanceled": "order.canceled",
            "OrderRejected": "order.rejected",
            "OrderCompleted": "order.completed",
        }
        fields: dict[str, Any] = {"user_id": self.user_id, "order_id": order.id, "status": order.status}
        fill = getattr(event, "fill", None)
        if fill is not None:
            fields.update(price=fmt(fill.price), quantity=fmt(fill.quantity), fee=fmt(fill.fee), fee_asset=fill.fee_asset)
        reason = getattr(event, "reason", None)
        if reason is not None:
            fields["reason"] = reason
        self.log.info(name.get(type(event).__name__, "order.event"), **fields)

    # -- reconciliation --------------------------------------------------------------------
    #
    # The portfolio hands its open orders to the gateway (Track) and hears back by
    # messages: Execution for what changed, OrphanFound for an order of this user the
    # journal lacks, Reconciled when the sweep is over; then, with nothing open, it has
    # the balances read (FetchBalances -> BalancesFetched). It never waits on the
    # exchange; a caller that wants the outcome waits on the future it is given.

    def _reconcile_now(self, *, quiet: bool) -> Future[int]:
        future: Future[int] = Future()
        try:
            self.system.account_of(self.user_id)
        except NoExchangeAccount:
            future.set_result(0)  # nothing to reconcile with
            return future
        self._forget_stale_reconciliations()
        token = next(self._tokens)
        # Never an untriggered conditional order: the exchange must not hold it yet.
        orders = tuple(ExchangeOrder.from_order(o) for o in self.state.exchange_orders())
        try:
            self.system.tell_gateway(self.user_id, Track(self.user_id, orders, token, sweep=not quiet))
            # A cancel still waiting for its answer goes again: a gateway that restarted
            # lost it (a second one of an order being canceled is harmless).
            for order_id in list(self._canceling):
                order = self.state.orders.get(order_id)
                if order is not None and order.is_open:
                    self.system.tell_gateway(self.user_id, CancelAtExchange(ExchangeOrder.from_order(order)))
        except EngineError as exc:
            if not quiet:
                raise
            self.log.warning("portfolio.reconcile_failed", user_id=self.user_id, error=exc.message)
            future.set_result(0)
            return future
        self._reconciling[token] = _Reconciling(future, quiet)
        return future

    def _forget_stale_reconciliations(self) -> None:
        now = time.monotonic()
        for token, rec in list(self._reconciling.items()):
            if now - rec.since > RECONCILE_FORGET_SECONDS:
                del self._reconciling[token]
                if rec.future is not None and not rec.future.done():
                    rec.future.set_exception(EngineTimeout("the exchange gateway never finished the reconciliation"))

    def _on_reconciled(self, message: Reconciled) -> None:
        token = message.token
        rec = self._reconciling.get(token) if token is not None else None
        if rec is None:
            if not (message.updated or message.resent) and token is not None:
                return  # one this actor let go of
            # The gateway's own sweep (a reconnect, its interval): what it changed is
            # recorded, and the balances are compared if nothing is open.
            token = next(self._tokens)
            rec = self._reconciling[token] = _Reconciling(None, True)
        assert token is not None  # the record was found by it, or was just made with it
        rec.updated.extend(message.updated)
        rec.resent.extend(message.resent)
        rec.swept = True
        # An earlier reconciliation still waiting for its sweep lost its Track (to a
        # gateway that was stopping): this later sweep looked at everything it asked for.
        # Not an answer given with no sweep: that one looked at nothing.
        for earlier, other in list(self._reconciling.items()):
            if message.token is not None and message.swept and earlier < token and not other.swept:
                del self._reconciling[earlier]
                if other.future is not None:
                    rec.covered.append(other.future)
        if message.error is not None:
            self.log.warning("portfolio.reconcile_failed", user_id=self.user_id, error=message.error)
            waiting = [f for f in [rec.future, *rec.covered] if f is not None and not f.done()]
            if not rec.quiet or rec.covered:
                self._reconciling.pop(token, None)
                for future in waiting:
                    future.set_exception(ExchangeUnavailable(message.error))
                return
        if self._nothing_open():
            try:
                rec.moves = self._moves
                self.system.tell_gateway(self.user_id, FetchBalances(self.user_id, token))
                return
            except EngineError as exc:
                self.log.warning("portfolio.balances_unread", user_id=self.user_id, error=exc.message)
        self._finish_reconciliation(token, {})

    def _on_balances(self, message: BalancesFetched) -> None:
        rec = self._reconciling.get(message.token)
        if rec is None:
            return
        if message.totals is None:
            self.log.warning("portfolio.balances_unread", user_id=self.user_id, error=message.error)
            if not rec.quiet and rec.future is not None and not rec.future.done():
                self._reconciling.pop(message.token, None)
                rec.future.set_exception(ExchangeUnavailable(message.error or "the exchange could not answer"))
                return
        # With orders open, a fill can land between reading the exchange and applying
        # its push; compare only when nothing can move the balances. A read asked for
        # before an order this portfolio has journaled since (placed and filled while
        # the read was out) may predate that order's trades: read again, not adjust.
        adjusted: dict[str, str] = {}
        if message.totals is not None and self._nothing_open():
            if rec.moves != self._moves:
                if rec.rereads < BALANCE_REREADS:
                    rec.rereads += 1
                    rec.moves = self._moves
                    try:
                        self.system.tell_gateway(self.user_id, FetchBalances(self.user_id, message.token))
                        return
                    except EngineError as exc:
                        self.log.warning("portfolio.balances_unread", user_id=self.user_id, error=exc.message)
                self.log.info("portfolio.balances_not_compared", user_id=self.user_id, reason="they moved while read")
            else:
                adjusted = self._adjust_balances(message.totals)
        self._finish_reconciliation(message.token, adjusted)

    def _finish_reconciliation(self, token: int, adjusted: dict[str, str]) -> None:
        rec = self._reconciling.pop(token, None)
        if rec is None:
            return
        if rec.updated or rec.resent or rec.adopted or adjusted:
            record = Reconciliation(
                user_id=self.user_id,
                time=self.system.clock.now_ms(),
                orders_updated=rec.updated,
                orders_resent=rec.resent,
                balances_adjusted=adjusted,
                orders_adopted=rec.adopted,
            )
            self.system.reconciliations.record(record)
            self.log.warning("portfolio.reconciled", **msgspec.structs.asdict(record))
        count = len(rec.updated) + len(rec.resent) + len(rec.adopted) + len(adjusted)
        for future in [rec.future, *rec.covered]:
            if future is not None:
                resolve_after(self._last_append, future, count)

    def _nothing_open(self) -> bool:
        return not (self.state.exchange_orders() or self._placing or self._canceling)

    def _adjust_balances(self, totals: dict[str, Any]) -> dict[str, str]:
        """asset -> the difference journaled (the exchange's total minus ours)."""
        event = decide_adjust(self.state, totals, self.system.clock.now_ms(), reason="reconciliation with the exchange")
        if event is None:
            return {}
        self._record([event])
        return {c.asset: fmt(c.free) for c in event.changes}

    def _on_orphan(self, found: VenueOrder) -> None:
        """An order with this user's engine prefix that the exchange holds and the
        gateway does not follow. Known here: if the exchange executed more than the
        journal holds, or still has it open while it is closed here, the gateway
        follows it again (its fills are applied to the closed order; one the user was
        told is closed is canceled). Unknown: a crash lost its record between its
        send and its commit; it is journaled now, its fills follow from the gateway,
        and under ORPHAN_POLICY=cancel it is canceled if it still stands."""
        now = self.system.clock.now_ms()
        known_id = self.state.by_client_id.get(found.client_order_id)
        if known_id is not None:
            order = self.state.orders.get(known_id)
            if order is None:
                return  # closed long ago (retired from memory): not read back for this
            reopened = found.status in ("NEW", "PARTIALLY_FILLED") and not order.is_open
            if found.executed_quantity > order.executed_quantity or reopened:
                self.log.warning("order.exchange_differs", user_id=self.user_id, order_id=order.id,
                                 status=order.status, exchange_status=found.status,
                                 executed=fmt(order.executed_quantity), exchange_executed=fmt(found.executed_quantity))
                exchange_order = ExchangeOrder.from_order(order)
                self.system.tell_gateway(self.user_id, Adopt(exchange_order, found.exchange_id, tuple(order.fills)))
                if reopened:
                    self.system.tell_gateway(self.user_id, CancelAtExchange(exchange_order))
            return
        if found.symbol not in self.system.catalog:
            self.log.error("order.orphan_unknown_symbol", user_id=self.user_id, client_order_id=found.client_order_id,
                           symbol=found.symbol)
            return
        info = self.system.catalog.get(found.symbol)
        event = decide_adopt(self.state, found, info, order_id=new_order_id(now), now=now)
        self._record([event])
        order = self.state.orders[event.order.id]
        self.log.warning("order.adopted", user_id=self.user_id, order_id=order.id, client_order_id=found.client_order_id,
                         status=found.status)
        exchange_order = ExchangeOrder.from_order(order)
        self.system.tell_gateway(self.user_id, Adopt(exchange_order, found.exchange_id, ()))
        if self.system.config.orphan_policy == "cancel" and found.status in ("NEW", "PARTIALLY_FILLED"):
            self.system.tell_gateway(self.user_id, CancelAtExchange(exchange_order))
        record = Reconciliation(user_id=self.user_id, time=now, orders_updated=[], orders_resent=[],
                                balances_adjusted={}, orders_adopted=[order.id],
                                notes=[f"adopted {found.client_order_id}: on the exchange, not in the journal"])
        self.system.reconciliations.record(record)

    def _adopted_as(self, cmd: Any) -> str | None:
        """A retry whose exchange id names an order already here (adopted after a crash
        lost the original's record): that order's id, so no second one is made."""
        if cmd.idempotency_key is None and cmd.client_order_id is None:
            return None
        name = exchange_client_id(self.user_id, "", idempotency_key=cmd.idempotency_key, client_order_id=cmd.client_order_id)
        return self.state.by_client_id.get(name)

    def _submit(self, order: Order) -> None:
        try:
            self.system.tell_gateway(self.user_id, Submit(ExchangeOrder.from_order(order)))
        except EngineError as exc:
            # Accepted and journaled; the next reconciliation hands it to the gateway,
            # which sends it once the exchange is known not to have it.
            self.log.warning("order.submit_deferred", user_id=self.user_id, order_id=order.id, error=exc.message)

    # -- queries -----------------------------------------------------------------------

    def _order(self, order_id: str) -> Order:
        """An order in memory: every open one is."""
        order = self.state.orders.get(order_id)
        if order is None:
            older = self.system.ask_persistence(FindOrder(self.user_id, order_id=order_id))
            if older is not None:
                return older  # closed long ago
            raise OrderNotFound(f"no order {order_id!r}", details={"orderId": order_id})
        return order

    def _by_client_id(self, message: ListOrders) -> list[Order]:
        order_id = self.state.by_client_id.get(message.client_order_id)  # type: ignore[arg-type]
        if order_id is None:
            return []  # the index holds every client order id of the user
        order = self._order(order_id)
        if (message.symbol and order.symbol != message.symbol) or (message.open_only and not order.is_open):
            return []
        return [order.snapshot()]

    def _any_order(self, order_id: str) -> Order:
        return self._order(order_id).snapshot()

    def _wallet(self) -> list[tuple[str, Any, Any]]:
        return [
            (asset, b.free, b.locked)
            for asset, b in sorted(self.state.balances.items())
            if b.free or b.locked or asset == "USDT"
        ]

    # -- journal & lifecycle ---------------------------------------------------------------

    def _record(self, events: list[AnyEvent]) -> Future[int]:
        """Apply events and send them to the journal, with a snapshot of the state
        after them every SNAPSHOT_EVERY_EVENTS. If the journal cannot take them
        (its actor is down), the state is ahead of it: restart from the journal."""
        for event in events:
            evolve(self.state, event)
        self._moves += len(events)
        self._since_snapshot += len(events)
        snapshot = None
        if self._since_snapshot >= self.system.config.snapshot_every_events:
            snapshot = (SNAPSHOT_VERSION, snapshot_of(self.state))
            self._since_snapshot = 0
        try:
            durable = self.system.append(self.stream, events, snapshot)
        except ActorUnavailable as exc:
            self.broken = exc
            raise
        self._last_append = durable
        self._unconfirmed.append(durable)
        return durable

    def _refused_append(self) -> Exception | None:
        """The error of an applied append the journal refused, if any."""
        pending = []
        for future in self._unconfirmed:
            if not future.done():
                pending.append(future)
            elif future.exception() is not None:
                return future.exception()  # type: ignore[return-value]
        self._unconfirmed = pending
        return None

    def can_passivate(self, idle_seconds: float, now: float) -> bool:
        """Idle that long, and nothing under way that only this activation could
        finish: no caller waiting on a placement, a cancel or a reconciliation, no
        append not yet durable. Open orders do not keep it: the gateway follows them,
        and their fills activate the portfolio again."""
        self._forget_stale_reconciliations()
        # A quiet reconciliation (a start's, a reconnect's) is let go with the activation:
        # the next one hands the open orders to the gateway again.
        waited_on = any(not rec.quiet for rec in self._reconciling.values())
        if now - self.last_active < idle_seconds or waited_on or self._placing or self._canceling:
            return False
        return self._last_append is None or self._last_append.done()


class PortfolioHost(EntityHost):
    """Hosts the portfolios of the users that hash to it, at most its share of
    PORTFOLIO_MAX_LIVE at a time."""

    kind = "portfolios"

    def __init__(self, system: PortfolioPeers, index: int) -> None:
        config = system.config
        super().__init__(system, str(index), entity_kind="portfolio",
                         factory=lambda user_id: Portfolio(system, user_id),
                         max_live=-(-config.portfolio_max_live // config.portfolio_hosts))
