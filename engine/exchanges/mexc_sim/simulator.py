"""Simulator: a loopback MEXC spot exchange (REST + WebSocket) in one object.

    sim = Simulator(accounts={"key": ("secret", {"USDT": Decimal(10_000)})}).start()
    ... point the real MEXC client at sim.rest_url and sim.ws_url ...
    sim.stop()

Threads: the REST server (one daemon thread per request) and one trio thread
that runs the WebSocket server and the market clock (every ``tick_seconds`` the
paths move and the market maker re-quotes). Everything meets in SimExchange
under its lock.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import structlog
import trio

from engine.candles import Candle as EngineCandle
from engine.clock import Clock, SystemClock
from engine.exchanges.mexc_sim.core import SimExchange
from engine.exchanges.mexc_sim.faults import Faults, check_listing
from engine.exchanges.mexc_sim.limits import RateLimiter, RatePolicy
from engine.exchanges.mexc_sim.listenkeys import ListenKeys
from engine.exchanges.mexc_sim.maker import MakerConfig
from engine.exchanges.mexc_sim.market import MINUTE_MS, Candle, CandlePath, PricePath, WalkPath, load_candles, seed_for
from engine.exchanges.mexc_sim.model import Kline, SimOrder, SimSymbol
from engine.exchanges.mexc_sim.rejects import SimReject
from engine.exchanges.mexc_sim.rest import MexcRestApi, build_app
from engine.exchanges.mexc_sim.server import RestServer
from engine.exchanges.mexc_sim.ws import PrivateTap, WsLimits, WsServer
from engine.model import Balance
from engine.money import LEDGER, divide, truncate
from engine.symbols import paper_symbol, reference_price

log = structlog.get_logger(__name__)

DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
QUOTES = ("USDT", "USDC", "BTC", "ETH")
START_TIMEOUT_SECONDS = 10.0
# A day of minutes and then some, so charts, indicators and the 24h ticker have a past.
HISTORY_MINUTES = 1_500

Accounts = Mapping[str, tuple[str, Mapping[str, Decimal | str | int]]]


class Simulator:
    def __init__(
        self,
        symbols: Sequence[str | SimSymbol] | None = None,
        accounts: Accounts | None = None,
        seed: int = 42,
        candles: str | Path | Sequence[Candle] | bool | None = None,
        speed: float | None = None,
        maker_fee: Decimal = Decimal(0),
        taker_fee: Decimal = Decimal("0.0005"),
        *,
        clock: Clock | None = None,
        rate_policy: RatePolicy | None = None,
        maker: MakerConfig | None = None,
        tick_seconds: float = 0.1,
        ws_limits: WsLimits | None = None,
        history_minutes: int = HISTORY_MINUTES,
        resume_from: Mapping[str, Sequence[EngineCandle]] | None = None,
    ) -> None:
        """``candles``: None (or False) walks at random; True replays the bundled BTC
        5-minute candles, a path or a list replays those (scaled to each symbol's
        price). ``speed``: market milliseconds per real millisecond (default 10).
        ``ws_limits``: when the WebSocket server closes a connection (MEXC's 30 s
        without a subscription, 60 s without data, 24 h), on ``clock``."""
        self.clock = clock or SystemClock()
        self.seed = seed
        self.speed = speed
        self._candles: Sequence[Candle] | None = None
        if candles is True:
            self._candles = load_candles()
        elif isinstance(candles, (str, Path)):
            self._candles = load_candles(candles)
        elif candles:
            self._candles = list(candles)
        self.exchange = SimExchange(self.clock, seed=seed, maker_fee=maker_fee, taker_fee=taker_fee, maker=maker)
        self.faults = Faults(self.clock)
        self.listen_keys = ListenKeys(self.clock)
        self.limiter = RateLimiter(self.clock, rate_policy)
        self._tick_seconds = tick_seconds
        self._ws_limits = ws_limits
        for item in symbols or DEFAULT_SYMBOLS:
            info = item if isinstance(item, SimSymbol) else default_symbol(item)
            self._list_at_start(info, history_minutes, (resume_from or {}).get(info.symbol))
        for api_key, (secret, balances) in (accounts or {}).items():
            self.add_account(api_key, secret, balances)
        self.rest_url = ""
        self.ws_url = ""
        self.rest_app: Any = None  # the REST API as a WSGI app, for a client in this process
        self._taps: list[PrivateTap] = []
        self._rest: RestServer | None = None
        self._ws: WsServer | None = None
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop_event: trio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", rest_port: int = 0, ws_port: int = 0) -> Simulator:
        if self._thread is not None:
            raise RuntimeError("the simulator is already running")
        self._ready, self._failure = threading.Event(), None
        api = MexcRestApi(self.exchange, self.listen_keys, self.faults, self.limiter, self.clock)
        self.rest_app = build_app(api, self)
        self._rest = RestServer(self.rest_app, host, rest_port)
        self._ws = WsServer(self.exchange, self.listen_keys, self.clock, limits=self._ws_limits,
                            push_faults=self.faults.push_stream)
        for tap in self._taps:
            self._ws.tap_private(tap)
        self.faults.attach_drop(self._ws.drop_all)
        self._thread = threading.Thread(target=self._run_trio, args=(host, ws_port), name="mexc-sim-trio", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_SECONDS) or self._failure is not None:
            self._rest.stop()
            self._rest, self._thread = None, None
            self.exchange.listeners.remove(self._ws.hub)
            raise RuntimeError("the simulator's WebSocket server did not start") from self._failure
        self._rest.start()
        self.rest_url = f"http://{host}:{self._rest.port}"
        self.ws_url = f"ws://{host}:{self._ws.port}/ws"
        symbols = [s.symbol for s in self.exchange.symbols()]
        log.info("sim.started", rest_url=self.rest_url, ws_url=self.ws_url, symbols=symbols, seed=self.seed)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving (idempotent). The exchange's state stays; ``start`` serves it again."""
        if self._thread is None:
            return
        if self._rest is not None:
            self._rest.stop(timeout)
            self._rest = None
        if self._thread.is_alive():
            try:
                trio.from_thread.run_sync(self._stop_event.set, trio_token=self._token)  # type: ignore[union-attr]
            except trio.RunFinishedError:
                pass
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("sim.stop_timeout", timeout=timeout)
        if self._ws is not None and self._ws.hub in self.exchange.listeners:
            self.exchange.listeners.remove(self._ws.hub)  # nobody drains it any more
        self._thread = None
        log.info("sim.stopped")

    def __enter__(self) -> Simulator:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- controls ------------------------------------------------------------------------

    def tap_private(self, tap: PrivateTap) -> None:
        """Hand ``tap`` the private pushes of the accounts it wants, as the WebSocket
        server would send them (push faults included), from now on and after a restart."""
        self._taps.append(tap)
        if self._ws is not None:
            self._ws.tap_private(tap)

    def add_account(
        self, api_key: str, secret: str, balances: Mapping[str, Decimal | str | int] | None = None, *, restored: bool = False
    ) -> None:
        self.exchange.add_account(api_key, secret, {a: Decimal(v) for a, v in (balances or {}).items()}, restored=restored)

    def has_account(self, api_key: str) -> bool:
        try:
            self.exchange.balances(api_key)
        except SimReject:
            return False
        return True

    def account_balances(self, api_key: str) -> dict[str, Balance]:
        return {a: Balance(free, locked) for a, (free, locked) in self.exchange.balances(api_key).items()}

    def orders_seen(self, api_key: str) -> list[SimOrder]:
        """Every order ever accepted for ``api_key``: a test can check nothing was placed twice."""
        return self.exchange.orders_seen(api_key)

    def set_price(self, symbol: str, price: Decimal) -> Decimal:
        """Jump ``symbol`` to ``price`` now; user orders the jump crosses fill."""
        return self.exchange.set_price(symbol, Decimal(price))

    def list_symbol(
        self,
        symbol: str,
        base_precision: int,
        quote_precision: int,
        price: Decimal,
        *,
        min_quantity: Decimal | None = None,
        min_notional: Decimal = Decimal(1),
    ) -> SimSymbol:
        """List a new symbol now; the market maker quotes it at once."""
        check_listing(symbol, base_precision, quote_precision, Decimal(price))
        base, quote = split_symbol(symbol)
        info = SimSymbol(
            symbol=symbol,
            base=base,
            quote=quote,
            base_precision=base_precision,
            quote_precision=quote_precision,
            min_quantity=min_quantity if min_quantity is not None else Decimal(1).scaleb(-base_precision),
            min_notional=min_notional,
            min_notional_market=min_notional,
        )
        self.exchange.add_symbol(info, self._path(info, Decimal(price)))
        log.info("sim.listed", symbol=symbol, price=str(price))
        return info

    @property
    def websocket_connections(self) -> int:
        return self._ws.connection_count if self._ws is not None else 0

    def drop_websockets(self) -> int:
        return self.faults.drop_websockets()

    # -- internals -----------------------------------------------------------------------

    def _list_at_start(self, info: SimSymbol, minutes: int, resume: Sequence[EngineCandle] | None) -> None:
        """A symbol that traded before the simulator started: ``minutes`` of candles
        up to now. ``resume``: an earlier run's 1m candles, oldest first; they are the
        past, the path carries on from the last one's close, and only the time since
        is made up (the last may be this very minute, left open by a quick restart)."""
        path = self._path(info, reference_price(info.symbol))
        now = self.clock.now_ms()
        kept = list(resume or [])
        if kept:
            since = kept[-1].open_time + MINUTE_MS
            minutes = max(0, min(minutes, (now - since) // MINUTE_MS))
        rows = path.history(minutes)
        if kept:
            price = kept[-1].close
            factor = price / rows[0][1] if rows else price / path.price_at(now)

            def scaled(p: Decimal) -> Decimal:
                return _on_tick(p * factor, info.tick)

            rows = [(t, scaled(o), scaled(h), scaled(lo), scaled(c)) for t, o, h, lo, c in rows]
            path.jump(now, _on_tick(path.price_at(now) * factor, info.tick))
        past = [
            Kline("1m", c.open_time, c.open_time + MINUTE_MS, c.open, c.high, c.low, c.close, c.volume, c.quote_volume)
            for c in kept
        ]
        self.exchange.add_symbol(info, path, history=past + self._history_klines(info, rows))

    def _history_klines(self, info: SimSymbol, rows: list[tuple[int, Decimal, Decimal, Decimal, Decimal]]) -> list[Kline]:
        rng = random.Random(seed_for(self.seed, f"volume:{info.symbol}"))
        out = []
        for open_time, o, h, low, c in rows:
            volume = truncate(divide(Decimal(rng.randint(2_000, 60_000)), c), info.base_precision)
            out.append(Kline("1m", open_time, open_time + MINUTE_MS, o, h, low, c, volume, LEDGER.multiply(volume, c)))
        return out

    def _path(self, info: SimSymbol, price: Decimal) -> PricePath:
        seed = seed_for(self.seed, info.symbol)
        if self._candles is None:
            return WalkPath(price, self.clock, info.tick, seed=seed, speed=self.speed)
        offset = random.Random(seed).randrange(len(self._candles))
        return CandlePath(
            self._candles, self.clock, info.tick, reference=price, seed=seed, offset=offset, speed=self.speed
        )

    def _run_trio(self, host: str, ws_port: int) -> None:
        try:
            trio.run(self._trio_main, host, ws_port)
        except BaseException as exc:  # noqa: BLE001 - the thread must report, not vanish
            self._failure = exc
            log.error("sim.trio_crashed", error=repr(exc), exc_info=exc)
        finally:
            self._ready.set()

    async def _trio_main(self, host: str, ws_port: int) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop_event = trio.Event()
        assert self._ws is not None
        async with trio.open_nursery() as nursery:
            await nursery.start(self._ws.serve, host, ws_port)
            nursery.start_soon(self._market_clock)
            self._ready.set()
            await self._stop_event.wait()
            nursery.cancel_scope.cancel()

    async def _market_clock(self) -> None:
        while True:
            await trio.sleep(self._tick_seconds)
            for listing in self.faults.due_listings():
                try:
                    self.list_symbol(listing.symbol, listing.base_precision, listing.quote_precision, listing.price)
                except ValueError as exc:
                    log.warning("sim.listing_failed", symbol=listing.symbol, error=str(exc))
            try:
                self.exchange.tick()
            except Exception as exc:  # noqa: BLE001 - the market keeps running; the error is logged
                log.error("sim.tick_failed", error=repr(exc), exc_info=exc)


def split_symbol(symbol: str) -> tuple[str, str]:
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise ValueError(f"cannot tell the base and quote of {symbol!r}")


def default_symbol(symbol: str) -> SimSymbol:
    """MEXC's precisions for the symbols the engine knows (engine.symbols)."""
    known = paper_symbol(symbol)
    base, quote = split_symbol(symbol)
    return SimSymbol(
        symbol=symbol,
        base=base,
        quote=quote,
        base_precision=known.base_precision,
        quote_precision=known.quote_precision,
        min_quantity=known.min_quantity,
        min_notional=known.min_notional,
        min_notional_market=known.min_notional,
    )


def _on_tick(price: Decimal, tick: Decimal) -> Decimal:
    return max(price.quantize(tick, rounding=ROUND_HALF_EVEN), tick)
