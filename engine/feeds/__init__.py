"""Market data feeds. A feed runs on the trio thread and pushes into a sink."""

from __future__ import annotations

from typing import Protocol

from engine.model import BookTicker


class FeedSink(Protocol):
    def on_book(self, book: BookTicker) -> None:
        """Called on the feed's thread for every top-of-book update; must not block."""
        ...


class MarketFeed(Protocol):
    async def run(self, sink: FeedSink) -> None:
        """Produce updates until cancelled."""
        ...
