"""The one thread that runs trio, and the only doors between it and the actors.

Network I/O that is not a blocking call inside an actor (market streams, later
the push WebSocket and async HTTP) runs here. Data flows to actors by ``tell``;
actors and other threads reach trio through ``run_sync`` and ``spawn``.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
import trio

log = structlog.get_logger(__name__)

START_TIMEOUT_SECONDS = 10.0


class TaskHandle:
    """A spawned task, for stopping it early (from any thread)."""

    def __init__(self, bridge: TrioBridge, name: str) -> None:
        self.name = name
        self.scope = trio.CancelScope()
        self._bridge = bridge

    def cancel(self) -> None:
        try:
            self._bridge.run_sync(self.scope.cancel)
        except (trio.RunFinishedError, RuntimeError):
            pass  # the bridge has stopped, and the task with it


class TrioBridge:
    def __init__(self, name: str = "trio-io") -> None:
        self._name = name
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._stop_event: trio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_SECONDS):
            raise RuntimeError("the trio thread did not start")
        if self._failure is not None:
            raise RuntimeError("the trio thread failed to start") from self._failure

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None or not self._thread.is_alive():
            return
        try:
            trio.from_thread.run_sync(self._stop_event.set, trio_token=self._token)  # type: ignore[union-attr]
        except trio.RunFinishedError:
            pass
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("bridge.stop_timeout", timeout=timeout)
        else:
            log.info("bridge.stopped")

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- doors -----------------------------------------------------------------------

    def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the trio thread and return its result."""
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def spawn(self, name: str, async_fn: Callable[..., Awaitable[Any]], *args: Any, restart: bool = True) -> TaskHandle:
        """Start a long-running task; if it fails, log and (by default) restart it
        with back-off. It never takes the trio thread down with it."""
        handle = TaskHandle(self, name)
        self.run_sync(self._nursery.start_soon, self._guard, handle, async_fn, args, restart)  # type: ignore[union-attr]
        return handle

    def every(self, name: str, seconds: float, fn: Callable[[], Any]) -> None:
        """Call ``fn()`` on the trio thread every ``seconds``; it must not block."""

        async def loop() -> None:
            while True:
                await trio.sleep(seconds)
                fn()

        self.spawn(name, loop)

    # -- internals ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # noqa: BLE001 - the thread must report, not vanish
            self._failure = exc
            log.error("bridge.crashed", error=repr(exc), exc_info=exc)
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop_event = trio.Event()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._ready.set()
            log.info("bridge.started")
            await self._stop_event.wait()
            nursery.cancel_scope.cancel()

    @staticmethod
    async def _guard(handle: TaskHandle, async_fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], restart: bool) -> None:
        with handle.scope:
            await TrioBridge._supervise(handle.name, async_fn, args, restart)
        if handle.scope.cancelled_caught:
            log.info("bridge.task_cancelled", task=handle.name)

    @staticmethod
    async def _supervise(name: str, async_fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], restart: bool) -> None:
        backoff = 0.5
        while True:
            try:
                await async_fn(*args)
                log.info("bridge.task_finished", task=name)
                return
            except Exception as exc:  # noqa: BLE001
                log.error("bridge.task_failed", task=name, error=repr(exc), exc_info=exc)
                if not restart:
                    return
            await trio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
