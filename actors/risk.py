"""RiskSupervisor: pre-trade checks, the kill switch, and supervision.

Every order asks it first; it refuses orders over the notional limit and all
orders while trading is halted. The halt is journaled, so it survives a
restart. It also restarts crashed actors (recording why), notices actors that
died silently, halts trading if one keeps crashing, and asks idle portfolios
to passivate.
"""

from __future__ import annotations

import time
from collections import deque
from decimal import Decimal
from typing import Any

import msgspec

from actors.base import EngineActor
from actors.messages import ActorFailed, CheckOrder, GetRiskStatus, Halt, LoadStream, Resume, SupervisionTick
from engine.errors import RiskLimitExceeded, TradingHalted
from engine.events import RISK_STREAM, KillSwitchEngaged, KillSwitchReleased
from engine.money import fmt

# A key that crashes this often within the window is not restarted again;
# trading halts so an operator looks at it.
RESTART_LIMIT = 5
RESTART_WINDOW_SECONDS = 60.0


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


class RiskSupervisor(EngineActor):
    kind = "risk"

    def __init__(self, system: Any) -> None:
        super().__init__(system, key="risk")
        self.max_order_notional: Decimal = system.config.max_order_notional
        self.halted = False
        self.halt_reason: str | None = None
        self.halted_by: str | None = None
        self.halted_at: int | None = None
        self.failures: deque[FailureRecord] = deque(maxlen=100)
        self.restarts = 0
        self._recent: dict[tuple[str, str], deque[float]] = {}

    def started(self) -> None:
        for event in self.system.ask_persistence(LoadStream(RISK_STREAM)).events:
            self._apply(event)
        if self.halted:
            self.log.warning("risk.halted_at_start", reason=self.halt_reason)

    def handle(self, message: Any) -> Any:
        if isinstance(message, CheckOrder):
            return self._check(message)
        if isinstance(message, SupervisionTick):
            self.system.supervise_once()
            return None
        if isinstance(message, ActorFailed):
            return self._on_failure(message)
        if isinstance(message, Halt):
            self._switch(KillSwitchEngaged(time=self.system.clock.now_ms(), reason=message.reason, by=message.by))
            return self.status()
        if isinstance(message, Resume):
            self._switch(KillSwitchReleased(time=self.system.clock.now_ms(), by=message.by))
            # An operator has looked: give quarantined actors another chance.
            for kind, key in self.system.release_quarantine():
                self._recent.pop((kind, key), None)
                self.system.restart(kind, key, reason="trading resumed")
            return self.status()
        if isinstance(message, GetRiskStatus):
            return self.status()
        raise TypeError(f"unexpected message {message!r}")

    def status(self) -> RiskStatus:
        return RiskStatus(
            halted=self.halted,
            halt_reason=self.halt_reason,
            halted_by=self.halted_by,
            halted_at=self.halted_at,
            max_order_notional=self.max_order_notional,
            failures=list(self.failures),
            restarts=self.restarts,
        )

    # -- checks ----------------------------------------------------------------------

    def _check(self, check: CheckOrder) -> None:
        if self.halted:
            raise TradingHalted(f"trading is halted: {self.halt_reason}")
        if check.notional > self.max_order_notional:
            raise RiskLimitExceeded(
                f"order value {fmt(check.notional)} exceeds the limit of {fmt(self.max_order_notional)} per order",
                details={"limit": fmt(self.max_order_notional), "notional": fmt(check.notional)},
            )

    # -- kill switch -------------------------------------------------------------------

    def _switch(self, event: KillSwitchEngaged | KillSwitchReleased) -> None:
        # In memory first: halting must work even when the journal does not.
        self._apply(event)
        self.log.warning("risk.kill_switch", engaged=self.halted, reason=self.halt_reason, by=getattr(event, "by", None))
        try:
            self.system.append(RISK_STREAM, [event]).result(timeout=self.system.config.ask_timeout_seconds)
        except Exception as exc:  # noqa: BLE001 - the switch stays as set
            self.log.error("risk.kill_switch_not_journaled", error=repr(exc))

    def _apply(self, event: Any) -> None:
        if isinstance(event, KillSwitchEngaged):
            self.halted, self.halt_reason, self.halted_by, self.halted_at = True, event.reason, event.by, event.time
        elif isinstance(event, KillSwitchReleased):
            self.halted, self.halt_reason, self.halted_by, self.halted_at = False, None, None, None

    # -- supervision -------------------------------------------------------------------

    def _on_failure(self, failure: ActorFailed) -> None:
        now = time.monotonic()
        recent = self._recent.setdefault((failure.kind, failure.key), deque(maxlen=RESTART_LIMIT + 1))
        recent.append(now)
        storm = len(recent) > RESTART_LIMIT and now - recent[0] < RESTART_WINDOW_SECONDS
        restarted = False
        if storm:
            self.log.error("supervisor.restart_storm", kind=failure.kind, key=failure.key, error=failure.error)
            self.system.quarantine(failure.kind, failure.key)
            if not self.halted:
                reason = f"{failure.kind} {failure.key} keeps failing: {failure.error}"
                self._switch(KillSwitchEngaged(time=self.system.clock.now_ms(), reason=reason, by="supervisor"))
        else:
            restarted = self.system.restart(failure.kind, failure.key, reason=failure.error)
            if restarted:
                self.restarts += 1
        self.failures.append(
            FailureRecord(failure.kind, failure.key, failure.error, self.system.clock.now_ms(), restarted)
        )
