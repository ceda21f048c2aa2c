"""What the account adapter knows of each order and what it hands its gateway.

Plain data: the rules' timings, an order's state at the exchange as the adapter follows
it (``Tracked``), a sweep under way, and ``Effects``: the reports, jobs and notices one
step of the adapter produces, which the gateway turns into messages and REST calls.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from engine.exchanges.base import ExchangeOrder, ExecutionReport, VenueOrder
from engine.exchanges.mexc.account_io import Job
from engine.exchanges.mexc.errors import (
    MexcAuthError,
    MexcBadSymbol,
    MexcError,
    MexcInsufficientBalance,
    MexcMinNotional,
    MexcPrecisionError,
    MexcTradingDisabled,
)
from engine.model import Fill, OrderStatus

STATUS: dict[str, OrderStatus] = {
    "NEW": "NEW",
    "PARTIALLY_FILLED": "PARTIALLY_FILLED",
    "FILLED": "FILLED",
    "CANCELED": "CANCELED",
    "PARTIALLY_CANCELED": "CANCELED",
}
PUSH_STATUS: dict[int, OrderStatus] = {1: "NEW", 2: "FILLED", 3: "PARTIALLY_FILLED", 4: "CANCELED", 5: "CANCELED"}
ENDS = ("FILLED", "CANCELED", "REJECTED")

GRACE_MS = 3_000  # MEXC may say "no such order" this long after a create
LOOKUP_AFTER_MS = 1_000  # first look at an order whose placement went unanswered
RECHECK_MS = 1_000  # next look at an order that is not settled yet
FIRST_REREAD_MS = 300  # first re-read of the trades of an order that ended ahead of its fills
FILLS_WAIT_MS = 30_000  # an end whose fills never add up is reported after this
SWEEP_TIMEOUT_MS = 5_000  # an order a sweep should have settled is asked about alone
TAKEN_WAIT_MS = 30_000  # a resend refused as a taken id is looked for this long
SWEEP_WAIT_MS = 10_000  # a sweep waits this long at most for the orders it sent again
RECENT_ENDS = 2_000  # ended orders remembered, for pushes and fills that come late
RECENT_WINDOW_MS = 2 * 3_600_000  # a sweep reads orders created this far back
CANCEL_TRIES = 5  # sends of one cancel the exchange did not carry out, then it is reported
CANCEL_DEFER_MAX_SECONDS = 5.0  # a cancel turned away by a rate limit is sent again if this soon

# Refusals that judge the order itself: the id cannot have been taken, nothing to look up.
CONTENT_REFUSALS = (MexcInsufficientBalance, MexcMinNotional, MexcPrecisionError, MexcBadSymbol, MexcTradingDisabled,
                    MexcAuthError)

# Generic refusals whose code still says what is wrong with the order: too many open
# orders on the account, a price outside the allowed band.
CONTENT_CODES = frozenset({30029, 30087})

Phase = Literal["to_send", "sending", "unknown", "live", "ending", "ended"]
After = Literal["", "cancel_done", "cancel_unknown", "cancel_uncertain"]


@dataclass
class Finding:
    """Something operators must hear of (journaled as a reconciliation finding)."""

    user_id: str
    order_id: str | None
    kind: str
    detail: str


@dataclass
class Swept:
    """A sweep is over: what it changed for ``user_id`` (``token`` answers its request)."""

    user_id: str
    token: int | None
    updated: list[str]
    resent: list[str]
    error: str | None = None  # the sweep could not read the account
    # False: answered at once, with no sweep (every order was followed already): it
    # vouches for nothing asked before it.
    swept: bool = True


@dataclass
class Orphan:
    user_id: str
    order: VenueOrder


@dataclass
class BalancesRead:
    user_id: str
    token: int
    totals: dict[str, Decimal] | None
    error: str | None = None


@dataclass
class Effects:
    reports: list[ExecutionReport] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    orphans: list[Orphan] = field(default_factory=list)
    swept: list[Swept] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    balances: list[BalancesRead] = field(default_factory=list)
    # Owners to ask for their open orders: a push came for one of theirs that nothing
    # here follows (this adapter is new: the gateway started for that push).
    handovers: list[str] = field(default_factory=list)


class Tracked:
    def __init__(self, order: ExchangeOrder, phase: Phase, due: int) -> None:
        self.order = order
        self.phase: Phase = phase
        self.due = due
        self.exchange_id: str | None = None
        self.fills: dict[str, Fill] = {}
        self.reported: set[str] = set()
        self.executed = Decimal(0)  # what the exchange says it executed
        self.exchange_status: OrderStatus | None = None
        self.last_status: OrderStatus | None = None  # last status reported
        self.first_sent: int | None = None
        self.last_sent: int | None = None
        self.busy = False  # a job about this order is out
        self.look_after = False
        # Expected to trade at once, and the look after its ack not answered yet: neither
        # the ack nor its creation push reports it NEW (a crossing LIMIT would answer NEW).
        self.awaiting_look = False
        self.cancel_wanted = False
        self.cancel_sent = False
        self.cancel_tries = 0
        self.after: After = ""
        self.taken = False  # the exchange refused the id as taken: the order exists
        self.refusal: str | None = None  # reported if a lookup finds nothing after all
        self.ending_since: int | None = None

    @property
    def known_executed(self) -> Decimal:
        return sum((f.quantity for f in self.fills.values()), Decimal(0))

    def origin(self, now: int) -> int:
        """When the order was first sent (or accepted, if this life never sent it)."""
        return self.first_sent or self.order.created_at or now

    def latest_send(self) -> int:
        return self.last_sent or self.order.created_at


@dataclass
class SweepState:
    waiters: list[tuple[str, int | None]] = field(default_factory=list)  # (user, token)
    dispatched_at: int = 0
    answered: bool = False  # its job came back
    error: str | None = None
    pending: set[str] = field(default_factory=set)  # resends it started, not answered yet
    updated: dict[str, str] = field(default_factory=dict)  # client id -> user
    resent: dict[str, str] = field(default_factory=dict)


def first_time(seen: OrderedDict[str, None], key: str, keep: int) -> bool:
    """Whether ``key`` is new to ``seen``, which then holds it among its newest ``keep``."""
    if key in seen:
        return False
    seen[key] = None
    while len(seen) > keep:
        seen.popitem(last=False)
    return True


def unanswered(error: Exception) -> str:
    """Why the exchange could not answer, as a caller is told."""
    if isinstance(error, MexcAuthError) and error.refuses_key:
        return f"MEXC refused the account's API key: {error.msg} ({error.code})"
    if isinstance(error, MexcError):
        return f"the exchange could not answer: {error.msg} ({error.code})"
    return f"the exchange could not answer: {error!r}"


def describe(error: Exception | None) -> str:
    if isinstance(error, MexcError):
        return f"{error.code}: {error.msg}"
    return repr(error)
