"""MEXC public market streams on trio-websocket, turned into MarketData pieces.

Subscriptions are spread over connections of at most 30 channels each (MEXC's
limit). Each connection pings, notices silence, and on any failure reconnects
with jittered exponential back-off and subscribes again. Depth is kept per
symbol in a DepthBook: a REST snapshot plus version-checked diffs; a gap or a
reconnect means a fresh snapshot. Everything decoded goes to ``sink``, which
must not block (the engine's sink is a conflator offer).
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import msgspec
import structlog
import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from engine.candles import Candle
from engine.clock import Clock
from engine.exchanges.mexc import channels
from engine.exchanges.mexc.codec import BookTickerPush, DealsPush, DepthPush, KlinePush, PushDecodeError, decode_push
from engine.exchanges.mexc.depth import DepthBook, DepthGap
from engine.market import BOOK_LEVELS, DepthSnapshot, MarketData, Trade
from engine.model import BookTicker

log = structlog.get_logger(__name__)

# (last_update_id, bids, asks) with (price, quantity) Decimal pairs, best first
Snapshot = tuple[int, Sequence[tuple[Decimal, Decimal]], Sequence[tuple[Decimal, Decimal]]]



class StreamStats(msgspec.Struct):
    connections: int = 0  # open now
    connects: int = 0  # successful connects, ever
    disconnects: int = 0
    pushes: int = 0
    bad_frames: int = 0
    resyncs: int = 0  # depth snapshots taken
    gaps: int = 0  # version gaps detected
    last_push_ms: int | None = None
    last_error: str | None = None


class MarketStreams:
    def __init__(
        self,
        ws_url: str,
        symbols: Sequence[str],
        *,
        snapshot: Callable[[str], Awaitable[Snapshot]],
        sink: Callable[[MarketData], None],
        clock: Clock,
        intervals: Sequence[str] = ("1m", "5m", "15m", "30m", "60m", "4h", "1d"),
        depth_levels: int = BOOK_LEVELS,
        connect_timeout: float = 10.0,
        ping_interval: float = 15.0,
        silence_timeout: float = 60.0,
        max_backoff: float = 30.0,
    ) -> None:
        self._url = ws_url
        self._snapshot = snapshot
        self._sink = sink
        self._clock = clock
        self._intervals = list(intervals)
        self._depth_levels = depth_levels
        self._connect_timeout = connect_timeout
        self._ping_interval = ping_interval
        self._silence_timeout = silence_timeout
        self._max_backoff = max_backoff
        self._books: dict[str, DepthBook] = {}
        self._last_price: dict[str, Decimal] = {}
        self._resyncing: set[str] = set()
        self._symbols: list[str] = []
        self._pending_symbols: list[str] = list(dict.fromkeys(symbols))
        self._nursery: trio.Nursery | None = None
        self._rng = random.Random()
        self.stats = StreamStats()
        self.symbol_state: dict[str, str] = {}  # symbol -> "connecting", "connected" or "reconnecting"

    # -- public --------------------------------------------------------------------

    async def run(self) -> None:
        # Run again after a failure: every symbol gets its connections back.
        self._pending_symbols = list(dict.fromkeys(self._symbols + self._pending_symbols))
        self._symbols = []
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._start_pending()
            await trio.sleep_forever()

    def add_symbols(self, symbols: Sequence[str]) -> None:
        """Stream more symbols (a new listing): they get connections of their own.
        Call on the trio thread."""
        new = [s for s in symbols if s not in self._symbols and s not in self._pending_symbols]
        self._pending_symbols.extend(new)
        if self._nursery is not None:
            self._start_pending()

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def channels_for(self, symbol: str) -> list[str]:
        return [
            channels.deals(symbol),
            channels.book_ticker(symbol),
            channels.depth(symbol),
            *(channels.kline(symbol, interval) for interval in self._intervals),
        ]

    # -- connections -----------------------------------------------------------------

    def _start_pending(self) -> None:
        assert self._nursery is not None
        symbols, self._pending_symbols = self._pending_symbols, []
        group: list[str] = []
        for symbol in symbols:
            self._symbols.append(symbol)
            self._books[symbol] = DepthBook(symbol)
            wanted = self.channels_for(symbol)
            if len(group) + len(wanted) > channels.MAX_SUBSCRIPTIONS_PER_CONNECTION:
                self._nursery.start_soon(self._connection, group)
                group = []
            group.extend(wanted)
        if group:
            self._nursery.start_soon(self._connection, group)

    async def _connection(self, subscriptions: list[str]) -> None:
        backoff = 0.5
        symbols = sorted({symbol for c in subscriptions if (symbol := channels.parse(c).symbol)})
        for symbol in symbols:
            self.symbol_state.setdefault(symbol, "connecting")
        while True:
            try:
                async with open_websocket_url(self._url, connect_timeout=self._connect_timeout) as ws:
                    await self._subscribe(ws, subscriptions)
                    self.stats.connections += 1
                    self.stats.connects += 1
                    log.info("mexc.stream_connected", url=self._url, subscriptions=len(subscriptions), symbols=symbols)
                    for symbol in symbols:
                        self.symbol_state[symbol] = "connected"
                    backoff = 0.5
                    try:
                        # A new connection may have missed diffs: every book resyncs.
                        for symbol in symbols:
                            self._request_resync(symbol)
                        with unwrapped():
                            async with trio.open_nursery() as nursery:
                                nursery.start_soon(self._pinger, ws)
                                await self._reader(ws, symbols)
                    finally:
                        self.stats.connections -= 1
            except CONNECTION_ERRORS as exc:
                self.stats.disconnects += 1
                self.stats.last_error = repr(exc)
                log.warning("mexc.stream_disconnected", url=self._url, error=repr(exc), retry_in=round(backoff, 2))
            for symbol in symbols:
                self._books[symbol] = DepthBook(symbol)  # unsynced until the next snapshot
                self.symbol_state[symbol] = "reconnecting"
            await trio.sleep(backoff * (0.5 + self._rng.random()))
            backoff = min(backoff * 2, self._max_backoff)

    async def _subscribe(self, ws: Any, subscriptions: list[str]) -> None:
        await ws.send_message(json.dumps({"method": "SUBSCRIPTION", "params": subscriptions}))

    async def _pinger(self, ws: Any) -> None:
        while True:
            await trio.sleep(self._ping_interval)
            await ws.send_message(json.dumps({"method": "PING"}))

    async def _reader(self, ws: Any, symbols: Sequence[str] = ()) -> None:
        while True:
            with trio.fail_after(self._silence_timeout):
                message = await ws.get_message()
            if isinstance(message, str):
                self._on_text(message, symbols)
            else:
                self._on_binary(message)

    def _on_text(self, text: str, symbols: Sequence[str] = ()) -> None:
        try:
            reply = json.loads(text)
        except ValueError:
            log.warning("mexc.stream_text", text=text[:200])
            return
        if reply.get("code") not in (0, None) or channels.refused_in(reply.get("msg")):
            # Those symbols get no data on this connection: they show stale, and this says why.
            log.error("mexc.stream_refused", reply=reply)
        elif str(reply.get("msg", "")).upper() == "PONG":
            self._vouch(symbols)

    def _vouch(self, symbols: Sequence[str]) -> None:
        """A PONG proves the connection delivers: every book on it that is in sync
        has missed nothing, so it is current now even if the market is quiet."""
        now = self._clock.now_ms()
        for symbol in symbols:
            book = self._books.get(symbol)
            if book is not None and book.synced and symbol not in self._resyncing:
                self._sink(MarketData(symbol, live_at=now))

    # -- pushes ----------------------------------------------------------------------

    def _on_binary(self, data: bytes) -> None:
        try:
            push = decode_push(data)
            channel = channels.parse(push.channel)
        except (PushDecodeError, ValueError) as exc:
            self.stats.bad_frames += 1
            log.warning("mexc.stream_bad_frame", error=repr(exc))
            return
        self.stats.pushes += 1
        now = self._clock.now_ms()
        self.stats.last_push_ms = now
        symbol = push.symbol or channel.symbol
        if symbol is None:
            return
        time = push.send_time or now
        body = push.body
        if isinstance(body, DealsPush):
            trades = tuple(
                Trade(price=d.price, quantity=d.quantity, side="BUY" if d.trade_type == 1 else "SELL", time=d.time)
                for d in body.deals
            )
            if trades:
                self._last_price[symbol] = trades[-1].price
                self._sink(MarketData(symbol, trades=trades))
        elif isinstance(body, BookTickerPush):
            mid = _mid(body.bid_price, body.ask_price)
            book = BookTicker(
                symbol=symbol,
                bid=body.bid_price,
                bid_qty=body.bid_quantity,
                ask=body.ask_price,
                ask_qty=body.ask_quantity,
                last=self._last_price.get(symbol, mid),
                time=time,
            )
            self._sink(MarketData(symbol, book=book))
        elif isinstance(body, DepthPush):
            self._on_depth(symbol, body, time)
        elif isinstance(body, KlinePush):
            interval = channels.ENGINE_INTERVALS.get(body.interval)
            if interval is None:
                return
            candle = Candle(
                interval=interval,
                open_time=body.window_start * 1000,
                open=body.open,
                high=body.high,
                low=body.low,
                close=body.close,
                volume=body.volume,
                quote_volume=body.amount,
            )
            self._sink(MarketData(symbol, klines=(candle,)))

    def _on_depth(self, symbol: str, push: DepthPush, time: int) -> None:
        book = self._books.get(symbol)
        if book is None:
            return
        try:
            book.apply(push)
        except DepthGap as exc:
            # The book keeps the push that broke the chain for the next snapshot.
            self.stats.gaps += 1
            log.warning("mexc.depth_gap", symbol=symbol, error=str(exc))
            self._request_resync(symbol)
            return
        if book.synced:
            self._publish_depth(symbol, book, time)

    def _publish_depth(self, symbol: str, book: DepthBook, time: int) -> None:
        assert book.version is not None  # only a synced book is published
        depth = DepthSnapshot(
            bids=tuple(book.bids(self._depth_levels)),
            asks=tuple(book.asks(self._depth_levels)),
            version=book.version,
            time=time,
        )
        # The depth's top is a book ticker too: a quiet market sends no bookTicker
        # pushes, and a fresh connection must not wait for one.
        top = None
        if depth.bids and depth.asks:
            (bid, bid_qty), (ask, ask_qty) = depth.bids[0], depth.asks[0]
            last = self._last_price.get(symbol, _mid(bid, ask))
            top = BookTicker(symbol=symbol, bid=bid, bid_qty=bid_qty, ask=ask, ask_qty=ask_qty, last=last, time=time)
        self._sink(MarketData(symbol, book=top, depth=depth))

    def _request_resync(self, symbol: str) -> None:
        if symbol in self._resyncing or self._nursery is None:
            return
        self._resyncing.add(symbol)
        self._nursery.start_soon(self._resync, symbol)

    async def _resync(self, symbol: str) -> None:
        backoff = 0.5
        try:
            while True:
                try:
                    version, bids, asks = await self._snapshot(symbol)
                    book = self._books[symbol]
                    book.load_snapshot(version, bids, asks)
                    break
                except DepthGap as exc:
                    # The snapshot is older than diffs already received: take another.
                    log.info("mexc.depth_snapshot_stale", symbol=symbol, error=str(exc))
                except Exception as exc:  # noqa: BLE001 - a failed snapshot is retried, not fatal
                    log.warning("mexc.depth_snapshot_failed", symbol=symbol, error=repr(exc), retry_in=backoff)
                await trio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            self.stats.resyncs += 1
            log.info("mexc.depth_synced", symbol=symbol, version=version)
            if book.synced:
                self._publish_depth(symbol, book, self._clock.now_ms())
        finally:
            self._resyncing.discard(symbol)


def _mid(bid: Decimal, ask: Decimal) -> Decimal:
    """Until the first trade, the last price is the mid, on the book's own tick."""
    places = Decimal(1).scaleb(min(bid.as_tuple().exponent, ask.as_tuple().exponent))  # type: ignore[arg-type]
    return ((bid + ask) / 2).quantize(places)


class StreamError(Exception):
    """The stream said something that ends the connection."""


CONNECTION_ERRORS = (ConnectionClosed, HandshakeError, OSError, trio.TooSlowError, StreamError)


@contextmanager
def unwrapped() -> Iterator[None]:
    """Trio wraps a failing task's error in an ExceptionGroup; a connection error
    inside one is still just a connection error, to be retried."""
    try:
        yield
    except BaseExceptionGroup as group:
        match, _ = group.split(CONNECTION_ERRORS)
        if match is None:
            raise
        first: BaseException = match
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from group
