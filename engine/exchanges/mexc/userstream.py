"""MEXC user data stream: an account's orders, deals and balances as they happen.

A listen key (created over signed REST) opens a WebSocket on which the private
channels push protobuf frames. The key is kept alive every 30 minutes; any
failure (including MEXC's "Invalid listen key") means a new key, a new
connection and a call to ``on_connected`` so the owner can reconcile what it
may have missed while disconnected.
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable

import structlog
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from engine.exchanges.mexc import channels
from engine.exchanges.mexc.codec import Push, PushDecodeError, decode_push
from engine.exchanges.mexc.streams import CONNECTION_ERRORS, StreamError, StreamStats, unwrapped

log = structlog.get_logger(__name__)

PRIVATE_CHANNELS = [channels.PRIVATE_ORDERS, channels.PRIVATE_DEALS, channels.PRIVATE_ACCOUNT]


class UserStream:
    def __init__(
        self,
        ws_url: str,
        *,
        create_key: Callable[[], Awaitable[str]],
        keep_alive: Callable[[str], Awaitable[None]],
        delete_key: Callable[[str], Awaitable[None]],
        on_push: Callable[[Push], None],
        on_connected: Callable[[], None],
        name: str = "",
        keepalive_seconds: float = 30 * 60,
        ping_interval: float = 15.0,
        silence_timeout: float = 60.0,
        connect_timeout: float = 10.0,
        max_backoff: float = 30.0,
    ) -> None:
        self._url = ws_url
        self._create_key = create_key
        self._keep_alive = keep_alive
        self._delete_key = delete_key
        self._on_push = on_push
        self._on_connected = on_connected
        self._name = name
        self._keepalive_seconds = keepalive_seconds
        self._ping_interval = ping_interval
        self._silence_timeout = silence_timeout
        self._connect_timeout = connect_timeout
        self._max_backoff = max_backoff
        self._rng = random.Random()
        self.stats = StreamStats()

    async def run(self) -> None:
        backoff = 0.5
        while True:
            key: str | None = None
            try:
                key = await self._create_key()
                separator = "&" if "?" in self._url else "?"
                async with open_websocket_url(
                    f"{self._url}{separator}listenKey={key}", connect_timeout=self._connect_timeout
                ) as ws:
                    await ws.send_message(json.dumps({"method": "SUBSCRIPTION", "params": PRIVATE_CHANNELS}))
                    self.stats.connections += 1
                    self.stats.connects += 1
                    log.info("mexc.user_stream_connected", account=self._name)
                    backoff = 0.5
                    try:
                        self._on_connected()
                        with unwrapped():
                            async with trio.open_nursery() as nursery:
                                nursery.start_soon(self._pinger, ws)
                                nursery.start_soon(self._keeper, key)
                                await self._reader(ws)
                    finally:
                        self.stats.connections -= 1
            except CONNECTION_ERRORS as exc:
                self._disconnected(exc, backoff)
            except Exception as exc:  # noqa: BLE001 - REST failures creating the key: retry
                self._disconnected(exc, backoff)
            finally:
                if key is not None:
                    # Shielded: a stream stopped on purpose gives its key back too.
                    with trio.CancelScope(shield=True), trio.move_on_after(5):
                        try:
                            await self._delete_key(key)
                        except Exception:  # noqa: BLE001 - the key expires by itself
                            pass
            await trio.sleep(backoff * (0.5 + self._rng.random()))
            backoff = min(backoff * 2, self._max_backoff)

    def _disconnected(self, exc: BaseException, backoff: float) -> None:
        self.stats.disconnects += 1
        self.stats.last_error = repr(exc)
        log.warning("mexc.user_stream_disconnected", account=self._name, error=repr(exc), retry_in=round(backoff, 2))

    async def _pinger(self, ws: WebSocketConnection) -> None:
        while True:
            await trio.sleep(self._ping_interval)
            await ws.send_message(json.dumps({"method": "PING"}))

    async def _keeper(self, key: str) -> None:
        while True:
            await trio.sleep(self._keepalive_seconds)
            await self._keep_alive(key)

    async def _reader(self, ws: WebSocketConnection) -> None:
        while True:
            with trio.fail_after(self._silence_timeout):
                message = await ws.get_message()
            if isinstance(message, str):
                if "Invalid listen key" in message:
                    raise StreamError("the exchange refused the listen key")
                if channels.REFUSAL_MARK in message:
                    # No pushes would come: fills would wait for the next reconciliation.
                    raise StreamError(f"the exchange refused a private channel: {message[:200]}")
                continue  # acks and pongs
            try:
                push = decode_push(message)
            except PushDecodeError as exc:
                self.stats.bad_frames += 1
                log.warning("mexc.user_stream_bad_frame", account=self._name, error=repr(exc))
                continue
            self.stats.pushes += 1
            self._on_push(push)
