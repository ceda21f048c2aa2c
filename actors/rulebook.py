"""A portfolio's auto-buy rules: kept, watched and fired on the portfolio's thread.

The rules are part of the portfolio's state (``engine.portfolio.PortfolioState.rules``,
folded from the journal); this is the portfolio's job of acting on them. A price rule's
trigger is watched by its symbol's market actor, a DCA rule's time by the supervisor's
schedule; either wakes a sleeping portfolio. A firing is decided here
(``engine.rules.why_not``, the risk checks of any order) and journaled as one batch: the
order and its execution record, or a skipped record with the reason. After a firing a
price rule is watched again once its cooldown is over (at least a second), so however
many qualifying ticks arrive at once it fires once.
"""

from __future__ import annotations

from concurrent.futures import Future
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from actors.messages import CancelWake, DropTrigger, HoldTrigger, ScheduleWake, Ticket, resolve_after
from engine.errors import EngineError, RuleNotFound
from engine.events import AnyEvent, RuleDeleted, RuleExecuted, RuleSaved
from engine.model import Order
from engine.money import fmt
from engine.orders import PlaceOrder, new_order_id
from engine.rules import (
    Execution,
    Rule,
    RuleFields,
    amount_for,
    execution_id,
    make_rule,
    next_due,
    rearm_at,
    validate_rule,
    why_not,
)
from engine.triggers import Crossing, Trigger, rule_key, rule_trigger

if TYPE_CHECKING:
    from actors.portfolio import Portfolio

REARM_PREFIX = "rearm:"


class RuleBook:
    def __init__(self, portfolio: Portfolio) -> None:
        self.p = portfolio

    @property
    def rules(self) -> dict[str, Rule]:
        return self.p.state.rules

    # -- requests ---------------------------------------------------------------------------

    def create(self, fields: RuleFields) -> Future[Rule]:
        kind = self._validate(fields)
        now = self.p.system.clock.now_ms()
        rule = make_rule(fields, kind, rule_id=new_order_id(now), user_id=self.p.user_id, now=now)
        return self._save(rule, "rule.created")

    def update(self, rule_id: str, fields: RuleFields) -> Future[Rule]:
        before = self._rule(rule_id)
        kind = self._validate(fields)
        rule = make_rule(fields, kind, rule_id=rule_id, user_id=self.p.user_id, now=self.p.system.clock.now_ms(),
                         before=before)
        return self._save(rule, "rule.updated")

    def enable(self, rule_id: str, enabled: bool) -> Future[Rule]:
        rule = self._rule(rule_id).copy()
        rule.enabled, rule.updated_at = enabled, self.p.system.clock.now_ms()
        return self._save(rule, "rule.enabled" if enabled else "rule.disabled")

    def delete(self, rule_id: str) -> Future[Rule]:
        rule = self._rule(rule_id).copy()
        self._disarm(rule)
        durable = self.p._record([RuleDeleted(time=self.p.system.clock.now_ms(), rule_id=rule_id)])
        self.p.log.info("rule.deleted", user_id=self.p.user_id, rule_id=rule_id)
        return self._after(durable, rule)

    def get(self, rule_id: str | None) -> list[Rule]:
        if rule_id is not None:
            return [self._rule(rule_id).copy()]
        return [rule.copy() for rule in sorted(self.rules.values(), key=lambda r: (r.created_at, r.id))]

    def executions(self, rule_id: str, limit: int) -> list[Execution]:
        self._rule(rule_id)
        kept = self.p.state.executions.get(rule_id, ())
        return list(reversed(list(kept)))[:limit]

    def _validate(self, fields: RuleFields) -> Any:
        return validate_rule(fields, lambda symbol: symbol in self.p.system.catalog)

    def _rule(self, rule_id: str) -> Rule:
        rule = self.rules.get(rule_id)
        if rule is None:
            raise RuleNotFound(f"no rule {rule_id!r}", details={"ruleId": rule_id})
        return rule

    def _save(self, rule: Rule, name: str) -> Future[Rule]:
        self._disarm(self.rules.get(rule.id) or rule)
        durable = self.p._record([RuleSaved(time=rule.updated_at, rule=rule)])
        saved = self.rules[rule.id]
        self._arm(saved)
        self.p.log.info(name, user_id=self.p.user_id, rule_id=rule.id, kind=rule.kind, symbol=rule.symbol,
                        enabled=rule.enabled)
        return self._after(durable, saved.copy())

    def _after(self, durable: Future[int], rule: Rule) -> Future[Rule]:
        answer: Future[Rule] = Future()
        resolve_after(durable, answer, rule)
        return answer

    # -- watching -----------------------------------------------------------------------------

    def arm_all(self) -> None:
        """An activation: every active rule watched again (its registration may have been
        lost to a market actor's restart)."""
        for rule in self.rules.values():
            self._arm(rule)

    def _arm(self, rule: Rule) -> None:
        trigger = rule_trigger(rule)
        if trigger is None:
            return
        if trigger.due is not None:
            self.p.system.tell_supervisor(ScheduleWake(self.p.user_id, trigger.key, trigger.due))
        elif rule.last_fired_at is not None and self.p.system.clock.now_ms() < rearm_at(rule):
            self.p.system.tell_supervisor(ScheduleWake(self.p.user_id, REARM_PREFIX + rule.id, rearm_at(rule)))
        else:
            self.p.system.tell_market(trigger.symbol, HoldTrigger(trigger))

    def _disarm(self, rule: Rule) -> None:
        key = rule_key(rule.id)
        if rule.kind == "DCA":
            self.p.system.tell_supervisor(CancelWake(self.p.user_id, key))
        elif rule.symbol:
            self.p.system.tell_market(rule.symbol, DropTrigger(self.p.user_id, key))
            self.p.system.tell_supervisor(CancelWake(self.p.user_id, REARM_PREFIX + rule.id))

    def on_crossing(self, crossing: Crossing) -> None:
        _, rule_id, *listed = crossing.trigger.key.split(":", 2)
        rule = self.rules.get(rule_id)
        if rule is None or not rule.active:
            return
        if listed:  # a NEW_LISTING rule's first price of the symbol it waited for
            if rule.kind == "NEW_LISTING" and listed[0] not in rule.listings:
                self.fire(rule, crossing.price, listed[0])
            return
        self.fire(rule, crossing.price)

    def on_listed(self, symbol: str) -> None:
        """A symbol is newly listed: each NEW_LISTING rule it matches buys it once its market
        has a first price (a trigger any price reaches, on its new market actor)."""
        if symbol not in self.p.system.catalog:
            return
        quote = self.p.system.catalog.get(symbol).quote
        for rule in self.rules.values():
            if rule.kind != "NEW_LISTING" or not rule.active or symbol in rule.listings:
                continue
            if rule.quote_asset is not None and rule.quote_asset != quote:
                continue
            trigger = Trigger(self.p.user_id, f"{rule_key(rule.id)}:{symbol}", symbol, "RISE", Decimal(0),
                              since=self.p.system.clock.now_ms())
            self.p.system.tell_market(symbol, HoldTrigger(trigger))
            self.p.log.info("rule.listing_seen", user_id=self.p.user_id, rule_id=rule.id, symbol=symbol)

    def on_wake(self, key: str) -> None:
        if key.startswith(REARM_PREFIX):
            rule = self.rules.get(key.removeprefix(REARM_PREFIX))
            if rule is not None and rule.active:
                self._arm(rule)
            return
        rule = self.rules.get(key.removeprefix("rule:"))
        if rule is None or not rule.active or rule.kind != "DCA":
            return
        due = next_due(rule)
        if due is not None and self.p.system.clock.now_ms() < due:
            self._arm(rule)  # woken early (a schedule from before an update): wait for its time
            return
        self.fire(rule, None)

    # -- firing -----------------------------------------------------------------------------------

    def fire(self, rule: Rule, price: Decimal | None, listed: str | None = None) -> None:
        now = self.p.system.clock.now_ms()
        reason = why_not(rule, now)
        if reason == "cooldown" and listed is None:
            self._arm(rule)  # watched again when the cooldown is over; nothing to record
            return
        if reason is not None:
            self._skip(rule, now, reason, price, listed)
            return
        symbol = listed or rule.symbol
        assert symbol is not None
        info = self.p.system.catalog.get(symbol)
        amount = amount_for(rule).quantize(Decimal(1).scaleb(-info.quote_precision), ROUND_DOWN)
        number = rule.firings + 1
        cmd = PlaceOrder(symbol=symbol, side="BUY", type="MARKET", quote_quantity=amount,
                         idempotency_key=f"rule:{rule.id}:{number}")

        def record(order: Order) -> list[AnyEvent]:
            after = rule.copy()
            after.firings, after.executions, after.last_fired_at = number, rule.executions + 1, now
            after.spent = rule.spent + amount
            if listed is not None:
                after.listings.append(listed)
            execution = Execution(execution_id(rule), rule.id, now, "PLACED", order_id=order.id, quote=amount,
                                  price=price)
            return [RuleExecuted(time=now, rule=after, execution=execution)]

        try:
            # Protection in percent of what it pays, judged once filled: the book read now
            # may be older than the trade that fired the rule.
            ticket: Ticket = self.p._accept(
                cmd, also=record, protect=(rule.stop_loss_percent, rule.take_profit_percent, rule.trailing_percent))
        except EngineError as exc:
            self._skip(rule, now, f"{exc.code}: {exc.message}", price, listed)
            return
        self.p.log.info("rule.fired", user_id=self.p.user_id, rule_id=rule.id, kind=rule.kind, symbol=symbol,
                        order_id=ticket.order_id, quote=fmt(amount), price=fmt(price))
        self._arm(self.rules[rule.id])

    def _skip(self, rule: Rule, now: int, reason: str, price: Decimal | None, listed: str | None = None) -> None:
        after = rule.copy()
        after.firings, after.last_fired_at = rule.firings + 1, now
        if listed is not None:
            after.listings.append(listed)  # one decision per listing, placed or not
        execution = Execution(execution_id(rule), rule.id, now, "SKIPPED", reason=reason, price=price)
        self.p._record([RuleExecuted(time=now, rule=after, execution=execution)])
        self.p.log.info("rule.skipped", user_id=self.p.user_id, rule_id=rule.id, reason=reason)
        self._arm(self.rules[rule.id])

    # -- the kill switch -------------------------------------------------------------------------

    def pause_all(self) -> None:
        now = self.p.system.clock.now_ms()
        for rule in list(self.rules.values()):
            if rule.enabled and not rule.paused:
                self._disarm(rule)
                paused = msgspec.structs.replace(rule, paused=True, updated_at=now)
                self.p._record([RuleSaved(time=now, rule=paused)])
                self.p.log.warning("rule.paused", user_id=self.p.user_id, rule_id=rule.id)

    def resume_all(self) -> None:
        now = self.p.system.clock.now_ms()
        for rule in list(self.rules.values()):
            if rule.paused:
                resumed = msgspec.structs.replace(rule, paused=False, updated_at=now)
                self.p._record([RuleSaved(time=now, rule=resumed)])
                self._arm(self.rules[rule.id])
                self.p.log.warning("rule.resumed", user_id=self.p.user_id, rule_id=rule.id)
