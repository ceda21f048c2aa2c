"""Where the engine trades: MEXC (real, or a simulator at MEXC_BASE_URL), or, for
paper trading, the MEXC simulator run in-process. Both go through the real MEXC
client and streams. A venue supplies what differs between them: the symbol rules,
the market feed, the exchange accounts and their adapters, the user streams,
and what a new account starts with. The ActorSystem holds exactly one.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

import msgspec
import structlog
import trio

from engine.candles import Candle
from engine.clock import Clock
from engine.config import Config
from engine.errors import Conflict, MarketDataUnavailable, NotSupported, ValidationFailed
from engine.model import RESTING_TYPES, BookTicker
from engine.symbols import SymbolCatalog

log = structlog.get_logger(__name__)

HISTORY_CANDLES = 1000  # MEXC's most klines per request; the API serves up to this
PROBE_EVERY_SECONDS = 1.0  # a refused key is asked about again at most this often
IN_PROCESS_URL = "http://mexc-simulator.in-process"  # names the simulator's REST app; no socket behind it
STREAM_CALL_THREADS = 4  # worker threads for user streams' listen-key calls


class NoExchangeAccount(Conflict):
    code = "NO_EXCHANGE_ACCOUNT"


class Venue(Protocol):
    name: str
    accounts_per_user: bool  # each user has an account of their own
    accounts_outlive_engine: bool  # an account holds what the engine may not know (orders of a crash)
    pushes_wake_accounts: bool  # an account's pushes arrive with no gateway live (a stream shared by all)
    catalog: SymbolCatalog
    market_symbols: list[str]  # the symbols with a MarketActor and a live feed

    def feed(self, sink: Any) -> Callable[[], Any]: ...
    def account_for(self, user_id: str) -> str: ...
    def users_of(self, account: str, live_users: list[str]) -> list[str]: ...
    def make_adapter(self, account: str) -> Any: ...
    def accounts_at_start(self) -> list[str]: ...
    def account_streams(
        self, account: str, on_push: Callable[[Any], None], on_connected: Callable[[], None]
    ) -> Callable[[], Any] | None: ...
    def opening_deposits(self) -> dict[str, Decimal]: ...
    def prepare_account(self, user_id: str, totals: dict[str, Decimal]) -> None: ...
    def restore_accounts(self, accounts: list[tuple[str, dict[str, Decimal], list[Any]]]) -> list[str]: ...
    def candle_history(self, symbol: str) -> list[Candle]: ...
    def set_price(self, symbol: str, price: Decimal, run_sync: Callable[..., Any]) -> BookTicker: ...
    def list_symbol(self, symbol: str, price: Decimal, base_precision: int, quote_precision: int) -> None: ...
    def stream_state(self, symbol: str) -> str: ...
    def current_minute(self, symbol: str) -> Candle | None: ...
    def account_problem(self) -> str | None: ...
    def probe_key(self) -> None: ...
    def health(self) -> dict[str, Any]: ...
    def release_adapter(self, adapter: Any) -> None: ...
    def background(self, system: Any) -> list[tuple[str, Callable[[], Any]]]: ...
    def close(self) -> None: ...


class MexcVenue:
    """MEXC spot through the real client: MEXC's hosts, or MEXC_BASE_URL/MEXC_WS_URL.

    One exchange account (MEXC_API_KEY) that belongs to MEXC_ACCOUNT_USER; other
    users can look at the market but have no account to trade with.
    """

    name = "mexc"
    ACCOUNT = "mexc"
    accounts_per_user = False
    accounts_outlive_engine = True
    pushes_wake_accounts = False  # a user stream lives with its gateway

    def __init__(self, config: Config, clock: Clock) -> None:
        from engine.exchanges.mexc.rest import MexcRestClient

        self.config = config
        self.clock = clock
        self.public = MexcRestClient(
            config.mexc_base_url, recv_window=config.mexc_recv_window_ms, timeout=config.mexc_timeout_seconds, clock=clock,
            transport=self._transport(),
        )
        self._private: Any = None
        self._probed_at = -PROBE_EVERY_SECONDS
        self._probe_lock = threading.Lock()
        self.catalog = SymbolCatalog([s.info for s in self.public.exchange_info().symbols])
        self.market_symbols = [s for s in config.mexc_symbols if s in self.catalog]
        missing = sorted(set(config.mexc_symbols) - set(self.market_symbols))
        if missing:
            log.warning("mexc.symbols_not_listed", symbols=missing)
        self.streams: Any = None
        self.last_listed: list[str] = []  # symbols the last exchangeInfo read found new
        self._stream_limiter: trio.CapacityLimiter | None = None
        self.time_offsets: dict[str, int] = {}  # MEXC's clock against ours, shared by every client

    def _transport(self) -> Any:
        return None  # httpx's own: the network

    def refresh_catalog(self) -> list[str]:
        """Read exchangeInfo again. Returns the wanted symbols listed since the last
        look, which the caller starts streaming."""
        catalog = SymbolCatalog([s.info for s in self.public.exchange_info().symbols])
        listed = sorted(set(catalog.symbols()) - set(self.catalog.symbols()))
        self.catalog = catalog
        self.last_listed = listed
        if listed:
            log.info("mexc.new_listings", symbols=listed)
        wanted = [s for s in self.config.mexc_symbols if s in catalog and s not in self.market_symbols]
        self.market_symbols.extend(wanted)
        return wanted

    def background(self, system: Any) -> list[tuple[str, Callable[[], Any]]]:
        async def refresh() -> None:
            while True:
                await trio.sleep(self.config.exchange_info_refresh_seconds)
                try:
                    wanted = await trio.to_thread.run_sync(self.refresh_catalog)
                except Exception as exc:  # noqa: BLE001 - the old catalog stays until the next look
                    log.warning("mexc.exchange_info_failed", error=repr(exc))
                    continue
                for symbol in wanted:
                    system.markets.start_market(symbol)
                if self.last_listed:
                    # Users with NEW_LISTING rules hear of it; its market is watched at once.
                    wanted = wanted + await trio.to_thread.run_sync(system.on_listings, self.last_listed)
                if wanted and self.streams is not None:
                    self.streams.add_symbols(wanted)

        return [("exchange-info", refresh)]

    def feed(self, sink: Any) -> Callable[[], Any]:
        from engine.exchanges.mexc.streams import MarketStreams

        streams = MarketStreams(
            self.config.mexc_ws_url,
            list(self.market_symbols),
            snapshot=self._snapshot,
            sink=sink.on_market,
            clock=self.clock,
            # A PONG vouches for a quiet book: often enough that it never looks stale.
            ping_interval=min(15.0, max(0.5, self.config.market_stale_seconds / 3)),
        )
        self.streams = streams
        return streams.run

    async def _snapshot(self, symbol: str) -> Any:
        depth = await trio.to_thread.run_sync(self.public.depth, symbol, 1000)
        return depth.last_update_id, depth.bids, depth.asks

    def account_for(self, user_id: str) -> str:
        if not (self.config.mexc_api_key and self.config.mexc_secret_key):
            raise NoExchangeAccount("no MEXC account is configured (MEXC_API_KEY, MEXC_SECRET_KEY)")
        if user_id != self.config.mexc_account_user:
            raise NoExchangeAccount(f"user {user_id} has no MEXC account linked")
        return self.ACCOUNT

    def users_of(self, account: str, live_users: list[str]) -> list[str]:
        return [self.config.mexc_account_user] if self.config.mexc_account_user else []

    def accounts_at_start(self) -> list[str]:
        return [self.ACCOUNT] if self.config.mexc_api_key and self.config.mexc_account_user else []

    def private_client(self) -> Any:
        from engine.exchanges.mexc.rest import MexcRestClient

        if self._private is None:
            self._private = MexcRestClient(
                self.config.mexc_base_url,
                self.config.mexc_api_key,
                self.config.mexc_secret_key,
                recv_window=self.config.mexc_recv_window_ms,
                timeout=self.config.mexc_timeout_seconds,
                clock=self.clock,
                time_offsets=self.time_offsets,
            )
        return self._private

    def make_adapter(self, account: str) -> Any:
        return self._adapter(self.private_client(), account, [self.config.mexc_account_user])  # type: ignore[list-item]  # set whenever EXCHANGE=mexc

    def _adapter(self, client: Any, account: str, owners: list[str]) -> Any:
        from engine.exchanges.mexc.adapter import MexcAccountAdapter
        from engine.orders import is_engine_id

        def is_ours(client_order_id: str | None) -> str | None:
            return next((u for u in owners if is_engine_id(client_order_id, u)), None)

        return MexcAccountAdapter(
            client, lambda: self.catalog, self.clock, name=account, owners=lambda: list(owners), is_ours=is_ours,
            symbols=lambda: list(self.market_symbols), sweep_every_ms=int(self.config.reconcile_interval_seconds * 1000),
        )

    def account_streams(
        self, account: str, on_push: Callable[[Any], None], on_connected: Callable[[], None]
    ) -> Callable[[], Any] | None:
        return self._user_stream(self.private_client(), account, on_push, on_connected)

    def _user_stream(
        self, client: Any, account: str, on_push: Callable[[Any], None], on_connected: Callable[[], None]
    ) -> Callable[[], Any]:
        from engine.exchanges.mexc.userstream import UserStream

        async def keep_alive(key: str) -> None:
            await trio.to_thread.run_sync(client.keepalive_listen_key, key, limiter=self._stream_calls())

        async def delete(key: str) -> None:
            await trio.to_thread.run_sync(client.delete_listen_key, key, limiter=self._stream_calls())

        stream = UserStream(
            self.config.mexc_ws_url,
            create_key=lambda: trio.to_thread.run_sync(client.create_listen_key, limiter=self._stream_calls()),
            keep_alive=keep_alive,
            delete_key=delete,
            on_push=on_push,
            on_connected=on_connected,
            name=account,
        )
        return stream.run

    def _stream_calls(self) -> trio.CapacityLimiter:
        """The worker threads user streams' listen-key calls may take at once: trio's
        default (40) would let a burst of new accounts' streams add 40 threads."""
        if self._stream_limiter is None:  # made on the trio thread, its only user
            self._stream_limiter = trio.CapacityLimiter(STREAM_CALL_THREADS)
        return self._stream_limiter

    def opening_deposits(self) -> dict[str, Decimal]:
        return {}  # the exchange says what the account holds; reconciliation records it

    def prepare_account(self, user_id: str, totals: dict[str, Decimal]) -> None:
        pass  # a real account exists on its own

    def restore_accounts(self, accounts: list[tuple[str, dict[str, Decimal], list[Any]]]) -> list[str]:
        """Users whose portfolios must start now to reconcile their open orders: on a
        real exchange, every one (the orders may have traded while the engine was down)."""
        return [user for user, _, _ in accounts]

    def candle_history(self, symbol: str) -> list[Candle]:
        from engine.exchanges.mexc.channels import KLINE_INTERVALS

        candles: list[Candle] = []
        for interval in ("1m", "5m", "15m", "30m", "60m", "4h", "1d"):
            if interval not in KLINE_INTERVALS:
                continue
            try:
                rows = self.public.klines(symbol, interval, limit=HISTORY_CANDLES)
            except Exception as exc:  # noqa: BLE001 - history is a nicety; live candles follow
                log.warning("mexc.kline_history_failed", symbol=symbol, interval=interval, error=repr(exc))
                continue
            candles.extend(
                Candle(interval, r.open_time, r.open, r.high, r.low, r.close, r.volume, r.quote_volume) for r in rows
            )
        return candles

    def set_price(self, symbol: str, price: Decimal, run_sync: Callable[..., Any]) -> BookTicker:
        raise NotSupported("prices move on the exchange; there is no paper market to move")

    def list_symbol(self, symbol: str, price: Decimal, base_precision: int, quote_precision: int) -> None:
        raise NotSupported("the exchange lists its own symbols; there is no paper market to list on")

    def stream_state(self, symbol: str) -> str:
        """The market stream's state for ``symbol``: connecting, connected, reconnecting,
        or not streamed."""
        streams = self.streams
        if streams is None:
            return "not started"
        return str(streams.symbol_state.get(symbol, "not streamed"))

    def current_minute(self, symbol: str) -> Candle | None:
        return None  # the exchange keeps its own past

    def account_problem(self) -> str | None:
        """Why an order for the account would fail now, before it is accepted. Read
        from the client's last answers, never by calling the exchange: the caller is
        a portfolio. While the key is refused, the gateway asks about it again every
        second (and /health does too), so a fixed key is noticed by the next order."""
        client = self._private
        return None if client is None else client.problem()

    def probe_key(self) -> None:
        """Ask MEXC about a refused key again (at most every second); for /health,
        which runs on a request thread."""
        client = self._private
        if client is None or not client.refused_key:
            return
        with self._probe_lock:
            due = time.monotonic() - self._probed_at >= PROBE_EVERY_SECONDS
            if due:
                self._probed_at = time.monotonic()
        if due:
            from engine.exchanges.mexc.errors import MexcError

            try:
                client.account()
            except MexcError:
                pass

    def release_adapter(self, adapter: Any) -> None:
        pass  # one account, one client, for the engine's whole life

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = {"venue": self.name, "public": self.public.health()}
        if self._private is not None:
            out["account"] = self._private.health()
        streams = getattr(self, "streams", None)
        if streams is not None:
            out["marketStreams"] = {"connections": streams.stats.connections, "reconnects": max(streams.stats.connects - 1, 0)}
        return out

    def close(self) -> None:
        self.public.close()
        if self._private is not None:
            self._private.close()


class _AccountsTap:
    """The paper venue's subscriber to every account's private pushes, on the
    simulator's stream thread: decodes each frame as the user stream would and hands
    it on (a tell: nothing here blocks)."""

    def __init__(self, account_of_key: dict[str, str], sink: Callable[[str, Any], None]) -> None:
        self._account_of_key = account_of_key  # the venue's, filled as accounts are made
        self._sink = sink

    def wants(self, api_key: str) -> bool:
        return api_key in self._account_of_key

    def deliver(self, api_key: str, channel: str, frame: bytes) -> None:
        from engine.exchanges.mexc import channels
        from engine.exchanges.mexc.codec import decode_push

        if channel == channels.PRIVATE_ACCOUNT:
            return  # balances are read, not pushed, into a gateway: this would only wake one
        account = self._account_of_key.get(api_key)
        if account is not None:
            self._sink(account, decode_push(frame))


def make_venue(config: Config, clock: Clock) -> Venue:
    if config.exchange == "paper":
        return SimulatorVenue(config, clock)
    try:
        return MexcVenue(config, clock)
    except Exception as exc:
        raise MarketDataUnavailable(f"cannot reach MEXC at {config.mexc_base_url}: {exc}") from exc


class SimulatorVenue(MexcVenue):
    """Paper trading on the MEXC simulator, run in-process, through the real MEXC
    client: what a user sees is what MEXC would do. The client reaches it through
    its REST app and stream server in this process (PAPER_TRANSPORT=inprocess), or
    over loopback HTTP and a WebSocket per account (loopback).

    Each user has an account of their own on the simulator. The simulator lives
    and dies with the engine, so at start the accounts with open orders are rebuilt
    from the journal in one pass (``restore_accounts``), and any other account the
    first time its portfolio starts: the journal is the paper account's record.
    """

    name = "simulator"
    accounts_per_user = True
    accounts_outlive_engine = False  # made from the journal in this process

    def __init__(self, config: Config, clock: Clock) -> None:
        from engine.exchanges.mexc_sim import Simulator
        from engine.exchanges.mexc_sim.simulator import HISTORY_MINUTES
        from persistence.market_history import recent_minutes

        prices = {"walk": None, "candles": True}.get(config.paper_prices, config.paper_prices)
        self.simulator = Simulator(
            # The market carries on from the minutes the journal kept: no jump back after a restart.
            resume_from=recent_minutes(config.database_path, config.paper_symbols, HISTORY_MINUTES),
            symbols=list(config.paper_symbols),
            seed=config.paper_seed,
            candles=prices,
            speed=config.paper_speed,
            maker_fee=config.paper_maker_fee,
            taker_fee=config.paper_taker_fee,
            clock=clock,  # one time for engine and exchange, so a test's clock drives both
        ).start()
        self._secret = secrets.token_hex(16)  # this process's accounts only
        self._clients: set[Any] = set()
        self._lock = threading.Lock()
        self._in_process = config.paper_transport == "inprocess"
        self.pushes_wake_accounts = self._in_process
        self._wsgi: Any = None
        self._account_of_key: dict[str, str] = {}
        self._tapped = False
        rest_url = IN_PROCESS_URL if self._in_process else self.simulator.rest_url
        simulated = msgspec.structs.replace(
            config, mexc_base_url=rest_url, mexc_ws_url=self.simulator.ws_url, mexc_symbols=config.paper_symbols
        )
        try:
            super().__init__(simulated, clock)
        except BaseException:
            self.simulator.stop()
            raise

    def _transport(self) -> Any:
        """In process: the simulator's REST app called on the caller's thread, with no
        socket, server thread or connection per call (the loopback server speaks
        HTTP/1.0, a connection and a thread per request). One for every client."""
        if not self._in_process:
            return None
        if self._wsgi is None:
            import httpx

            self._wsgi = httpx.WSGITransport(app=self.simulator.rest_app)
        return self._wsgi

    def _credentials(self, account: str) -> tuple[str, str]:
        digest = hashlib.sha256(f"{self._secret}:{account}".encode()).hexdigest()
        api_key = f"mx0sim{digest[:26]}"
        self._account_of_key[api_key] = account
        return api_key, digest[32:64]

    def background(self, system: Any) -> list[tuple[str, Callable[[], Any]]]:
        if self._in_process and not self._tapped:
            # Every account's user data, from the stream server itself: an account costs
            # no connection, listen key or task, and a sleeping one is woken by its push.
            self._tapped = True
            self.simulator.tap_private(_AccountsTap(self._account_of_key, system.deliver_push))
        return super().background(system)

    def account_for(self, user_id: str) -> str:
        return f"sim:{user_id}"

    def users_of(self, account: str, live_users: list[str]) -> list[str]:
        # A passivated user had nothing open, so has nothing to catch up on: a
        # reconnect that raced the passivation does not wake the portfolio again.
        user = account.removeprefix("sim:")
        return [user] if user in live_users else []

    def accounts_at_start(self) -> list[str]:
        return []  # each starts with its user's portfolio

    def prepare_account(self, user_id: str, totals: dict[str, Decimal]) -> None:
        """Create the user's simulator account from the journal's balances, once."""
        api_key, secret = self._credentials(self.account_for(user_id))
        if not self.simulator.has_account(api_key):
            self.simulator.add_account(api_key, secret, {asset: amount for asset, amount in totals.items() if amount})

    def restore_accounts(self, accounts: list[tuple[str, dict[str, Decimal], list[Any]]]) -> list[str]:
        """Rebuild, in one pass and before anything trades, the simulator accounts of
        users with orders open: balances from the journal, and each resting LIMIT order
        placed again under its own client order id, as a portfolio's start sweep
        would send it. The portfolios stay asleep: when one wakes, its sweep finds
        the orders there; a fill before then is pushed and wakes it. Returns the
        users this could not rebuild whole (an order of another type, or one the
        simulator refused), whose portfolios start now and reconcile as before."""
        from engine.exchanges.base import ExchangeOrder
        from engine.exchanges.mexc_sim.rejects import SimReject

        pending: list[str] = []
        placed = 0
        for user_id, totals, all_open in accounts:
            orders = [order for order in all_open if order.on_exchange]  # held conditional orders stay here
            if any(order.type not in RESTING_TYPES for order in orders):
                pending.append(user_id)  # an immediate order's resend has a deadline the sweep keeps
                continue
            api_key, secret = self._credentials(self.account_for(user_id))
            if self.simulator.has_account(api_key):
                pending.append(user_id)
                continue
            self.simulator.add_account(api_key, secret, {asset: amount for asset, amount in totals.items() if amount},
                                       restored=True)
            for order in orders:
                sent = ExchangeOrder.from_order(order)
                try:
                    self.simulator.exchange.place_order(
                        api_key, sent.symbol, sent.side, sent.type, quantity=sent.quantity, price=sent.price,
                        client_order_id=sent.client_order_id, restored=True,
                    )
                    placed += 1
                except SimReject as exc:
                    log.warning("paper.restore_refused", user_id=user_id, order_id=order.id, error=str(exc))
                    pending.append(user_id)
                    break
        log.info("paper.accounts_restored", accounts=len(accounts) - len(pending), orders=placed, pending=len(pending))
        return pending

    def exchange_orders(self, user_id: str) -> list[Any]:
        """Every order the simulator accepted for the user's account (SimOrder)."""
        api_key, _ = self._credentials(self.account_for(user_id))
        return self.simulator.orders_seen(api_key) if self.simulator.has_account(api_key) else []

    def _new_client(self, account: str) -> Any:
        """A REST client of the account's own: each user of it (the gateway, the user
        stream) closes its client when it stops, so nothing is shared across a restart."""
        from engine.exchanges.mexc.rest import MexcRestClient

        api_key, secret = self._credentials(account)
        client = MexcRestClient(
            self.config.mexc_base_url, api_key, secret, recv_window=self.config.mexc_recv_window_ms,
            timeout=self.config.mexc_timeout_seconds, clock=self.clock, time_offsets=self.time_offsets,
            transport=self._transport(),
        )
        with self._lock:
            self._clients.add(client)
        return client

    def _close_client(self, client: Any) -> None:
        with self._lock:
            self._clients.discard(client)
        client.close()

    def make_adapter(self, account: str) -> Any:
        return self._adapter(self._new_client(account), account, [account.removeprefix("sim:")])

    def release_adapter(self, adapter: Any) -> None:
        self._close_client(adapter.rest)

    def account_streams(
        self, account: str, on_push: Callable[[Any], None], on_connected: Callable[[], None]
    ) -> Callable[[], Any] | None:
        if self._in_process:
            return None  # the tap hands every account its pushes
        async def run() -> None:
            client = self._new_client(account)
            try:
                await self._user_stream(client, account, on_push, on_connected)()
            finally:
                self._close_client(client)

        return run

    def opening_deposits(self) -> dict[str, Decimal]:
        return {"USDT": self.config.paper_start_balance}

    def list_symbol(self, symbol: str, price: Decimal, base_precision: int, quote_precision: int) -> None:
        """List a new symbol on the simulator: the engine finds it at its next exchangeInfo
        read, as it would on MEXC."""
        if any(s.symbol == symbol for s in self.simulator.exchange.symbols()):
            raise Conflict(f"{symbol} is already listed")
        try:
            self.simulator.list_symbol(symbol, base_precision, quote_precision, price)
        except ValueError as exc:
            raise ValidationFailed(str(exc)) from None

    def set_price(self, symbol: str, price: Decimal, run_sync: Callable[..., Any]) -> BookTicker:
        self.simulator.set_price(symbol, price)
        top = self.public.book_ticker(symbol)
        return BookTicker(
            # The simulator's maker quotes both sides at every price.
            symbol=symbol, bid=top.bid_price, bid_qty=top.bid_qty, ask=top.ask_price, ask_qty=top.ask_qty,  # type: ignore[arg-type]
            last=price, time=self.clock.now_ms(),
        )

    def current_minute(self, symbol: str) -> Candle | None:
        """The simulator's open 1m candle: what a restart carries on from."""
        minutes = self.simulator.exchange.klines(symbol, "1m", limit=1)
        if not minutes:
            return None
        k = minutes[-1]
        return Candle("1m", k.open_time, k.open, k.high, k.low, k.close, k.volume, k.quote_volume)

    def health(self) -> dict[str, Any]:
        out = super().health()
        out["venue"] = self.name
        out["accountClients"] = len(self._clients)  # open REST clients of users' accounts
        return out

    def close(self) -> None:
        for client in list(self._clients):
            self._close_client(client)
        super().close()
        self.simulator.stop()

