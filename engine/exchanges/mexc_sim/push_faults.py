"""Faults in one account's user data stream: private pushes delayed, reordered,
duplicated or dropped, so a client's reconciliation can be tested against the
stream MEXC really serves (late, out of order, twice, or never).

Faults apply per api key and only to pushes somebody is subscribed to when they
are fanned out: a push nobody would have received does not use up a ``count``.
A push meets the account's rules in one fixed order, each at most once:

    drop -> duplicate -> deals_last -> delay -> reorder

so a duplicated push can be delayed (both copies together) and a dropped one is
gone before anything else sees it. Held pushes are released by the simulator's
clock (a ManualClock holds them until the test advances it), checked on every
round of the WebSocket flush loop. Clearing an account's faults releases what
they hold at the next round: only ``drop`` loses pushes.

Random choices (``probability``, the reorder shuffle) come from one
``random.Random(seed)`` per rule, so the same pushes meet the same faults on
every run.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Literal, cast, get_args

import msgspec
import structlog

from engine.clock import Clock
from engine.exchanges.mexc.codec import PrivateDealPush, PrivateOrderPush, Push

log = structlog.get_logger(__name__)

PushMode = Literal["drop", "duplicate", "deals_last", "delay", "reorder"]
PUSH_MODES: tuple[str, ...] = get_args(PushMode)
FINAL_STATUSES = frozenset({2, 4, 5})  # FILLED, CANCELED, PARTIALLY_CANCELED (pushes.STATUS_CODES)
MAX_HOLD_MS = 600_000
REORDER_WAIT_MS = 1_000  # how long a reorder window waits to fill before what it holds is sent, shuffled

Out = tuple[str, str, Push]  # (api key, channel, push)


class PushRule(msgspec.Struct):
    """One mode for one account. ``left``: how many more times it fires (pushes, or
    orders for deals_last), None when ``probability`` decides instead; for reorder,
    the window's size until the window is sent, then 0."""

    mode: PushMode
    left: int | None
    probability: float | None
    ms: int
    rng: random.Random

    def fires(self) -> bool:
        if self.left is None:
            return self.rng.random() < (self.probability or 0.0)
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def make_rule(
    mode: str, count: int | None = None, probability: float | None = None, ms: int | None = None, seed: int = 0
) -> PushRule:
    """A rule checked as a request would be, naming the argument at fault."""
    if mode not in PUSH_MODES:
        raise ValueError(f"mode must be one of {', '.join(PUSH_MODES)}")
    if count is not None and probability is not None:
        raise ValueError("give count or probability, not both")
    if probability is not None and not 0 < probability <= 1:
        raise ValueError("probability must be above 0 and at most 1")
    if mode == "reorder":
        if probability is not None:
            raise ValueError("reorder takes a count (the window), not a probability")
        count = 2 if count is None else count
        if not 2 <= count <= 1_000:
            raise ValueError("count must be 2 to 1000 for reorder (the pushes shuffled together)")
        ms = REORDER_WAIT_MS if ms is None else ms
    elif count is not None and not 1 <= count <= 100_000:
        raise ValueError("count must be 1 to 100000")
    if mode == "delay" and ms is None:
        raise ValueError("ms is required for delay")
    if mode not in ("delay", "reorder") and ms is not None:
        raise ValueError(f"ms is not taken by {mode}")
    if ms is not None and not 1 <= ms <= MAX_HOLD_MS:
        raise ValueError(f"ms must be 1 to {MAX_HOLD_MS}")
    left = 1 if count is None and probability is None else count
    return PushRule(cast(PushMode, mode), left, probability, ms or 0, random.Random(seed))


class PushFaultStats(msgspec.Struct, frozen=True):
    """What an account's push faults have done, for a test to wait on."""

    seen: int = 0  # pushes that met the account's rules (subscribed ones only)
    dropped: int = 0
    duplicated: int = 0
    held: int = 0  # held now: delayed, in a reorder window, or deals waiting for their order


class _Account:
    """One account's rules and the pushes they hold. Used under PushFaults' lock."""

    def __init__(self) -> None:
        self.rules: dict[str, PushRule] = {}
        self.delayed: list[tuple[int, list[tuple[str, Push]]]] = []  # (due ms, pushes), in arrival order
        self.window: list[tuple[str, Push]] = []
        self.window_due = 0
        self.deals: dict[str, list[tuple[str, Push]]] = {}  # order id -> its held deal pushes
        self.passed: set[str] = set()  # order ids deals_last decided not to hold
        self.seen = self.dropped = self.duplicated = 0

    def stats(self) -> PushFaultStats:
        held = sum(len(items) for _, items in self.delayed) + len(self.window)
        held += sum(len(deals) for deals in self.deals.values())
        return PushFaultStats(self.seen, self.dropped, self.duplicated, held)

    def route(self, channel: str, push: Push, now: int) -> list[tuple[str, Push]]:
        rules = self.rules
        self.seen += 1
        if "drop" in rules and rules["drop"].fires():
            self.dropped += 1
            return []
        items = [(channel, push)]
        if "duplicate" in rules and rules["duplicate"].fires():
            self.duplicated += 1
            items *= 2
        if "deals_last" in rules:
            items = self._deals_last(rules["deals_last"], items, push)
        if items and "delay" in rules and rules["delay"].fires():
            self.delayed.append((now + rules["delay"].ms, items))
            return []
        reorder = rules.get("reorder")
        if items and reorder is not None and reorder.left:
            if not self.window:
                self.window_due = now + reorder.ms
            self.window.extend(items)
            return self._shuffled(reorder) if len(self.window) >= reorder.left else []
        return items

    def _deals_last(self, rule: PushRule, items: list[tuple[str, Push]], push: Push) -> list[tuple[str, Push]]:
        body = push.body
        if isinstance(body, PrivateDealPush):
            held = self.deals.get(body.order_id)
            if held is None and body.order_id not in self.passed:
                if rule.fires():
                    held = self.deals[body.order_id] = []
                else:
                    self.passed.add(body.order_id)
            if held is not None:
                held.extend(items)
                return []
        elif isinstance(body, PrivateOrderPush) and body.status in FINAL_STATUSES:
            self.passed.discard(body.id)
            return items + self.deals.pop(body.id, [])
        return items

    def _shuffled(self, reorder: PushRule) -> list[tuple[str, Push]]:
        window, self.window = self.window, []
        order = list(range(len(window)))
        reorder.rng.shuffle(order)
        if order == sorted(order):
            order.reverse()  # a window is never sent as it came
        reorder.left = 0
        return [window[i] for i in order]

    def due(self, now: int) -> list[tuple[str, Push]]:
        out = [item for due, items in self.delayed if due <= now for item in items]
        self.delayed = [(due, items) for due, items in self.delayed if due > now]
        reorder = self.rules.get("reorder")
        if self.window and reorder is not None and now >= self.window_due:
            out.extend(self._shuffled(reorder))  # the window did not fill in time
        return out

    def release_all(self) -> list[tuple[str, Push]]:
        out = [item for _, items in self.delayed for item in items] + self.window
        out += [item for held in self.deals.values() for item in held]
        self.delayed, self.window, self.deals, self.passed = [], [], {}, set()
        return out


class PushFaults:
    """Every account's push faults. Set from any thread; routed on the WebSocket's."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._accounts: dict[str, _Account] = {}
        self._released: list[Out] = []  # what a clear let go, sent at the next round

    def add(self, api_key: str, rule: PushRule) -> None:
        """Set ``rule`` for ``api_key``, replacing that account's rule of the same mode."""
        if not api_key:
            raise ValueError("apiKey is required")
        with self._lock:
            self._accounts.setdefault(api_key, _Account()).rules[rule.mode] = rule
        log.info("sim.fault_injected", fault="pushes", api_key=api_key, mode=rule.mode, count=rule.left,
                 probability=rule.probability, ms=rule.ms)

    def clear(self, api_key: str | None = None) -> None:
        """Drop the rules of ``api_key`` (every account's if None); what they hold is sent next round."""
        with self._lock:
            keys = list(self._accounts) if api_key is None else [api_key]
            for key in keys:
                account = self._accounts.pop(key, None)
                if account is not None:
                    self._released.extend((key, channel, push) for channel, push in account.release_all())

    def statistics(self, api_key: str) -> PushFaultStats:
        """Since the account's faults were first set (or last cleared)."""
        with self._lock:
            account = self._accounts.get(api_key)
            return account.stats() if account is not None else PushFaultStats()

    def route(self, private: list[Out], subscribed: Callable[[str, str], bool]) -> list[Out]:
        """The pushes to send now: what the account's faults let through of
        ``private`` (the round's pushes, in order), after what was held and is due."""
        now = self._clock.now_ms()
        with self._lock:
            out, self._released = self._released, []
            for key, faulty in self._accounts.items():
                out.extend((key, channel, push) for channel, push in faulty.due(now))
            for key, channel, push in private:
                account = self._accounts.get(key)
                if account is None or not subscribed(key, channel):
                    out.append((key, channel, push))
                    continue
                out.extend((key, c, p) for c, p in account.route(channel, push, now))
        return out

