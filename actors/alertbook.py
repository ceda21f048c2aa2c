"""A portfolio's price alerts: kept, watched and recorded on the portfolio's thread.

Their triggers are watched by the symbol's market actor (and, for a CHANGE_PERCENT one
waiting out its window, by the supervisor's schedule); a firing is journaled as an
``AlertFired`` with the alert disarmed, and a crossing back (or the window's end) arms
it again, so an alert fires once per crossing however many ticks qualify.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING

import msgspec

from actors.messages import CancelWake, DropTrigger, HoldTrigger, ScheduleWake, resolve_after
from engine.alerts import Alert, AlertFields, AlertFiring, validate_alert
from engine.errors import AlertNotFound, InvalidAlert
from engine.events import AlertDeleted, AlertFired, AlertSaved
from engine.money import fmt
from engine.orders import new_order_id
from engine.triggers import Crossing, alert_keys, alert_triggers

if TYPE_CHECKING:
    from actors.portfolio import Portfolio


class AlertBook:
    def __init__(self, portfolio: Portfolio) -> None:
        self.p = portfolio

    @property
    def alerts(self) -> dict[str, Alert]:
        return self.p.state.alerts

    def create(self, fields: AlertFields) -> Future[Alert]:
        symbol = fields.symbol.strip().upper()
        if symbol not in self.p.system.catalog:
            raise InvalidAlert(f"unknown symbol {fields.symbol!r}", details={"field": "symbol"})
        kind = validate_alert(fields, self.p.system.catalog.get(symbol).quote_precision)
        now = self.p.system.clock.now_ms()
        alert = Alert(id=new_order_id(now), user_id=self.p.user_id, symbol=symbol, kind=kind, created_at=now,
                      price=fields.price, change_percent=fields.change_percent, window_seconds=fields.window_seconds)
        durable = self.p._record([AlertSaved(time=now, alert=alert)])
        self._arm(self.alerts[alert.id])
        self.p.log.info("alert.created", user_id=self.p.user_id, alert_id=alert.id, kind=kind, symbol=symbol)
        return self._after(durable, alert.copy())

    def delete(self, alert_id: str) -> Future[Alert]:
        alert = self._alert(alert_id).copy()
        self._disarm(alert)
        durable = self.p._record([AlertDeleted(time=self.p.system.clock.now_ms(), alert_id=alert_id)])
        return self._after(durable, alert)

    def get(self, alert_id: str | None) -> list[Alert]:
        if alert_id is not None:
            return [self._alert(alert_id).copy()]
        return [a.copy() for a in sorted(self.alerts.values(), key=lambda a: (a.created_at, a.id))]

    def firings(self, alert_id: str, limit: int) -> list[AlertFiring]:
        self._alert(alert_id)
        return list(reversed(list(self.p.state.firings.get(alert_id, ()))))[:limit]

    def _alert(self, alert_id: str) -> Alert:
        alert = self.alerts.get(alert_id)
        if alert is None:
            raise AlertNotFound(f"no alert {alert_id!r}", details={"alertId": alert_id})
        return alert

    def _after(self, durable: Future[int], alert: Alert) -> Future[Alert]:
        answer: Future[Alert] = Future()
        resolve_after(durable, answer, alert)
        return answer

    # -- watching ---------------------------------------------------------------------------

    def arm_all(self) -> None:
        for alert in self.alerts.values():
            self._arm(alert)

    def _arm(self, alert: Alert) -> None:
        for trigger in alert_triggers(alert):
            if trigger.due is not None:
                self.p.system.tell_supervisor(ScheduleWake(self.p.user_id, trigger.key, trigger.due))
            else:
                self.p.system.tell_market(trigger.symbol, HoldTrigger(trigger))

    def _disarm(self, alert: Alert) -> None:
        for key in alert_keys(alert.id):
            self.p.system.tell_market(alert.symbol, DropTrigger(self.p.user_id, key))
            self.p.system.tell_supervisor(CancelWake(self.p.user_id, key))

    def on_crossing(self, crossing: Crossing) -> None:
        key = crossing.trigger.key
        alert = self.alerts.get(key.split(":")[1])
        if alert is None:
            return
        now = self.p.system.clock.now_ms()
        if key.endswith(":rearm"):
            if not alert.armed:
                self._save_armed(alert, now)
            return
        if not alert.armed:
            return  # a crossing from before its firing was journaled
        self._disarm(alert)  # the other half of a CHANGE_PERCENT pair too
        after = msgspec.structs.replace(alert, armed=False, fired=alert.fired + 1, last_fired_at=now)
        firing = AlertFiring(f"{alert.id}-{alert.fired + 1}", alert.id, now, crossing.price, crossing.anchor)
        self.p._record([AlertFired(time=now, alert=after, firing=firing)])
        self.p.log.info("alert.fired", user_id=self.p.user_id, alert_id=alert.id, kind=alert.kind, symbol=alert.symbol,
                        price=fmt(crossing.price))
        self._arm(self.alerts[alert.id])

    def on_wake(self, key: str) -> None:
        alert = self.alerts.get(key.split(":")[1])
        if alert is not None and not alert.armed:
            self._save_armed(alert, self.p.system.clock.now_ms())

    def _save_armed(self, alert: Alert, now: int) -> None:
        self._disarm(alert)
        self.p._record([AlertSaved(time=now, alert=msgspec.structs.replace(alert, armed=True))])
        self._arm(self.alerts[alert.id])
