"""Journal events: every change of a user's state is one of these.

Events are facts, self-contained enough to rebuild a portfolio (and the SQL
projections) by replaying them in order. Each carries the exact balance deltas
it causes, so balances can be audited against the fills that produced them.

The struct tag (the class name) and ``SCHEMA_VERSION`` are stored with each row;
changing an event's shape means a new version and an upcaster in persistence.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.alerts import Alert, AlertFiring
from engine.model import BalanceChange, Fill, Order, OrderStatus
from engine.risk import Limits
from engine.rules import Execution, Rule

SCHEMA_VERSION = 1


class Event(msgspec.Struct, tag=True, frozen=True, kw_only=True):
    time: int
    changes: tuple[BalanceChange, ...] = ()


class AccountOpened(Event, frozen=True):
    user_id: str
    reason: str


class OrderAccepted(Event, frozen=True):
    order: Order


class OrderFilled(Event, frozen=True):
    order_id: str
    fill: Fill
    status: OrderStatus  # the order's status after this fill


class OrderCanceled(Event, frozen=True):
    order_id: str
    reason: str


class OrderRejected(Event, frozen=True):
    order_id: str
    reason: str


class OrderTriggered(Event, frozen=True):
    """A conditional order's trigger was reached at ``price``: it goes to the exchange
    as what it becomes (engine.model.Order.exchange_type). ``changes`` reserve for it
    what its one-cancels-the-other partner held, when the partner held the pair's
    reservation."""

    order_id: str
    price: Decimal
    anchor: Decimal | None = None  # a TRAILING_STOP's highest price then


class UserLimitsSet(Event, frozen=True):
    """An admin set the user's own risk limits (None: the engine's)."""

    limits: Limits
    by: str


class UserHalted(Event, frozen=True):
    """The user's new orders are refused: by an admin until resumed, or (``day``, the ms of
    a UTC day's 00:00) by the daily loss limit until that day is over."""

    reason: str
    by: str
    day: int | None = None


class UserResumed(Event, frozen=True):
    """An admin lifted the user's halt, and the daily loss limit's for ``day``."""

    by: str
    day: int


class RuleSaved(Event, frozen=True):
    """A rule created, changed, enabled, disabled, paused or resumed: the whole rule."""

    rule: Rule


class RuleDeleted(Event, frozen=True):
    rule_id: str


class RuleExecuted(Event, frozen=True):
    """A rule fired: the execution record, and the rule after it (what it has spent and
    done). A PLACED one is journaled in the batch of the order it placed."""

    rule: Rule
    execution: Execution


class AlertSaved(Event, frozen=True):
    alert: Alert


class AlertDeleted(Event, frozen=True):
    alert_id: str


class AlertFired(Event, frozen=True):
    """An alert fired: the record, and the alert after it (disarmed until the price is
    back across its level, or a window has passed)."""

    alert: Alert
    firing: AlertFiring


class OrderCompleted(Event, frozen=True):
    """The exchange reports the order FILLED and its last fill is already applied
    (it arrived on its own, as a partial fill). Releases what is still reserved."""

    order_id: str


class BalanceAdjusted(Event, frozen=True):
    """Reconciliation found the exchange holding a different total than the
    journal; ``changes`` bring the journal to the exchange's figures."""

    reason: str


USER_STREAM_PREFIX = "user:"


def user_stream(user_id: str) -> str:
    return f"{USER_STREAM_PREFIX}{user_id}"


class KillSwitchEngaged(Event, frozen=True):
    """The kill switch was thrown. Survives restarts until KillSwitchReleased."""

    reason: str
    by: str


class KillSwitchReleased(Event, frozen=True):
    by: str


class Reconciliation(msgspec.Struct, frozen=True):
    """What a reconciliation found different at the exchange (for operators)."""

    user_id: str
    time: int
    orders_updated: list[str]  # fills or a final state the engine had missed
    orders_resent: list[str]  # accepted here, never received there
    balances_adjusted: dict[str, str]  # asset -> difference journaled
    orders_adopted: list[str] = []  # there, with this engine's id, and not in the journal
    notes: list[str] = []  # what else operators must hear of (fills that never added up, ...)


class ReconciliationFound(Event, frozen=True):
    """Reconciliation found the journal behind the exchange. What it applied is in
    the user's own stream; this keeps the finding for operators, across restarts."""

    record: Reconciliation


SystemEvent = KillSwitchEngaged | KillSwitchReleased | ReconciliationFound
RISK_STREAM = "system:risk"
RECONCILIATION_STREAM = "system:reconciliation"

UserEvent = (
    AccountOpened | OrderAccepted | OrderFilled | OrderCanceled | OrderRejected | OrderCompleted | BalanceAdjusted
    | OrderTriggered | UserLimitsSet | UserHalted | UserResumed | RuleSaved | RuleDeleted | RuleExecuted
    | AlertSaved | AlertDeleted | AlertFired
)
AnyEvent = UserEvent | SystemEvent
