"""MarketActor: one per symbol; owns the latest top of book.

Updates arrive through the conflator, so a flood of ticks costs this actor one
message per update it can actually process, and the gateway (which matches
resting paper orders) sees every update this actor sees.
"""

from __future__ import annotations

from typing import Any

from actors.base import EngineActor
from actors.messages import Drain, GetTicker, MarketUpdate
from engine.model import BookTicker


class MarketActor(EngineActor):
    kind = "market"

    def __init__(self, system: Any, symbol: str) -> None:
        super().__init__(system, key=symbol)
        self.symbol = symbol
        self.book: BookTicker | None = None
        self.updates = 0

    def started(self) -> None:
        # After a restart, begin from the newest update the feed has sent.
        self.book = self.system.conflator.last(self.symbol)

    def handle(self, message: Any) -> Any:
        if isinstance(message, Drain):
            book = self.system.conflator.take(self.symbol)
            if book is not None:
                self.book = book
                self.updates += 1
                self.system.tell_gateway(MarketUpdate(book), required=False)
            return None
        if isinstance(message, GetTicker):
            return self.book
        raise TypeError(f"unexpected message {message!r}")
