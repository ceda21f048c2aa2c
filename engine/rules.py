"""Auto-buy rules: what each kind watches, when it may fire, and what a firing buys.

Pure: the portfolio holds the rules (folded from ``RuleSaved``, ``RuleDeleted`` and
``RuleExecuted``), registers their triggers with the market actors (price rules) or the
supervisor's schedule (DCA), and on a crossing or a due time asks ``decide_firing``
what to do: buy (an order and its execution record), or skip with the reason. A firing
is journaled with the order it placed, in one batch, and the order's exchange id is
derived from the rule and the firing's number: a crash between the send and the
commit fires the same number again, which the exchange knows, so a rule never buys twice.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Literal

import msgspec

from engine.errors import InvalidRule
from engine.money import LEDGER, ZERO, amount_problem, fits_places

RuleKind = Literal["PRICE_BELOW", "PRICE_DROP", "NEW_LISTING", "DCA"]
RULE_KINDS: tuple[str, ...] = ("PRICE_BELOW", "PRICE_DROP", "NEW_LISTING", "DCA")
ExecutionStatus = Literal["PLACED", "SKIPPED"]

MAX_WINDOW_SECONDS = 86_400
MIN_EVERY_SECONDS = 1
MAX_EVERY_SECONDS = 366 * 86_400
REARM_AFTER_MS = 1_000  # a price rule with no cooldown is watched again this soon after it fires
EXECUTIONS_KEPT = 200  # per rule, newest; older ones are in the journal


class Rule(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    kind: RuleKind
    quote_amount: Decimal
    created_at: int
    updated_at: int
    symbol: str | None = None
    threshold: Decimal | None = None
    drop_percent: Decimal | None = None
    window_seconds: int | None = None
    every_seconds: int | None = None
    quote_asset: str | None = None
    max_quote_total: Decimal | None = None
    max_executions: int | None = None
    cooldown_seconds: int = 0
    stop_loss_percent: Decimal | None = None
    take_profit_percent: Decimal | None = None
    trailing_percent: Decimal | None = None
    enabled: bool = True
    paused: bool = False  # by the kill switch: resuming re-enables it
    spent: Decimal = ZERO  # quote placed by its executions
    executions: int = 0  # executions that placed an order
    firings: int = 0  # every execution record, placed or skipped: the next one's number
    last_fired_at: int | None = None
    listings: list[str] = []  # NEW_LISTING: the symbols it has acted on, each once

    @property
    def active(self) -> bool:
        return self.enabled and not self.paused and not self.exhausted

    @property
    def exhausted(self) -> bool:
        """Its budget or execution count is spent: it never fires again."""
        if self.max_executions is not None and self.executions >= self.max_executions:
            return True
        return self.max_quote_total is not None and self.spent >= self.max_quote_total

    def copy(self) -> Rule:
        return msgspec.structs.replace(self, listings=list(self.listings))


class Execution(msgspec.Struct, frozen=True):
    id: str
    rule_id: str
    time: int
    status: ExecutionStatus
    order_id: str | None = None
    reason: str | None = None
    quote: Decimal | None = None
    price: Decimal | None = None  # what the market stood at when it fired


class RuleFields(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """What a user sets of a rule (a create, or the whole of an update): the request body
    itself (camelCase; an unknown field is refused)."""

    kind: str
    quote_amount: Decimal | None = None
    symbol: str | None = None
    threshold: Decimal | None = None
    drop_percent: Decimal | None = None
    window_seconds: int | None = None
    every_seconds: int | None = None
    quote_asset: str | None = None
    max_quote_total: Decimal | None = None
    max_executions: int | None = None
    cooldown_seconds: int | None = None
    stop_loss_percent: Decimal | None = None
    take_profit_percent: Decimal | None = None
    trailing_percent: Decimal | None = None
    enabled: bool | None = None


def _bad(message: str, field: str) -> InvalidRule:
    return InvalidRule(message, details={"field": field})


def _positive(value: Decimal | None, field: str, *, below: Decimal | None = None, places: int = 8) -> None:
    if value is None:
        return
    problem = amount_problem(value)
    if problem is not None:
        raise _bad(f"{field} {problem}", field)
    if below is not None and value >= below:
        raise _bad(f"{field} must be below {below}", field)
    if not fits_places(value, places):
        raise _bad(f"{field} has more than {places} decimal places", field)


def validate_rule(fields: RuleFields, known_symbol: object) -> RuleKind:
    """Raise InvalidRule naming the field if ``fields`` do not make a rule of their kind.
    ``known_symbol(symbol) -> bool``."""
    kind = fields.kind.upper()
    if kind not in RULE_KINDS:
        raise _bad(f"kind must be one of {', '.join(RULE_KINDS)}, not {fields.kind!r}", "kind")
    if kind == "NEW_LISTING":
        if fields.symbol is not None:
            raise _bad("a NEW_LISTING rule has no symbol: it buys what is listed", "symbol")
    else:
        if not fields.symbol:
            raise _bad(f"a {kind} rule needs symbol", "symbol")
        if not known_symbol(fields.symbol.strip().upper()):  # type: ignore[operator]
            raise _bad(f"unknown symbol {fields.symbol!r}", "symbol")
    if fields.quote_amount is None:
        raise _bad("quoteAmount is needed: what each execution spends", "quoteAmount")
    _positive(fields.quote_amount, "quoteAmount")
    _positive(fields.max_quote_total, "maxQuoteTotal")
    needs = {"PRICE_BELOW": ("threshold",), "PRICE_DROP": ("dropPercent", "windowSeconds"), "DCA": ("everySeconds",),
             "NEW_LISTING": ()}[kind]
    given = {"threshold": fields.threshold, "dropPercent": fields.drop_percent, "windowSeconds": fields.window_seconds,
             "everySeconds": fields.every_seconds}
    for name, value in given.items():
        if name in needs and value is None:
            raise _bad(f"a {kind} rule needs {name}", name)
        if name not in needs and value is not None:
            raise _bad(f"{name} is not for a {kind} rule", name)
    _positive(fields.threshold, "threshold")
    _positive(fields.drop_percent, "dropPercent", below=Decimal(100), places=4)
    if fields.window_seconds is not None and not 1 <= fields.window_seconds <= MAX_WINDOW_SECONDS:
        raise _bad(f"windowSeconds must be from 1 to {MAX_WINDOW_SECONDS}", "windowSeconds")
    if fields.every_seconds is not None and not MIN_EVERY_SECONDS <= fields.every_seconds <= MAX_EVERY_SECONDS:
        raise _bad(f"everySeconds must be from {MIN_EVERY_SECONDS} to {MAX_EVERY_SECONDS}", "everySeconds")
    if fields.quote_asset is not None and kind != "NEW_LISTING":
        raise _bad("quoteAsset is only for NEW_LISTING rules", "quoteAsset")
    if fields.max_executions is not None and fields.max_executions < 1:
        raise _bad("maxExecutions must be at least 1", "maxExecutions")
    if fields.cooldown_seconds is not None and not 0 <= fields.cooldown_seconds <= MAX_EVERY_SECONDS:
        raise _bad("cooldownSeconds must be from 0 to a year", "cooldownSeconds")
    for name, value in (("stopLossPercent", fields.stop_loss_percent), ("takeProfitPercent", fields.take_profit_percent),
                        ("trailingPercent", fields.trailing_percent)):
        _positive(value, name, below=Decimal(100) if name != "takeProfitPercent" else None, places=4)
    if fields.stop_loss_percent is not None and fields.trailing_percent is not None:
        raise _bad("give stopLossPercent or trailingPercent, not both: either is the stop", "trailingPercent")
    return kind  # type: ignore[return-value]


def make_rule(fields: RuleFields, kind: RuleKind, *, rule_id: str, user_id: str, now: int,
              before: Rule | None = None) -> Rule:
    """The rule ``fields`` describe; an update keeps what it has done (spent, executions)."""
    rule = Rule(
        id=rule_id, user_id=user_id, kind=kind, quote_amount=fields.quote_amount or ZERO,
        created_at=before.created_at if before else now, updated_at=now,
        symbol=fields.symbol.strip().upper() if fields.symbol else None, threshold=fields.threshold,
        drop_percent=fields.drop_percent,
        window_seconds=fields.window_seconds, every_seconds=fields.every_seconds,
        quote_asset=fields.quote_asset.upper() if fields.quote_asset else None,
        max_quote_total=fields.max_quote_total, max_executions=fields.max_executions,
        cooldown_seconds=fields.cooldown_seconds or 0, stop_loss_percent=fields.stop_loss_percent,
        take_profit_percent=fields.take_profit_percent, trailing_percent=fields.trailing_percent,
        enabled=True if fields.enabled is None else fields.enabled,
    )
    if before is not None:
        rule.spent, rule.executions, rule.firings = before.spent, before.executions, before.firings
        rule.last_fired_at, rule.paused, rule.listings = before.last_fired_at, before.paused, list(before.listings)
    return rule


def next_due(rule: Rule) -> int | None:
    """When a DCA rule next buys (ms)."""
    if rule.kind != "DCA" or rule.every_seconds is None:
        return None
    return (rule.last_fired_at or rule.created_at) + rule.every_seconds * 1000


def rearm_at(rule: Rule) -> int:
    """When a price rule that just fired is watched again."""
    return (rule.last_fired_at or 0) + max(rule.cooldown_seconds * 1000, REARM_AFTER_MS)


def why_not(rule: Rule, now: int) -> str | None:
    """Why the rule may not buy now, or None if it may."""
    if not rule.enabled:
        return "disabled"
    if rule.paused:
        return "halted: the kill switch paused it"
    if rule.max_executions is not None and rule.executions >= rule.max_executions:
        return "maxExecutions reached"
    if rule.max_quote_total is not None and rule.spent >= rule.max_quote_total:
        return "budget spent: maxQuoteTotal reached"
    if rule.last_fired_at is not None and now < rule.last_fired_at + rule.cooldown_seconds * 1000:
        return "cooldown"
    return None


def amount_for(rule: Rule) -> Decimal:
    """What this execution spends: quoteAmount, or what is left of the budget if less."""
    if rule.max_quote_total is None:
        return rule.quote_amount
    with localcontext(LEDGER):
        return min(rule.quote_amount, rule.max_quote_total - rule.spent)


def execution_id(rule: Rule) -> str:
    """The next execution's id: the rule's and its number, the same after a crash."""
    return f"{rule.id}-{rule.firings + 1}"
