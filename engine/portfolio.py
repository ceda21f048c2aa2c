"""A user's portfolio as pure functions: decide events from commands, evolve state.

``decide_*`` functions check a command against the state and return the events
it causes, raising an EngineError (and changing nothing) when it is refused.
``evolve`` applies one event to the state. Live trading and recovery from the
journal both go through ``evolve``, so a replayed portfolio equals the live one.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from decimal import Decimal, localcontext

import msgspec

from engine.alerts import FIRINGS_KEPT, Alert, AlertFiring
from engine.errors import AboveMaximum, BelowMinimum, InsufficientBalance, InvalidTrigger, MarketDataUnavailable
from engine.events import (
    AccountOpened,
    AlertDeleted,
    AlertFired,
    AlertSaved,
    AnyEvent,
    BalanceAdjusted,
    OrderAccepted,
    OrderCanceled,
    OrderCompleted,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    RuleDeleted,
    RuleExecuted,
    RuleSaved,
    UserHalted,
    UserLimitsSet,
    UserResumed,
)
from engine.exchanges.base import VenueOrder
from engine.model import (
    CONDITIONAL_TYPES,
    PRICED_TYPES,
    Balance,
    BalanceChange,
    BookTicker,
    Direction,
    Fill,
    Order,
    OrderStatus,
    SymbolInfo,
)
from engine.money import LEDGER, ZERO, divide, fmt, round_up, truncate
from engine.orders import PlaceOrder
from engine.positions import Position, apply_fill
from engine.risk import Limits
from engine.rules import EXECUTIONS_KEPT, Execution, Rule

# A market order by quantity (BUY) or by quote amount (SELL) does not know its
# final cost; it reserves this much more than the current price implies. A buy by
# quantity goes to the exchange capped at its reservation (an immediate-or-cancel
# limit, engine.exchanges.base.ExchangeOrder.max_quote); a sell by quote amount is
# bounded by the exchange's own balance check only.
MARKET_RESERVE_BUFFER = Decimal("0.005")


# Closed orders kept in memory, newest; older ones are read from the journal's
# projection when asked for. Keeps a long-lived user's memory and snapshots bounded.
# Their ids stay (see PortfolioState.by_client_id): two short strings per order.
MAX_CLOSED_IN_MEMORY = 1000
SNAPSHOT_VERSION = 2  # 2: positions


class PortfolioState:
    def __init__(self, user_id: str, max_closed: int = MAX_CLOSED_IN_MEMORY) -> None:
        self.user_id = user_id
        self.opened = False
        self.balances: dict[str, Balance] = {}
        self.orders: dict[str, Order] = {}  # every open order, and the newest closed ones
        # Every order's client order id and Idempotency-Key -> its id, also of orders
        # retired from ``orders``: a key not in here is new, known without reading the
        # journal (a read waits for a commit, an fsync, before the order could leave).
        # Snapshots hold only the orders in memory; a portfolio restored from one
        # adds the rest from the journal's projection (index_keys).
        self.by_client_id: dict[str, str] = {}
        self.by_idempotency_key: dict[str, str] = {}
        self.closed: deque[str] = deque()  # closed orders in memory, oldest first
        self.max_closed = max_closed
        self.positions: dict[str, Position] = {}  # symbol -> position, folded from fills
        self.bracketed: set[str] = set()  # BUYs whose protective pair has been placed
        self.alerts: dict[str, Alert] = {}
        self.firings: dict[str, deque[AlertFiring]] = {}  # alert id -> its newest firings, oldest first
        self.rules: dict[str, Rule] = {}
        self.executions: dict[str, deque[Execution]] = {}  # rule id -> its newest executions, oldest first
        self.limits = Limits()  # the user's own risk limits
        self.halt_reason: str | None = None  # halted by an admin
        self.daily_halt_day: int | None = None  # the UTC day the daily loss limit halted
        self.lifted_day: int | None = None  # the UTC day an admin lifted the daily halt for

    def halt(self, today: int) -> str | None:
        """Why the user's new orders are refused now, if they are."""
        if self.halt_reason is not None:
            return self.halt_reason
        if self.daily_halt_day == today and self.lifted_day != today:
            return "the daily loss limit was reached; until 00:00 UTC or until an admin lifts it"
        return None

    def exchange_orders(self) -> list[Order]:
        """Open orders the exchange holds or is to hold: not an untriggered conditional one."""
        return [o for o in self.orders.values() if o.is_open and o.on_exchange]

    def held_orders(self) -> list[Order]:
        """Open conditional orders waiting for their trigger (held here, off the exchange)."""
        return [o for o in self.orders.values() if o.is_open and not o.on_exchange]

    def balance(self, asset: str) -> Balance:
        return self.balances.get(asset) or Balance()

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.is_open]

    def existing_order_id(self, cmd: PlaceOrder) -> str | None:
        """The id of the order an idempotent retry of ``cmd`` refers to, if any
        (that order may be retired from memory)."""
        order_id = None
        if cmd.idempotency_key is not None:
            order_id = self.by_idempotency_key.get(cmd.idempotency_key)
        if order_id is None and cmd.client_order_id is not None:
            order_id = self.by_client_id.get(cmd.client_order_id)
        return order_id

    def index_keys(self, rows: Iterable[tuple[str, str, str | None, str | None]]) -> None:
        """Add (order id, client order id, idempotency key, exchange client id) rows to
        the key index."""
        for order_id, client_order_id, idempotency_key, exchange_client_id in rows:
            self.by_client_id[client_order_id] = order_id
            if exchange_client_id is not None:
                self.by_client_id[exchange_client_id] = order_id
            if idempotency_key is not None:
                self.by_idempotency_key[idempotency_key] = order_id


# -- evolve ----------------------------------------------------------------------------


def evolve(state: PortfolioState, event: AnyEvent) -> None:
    """Apply one event. Never raises for an event that decide_* produced."""
    order_id: str | None = getattr(event, "order_id", None)
    was_open = order_id is not None and order_id in state.orders and state.orders[order_id].is_open
    with localcontext(LEDGER):
        _evolve(state, event)
    if was_open and order_id is not None and not state.orders[order_id].is_open:
        _retire(state, order_id)


def _retire(state: PortfolioState, order_id: str) -> None:
    # The order leaves memory; its keys stay in the index.
    state.closed.append(order_id)
    while len(state.closed) > state.max_closed:
        state.orders.pop(state.closed.popleft(), None)


# -- snapshots ---------------------------------------------------------------------------


class PortfolioSnapshot(msgspec.Struct):
    user_id: str
    opened: bool
    balances: dict[str, Balance]
    orders: list[Order]
    closed: list[str]
    positions: list[Position] = []
    bracketed: list[str] = []
    limits: Limits = Limits()
    rules: list[Rule] = []
    executions: dict[str, list[Execution]] = {}
    alerts: list[Alert] = []
    firings: dict[str, list[AlertFiring]] = {}
    halt_reason: str | None = None
    daily_halt_day: int | None = None
    lifted_day: int | None = None


def snapshot_of(state: PortfolioState) -> bytes:
    snapshot = PortfolioSnapshot(
        user_id=state.user_id,
        opened=state.opened,
        balances=state.balances,
        orders=list(state.orders.values()),
        closed=list(state.closed),
        positions=list(state.positions.values()),
        bracketed=sorted(state.bracketed),
        limits=state.limits,
        rules=list(state.rules.values()),
        alerts=list(state.alerts.values()),
        firings={alert_id: list(kept) for alert_id, kept in state.firings.items()},
        executions={rule_id: list(kept) for rule_id, kept in state.executions.items()},
        halt_reason=state.halt_reason,
        daily_halt_day=state.daily_halt_day,
        lifted_day=state.lifted_day,
    )
    return msgspec.json.encode(snapshot)


def state_from(payload: bytes, version: int, max_closed: int = MAX_CLOSED_IN_MEMORY) -> PortfolioState | None:
    """The state a snapshot holds, or None if it is of another version (then the
    caller replays the whole stream instead). Its key index covers the orders in
    the snapshot only: the caller adds the retired ones' (index_keys)."""
    if version != SNAPSHOT_VERSION:
        return None
    snapshot = msgspec.json.decode(payload, type=PortfolioSnapshot)
    state = PortfolioState(snapshot.user_id, max_closed)
    state.opened = snapshot.opened
    state.balances = snapshot.balances
    for order in snapshot.orders:
        state.orders[order.id] = order
        state.by_client_id[order.client_order_id] = order.id
        if order.exchange_client_id is not None:
            state.by_client_id[order.exchange_client_id] = order.id
        if order.idempotency_key is not None:
            state.by_idempotency_key[order.idempotency_key] = order.id
    state.closed = deque(snapshot.closed)
    state.positions = {p.symbol: p for p in snapshot.positions}
    state.bracketed = set(snapshot.bracketed)
    state.limits = snapshot.limits
    state.rules = {rule.id: rule for rule in snapshot.rules}
    state.alerts = {alert.id: alert for alert in snapshot.alerts}
    state.firings = {alert_id: deque(kept, maxlen=FIRINGS_KEPT) for alert_id, kept in snapshot.firings.items()}
    state.executions = {rule_id: deque(kept, maxlen=EXECUTIONS_KEPT) for rule_id, kept in snapshot.executions.items()}
    state.halt_reason, state.daily_halt_day, state.lifted_day = (
        snapshot.halt_reason, snapshot.daily_halt_day, snapshot.lifted_day)
    return state


def _evolve(state: PortfolioState, event: AnyEvent) -> None:
    if isinstance(event, AccountOpened):
        state.opened = True
    elif isinstance(event, AlertSaved):
        state.alerts[event.alert.id] = event.alert.copy()
    elif isinstance(event, AlertDeleted):
        state.alerts.pop(event.alert_id, None)
        state.firings.pop(event.alert_id, None)
    elif isinstance(event, AlertFired):
        state.alerts[event.alert.id] = event.alert.copy()
        state.firings.setdefault(event.alert.id, deque(maxlen=FIRINGS_KEPT)).append(event.firing)
    elif isinstance(event, RuleSaved):
        state.rules[event.rule.id] = event.rule.copy()
    elif isinstance(event, RuleDeleted):
        state.rules.pop(event.rule_id, None)
        state.executions.pop(event.rule_id, None)
    elif isinstance(event, RuleExecuted):
        state.rules[event.rule.id] = event.rule.copy()
        state.executions.setdefault(event.rule.id, deque(maxlen=EXECUTIONS_KEPT)).append(event.execution)
    elif isinstance(event, UserLimitsSet):
        state.limits = event.limits
    elif isinstance(event, UserHalted):
        if event.day is None:
            state.halt_reason = event.reason
        else:
            state.daily_halt_day = event.day
    elif isinstance(event, UserResumed):
        state.halt_reason = None
        state.lifted_day = event.day
    elif isinstance(event, OrderAccepted):
        order = event.order.snapshot()
        state.orders[order.id] = order
        state.by_client_id[order.client_order_id] = order.id
        if order.exchange_client_id is not None:
            state.by_client_id[order.exchange_client_id] = order.id  # the exchange's name for it too
        if order.idempotency_key is not None:
            state.by_idempotency_key[order.idempotency_key] = order.id
        if order.parent_id is not None:
            state.bracketed.add(order.parent_id)
        _track_reservation(order, event.changes)
    elif isinstance(event, OrderTriggered):
        order = state.orders[event.order_id]
        order.triggered = True
        order.triggered_at = event.time
        order.updated_at = event.time
        if event.anchor is not None:
            order.trailing_anchor = event.anchor
        _track_reservation(order, event.changes)
    elif isinstance(event, OrderFilled):
        order = state.orders[event.order_id]
        fill = event.fill
        order.fills.append(fill)
        order.executed_quantity += fill.quantity
        order.executed_quote += fill.quote
        order.fee += fill.fee
        order.fee_asset = fill.fee_asset
        order.status = event.status
        order.updated_at = event.time
        _track_reservation(order, event.changes)
        apply_fill(state.positions, order, fill)
    elif isinstance(event, (OrderCanceled, OrderRejected)):
        order = state.orders[event.order_id]
        order.status = "CANCELED" if isinstance(event, OrderCanceled) else "REJECTED"
        order.reason = event.reason
        order.updated_at = event.time
        _track_reservation(order, event.changes)
    elif isinstance(event, OrderCompleted):
        order = state.orders[event.order_id]
        order.status = "FILLED"
        order.updated_at = event.time
        _track_reservation(order, event.changes)
    _apply_changes(state, event.changes)


def _apply_changes(state: PortfolioState, changes: tuple[BalanceChange, ...]) -> None:
    for change in changes:
        balance = state.balances.get(change.asset)
        if balance is None:
            balance = state.balances[change.asset] = Balance()
        balance.free += change.free
        balance.locked += change.locked


def _track_reservation(order: Order, changes: tuple[BalanceChange, ...]) -> None:
    # The locked delta of the reserved asset is, by construction, this order's.
    order.reserved += sum((c.locked for c in changes if c.asset == order.reserved_asset), ZERO)


# -- decide ------------------------------------------------------------------------------


def decide_open(state: PortfolioState, deposits: dict[str, Decimal], now: int, reason: str) -> AccountOpened:
    changes = tuple(BalanceChange(asset, free=amount) for asset, amount in sorted(deposits.items()) if amount)
    return AccountOpened(time=now, user_id=state.user_id, reason=reason, changes=changes)


def estimate_notional(cmd: PlaceOrder, book: BookTicker | None) -> Decimal:
    """Quote-asset value of the order at the current price (or its limit price)."""
    if cmd.quote_quantity is not None:
        return cmd.quote_quantity
    assert cmd.quantity is not None
    if cmd.price is not None:
        return cmd.quantity * cmd.price
    if cmd.trigger_price is not None:  # a conditional order that sells at market, at its level
        return cmd.quantity * cmd.trigger_price
    if book is None:
        raise MarketDataUnavailable(f"no market data for {cmd.symbol} yet; a MARKET order needs a price")
    return cmd.quantity * (book.ask if cmd.side == "BUY" else book.bid)


def decide_place(
    state: PortfolioState,
    cmd: PlaceOrder,
    info: SymbolInfo,
    book: BookTicker | None,
    *,
    order_id: str,
    client_order_id: str,
    now: int,
    exchange_client_id: str | None = None,
) -> OrderAccepted:
    """Accept ``cmd`` (already validated against the symbol) and reserve funds.
    ``exchange_client_id``: the id the exchange sees, when not ``client_order_id``."""
    if cmd.type == "MARKET" and book is None:
        raise MarketDataUnavailable(f"no market data for {cmd.symbol} yet; a MARKET order needs a price")
    conditional = _conditional(cmd, info, book)
    _check_protection(cmd, book)
    notional = estimate_notional(cmd, book)
    minimum, maximum = info.notional_limits(cmd.type)
    if notional < minimum:
        raise BelowMinimum(
            f"order value {fmt(notional)} {info.quote} is below the minimum {fmt(minimum)} {info.quote}"
        )
    if maximum is not None and notional > maximum:
        raise AboveMaximum(
            f"order value {fmt(notional)} {info.quote} is above the exchange's maximum of {fmt(maximum)} {info.quote}"
            f" for a {cmd.type} order",
            details={"maximum": fmt(maximum), "notional": fmt(notional)},
        )
    reserved_asset, reserved = _reservation(state, cmd, info, book)
    free = state.balance(reserved_asset).free
    if reserved > free:
        raise InsufficientBalance(
            f"order needs {fmt(reserved)} {reserved_asset}, {fmt(free)} {reserved_asset} is free",
            details={"asset": reserved_asset, "required": fmt(reserved), "free": fmt(free)},
        )
    order = Order(
        id=order_id,
        user_id=state.user_id,
        client_order_id=client_order_id,
        symbol=cmd.symbol,
        side=cmd.side,
        type=cmd.type,
        status="NEW",
        quantity=cmd.quantity,
        quote_quantity=cmd.quote_quantity,
        price=cmd.price,
        reserved_asset=reserved_asset,
        reserved=ZERO,  # becomes ``reserved`` through the event's changes
        created_at=now,
        updated_at=now,
        idempotency_key=cmd.idempotency_key,
        exchange_client_id=None if exchange_client_id == client_order_id else exchange_client_id,
        stop_loss_price=cmd.stop_loss_price,
        take_profit_price=cmd.take_profit_price,
    )
    if conditional is not None:
        order.direction, order.trigger_price, order.trailing_anchor = conditional
        order.trailing_percent = cmd.trailing_percent
    change = BalanceChange(reserved_asset, free=-reserved, locked=reserved)
    return OrderAccepted(time=now, order=order, changes=(change,))


def _conditional(cmd: PlaceOrder, info: SymbolInfo, book: BookTicker | None
                 ) -> tuple[Direction, Decimal, Decimal | None] | None:
    """(direction, level, trailing anchor) of a conditional order, judged against the
    last price: one whose trigger is already reached is refused, not fired at once."""
    if cmd.type not in CONDITIONAL_TYPES:
        return None
    if book is None or book.last <= 0:
        raise MarketDataUnavailable(f"no market data for {cmd.symbol} yet; a {cmd.type} order needs the last price")
    last = book.last
    if cmd.type == "TRAILING_STOP":
        assert cmd.trailing_percent is not None
        with localcontext(LEDGER):
            level = truncate(last * (1 - cmd.trailing_percent / 100), info.quote_precision)
        return "FALL", level, last
    trigger = cmd.trigger_price
    assert trigger is not None
    details = {"field": "triggerPrice", "triggerPrice": fmt(trigger), "lastPrice": fmt(last)}
    if cmd.type == "STOP_LOSS" and trigger >= last:
        raise InvalidTrigger(f"a STOP_LOSS triggers when the price falls to triggerPrice; {fmt(trigger)} is not "
                             f"below the last price {fmt(last)}", details=details)
    if cmd.type == "TAKE_PROFIT" and trigger <= last:
        raise InvalidTrigger(f"a TAKE_PROFIT triggers when the price rises to triggerPrice; {fmt(trigger)} is not "
                             f"above the last price {fmt(last)}", details=details)
    if trigger == last:
        raise InvalidTrigger(f"triggerPrice {fmt(trigger)} is the last price: it would trigger at once", details=details)
    return ("FALL" if trigger < last else "RISE"), trigger, None


def _check_protection(cmd: PlaceOrder, book: BookTicker | None) -> None:
    """A BUY's stop-loss below, and its take-profit above, the price it buys at."""
    if cmd.stop_loss_price is None and cmd.take_profit_price is None:
        return
    reference = cmd.price if cmd.price is not None else (book.ask if book is not None else None)
    if reference is None:
        raise MarketDataUnavailable(f"no market data for {cmd.symbol} yet")
    if cmd.stop_loss_price is not None and cmd.stop_loss_price >= reference:
        raise InvalidTrigger(f"stopLossPrice {fmt(cmd.stop_loss_price)} must be below the buying price {fmt(reference)}",
                             details={"field": "stopLossPrice"})
    if cmd.take_profit_price is not None and cmd.take_profit_price <= reference:
        raise InvalidTrigger(f"takeProfitPrice {fmt(cmd.take_profit_price)} must be above the buying price "
                             f"{fmt(reference)}", details={"field": "takeProfitPrice"})


def decide_trigger(state: PortfolioState, order: Order, price: Decimal, now: int, anchor: Decimal | None = None,
                   ) -> list[AnyEvent]:
    """The events of ``order``'s trigger reached at ``price``: it is triggered, and its
    one-cancels-the-other partner canceled (what the partner reserved for the pair is
    reserved for it). None if it is not waiting for a trigger, or ``price`` does not
    reach its level (the market actor's word is a hint; this is the decision)."""
    if not order.is_open or order.on_exchange or order.trigger_price is None:
        return []
    if order.type == "TRAILING_STOP":
        if anchor is None or order.trailing_percent is None:
            return []
        with localcontext(LEDGER):
            level = anchor * (1 - order.trailing_percent / 100)
        if price > level:
            return []
    elif (order.direction == "FALL" and price > order.trigger_price) or (
            order.direction == "RISE" and price < order.trigger_price):
        return []
    events: list[AnyEvent] = []
    changes: tuple[BalanceChange, ...] = ()
    partner = state.orders.get(order.oco_id) if order.oco_id else None
    if partner is not None and partner.is_open and not partner.on_exchange:
        cancel = decide_close(partner, "CANCELED", f"one-cancels-the-other: {order.id} triggered", now)
        events.append(cancel)
        if partner.reserved and partner.reserved_asset == order.reserved_asset:
            changes = (BalanceChange(order.reserved_asset, free=-partner.reserved, locked=partner.reserved),)
    events.insert(0, OrderTriggered(time=now, order_id=order.id, price=price, anchor=anchor, changes=changes))
    return events


def decide_bracket(state: PortfolioState, parent: Order, info: SymbolInfo, now: int, ids: list[str]) -> list[OrderAccepted]:
    """The protective pair of a BUY that is done, for what it bought (net of a fee in
    the base asset): a STOP_LOSS and/or a TAKE_PROFIT selling it, one-cancels-the-other,
    reserving it once. None if the BUY has none, or bought too little to sell."""
    if parent.side != "BUY" or parent.is_open or parent.id in state.bracketed:
        return []
    if (parent.stop_loss_price is None and parent.take_profit_price is None and parent.trailing_percent is None
            and parent.stop_loss_percent is None and parent.take_profit_percent is None):
        return []
    with localcontext(LEDGER):
        fees = sum((f.fee for f in parent.fills if f.fee_asset == info.base), ZERO)
        bought = truncate(parent.executed_quantity - fees, info.base_precision)
        quantity = min(bought, truncate(state.balance(info.base).free, info.base_precision))
    stop, take = parent.stop_loss_price, parent.take_profit_price
    if parent.executed_quantity > 0 and (parent.stop_loss_percent is not None or parent.take_profit_percent is not None):
        with localcontext(LEDGER):
            average = parent.executed_quote / parent.executed_quantity  # what it paid, not what the book showed
            if parent.stop_loss_percent is not None:
                stop = truncate(average * (1 - parent.stop_loss_percent / 100), info.quote_precision)
            if parent.take_profit_percent is not None:
                take = round_up(average * (1 + parent.take_profit_percent / 100), info.quote_precision)
    legs = [(kind, price) for kind, price in (("STOP_LOSS", stop), ("TAKE_PROFIT", take)) if price is not None]
    anchor = parent.fills[-1].price if parent.fills else None
    if parent.trailing_percent is not None and anchor is not None:
        # A trailing stop in place of the stop-loss (a rule's trailingPercent), trailing
        # from the price it last bought at.
        with localcontext(LEDGER):
            level = truncate(anchor * (1 - parent.trailing_percent / 100), info.quote_precision)
        legs = [("TRAILING_STOP", level)] + [leg for leg in legs if leg[0] != "STOP_LOSS"]
    if quantity <= 0 or quantity < info.min_quantity or any(quantity * p < info.min_notional for _, p in legs):
        return []
    events = []
    for i, (kind, price) in enumerate(legs):
        reserve = quantity if i == 0 else ZERO
        order = Order(
            id=ids[i], user_id=state.user_id, client_order_id=ids[i], symbol=parent.symbol, side="SELL",
            type=kind,  # type: ignore[arg-type]
            status="NEW", quantity=quantity, quote_quantity=None, price=None, reserved_asset=info.base,
            reserved=ZERO, created_at=now, updated_at=now, trigger_price=price,
            direction="RISE" if kind == "TAKE_PROFIT" else "FALL", parent_id=parent.id,
            oco_id=ids[1 - i] if len(legs) == 2 else None,
        )
        if kind == "TRAILING_STOP":
            order.trailing_percent, order.trailing_anchor = parent.trailing_percent, anchor
        changes = (BalanceChange(info.base, free=-reserve, locked=reserve),) if reserve else ()
        events.append(OrderAccepted(time=now, order=order, changes=changes))
    return events


def _reservation(
    state: PortfolioState, cmd: PlaceOrder, info: SymbolInfo, book: BookTicker | None
) -> tuple[str, Decimal]:
    if cmd.side == "BUY":
        if cmd.price is not None:
            assert cmd.quantity is not None
            return info.quote, cmd.quantity * cmd.price
        if cmd.quote_quantity is not None:
            return info.quote, cmd.quote_quantity
        assert cmd.quantity is not None and book is not None
        return info.quote, round_up(cmd.quantity * book.ask * (1 + MARKET_RESERVE_BUFFER), info.quote_precision)
    if cmd.quantity is not None:
        return info.base, cmd.quantity
    assert cmd.quote_quantity is not None and book is not None
    if book.bid <= 0:
        raise MarketDataUnavailable(f"no bid for {cmd.symbol}; cannot sell by quote amount")
    needed = divide(cmd.quote_quantity, book.bid)
    free = state.balance(info.base).free
    if needed > free:
        # Report the shortfall in the asset the user holds.
        raise InsufficientBalance(
            f"order needs about {fmt(round_up(needed, info.base_precision))} {info.base}, {fmt(free)} {info.base} is free",
            details={"asset": info.base, "required": fmt(round_up(needed, info.base_precision)), "free": fmt(free)},
        )
    return info.base, min(free, round_up(needed * (1 + MARKET_RESERVE_BUFFER), info.base_precision))


def decide_fill(order: Order, info: SymbolInfo, fill: Fill, status: OrderStatus) -> OrderFilled | None:
    """The event for one fill reported by the exchange; None if already applied."""
    with localcontext(LEDGER):
        return _decide_fill(order, info, fill, status)


def _decide_fill(order: Order, info: SymbolInfo, fill: Fill, status: OrderStatus) -> OrderFilled | None:
    if any(f.trade_id == fill.trade_id for f in order.fills):
        return None
    if not order.is_open:
        # A fill that comes after the order closed (myTrades lagged, a push was late)
        # still moved money: it is applied, paid from free since nothing is reserved
        # any more. The order keeps its end unless the exchange names another one.
        status = status if status in ("FILLED", "CANCELED") else order.status
    elif (status == "PARTIALLY_FILLED" and order.quantity is not None
          and order.executed_quantity + fill.quantity >= order.quantity):
        status = "FILLED"  # its whole quantity has traded, though the exchange's word on that may come later
    deltas: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])  # asset -> [free, locked]
    if order.side == "BUY":
        spent_asset, spent, received_asset, received = info.quote, fill.quote, info.base, fill.quantity
    else:
        spent_asset, spent, received_asset, received = info.base, fill.quantity, info.quote, fill.quote
    from_reserve = min(order.reserved, spent) if spent_asset == order.reserved_asset else ZERO
    deltas[spent_asset][1] -= from_reserve
    deltas[spent_asset][0] -= spent - from_reserve
    deltas[received_asset][0] += received
    deltas[fill.fee_asset][0] -= fill.fee
    if status not in ("NEW", "PARTIALLY_FILLED") and order.is_open:
        _release(deltas, order.reserved_asset, order.reserved - from_reserve)
    return OrderFilled(time=fill.time, order_id=order.id, fill=fill, status=status, changes=_changes(deltas))


def decide_adopt(state: PortfolioState, found: VenueOrder, info: SymbolInfo, *, order_id: str, now: int) -> OrderAccepted:
    """Take into the journal an order of this engine that the exchange holds and the
    journal lacks (its record was lost between its send and its commit). It reserves
    what it can still spend, at most what is free; its fills and end follow as the
    exchange reports them."""
    with localcontext(LEDGER):
        spent_fills = sum((f.quote if found.side == "BUY" else f.quantity for f in found.fills), ZERO)
        if found.side == "BUY":
            asset = info.quote
            if found.price is not None and found.quantity is not None:
                needed = found.quantity * found.price
            else:
                needed = found.quote_quantity if found.quote_quantity is not None else spent_fills
        else:
            asset = info.base
            needed = found.quantity if found.quantity is not None else spent_fills
        reserved = max(min(needed, state.balance(asset).free), ZERO)
    order = Order(
        id=order_id,
        user_id=state.user_id,
        client_order_id=found.client_order_id,
        symbol=found.symbol,
        side=found.side,
        type=found.type,
        status="NEW",
        quantity=found.quantity if found.type in PRICED_TYPES or found.quote_quantity is None else None,
        quote_quantity=found.quote_quantity if found.type == "MARKET" else None,
        price=found.price if found.type in PRICED_TYPES else None,
        reserved_asset=asset,
        reserved=ZERO,
        created_at=found.created_at,
        updated_at=now,
    )
    changes = (BalanceChange(asset, free=-reserved, locked=reserved),) if reserved else ()
    return OrderAccepted(time=now, order=order, changes=changes)


def decide_close(order: Order, status: OrderStatus, reason: str, now: int) -> OrderCanceled | OrderRejected:
    """Cancel or reject an open order, releasing whatever it still reserves."""
    with localcontext(LEDGER):
        deltas: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
        _release(deltas, order.reserved_asset, order.reserved)
        changes = _changes(deltas)
    if status == "REJECTED":
        return OrderRejected(time=now, order_id=order.id, reason=reason, changes=changes)
    return OrderCanceled(time=now, order_id=order.id, reason=reason, changes=changes)


def decide_complete(order: Order, now: int) -> OrderCompleted:
    """The exchange says FILLED and no fill is left to apply: release the rest."""
    with localcontext(LEDGER):
        deltas: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
        _release(deltas, order.reserved_asset, order.reserved)
        return OrderCompleted(time=now, order_id=order.id, changes=_changes(deltas))


def decide_adjust(state: PortfolioState, totals: dict[str, Decimal], now: int, reason: str) -> BalanceAdjusted | None:
    """Bring each asset's total (free + locked) to the exchange's, through free.
    None when they already agree."""
    with localcontext(LEDGER):
        deltas: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
        for asset in sorted(set(totals) | set(state.balances)):
            held = state.balance(asset)
            difference = totals.get(asset, ZERO) - (held.free + held.locked)
            if difference:
                deltas[asset][0] += difference
        changes = _changes(deltas)
    if not changes:
        return None
    return BalanceAdjusted(time=now, reason=reason, changes=changes)


def _release(deltas: dict[str, list[Decimal]], asset: str, amount: Decimal) -> None:
    if amount:
        deltas[asset][0] += amount
        deltas[asset][1] -= amount


def _changes(deltas: dict[str, list[Decimal]]) -> tuple[BalanceChange, ...]:
    return tuple(
        BalanceChange(asset, free=free, locked=locked)
        for asset, (free, locked) in sorted(deltas.items())
        if free or locked
    )
