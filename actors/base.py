"""The base of every engine actor: logging, typed dispatch and crash reporting.

pykka leaves an actor dead after an exception in a ``tell`` and keeps it running
after one in an ``ask``. Neither is right for an actor whose state may be half
changed, so an unexpected exception from any handler stops the actor at once
(the rest of its inbox gets ActorDeadError) and is reported to the supervisor,
which restarts it from the journal. EngineErrors are expected refusals: the
handler raised before changing anything, and the actor carries on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import pykka
import structlog

from engine.errors import EngineError

if TYPE_CHECKING:
    from actors.peers import Supervised


class EngineActor(pykka.ThreadingActor):
    kind: ClassVar[str] = "actor"

    system: Supervised  # each kind narrows it to its own view (actors/peers.py)

    def __init__(self, system: Supervised, key: str) -> None:
        super().__init__()
        self.system = system
        self.key = key
        self.log = structlog.get_logger(f"actors.{self.kind}").bind(actor=self.kind, key=key)
        self._crashed = False

    # -- lifecycle -------------------------------------------------------------------

    def on_start(self) -> None:
        try:
            self.started()
        except Exception as exc:
            self._crash(exc, during="start")
            raise
        self.log.info("actor.started")

    def on_stop(self) -> None:
        try:
            self.stopping()
        finally:
            self.log.info("actor.stopped", crashed=self._crashed)

    def on_failure(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if not self._crashed and isinstance(exc, Exception):
            self._crash(exc, during="tell")

    def on_receive(self, message: Any) -> Any:
        try:
            return self.handle(message)
        except EngineError:
            raise
        except Exception as exc:
            self._crash(exc, during=type(message).__name__)
            raise

    # -- for subclasses ----------------------------------------------------------------

    def started(self) -> None:
        """Load state; runs in the actor's thread before any message."""

    def stopping(self) -> None:
        """Release resources; runs in the actor's thread."""

    def handle(self, message: Any) -> Any:
        raise NotImplementedError

    # -- internals ---------------------------------------------------------------------

    def _crash(self, exc: Exception, *, during: str) -> None:
        if self._crashed:
            return
        self._crashed = True
        self.log.error("actor.failed", during=during, error=repr(exc), exc_info=exc)
        # Stop now, not after the rest of the inbox: the state may be half changed.
        # And stop before reporting, so the supervisor never finds this actor alive.
        if not self.actor_stopped.is_set():
            self._stop()
        self.system.supervision.report_failure(self.kind, self.key, exc)
