"""Virtual actors: many entities (a user's portfolio, an account's gateway) hosted by
a few pykka actors, so the number of threads follows the number of hosts, not users.

pykka gives every actor an OS thread. A portfolio per user as a pykka actor costs a
thread and ~1 MB of stack per active user, and a user with an open order could never
let go of it. Here an entity is a plain object; an ``EntityHost`` (one pykka actor, so
one thread) owns a table of them, keyed by user or account. A key always lands on the
same host (``host_index``), so every message to one entity is handled in the order it
was sent, one at a time, as if the entity were an actor of its own.

An entity is activated by the first message addressed to it (from the journal, by its
``activate``), and passivated when idle or when the host holds more than its share of
the live cap (least recently used first). A message that arrives for an entity while
it activates waits in the host's inbox behind the activation, so it is delivered once,
in order. An entity that fails (an unexpected exception) is dropped at once, its
half-changed state with it, and reported to the supervisor; the next message
activates it again from the journal. The host and the other entities carry on.
"""

from __future__ import annotations

import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
import structlog

from actors.base import EngineActor
from actors.messages import Passivate
from engine.errors import ActorUnavailable, EngineError

if TYPE_CHECKING:
    from actors.peers import HostPeers


def host_index(key: str, hosts: int) -> int:
    """The host of ``key``: stable across runs (not Python's salted hash)."""
    return zlib.crc32(key.encode()) % hosts


class ToEntity(msgspec.Struct, frozen=True):
    """``message`` for the entity ``key``. With ``live_only`` it is dropped if the
    entity is not active (an answer to a request of an activation that is gone)."""

    key: str
    message: Any
    live_only: bool = False


class Activate(msgspec.Struct, frozen=True):
    """Activate ``key`` now (a restart after a failure; a start that must not wait
    for the first message)."""

    key: str


class DropAll(msgspec.Struct, frozen=True):
    """Let go of every entity at once, whatever it is doing: what they hold in memory
    can no longer be trusted (the journal failed); they activate again from it."""


class FailEntity(msgspec.Struct, frozen=True):
    """Drop ``key`` as if it had failed (tools and tests)."""

    key: str
    reason: str


class Reloading(ActorUnavailable):
    """The entity refused a message before doing anything with it, because its state
    must be loaded from the journal again: the message may be sent again at once."""


class PassivateIdle(msgspec.Struct, frozen=True):
    """Passivate entities idle for ``idle_seconds`` (the supervisor's tick)."""

    idle_seconds: float


class Refused:
    """An entity's refusal (an EngineError), handed back as the answer: raised in a
    pykka ``tell``, it would stop the host and every entity on it. ``ActorSystem.ask``
    raises it for the caller; for a tell nobody waits on, it is dropped."""

    __slots__ = ("error",)

    def __init__(self, error: EngineError) -> None:
        self.error = error


class Entity:
    """What a host needs of an entity. ``broken`` set by a handler means its state
    can no longer be trusted: the host drops it after that message."""

    kind: ClassVar[str] = "entity"

    system: HostPeers  # each kind narrows it to its own view (actors/peers.py)

    def __init__(self, system: HostPeers, key: str) -> None:
        self.system = system
        self.key = key
        self.log = structlog.get_logger(f"actors.{self.kind}").bind(actor=self.kind, key=key)
        self.broken: Exception | None = None
        self.last_active = time.monotonic()

    def activate(self) -> None:
        """Load state; runs on the host's thread before any message."""

    def handle(self, message: Any) -> Any:
        raise NotImplementedError

    def can_passivate(self, idle_seconds: float, now: float) -> bool:
        """Whether it may go now: idle that long, and nothing under way that only
        this activation could finish."""
        return now - self.last_active >= idle_seconds

    def deactivate(self) -> None:
        """Let go of what it holds; runs on the host's thread."""

    def tick(self, now: float) -> None:
        """The host's timer (only entities that ask for it: ``wants_ticks``)."""

    wants_ticks: ClassVar[bool] = False


class EntityHost(EngineActor):
    """One pykka actor hosting many entities of one kind."""

    kind = "host"
    system: HostPeers

    def __init__(
        self,
        system: HostPeers,
        key: str,
        *,
        entity_kind: str,
        factory: Callable[[str], Entity],
        max_live: int,
    ) -> None:
        super().__init__(system, key=key)
        self.entity_kind = entity_kind
        self._factory = factory
        self._max_live = max(1, max_live)
        self._live: OrderedDict[str, Entity] = OrderedDict()  # least recently used first
        self.activations = 0
        self.passivations = 0

    # -- dispatch ----------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ToEntity):
            try:
                return self._deliver(message)
            except EngineError as exc:
                return Refused(exc)
        return super().on_receive(message)

    def handle(self, message: Any) -> Any:
        if isinstance(message, PassivateIdle):
            return self._passivate_idle(message.idle_seconds)
        if isinstance(message, Activate):
            self._entity(message.key)
            return None
        entity: Entity | None
        if isinstance(message, DropAll):
            for entity in list(self._live.values()):
                del self._live[entity.key]
                self._deactivate(entity)
            return None
        if isinstance(message, FailEntity):
            entity = self._live.get(message.key)
            if entity is not None:
                self._fail(entity, RuntimeError(message.reason), during="FailEntity")
            return entity is not None
        return self.handle_own(message)

    def handle_own(self, message: Any) -> Any:
        raise TypeError(f"unexpected message {message!r}")

    def _deliver(self, envelope: ToEntity) -> Any:
        key = envelope.key
        if envelope.live_only and key not in self._live:
            self.log.info(f"{self.entity_kind}.message_dropped", key=key, message=type(envelope.message).__name__)
            return None
        if isinstance(envelope.message, Passivate):
            return self._passivate_one(key, envelope.message.idle_seconds)
        entity = self._entity(key)
        self._live.move_to_end(key)
        try:
            return entity.handle(envelope.message)
        except EngineError:
            raise
        except Exception as exc:
            self._fail(entity, exc, during=type(envelope.message).__name__)
            raise ActorUnavailable(f"{self.entity_kind} {key} failed: {exc!r}") from None
        finally:
            if entity.broken is not None and self._live.get(key) is entity:
                self._fail(entity, entity.broken, during=type(envelope.message).__name__)

    def _entity(self, key: str) -> Entity:
        entity = self._live.get(key)
        if entity is not None:
            return entity
        self.system.supervision.check_not_quarantined(self.entity_kind, key)
        if len(self._live) >= self._max_live:
            self._evict(len(self._live) - self._max_live + 1)
        entity = self._factory(key)
        try:
            entity.activate()
        except EngineError as exc:
            self._forget(key)
            self.log.warning(f"{self.entity_kind}.activation_refused", key=key, error=exc.message)
            raise
        except Exception as exc:
            self._fail(entity, exc, during="activate")
            raise ActorUnavailable(f"{self.entity_kind} {key} could not start: {exc!r}") from None
        self._live[key] = entity
        self.activations += 1
        self.system.entity_activated(self.entity_kind, key)
        return entity

    def _fail(self, entity: Entity, exc: Exception, *, during: str) -> None:
        """Drop the entity at once (its state may be half changed) and report."""
        self.log.error(f"{self.entity_kind}.failed", key=entity.key, during=during, error=repr(exc), exc_info=exc)
        if self._live.get(entity.key) is entity:
            del self._live[entity.key]
        self._deactivate(entity)
        self.system.supervision.report_failure(self.entity_kind, entity.key, exc)

    def _forget(self, key: str) -> None:
        self._live.pop(key, None)
        self.system.entity_passivated(self.entity_kind, key)

    def _deactivate(self, entity: Entity) -> None:
        try:
            entity.deactivate()
        except Exception as exc:  # noqa: BLE001 - what it held is let go of all the same
            self.log.warning(f"{self.entity_kind}.deactivate_failed", key=entity.key, error=repr(exc))
        self.system.entity_passivated(self.entity_kind, entity.key)

    # -- passivation ---------------------------------------------------------------------

    def _passivate(self, entity: Entity, reason: str) -> None:
        del self._live[entity.key]
        self._deactivate(entity)
        self.passivations += 1
        self.log.info(f"{self.entity_kind}.passivated", key=entity.key, reason=reason,
                      idle_seconds=round(time.monotonic() - entity.last_active, 1))

    def _passivate_one(self, key: str, idle_seconds: float) -> bool:
        """Passivate ``key`` now if it may go; True if it is not active afterwards."""
        entity = self._live.get(key)
        if entity is None:
            return True
        if not entity.can_passivate(idle_seconds, time.monotonic()):
            return False
        self._passivate(entity, "asked")
        return True

    def _passivate_idle(self, idle_seconds: float) -> int:
        now = time.monotonic()
        gone = 0
        for entity in list(self._live.values()):
            if entity.can_passivate(idle_seconds, now):
                self._passivate(entity, "idle")
                gone += 1
        return gone

    def _evict(self, count: int) -> None:
        """Make room under the cap: the least recently used that may go, go."""
        now = time.monotonic()
        for entity in list(self._live.values()):
            if count <= 0:
                return
            if entity.can_passivate(0.0, now):
                self._passivate(entity, "cap")
                count -= 1
        if count > 0:
            self.log.warning(f"{self.entity_kind}.over_cap", live=len(self._live), cap=self._max_live)

    # -- for the system --------------------------------------------------------------------

    def stopping(self) -> None:
        for entity in list(self._live.values()):
            self._deactivate(entity)
        self._live.clear()

    def live_keys(self) -> list[str]:
        return list(self._live)

    def tick_entities(self, now: float) -> None:
        for entity in list(self._live.values()):
            if not entity.wants_ticks:
                continue
            try:
                entity.tick(now)
            except EngineError:
                pass
            except Exception as exc:
                self._fail(entity, exc, during="tick")
