"""RiskEngine: the kill switch and the limits, published for every portfolio to check.

Pre-trade checks are pure (``engine.risk``): a portfolio runs them itself against the
``RiskState`` this actor publishes, so no order waits in this actor's inbox. The halt
is journaled, so it survives a restart, and published before it is acknowledged.
Supervision (restarts, storms, quarantine) is the Supervisor's (``actors.supervisor``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from actors.base import EngineActor
from actors.messages import (
    CancelAll,
    CheckOrder,
    GetRiskStatus,
    Halt,
    LoadStream,
    ReleaseQuarantine,
    Resume,
    ResumeRules,
    UsersWithOpenOrders,
    UsersWithPausedRules,
)
from actors.peers import RiskPeers
from engine import risk
from engine.errors import EngineError
from engine.events import RISK_STREAM, KillSwitchEngaged, KillSwitchReleased
from engine.risk import Limits, risk_state_of


class FailureRecord(msgspec.Struct, frozen=True):
    kind: str
    key: str
    error: str
    time: int
    restarted: bool


class RiskStatus(msgspec.Struct, frozen=True):
    halted: bool
    halt_reason: str | None
    halted_by: str | None
    halted_at: int | None
    max_order_notional: Decimal
    failures: list[FailureRecord]
    restarts: int
    limits: Limits = Limits()  # every limit the engine sets for all users (RISK_*)


class RiskEngine(EngineActor):
    kind = "risk"

    system: RiskPeers

    def __init__(self, system: RiskPeers) -> None:
        super().__init__(system, key="risk")
        self.state = risk_state_of(system.config)

    def started(self) -> None:
        for event in self.system.ask_persistence(LoadStream(RISK_STREAM)).events:
            self._apply(event)
        self.system.publish_risk(self.state)
        if self.state.halted:
            self.log.warning("risk.halted_at_start", reason=self.state.halt_reason)

    def handle(self, message: Any) -> Any:
        if isinstance(message, CheckOrder):
            risk.check_order(self.state, message.notional)
            return None
        if isinstance(message, Halt):
            self._switch(KillSwitchEngaged(time=self.system.clock.now_ms(), reason=message.reason, by=message.by))
            self._cancel_everything(f"kill switch: {message.reason}")
            return self.state
        if isinstance(message, Resume):
            self._switch(KillSwitchReleased(time=self.system.clock.now_ms(), by=message.by))
            self._resume_rules()
            # An operator has looked: quarantined actors get another chance.
            self.system.tell_supervisor(ReleaseQuarantine())
            return self.state
        if isinstance(message, GetRiskStatus):
            return self.state
        raise TypeError(f"unexpected message {message!r}")

    # -- kill switch -------------------------------------------------------------------

    def _resume_rules(self) -> None:
        """The rules the kill switch paused are watched again (canceled orders stay canceled)."""
        try:
            users = set(self.system.ask_persistence(UsersWithPausedRules()))
        except EngineError as exc:
            self.log.error("risk.resume_rules_unlisted", error=exc.message)
            return
        for user_id in sorted(users):
            self.system.tell_portfolio(user_id, ResumeRules())

    def _cancel_everything(self, reason: str) -> None:
        """Every open and conditional order of every user is canceled: each portfolio
        is told (a sleeping one is woken), and cancels its own. Resuming brings none back."""
        try:
            users = set(self.system.ask_persistence(UsersWithOpenOrders()))
        except EngineError as exc:
            self.log.error("risk.cancel_all_unlisted", error=exc.message)
            users = set()
        users.update(self.system.live_portfolios())  # orders placed but not yet committed
        for user_id in sorted(users):
            self.system.tell_portfolio(user_id, CancelAll(reason))
        self.log.warning("risk.cancel_all", users=len(users), reason=reason)

    def _switch(self, event: KillSwitchEngaged | KillSwitchReleased) -> None:
        # In memory and published first: halting must work even when the journal does not.
        self._apply(event)
        self.system.publish_risk(self.state)
        self.log.warning("risk.kill_switch", engaged=self.state.halted, reason=self.state.halt_reason,
                         by=getattr(event, "by", None))
        try:
            self.system.append(RISK_STREAM, [event]).result(timeout=self.system.config.ask_timeout_seconds)
        except Exception as exc:  # noqa: BLE001 - the switch stays as set
            self.log.error("risk.kill_switch_not_journaled", error=repr(exc))

    def _apply(self, event: Any) -> None:
        if isinstance(event, KillSwitchEngaged):
            self.state = risk.halted(self.state, reason=event.reason, by=event.by, at=event.time)
        elif isinstance(event, KillSwitchReleased):
            self.state = risk.resumed(self.state)
