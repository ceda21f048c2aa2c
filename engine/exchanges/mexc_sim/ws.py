"""MEXC's WebSocket market and user streams, served with trio-websocket at /ws.

Control frames are JSON text (SUBSCRIPTION, UNSUBSCRIPTION, PING); data pushes
are binary protobuf, one PushDataV3ApiWrapper per frame. Aggregated channels
push every 100 ms or 10 ms as named; a depth push merges every change in its
window, so its fromVersion..toVersion chain is gapless and continues from the
REST snapshot's lastUpdateId. Private channels need a connection opened with
``?listenKey=``; a key serves at most 5 connections, and its connections close
when it expires or is deleted.

MEXC closes a connection after 30 s with no valid subscription, after 60 s in
which it was sent nothing (a PONG counts: a client that pings stays), and 24 h
after it opened whatever it does (``WsLimits``). These are measured on the
simulator's clock, so a test on a ManualClock can move past them at once. One
sweep checks every connection against one reading of the clock, so connections
opened together meet their limits together.

``PushHub`` (hub.py) is the exchange's listener; the flush loop here takes its
windows and fans the encoded frames out. Private pushes pass through the accounts'
injected push faults (push_faults) on their way out, in the same loop, which also
sends what those faults held.

A ``PrivateTap`` (``tap_private``) is a subscriber inside the simulator's own
process: it is handed the same encoded frames of the accounts it wants, after the
same push faults, with no connection per account (the engine's paper venue takes
every account's user data this way).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import parse_qs

import msgspec
import structlog
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

from engine.clock import Clock
from engine.exchanges.mexc import channels
from engine.exchanges.mexc.codec import Push, encode_push
from engine.exchanges.mexc_sim.core import SimExchange
from engine.exchanges.mexc_sim.hub import PushHub
from engine.exchanges.mexc_sim.listenkeys import ListenKeys
from engine.exchanges.mexc_sim.push_faults import PushFaults

log = structlog.get_logger(__name__)

FLUSH_SECONDS = 0.01  # the fastest push interval
SLOW_EVERY = 10  # 100ms channels, klines and limit depth flush every 10th round
OUTBOX_FRAMES = 2_000  # a connection this far behind is dropped, as MEXC drops slow readers
MAX_SUBSCRIPTIONS = channels.MAX_SUBSCRIPTIONS_PER_CONNECTION
CONNECTIONS_PER_LISTEN_KEY = 5
PONG = {"id": 0, "code": 0, "msg": "PONG"}
SWEEP_SECONDS = 0.1  # how often (real time) connections are checked against their limits


class WsLimits(msgspec.Struct, frozen=True):
    """When MEXC closes a connection, in seconds of the simulator's clock."""

    no_subscription_seconds: float = 30.0
    no_data_seconds: float = 60.0
    max_age_seconds: float = 24 * 3600.0


def _json(message: object) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def refusal(params: list[str], reason: str = "Blocked!") -> str:
    # MEXC's wording, with its two spaces and full-width colon.
    return f"Not Subscribed successfully! [{','.join(params)}].  Reason： {reason}"


class _Connection:
    def __init__(self, ws: WebSocketConnection, clock: Clock, api_key: str | None, listen_key: str | None = None) -> None:
        self.ws = ws
        self.clock = clock
        self.api_key = api_key
        self.listen_key = listen_key
        self.subscriptions: set[str] = set()
        self.opened_ms = self.last_sent_ms = self.unsubscribed_ms = clock.now_ms()
        self.outbox_send, self.outbox = trio.open_memory_channel[bytes | str](OUTBOX_FRAMES)
        self.scope = trio.CancelScope()
        self.close_code = 1000
        self.close_reason = ""

    def offer(self, frame: bytes | str) -> None:
        self.last_sent_ms = self.clock.now_ms()
        try:
            self.outbox_send.send_nowait(frame)
        except trio.WouldBlock:
            self.close(1008, "too slow")
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass

    def close(self, code: int, reason: str) -> None:
        self.close_code, self.close_reason = code, reason
        self.scope.cancel()

    def overdue(self, limits: WsLimits, now_ms: int) -> str | None:
        """Why MEXC would close this connection at ``now_ms``, if it would."""
        if now_ms - self.opened_ms >= limits.max_age_seconds * 1000:
            return f"open for {limits.max_age_seconds:g} s"
        if not self.subscriptions and now_ms - self.unsubscribed_ms >= limits.no_subscription_seconds * 1000:
            return "no subscription"
        if now_ms - self.last_sent_ms >= limits.no_data_seconds * 1000:
            return "no data"
        return None


class PrivateTap(Protocol):
    """An in-process subscriber to private channels (on the flush loop's trio thread:
    ``deliver`` must not block)."""

    def wants(self, api_key: str) -> bool: ...
    def deliver(self, api_key: str, channel: str, frame: bytes) -> None: ...


class WsServer:
    def __init__(
        self,
        exchange: SimExchange,
        listen_keys: ListenKeys,
        clock: Clock,
        *,
        limits: WsLimits | None = None,
        max_subscriptions: int = MAX_SUBSCRIPTIONS,
        push_faults: PushFaults | None = None,
    ) -> None:
        self.hub = PushHub(exchange, clock)
        self._push_faults = push_faults
        self._keys = listen_keys
        self._clock = clock
        self.limits = limits or WsLimits()
        self._max_subscriptions = max_subscriptions
        self._connections: set[_Connection] = set()
        self._public: dict[str, set[_Connection]] = {}
        self._private: dict[tuple[str, str], set[_Connection]] = {}
        self._taps: list[PrivateTap] = []
        self._token: trio.lowlevel.TrioToken | None = None
        self.port: int | None = None
        exchange.listeners.append(self.hub)

    async def serve(self, host: str, port: int, *, task_status=trio.TASK_STATUS_IGNORED) -> None:  # type: ignore[no-untyped-def]
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_websocket, self._handle, host, port, None)
            self.port = server.port
            nursery.start_soon(self._flush_loop)
            nursery.start_soon(self._sweep_loop)
            log.info("sim.ws_listening", host=host, port=self.port)
            task_status.started(self.port)

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def drop_all(self) -> int:
        """Close every connection now (from any thread); returns how many."""
        if self._token is None:
            return 0
        try:
            return trio.from_thread.run_sync(self._drop_all, trio_token=self._token)
        except trio.RunFinishedError:
            return 0  # the server has stopped: nothing left to drop

    def _drop_all(self) -> int:
        dropped = list(self._connections)
        for connection in dropped:
            connection.close(1001, "dropped by the simulator")
        return len(dropped)

    # -- one connection ----------------------------------------------------------------

    async def _handle(self, request: WebSocketRequest) -> None:
        # Nothing a client does may take the server down: every failure ends
        # only its own connection.
        try:
            await self._serve_connection(request)
        except Exception as exc:  # noqa: BLE001
            log.warning("sim.ws_connection_failed", error=repr(exc))

    async def _serve_connection(self, request: WebSocketRequest) -> None:
        path, _, query = request.path.partition("?")
        if path.rstrip("/") != "/ws":
            await request.reject(404)
            return
        listen_key = parse_qs(query).get("listenKey", [None])[0]
        api_key = self._keys.owner(listen_key) if listen_key else None
        ws = await request.accept()
        refusal = None
        if listen_key is not None and api_key is None:
            refusal = "Invalid listen key"
        elif listen_key is not None and self._on_key(listen_key) >= CONNECTIONS_PER_LISTEN_KEY:
            refusal = f"Too many connections for this listen key (at most {CONNECTIONS_PER_LISTEN_KEY})"
        if refusal is not None:
            try:
                await ws.send_message(refusal)
                await ws.aclose(1008, refusal)
            except ConnectionClosed:
                pass
            return
        connection = _Connection(ws, self._clock, api_key, listen_key)
        self._connections.add(connection)
        try:
            with connection.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._guarded, connection, self._writer)
                    await self._guarded(connection, self._reader)
        finally:
            self._forget(connection)
            with trio.move_on_after(1) as cleanup:
                cleanup.shield = True
                try:
                    await ws.aclose(connection.close_code, connection.close_reason or None)
                except ConnectionClosed:
                    pass

    @staticmethod
    async def _guarded(connection: _Connection, task: Callable[[_Connection], Awaitable[None]]) -> None:
        """Run one of a connection's tasks; when it ends, for any reason, so does the connection."""
        try:
            await task(connection)
        except ConnectionClosed:
            pass
        except Exception as exc:  # noqa: BLE001
            log.warning("sim.ws_task_failed", task=getattr(task, "__name__", "?"), error=repr(exc))
        finally:
            connection.scope.cancel()

    async def _reader(self, connection: _Connection) -> None:
        while True:
            message = await connection.ws.get_message()
            if isinstance(message, str):
                self._on_control(connection, message)

    async def _writer(self, connection: _Connection) -> None:
        async for frame in connection.outbox:
            await connection.ws.send_message(frame)

    async def _sweep_loop(self) -> None:
        while True:
            await trio.sleep(SWEEP_SECONDS)
            now = self._clock.now_ms()
            for connection in list(self._connections):
                reason = connection.overdue(self.limits, now)
                if reason is None and connection.listen_key is not None and self._keys.owner(connection.listen_key) is None:
                    reason = "Invalid listen key"  # expired or deleted
                if reason is not None:
                    connection.close(1000, reason)

    def _on_key(self, listen_key: str) -> int:
        return sum(1 for c in self._connections if c.listen_key == listen_key)

    def _on_control(self, connection: _Connection, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return  # MEXC ignores what it cannot read
        if not isinstance(message, dict):
            return
        method = str(message.get("method", ""))
        reply_id = message.get("id", 0) if isinstance(message.get("id", 0), int) else 0
        params = [p for p in message.get("params") or [] if isinstance(p, str)]
        if method.upper() == "PING":
            connection.offer(_json({**PONG, "id": reply_id}))
        elif method == "SUBSCRIPTION":
            self._subscribe(connection, params, reply_id)
        elif method == "UNSUBSCRIPTION":
            for name in params:
                self._unsubscribe(connection, name)
            connection.offer(_json({"id": reply_id, "code": 0, "msg": ",".join(params)}))

    def _subscribe(self, connection: _Connection, params: list[str], reply_id: int) -> None:
        accepted, refused = [], []
        for name in params:
            try:
                parsed = channels.parse(name)
            except ValueError:
                refused.append(name)
                continue
            if parsed.private and connection.api_key is None:
                refused.append(name)
                continue
            accepted.append(name)
        room = self._max_subscriptions - len(connection.subscriptions)
        new = [n for n in dict.fromkeys(accepted) if n not in connection.subscriptions]
        if len(new) > room:
            reason = f"Max {self._max_subscriptions} subscriptions!"
            connection.offer(_json({"id": reply_id, "code": 0, "msg": refusal(params, reason)}))
            return
        for name in new:
            connection.subscriptions.add(name)
            if channels.parse(name).private:
                self._private.setdefault((connection.api_key, name), set()).add(connection)  # type: ignore[arg-type]
            else:
                self._public.setdefault(name, set()).add(connection)
        if refused:
            connection.offer(_json({"id": reply_id, "code": 0, "msg": refusal(refused)}))
        if accepted:
            connection.offer(_json({"id": reply_id, "code": 0, "msg": ",".join(accepted)}))

    def _unsubscribe(self, connection: _Connection, name: str) -> None:
        if name not in connection.subscriptions:
            return
        connection.subscriptions.discard(name)
        self._public.get(name, set()).discard(connection)
        if connection.api_key is not None:
            self._private.get((connection.api_key, name), set()).discard(connection)
        if not connection.subscriptions:
            connection.unsubscribed_ms = self._clock.now_ms()

    def _forget(self, connection: _Connection) -> None:
        for name in list(connection.subscriptions):
            self._unsubscribe(connection, name)
        self._connections.discard(connection)
        connection.outbox_send.close()

    # -- fan-out -------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        rounds = 0
        deadline = trio.current_time()
        while True:
            deadline += FLUSH_SECONDS
            await trio.sleep_until(deadline)
            deadline = max(deadline, trio.current_time() - FLUSH_SECONDS)  # do not burst after a stall
            rounds += 1
            try:
                self._fan_out(*self.hub.take("10ms", slow=False, wanted=self._wanted))
                if rounds % SLOW_EVERY == 0:
                    self._fan_out(*self.hub.take("100ms", slow=True, wanted=self._wanted))
            except Exception as exc:  # noqa: BLE001 - a bad round must not stop the streams
                log.error("sim.ws_flush_failed", error=repr(exc), exc_info=exc)

    def tap_private(self, tap: PrivateTap) -> None:
        self._taps.append(tap)

    def _tapped(self, api_key: str) -> list[PrivateTap]:
        return [tap for tap in self._taps if tap.wants(api_key)] if self._taps else []

    def _wanted(self, name: str) -> bool:
        return bool(self._public.get(name))

    def _fan_out(self, public: list[tuple[str, Push]], private: list[tuple[str, str, Push]]) -> None:
        for name, push in public:
            subscribers = self._public.get(name)
            if subscribers:
                frame = encode_push(push)
                for connection in list(subscribers):
                    connection.offer(frame)
        if self._push_faults is not None:
            private = self._push_faults.route(
                private, lambda key, name: bool(self._private.get((key, name))) or bool(self._tapped(key)))
        for api_key, name, push in private:
            subscribers = self._private.get((api_key, name))
            taps = self._tapped(api_key)
            if subscribers or taps:
                frame = encode_push(push)
                for connection in list(subscribers or ()):
                    connection.offer(frame)
                for tap in taps:
                    try:
                        tap.deliver(api_key, name, frame)
                    except Exception as exc:  # noqa: BLE001 - one bad subscriber must not stop the streams
                        log.error("sim.tap_failed", channel=name, error=repr(exc), exc_info=exc)
