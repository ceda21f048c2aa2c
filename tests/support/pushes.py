"""Reading protobuf pushes off a raw WebSocket in trio tests, with a deadline."""

from __future__ import annotations

from collections.abc import Callable

import trio
from trio_websocket import WebSocketConnection

from engine.exchanges.mexc.codec import Push, decode_push

DEADLINE = 5.0


async def pushes_until(ws: WebSocketConnection, done: Callable[[list[Push]], bool], deadline: float = DEADLINE) -> list[Push]:
    """Decode binary frames until ``done(pushes)``; fail after the deadline. Text
    frames (acks, pongs) are skipped."""
    seen: list[Push] = []
    with trio.fail_after(deadline):
        while not done(seen):
            message = await ws.get_message()
            if isinstance(message, bytes):
                seen.append(decode_push(message))
    return seen
