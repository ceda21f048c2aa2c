"""Supervisor: the restart policy and the engine's periodic jobs.

It restarts crashed actors and entities (recording why), notices actors that died
silently, and quarantines one that keeps crashing (more than RESTART_LIMIT times in
RESTART_WINDOW_SECONDS), halting trading through the risk engine so an operator
looks at it. On its tick it runs the periodic jobs: journal verification, pruning,
passivation of idle portfolios and gateways. The system's timer keeps it alive.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from actors.base import EngineActor
from actors.messages import ActorFailed, GetSupervision, Halt, ReleaseQuarantine, SupervisionTick
from actors.peers import SupervisorPeers
from actors.risk import FailureRecord

RESTART_LIMIT = 5
RESTART_WINDOW_SECONDS = 60.0


class Supervisor(EngineActor):
    kind = "supervisor"

    system: SupervisorPeers

    def __init__(self, system: SupervisorPeers) -> None:
        super().__init__(system, key="supervisor")
        self.failures: deque[FailureRecord] = deque(maxlen=100)
        self.restarts = 0
        self._recent: dict[tuple[str, str], deque[float]] = {}

    def handle(self, message: Any) -> Any:
        if isinstance(message, SupervisionTick):
            self.system.supervise_once()
            return None
        if isinstance(message, ActorFailed):
            return self._on_failure(message)
        if isinstance(message, ReleaseQuarantine):
            for kind, key in self.system.release_quarantine():
                self._recent.pop((kind, key), None)
                self.system.restart(kind, key, reason="trading resumed")
            return None
        if isinstance(message, GetSupervision):
            return list(self.failures), self.restarts
        raise TypeError(f"unexpected message {message!r}")

    def _on_failure(self, failure: ActorFailed) -> None:
        now = time.monotonic()
        recent = self._recent.setdefault((failure.kind, failure.key), deque(maxlen=RESTART_LIMIT + 1))
        recent.append(now)
        storm = len(recent) > RESTART_LIMIT and now - recent[0] < RESTART_WINDOW_SECONDS
        restarted = False
        if storm:
            self.log.error("supervisor.restart_storm", kind=failure.kind, key=failure.key, error=failure.error)
            self.system.quarantine(failure.kind, failure.key)
            if not self.system.risk_state.halted:
                reason = f"{failure.kind} {failure.key} keeps failing: {failure.error}"
                self.system.tell_risk(Halt(reason=reason, by="supervisor"))
        else:
            restarted = self.system.restart(failure.kind, failure.key, reason=failure.error)
            if restarted:
                self.restarts += 1
        self.failures.append(
            FailureRecord(failure.kind, failure.key, failure.error, self.system.clock.now_ms(), restarted)
        )
