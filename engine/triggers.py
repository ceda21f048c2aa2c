"""Price triggers: the levels of conditional orders (and later rules and alerts), and the
index a symbol's market actor keeps of them.

The index is sorted by price, so an update costs O(log n + k) for the k triggers it
crosses, whatever the number of users holding triggers on the symbol. An update is
judged by the lowest and highest price of everything merged into it (engine.market), so
a wick through a level between two conflated updates still crosses it.

A crossing is a hint, not a decision: the index forgets a trigger once it has crossed,
and tells its owner, whose portfolio decides from its own state (an order canceled
meanwhile is not triggered) and registers it again if it still wants it. Everything
here is pure: no threads, no I/O, time passed in.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable
from decimal import Decimal, localcontext

import msgspec

from engine.alerts import Alert
from engine.events import (
    AlertDeleted,
    AlertFired,
    AlertSaved,
    AnyEvent,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    OrderTriggered,
    RuleDeleted,
    RuleExecuted,
    RuleSaved,
)
from engine.model import Direction, Order
from engine.money import LEDGER
from engine.rules import Rule, next_due

_TOP = chr(0x10FFFF)  # sorts after every key: (level, _TOP) is past every entry at level


class Trigger(msgspec.Struct, frozen=True):
    """``key`` of ``user_id`` fires when ``symbol``'s price falls to ``level`` (FALL) or
    rises to it (RISE). A trailing one (``trailing``, a fraction) has its level that
    far below the highest price seen since ``since`` (``anchor``, at least)."""

    user_id: str
    key: str
    symbol: str
    direction: Direction
    level: Decimal
    since: int = 0
    trailing: Decimal | None = None
    anchor: Decimal | None = None
    # A fall of ``drop`` (a fraction) from the highest price within ``window_ms``
    # (PRICE_DROP rules); ``level`` is unused.
    window_ms: int | None = None
    drop: Decimal | None = None
    # A time, not a price (DCA rules, held by the supervisor's schedule; ``symbol`` is "").
    due: int | None = None
    # Judged on the update's newest price, not its range: "back across the level", which
    # a late trade from before a move must not fake.
    on_close: bool = False


class Crossing(msgspec.Struct, frozen=True):
    """What the market actor tells a trigger's owner: the price that reached the level
    (the update's low for FALL, its high for RISE), when, and the trailing anchor then."""

    trigger: Trigger
    price: Decimal
    time: int
    anchor: Decimal | None = None


def trailing_level(anchor: Decimal, trailing: Decimal) -> Decimal:
    with localcontext(LEDGER):
        return anchor * (1 - trailing)


class TriggerIndex:
    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], Trigger] = {}
        self._falls: list[tuple[Decimal, str, str]] = []  # (level, user, key) ascending: a low fires a suffix
        self._rises: list[tuple[Decimal, str, str]] = []  # ascending: a high fires a prefix
        self._close_falls: list[tuple[Decimal, str, str]] = []  # the same, judged on the newest price
        self._close_rises: list[tuple[Decimal, str, str]] = []
        # Trailing stops by anchor: each group shares the highest price seen since the
        # newest of them was placed, its members sorted by their fraction.
        self._anchors: list[Decimal] = []  # ascending
        self._groups: dict[Decimal, list[tuple[Decimal, str, str]]] = {}  # anchor -> [(trailing, user, key)]
        self._anchor_of: dict[tuple[str, str], Decimal] = {}
        # Moves within a window, by (window, direction): members sorted by the move they
        # wait for, and the window's extreme prices (highs for a fall, lows for a rise,
        # negated) as a monotonic deque of (time, value), the extreme first.
        self._drops: dict[tuple[int, str], list[tuple[Decimal, str, str]]] = {}
        self._highs: dict[tuple[int, str], deque[tuple[int, Decimal]]] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, user_id: str, key: str) -> Trigger | None:
        return self._by_key.get((user_id, key))

    def add(self, trigger: Trigger, seen: Iterable[tuple[int, Decimal]] = ()) -> None:
        """Watch ``trigger``; a windowed one starts from ``seen`` (time, price), oldest first:
        what the market actor knows of the window already."""
        ident = (trigger.user_id, trigger.key)
        if ident in self._by_key:
            self.remove(trigger.user_id, trigger.key)
        self._by_key[ident] = trigger
        if trigger.window_ms is not None and trigger.drop is not None:
            window = (trigger.window_ms, trigger.direction)
            if window not in self._drops:
                self._drops[window] = []
                self._highs[window] = deque()
                for time, price in seen:
                    self._push_high(window, time, price)
            bisect.insort(self._drops[window], (trigger.drop, trigger.user_id, trigger.key))
            return
        if trigger.trailing is not None:
            anchor = trigger.anchor if trigger.anchor is not None else trigger.level
            self._join(anchor, [(trigger.trailing, trigger.user_id, trigger.key)])
            return
        bisect.insort(self._side(trigger), (trigger.level, trigger.user_id, trigger.key))

    def _side(self, trigger: Trigger) -> list[tuple[Decimal, str, str]]:
        if trigger.on_close:
            return self._close_falls if trigger.direction == "FALL" else self._close_rises
        return self._falls if trigger.direction == "FALL" else self._rises

    def remove(self, user_id: str, key: str) -> Trigger | None:
        ident = (user_id, key)
        trigger = self._by_key.pop(ident, None)
        if trigger is None:
            return None
        if trigger.window_ms is not None and trigger.drop is not None:
            window = (trigger.window_ms, trigger.direction)
            members = self._drops[window]
            members.remove((trigger.drop, user_id, key))
            if not members:
                del self._drops[window]
                del self._highs[window]
            return trigger
        if trigger.trailing is not None:
            anchor = self._anchor_of.pop(ident)
            group = self._groups[anchor]
            group.remove((trigger.trailing, user_id, key))
            if not group:
                del self._groups[anchor]
                self._anchors.remove(anchor)
            return trigger
        side = self._side(trigger)
        entry = (trigger.level, user_id, key)
        at = bisect.bisect_left(side, entry)
        if at < len(side) and side[at] == entry:
            del side[at]
        return trigger

    def crossed(self, low: Decimal, high: Decimal, time: int, close: Decimal | None = None) -> list[Crossing]:
        """The triggers an update whose prices ranged from ``low`` to ``high`` (ending at
        ``close``) reached, taken out of the index; then trailing anchors move up to
        ``high``. (Trailing stops are judged against the anchor from before the update:
        its high may have come after its low.)"""
        out = self._levels(self._falls, self._rises, low, high, time)
        if close is not None and (self._close_falls or self._close_rises):
            out.extend(self._levels(self._close_falls, self._close_rises, close, close, time))
        if self._anchors:
            out.extend(self._trailing_crossed(low, time))
            self._raise_anchors(high)
        if self._drops:
            out.extend(self._drops_crossed(low, high, time))
        return out

    def _push_high(self, window: tuple[int, str], time: int, price: Decimal) -> None:
        value = price if window[1] == "FALL" else -price
        highs = self._highs[window]
        while highs and highs[-1][1] <= value:
            highs.pop()
        highs.append((time, value))
        while highs and highs[0][0] < time - window[0]:
            highs.popleft()

    def _drops_crossed(self, low: Decimal, high: Decimal, time: int) -> list[Crossing]:
        """Moves within each window: a fall judged against the window's high before this
        update (whose own high may have come after its low), a rise against its low; the
        update then joins the window."""
        out = []
        for window in list(self._drops):
            highs = self._highs[window]
            while highs and highs[0][0] < time - window[0]:
                highs.popleft()
            if highs:
                falls = window[1] == "FALL"
                peak = highs[0][1] if falls else -highs[0][1]
                with localcontext(LEDGER):
                    reach = 1 - low / peak if falls else high / peak - 1
                members = self._drops[window]
                at = bisect.bisect_right(members, (reach, _TOP, _TOP))
                for _, user_id, key in members[:at]:
                    out.append(Crossing(self._by_key.pop((user_id, key)), low if falls else high, time, peak))
                del members[:at]
                if not members:
                    del self._drops[window]
                    del self._highs[window]
                    continue
            self._push_high(window, time, high if window[1] == "FALL" else low)
        return out

    def _levels(self, falls: list[tuple[Decimal, str, str]], rises: list[tuple[Decimal, str, str]],
                low: Decimal, high: Decimal, time: int) -> list[Crossing]:
        out: list[Crossing] = []
        at = bisect.bisect_left(falls, (low, "", ""))
        for _, user_id, key in falls[at:]:
            out.append(Crossing(self._by_key.pop((user_id, key)), low, time))
        del falls[at:]
        at = bisect.bisect_right(rises, (high, _TOP, _TOP))
        for _, user_id, key in rises[:at]:
            out.append(Crossing(self._by_key.pop((user_id, key)), high, time))
        del rises[:at]
        return out

    def crossed_one(self, trigger: Trigger, price: Decimal, time: int) -> list[Crossing]:
        """``trigger`` (held here) taken out if ``price`` has already reached it."""
        ident = (trigger.user_id, trigger.key)
        if ident not in self._by_key or trigger.window_ms is not None:
            return []  # a fall within a window is judged on updates, not on one price
        if trigger.trailing is not None:
            anchor = self._anchor_of[ident]
            reached = price <= trailing_level(anchor, trigger.trailing)
        else:
            anchor = None
            reached = price <= trigger.level if trigger.direction == "FALL" else price >= trigger.level
        if not reached:
            return []
        self.remove(trigger.user_id, trigger.key)
        return [Crossing(trigger, price, time, anchor)]

    def _trailing_crossed(self, low: Decimal, time: int) -> list[Crossing]:
        out = []
        for anchor in list(self._anchors):
            with localcontext(LEDGER):
                reach = 1 - low / anchor  # the fall from the anchor: members trailing by no more fire
            group = self._groups[anchor]
            at = bisect.bisect_right(group, (reach, _TOP, _TOP))
            for _, user_id, key in group[:at]:
                self._anchor_of.pop((user_id, key))
                out.append(Crossing(self._by_key.pop((user_id, key)), low, time, anchor))
            del group[:at]
            if not group:
                del self._groups[anchor]
                self._anchors.remove(anchor)
        return out

    def _raise_anchors(self, high: Decimal) -> None:
        at = bisect.bisect_left(self._anchors, high)
        if at == 0:
            return
        below = self._anchors[:at]
        del self._anchors[:at]
        members: list[tuple[Decimal, str, str]] = []
        for anchor in below:
            members.extend(self._groups.pop(anchor))
        self._join(high, members)

    def _join(self, anchor: Decimal, members: list[tuple[Decimal, str, str]]) -> None:
        group = self._groups.get(anchor)
        if group is None:
            group = self._groups[anchor] = []
            bisect.insort(self._anchors, anchor)
        group.extend(members)
        group.sort()
        for _, user_id, key in members:
            self._anchor_of[(user_id, key)] = anchor

    def anchor_of(self, user_id: str, key: str) -> Decimal | None:
        return self._anchor_of.get((user_id, key))


# -- what each event does to a user's triggers (the projection and the portfolio agree) --


def order_trigger(order: Order) -> Trigger | None:
    """The trigger an open, untriggered conditional order holds."""
    if not order.is_conditional or order.triggered or not order.is_open or order.direction is None:
        return None
    if order.type == "TRAILING_STOP":
        assert order.trailing_percent is not None and order.trigger_price is not None
        trailing = order.trailing_percent / 100
        anchor = order.trailing_anchor if order.trailing_anchor is not None else order.trigger_price
        return Trigger(order.user_id, order.id, order.symbol, "FALL", trailing_level(anchor, trailing),
                       since=order.created_at, trailing=trailing, anchor=anchor)
    assert order.trigger_price is not None
    return Trigger(order.user_id, order.id, order.symbol, order.direction, order.trigger_price, since=order.created_at)


def rule_key(rule_id: str) -> str:
    return f"rule:{rule_id}"


def rule_trigger(rule: Rule) -> Trigger | None:
    """What an active rule watches: a price level, a fall within a window, or a time."""
    if not rule.active:
        return None
    key = rule_key(rule.id)
    if rule.kind == "PRICE_BELOW" and rule.symbol and rule.threshold is not None:
        return Trigger(rule.user_id, key, rule.symbol, "FALL", rule.threshold, since=rule.created_at)
    if rule.kind == "PRICE_DROP" and rule.symbol and rule.drop_percent is not None and rule.window_seconds:
        return Trigger(rule.user_id, key, rule.symbol, "FALL", Decimal(0), since=rule.created_at,
                       window_ms=rule.window_seconds * 1000, drop=rule.drop_percent / 100)
    due = next_due(rule)
    if due is not None:
        return Trigger(rule.user_id, key, "", "RISE", Decimal(0), since=rule.created_at, due=due)
    return None


def alert_keys(alert_id: str) -> list[str]:
    """Every key an alert's triggers may have: its level (or fall), its rise, its re-arm."""
    return [f"alert:{alert_id}", f"alert:{alert_id}:up", f"alert:{alert_id}:rearm"]


def alert_triggers(alert: Alert) -> list[Trigger]:
    """What the alert waits for now: to fire, or (after a firing) to be armed again."""
    main, up, rearm = alert_keys(alert.id)
    user, symbol, since = alert.user_id, alert.symbol, alert.created_at
    if alert.kind in ("ABOVE", "BELOW") and alert.price is not None:
        rises = alert.kind == "ABOVE"
        if alert.armed:
            return [Trigger(user, main, symbol, "RISE" if rises else "FALL", alert.price, since=since)]
        return [Trigger(user, rearm, symbol, "FALL" if rises else "RISE", alert.price, since=since, on_close=True)]
    if alert.change_percent is None or alert.window_seconds is None:
        return []
    window = alert.window_seconds * 1000
    if not alert.armed:
        due = (alert.last_fired_at or alert.created_at) + window
        return [Trigger(user, rearm, "", "RISE", Decimal(0), since=since, due=due)]
    move = alert.change_percent / 100
    return [Trigger(user, main, symbol, "FALL", Decimal(0), since=since, window_ms=window, drop=move),
            Trigger(user, up, symbol, "RISE", Decimal(0), since=since, window_ms=window, drop=move)]


def trigger_changes(event: AnyEvent, user_id: str) -> tuple[list[Trigger], list[str]]:
    """(triggers to hold, keys to drop) after ``event`` of ``user_id``'s stream."""
    if isinstance(event, (AlertSaved, AlertFired)):
        return alert_triggers(event.alert), alert_keys(event.alert.id)
    if isinstance(event, AlertDeleted):
        return [], alert_keys(event.alert_id)
    if isinstance(event, (RuleSaved, RuleExecuted)):
        trigger = rule_trigger(event.rule)
        return ([trigger], []) if trigger is not None else ([], [rule_key(event.rule.id)])
    if isinstance(event, RuleDeleted):
        return [], [rule_key(event.rule_id)]
    if isinstance(event, OrderAccepted):
        trigger = order_trigger(event.order)
        return ([trigger] if trigger is not None else []), []
    if isinstance(event, (OrderTriggered, OrderCanceled, OrderRejected)):
        return [], [event.order_id]
    return [], []
