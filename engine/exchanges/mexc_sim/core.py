"""SimExchange: MEXC spot's matching engine, accounts and market data, in memory.

Per symbol an order book with price-time priority, fed by a synthetic market
maker that quotes a ladder around the symbol's price path and re-quotes as the
path moves. When the path moves through a user's resting order, the maker takes
it (the user is the maker, at the user's price); market orders walk real depth.
Every path move also prints a small tape trade, so trades, klines and tickers
live even when nobody trades.

Every incoming order is first planned (which resting orders it would hit, best
first) and then executed from the plan, so what is reserved, checked and filled
is the same arithmetic. All money is Decimal; sums use the LEDGER context. A
fill's fee is rounded to the commission precision exchangeInfo states, and that
rounded fee is both charged and reported.

One re-entrant lock guards everything: REST threads, the WebSocket thread and
the market clock all come through the public methods. Listeners are called
under that lock, in order, and must not block (the WebSocket server only queues).
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal

import msgspec
import structlog

from engine.clock import Clock
from engine.exchanges.mexc_sim.accounts import Account
from engine.exchanges.mexc_sim.book import OrderBook, Resting
from engine.exchanges.mexc_sim.klines import DAY, MINUTE, REST_INTERVALS, KlineSeries
from engine.exchanges.mexc_sim.maker import MAKER, MakerConfig, ladder, level_size
from engine.exchanges.mexc_sim.market import PricePath
from engine.exchanges.mexc_sim.model import (
    ORDER_TYPES,
    AccountChange,
    BookTop,
    Kline,
    PublicDeal,
    SimOrder,
    SimSymbol,
    SimTrade,
    Ticker24h,
)
from engine.exchanges.mexc_sim.rejects import SimReject, missing
from engine.money import LEDGER, ZERO, amount_problem, decimal_places, divide, fits_places, truncate

log = structlog.get_logger(__name__)

Level = tuple[Decimal, Decimal]  # (price, quantity)

MAX_OPEN_ORDERS = 500  # per account (MEXC)
DEALS_KEPT = 1_000  # per symbol: /trades and /aggTrades answer at most 1000
AVG_PRICE_MINUTES = 5

# The codes each refusal uses (messages come from the client's ERROR_CODES).
UNKNOWN_SYMBOL = -1121  # market data and queries: "Invalid symbol."
BAD_SYMBOL = 10007  # placing an order on a symbol the exchange does not list
TRADING_DISABLED = 30016
UNKNOWN_ORDER = -2013  # "Order does not exist."
UNKNOWN_ORDER_SENT = -2011  # cancelling an order that is no longer open
BAD_COMBINATION = -1128
AMOUNT_NULL = 10095
AMOUNT_SCALE = 10096  # quantity or price with too many decimals
QUOTE_SCALE = 400  # " amount scale is invalid": quoteOrderQty with too many decimals
AMOUNT_ERROR = 10097
AMOUNT_NOT_POSITIVE = 10102
MIN_NOTIONAL = 30002
MAX_NOTIONAL = 30003
INSUFFICIENT = 30004
NO_PRICE = 30010
TOO_MANY_OPEN = 30029
MAKER_WOULD_TAKE = 30041  # "current order type can not place order"
DUPLICATE_CLIENT_ID = 26  # "operation not allowed": MEXC documents no code for a reused client id
PARAM_ERROR = 33333  # a side, type or interval MEXC does not have


class SimListener:
    """What the exchange reports as it happens; every method is optional."""

    def on_deal(self, symbol: str, deals: list[PublicDeal]) -> None: ...

    def on_depth(
        self,
        symbol: str,
        from_version: int,
        to_version: int,
        bids: list[Level],
        asks: list[Level],
    ) -> None: ...

    def on_book_ticker(self, symbol: str, top: BookTop) -> None: ...

    def on_kline(self, symbol: str, interval: str, kline: Kline) -> None: ...

    def on_private_order(self, api_key: str, order: SimOrder, last_qty: Decimal | None) -> None: ...

    def on_private_deal(self, api_key: str, trade: SimTrade) -> None: ...

    def on_private_account(self, api_key: str, change: AccountChange) -> None: ...


class _Market:
    def __init__(self, info: SimSymbol, path: PricePath) -> None:
        self.info = info
        self.path = path
        self.book = OrderBook(info.symbol)
        self.klines = KlineSeries()
        self.deals: deque[PublicDeal] = deque(maxlen=DEALS_KEPT)
        self.resting: dict[str, Resting] = {}  # users' resting orders by order id
        self.maker: dict[tuple[str, Decimal], Resting] = {}  # the maker's, by (side, price)
        self.price: Decimal | None = None  # the path price last quoted around
        self.top: tuple[object, ...] | None = None  # last top of book reported


class SimExchange:
    def __init__(
        self,
        clock: Clock,
        *,
        seed: int = 42,
        maker_fee: Decimal = Decimal(0),
        taker_fee: Decimal = Decimal("0.0005"),
        maker: MakerConfig | None = None,
    ) -> None:
        self.clock = clock
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.maker_config = maker or MakerConfig()
        self.lock = threading.RLock()
        self.listeners: list[SimListener] = []
        self._markets: dict[str, _Market] = {}
        self._accounts: dict[str, Account] = {}
        self._sizes = random.Random(seed)  # maker level and tape sizes
        # Trade ids: seeded for repeatable runs, with the start time in the seed so a
        # simulator started again (an engine restart) never repeats one.
        self._ids = random.Random(f"{seed}:{clock.now_ms()}")
        # Order ids look like MEXC's "C02__" + 21 digits, unique across restarts.
        self._next_order = clock.now_ms() * 100_000_000 + self._ids.randrange(1_000_000)
        self._next_maker = 0
        self._next_uid = 10_000_000 + self._ids.randrange(1_000_000)
        # What the current operation changed, published when it ends.
        self._dirty: set[str] = set()
        self._deals_out: dict[str, list[PublicDeal]] = {}
        self._klines_out: dict[str, dict[str, Kline]] = {}

    # -- symbols and the market ------------------------------------------------------

    def add_symbol(self, info: SimSymbol, path: PricePath, *, history: Sequence[Kline] = ()) -> None:
        """List a symbol (at start or at run time); the maker starts quoting at once.
        ``history``: 1m candles of a market that traded before the simulator
        started, oldest first (a new listing has none)."""
        with self.lock:
            if info.symbol in self._markets:
                raise ValueError(f"{info.symbol} is already listed")
            market = self._markets[info.symbol] = _Market(info, path)
            market.klines.seed(list(history))
            try:
                self._move(market, self.clock.now_ms())
            finally:
                self._publish()

    def symbols(self) -> list[SimSymbol]:
        with self.lock:
            return [m.info for m in self._markets.values()]

    def symbol(self, name: str) -> SimSymbol:
        with self.lock:
            return self._market(name).info

    def set_status(self, symbol: str, status: str) -> None:
        """Set exchangeInfo's status: "1" online; "2" paused and "3" offline refuse orders (30016)."""
        with self.lock:
            market = self._market(symbol)
            market.info = msgspec.structs.replace(market.info, status=status)

    def set_price(self, symbol: str, price: Decimal) -> Decimal:
        """Jump the symbol's path to ``price`` now; resting orders it crosses fill."""
        problem = amount_problem(price)
        if problem is not None:
            raise ValueError(f"price {problem}")
        with self.lock:
            market = self._market(symbol)
            now = self.clock.now_ms()
            try:
                market.path.jump(now, price)
                self._move(market, now)
            finally:
                self._publish()
            return market.price  # type: ignore[return-value]

    def tick(self, now: int | None = None) -> None:
        """Move every symbol to its path's price at ``now`` and re-quote."""
        with self.lock:
            now = self.clock.now_ms() if now is None else now
            try:
                for market in self._markets.values():
                    try:
                        self._move(market, now)
                    except Exception as exc:  # noqa: BLE001 - one broken market must not stop the others
                        log.error("sim.market_tick_failed", symbol=market.info.symbol, error=repr(exc))
            finally:
                self._publish()

    # -- accounts --------------------------------------------------------------------

    def add_account(
        self, api_key: str, secret: str, balances: dict[str, Decimal] | None = None, *, restored: bool = False
    ) -> None:
        """Create an account, or update its secret; listed balances are set as free
        (``restored``: as its owner already holds them, so nothing is pushed)."""
        if api_key == MAKER or not api_key:
            raise ValueError("reserved or empty API key")
        with self.lock:
            account = self._accounts.get(api_key)
            if account is None:
                self._next_uid += 1
                account = self._accounts[api_key] = Account(api_key, secret, self._next_uid)
            account.secret = secret
            now = self.clock.now_ms()
            for asset, amount in (balances or {}).items():
                change = account.set_free(asset.upper(), Decimal(amount), now)
                if not restored:
                    self._emit_account(api_key, [change])

    def credentials(self, api_key: str) -> tuple[str, int] | None:
        """(secret, uid) of an API key, or None if the exchange does not know it."""
        with self.lock:
            account = self._accounts.get(api_key)
            return None if account is None else (account.secret, account.uid)

    def balances(self, api_key: str) -> dict[str, tuple[Decimal, Decimal]]:
        """asset -> (free, locked) of every asset the account ever held."""
        with self.lock:
            account = self._account(api_key)
            return {asset: (b.free, b.locked) for asset, b in account.balances.items()}

    def account_update_time(self, api_key: str) -> int | None:
        with self.lock:
            return self._account(api_key).update_time

    def orders_seen(self, api_key: str) -> list[SimOrder]:
        """Every order the exchange ever accepted for this key, oldest first."""
        with self.lock:
            account = self._accounts.get(api_key)
            return [] if account is None else [o.snapshot() for o in account.orders.values()]

    # -- trading ---------------------------------------------------------------------

    def place_order(
        self,
        api_key: str,
        symbol: str,
        side: str,
        type: str,
        *,
        quantity: Decimal | None = None,
        quote_qty: Decimal | None = None,
        price: Decimal | None = None,
        client_order_id: str | None = None,
        test: bool = False,
        restored: bool = False,
    ) -> SimOrder:
        """Validate, then (unless ``test``) accept and match. Raises SimReject.
        ``restored``: an order put back as its owner already holds it (the process
        that runs this exchange started again): its creation is not pushed, since
        nobody learns anything from it; its trades are, as any order's."""
        with self.lock:
            try:
                return self._place(api_key, symbol, side, type, quantity, quote_qty, price, client_order_id, test,
                                   restored)
            finally:
                self._publish()

    def cancel_order(
        self, api_key: str, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> SimOrder:
        with self.lock:
            market = self._market(symbol)
            order = self._account(api_key).find(order_id, client_order_id)
            if order is None or order.symbol != symbol:
                raise SimReject(UNKNOWN_ORDER)
            if not order.is_open:
                raise SimReject(UNKNOWN_ORDER_SENT)
            try:
                self._cancel(market, order, self.clock.now_ms())
            finally:
                self._publish()
            return order.snapshot()

    def cancel_open_orders(self, api_key: str, symbols: Sequence[str] | None = None) -> list[SimOrder]:
        """Cancel the account's open orders in ``symbols`` (all symbols if None)."""
        with self.lock:
            account = self._account(api_key)
            markets = [self._market(s) for s in symbols] if symbols is not None else list(self._markets.values())
            wanted = {m.info.symbol for m in markets}
            now = self.clock.now_ms()
            canceled = []
            try:
                for order in account.open_orders():
                    if order.symbol in wanted:
                        self._cancel(self._markets[order.symbol], order, now)
                        canceled.append(order.snapshot())
            finally:
                self._publish()
            return canceled

    def get_order(
        self, api_key: str, symbol: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> SimOrder:
        with self.lock:
            self._market(symbol)
            order = self._account(api_key).find(order_id, client_order_id)
            if order is None or order.symbol != symbol:
                raise SimReject(UNKNOWN_ORDER)
            return order.snapshot()

    def open_orders(self, api_key: str, symbol: str | None = None) -> list[SimOrder]:
        with self.lock:
            if symbol is not None:
                self._market(symbol)
            return [o.snapshot() for o in self._account(api_key).open_orders(symbol)]

    def all_orders(
        self, api_key: str, symbol: str, start: int | None = None, end: int | None = None, limit: int = 500
    ) -> list[SimOrder]:
        """The newest ``limit`` orders of ``symbol`` in [start, end], oldest first
        (the last 24 hours when no window is given)."""
        with self.lock:
            self._market(symbol)
            now = self.clock.now_ms()
            start = now - DAY if start is None and end is None else start
            found = [
                o.snapshot()
                for o in self._account(api_key).orders.values()
                if o.symbol == symbol and (start is None or o.time >= start) and (end is None or o.time <= end)
            ]
            return found[-limit:] if limit > 0 else []

    def my_trades(
        self,
        api_key: str,
        symbol: str,
        order_id: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 100,
    ) -> list[SimTrade]:
        with self.lock:
            self._market(symbol)
            found = [
                t
                for t in self._account(api_key).trades
                if t.symbol == symbol
                and (order_id is None or t.order_id == order_id)
                and (start is None or t.time >= start)
                and (end is None or t.time <= end)
            ]
            return found[-limit:] if limit > 0 else []

    # -- market data -----------------------------------------------------------------

    def depth(self, symbol: str, limit: int = 100) -> tuple[int, list[Level], list[Level]]:
        """(version, bids best first, asks best first): a snapshot at that version."""
        with self.lock:
            book = self._market(symbol).book
            return book.version, book.bids.levels(limit), book.asks.levels(limit)

    def book_top(self, symbol: str) -> BookTop:
        with self.lock:
            return self._top(self._market(symbol))

    def recent_deals(self, symbol: str, limit: int = 500) -> list[PublicDeal]:
        """The newest ``limit`` public trades, oldest first."""
        with self.lock:
            deals = list(self._market(symbol).deals)
            return deals[-limit:] if limit > 0 else []

    def deals_between(self, symbol: str, start: int, end: int, limit: int = 500) -> list[PublicDeal]:
        with self.lock:
            deals = [d for d in self._market(symbol).deals if start <= d.time <= end]
            return deals[:limit] if limit > 0 else []

    def klines(
        self, symbol: str, interval: str, start: int | None = None, end: int | None = None, limit: int = 500
    ) -> list[Kline]:
        if interval not in REST_INTERVALS:
            raise SimReject(PARAM_ERROR)
        with self.lock:
            return self._market(symbol).klines.query(interval, start, end, limit, self.clock.now_ms())

    def last_price(self, symbol: str) -> Decimal | None:
        with self.lock:
            return self._market(symbol).klines.last_price

    def avg_price(self, symbol: str) -> Decimal | None:
        """Volume-weighted price of the last five minutes' trades (else the last price)."""
        with self.lock:
            market = self._market(symbol)
            now = self.clock.now_ms()
            recent = market.klines.since("1m", now - AVG_PRICE_MINUTES * MINUTE)
            volume = sum((k.volume for k in recent), ZERO)
            if volume > 0:
                quote = sum((k.quote_volume for k in recent), ZERO)
                return divide(quote, volume).quantize(Decimal("1e-8"))
            return market.klines.last_price

    def ticker_24h(self, symbol: str) -> Ticker24h:
        with self.lock:
            market = self._market(symbol)
            now = self.clock.now_ms()
            rows = market.klines.since("1m", now - DAY + MINUTE)
            last = market.klines.last_price or market.price or ZERO
            top = self._top(market)
            if not rows:
                return Ticker24h(symbol, last, last, last, last, ZERO, ZERO, now - DAY, now, top)
            return Ticker24h(
                symbol=symbol,
                open=rows[0].open,
                high=max(k.high for k in rows),
                low=min(k.low for k in rows),
                last=last,
                volume=sum((k.volume for k in rows), ZERO),
                quote_volume=sum((k.quote_volume for k in rows), ZERO),
                open_time=rows[0].open_time,
                close_time=now,
                top=top,
            )

    # -- placing ---------------------------------------------------------------------

    def _place(
        self,
        api_key: str,
        symbol: str,
        side: str,
        type: str,
        quantity: Decimal | None,
        quote_qty: Decimal | None,
        price: Decimal | None,
        client_order_id: str | None,
        test: bool,
        restored: bool = False,
    ) -> SimOrder:
        now = self.clock.now_ms()
        market = self._markets.get(symbol)
        if market is None:
            raise SimReject(BAD_SYMBOL)
        account = self._account(api_key)
        info = market.info
        if info.status != "1":
            raise SimReject(TRADING_DISABLED)
        if side not in ("BUY", "SELL"):
            raise SimReject(PARAM_ERROR)
        if type not in ORDER_TYPES:
            raise SimReject(PARAM_ERROR)
        if type == "MARKET":
            price = None
            if quantity is not None and quote_qty is not None:
                raise SimReject(BAD_COMBINATION)
        else:
            quote_qty = None
            if price is None:
                raise missing("price")
        if quantity is None and quote_qty is None:
            raise SimReject(AMOUNT_NULL)
        self._check_amounts(info, quantity, quote_qty, price)
        plan, exhausted = self._plan(market, side, limit=price, qty=quantity, quote=quote_qty)
        self._check_notional(market, side, quantity, quote_qty, price)
        if client_order_id and client_order_id in account.by_client_id:
            raise SimReject(DUPLICATE_CLIENT_ID)
        if len(account.open_ids) >= MAX_OPEN_ORDERS:
            raise SimReject(TOO_MANY_OPEN)
        reserve_asset = info.quote if side == "BUY" else info.base
        reserve = self._reserve_for(side, quantity, quote_qty, price, plan)
        if not test and account.free(reserve_asset) < reserve:
            raise SimReject(INSUFFICIENT)
        if type == "LIMIT_MAKER" and plan:
            raise SimReject(MAKER_WOULD_TAKE)
        if test:
            return SimOrder(
                order_id="", api_key=api_key, symbol=symbol, side=side, type=type,  # type: ignore[arg-type]
                price=price, orig_qty=quantity, orig_quote_qty=quote_qty, client_order_id=client_order_id,
                status="NEW", time=now, update_time=now,
            )

        self._next_order += 1
        order = SimOrder(
            order_id=f"C02__{self._next_order}",
            api_key=api_key,
            symbol=symbol,
            side=side,  # type: ignore[arg-type]
            type=type,  # type: ignore[arg-type]
            price=price,
            orig_qty=quantity,
            orig_quote_qty=quote_qty,
            client_order_id=client_order_id or None,
            status="NEW",
            time=now,
            update_time=now,
            reserved_asset=reserve_asset,
            reserved=reserve,
        )
        account.remember(order)
        moved = account.move(reserve_asset, -reserve, reserve, "ENTRUST_PLACE", now)
        if not restored:
            self._emit_account(api_key, [moved])
            self._emit_order(order, None)

        fok_short = type == "FILL_OR_KILL" and sum((q for _, q in plan), ZERO) < (quantity or ZERO)
        if not fok_short:
            for resting, qty in plan:
                self._execute(market, resting, qty, order, now)
        if type in ("LIMIT", "LIMIT_MAKER") and order.remaining > 0:
            resting = Resting(order.order_id, api_key, side, price, order.remaining)  # type: ignore[arg-type]
            market.book.add(resting)
            market.resting[order.order_id] = resting
            self._dirty.add(symbol)
        else:
            done = order.executed_qty >= order.orig_qty if order.orig_qty is not None else not exhausted
            final = "FILLED" if done and order.executed_qty > 0 else (
                "PARTIALLY_CANCELED" if order.executed_qty > 0 else "CANCELED"
            )
            self._finish(order, final, now)
        return order.snapshot()

    def _check_amounts(
        self, info: SimSymbol, quantity: Decimal | None, quote_qty: Decimal | None, price: Decimal | None
    ) -> None:
        if quantity is not None:
            if not fits_places(quantity, info.base_precision):
                raise SimReject(AMOUNT_SCALE)
            if quantity <= 0:
                raise SimReject(AMOUNT_NOT_POSITIVE)
        if quote_qty is not None:
            if not fits_places(quote_qty, info.quote_precision):
                raise SimReject(QUOTE_SCALE, msg=" amount scale is invalid")
            if quote_qty <= 0:
                raise SimReject(AMOUNT_NOT_POSITIVE)
        if price is not None:
            if not fits_places(price, info.quote_precision):
                raise SimReject(AMOUNT_SCALE)
            if price <= 0:
                raise SimReject(AMOUNT_NOT_POSITIVE)

    def _check_notional(
        self, market: _Market, side: str, quantity: Decimal | None, quote_qty: Decimal | None, price: Decimal | None
    ) -> None:
        info = market.info
        if price is not None:
            assert quantity is not None
            notional, low, high = LEDGER.multiply(price, quantity), info.min_notional, info.max_notional
        else:
            low, high = info.min_notional_market, info.max_notional_market
            if quote_qty is not None:
                notional = quote_qty
            else:
                assert quantity is not None
                reference = self._reference_price(market, side)
                if reference is None:
                    raise SimReject(NO_PRICE)
                notional = LEDGER.multiply(reference, quantity)
        if notional < low:
            raise SimReject(MIN_NOTIONAL, suffix=f":{_plain(low)}{info.quote}")
        if notional > high:
            raise SimReject(MAX_NOTIONAL, suffix=f":{_plain(high)}{info.quote}")
        if quantity is not None and quantity < info.min_quantity:
            raise SimReject(MIN_NOTIONAL, suffix=f":{_plain(info.min_quantity)}{info.base}")

    @staticmethod
    def _reserve_for(
        side: str, quantity: Decimal | None, quote_qty: Decimal | None, price: Decimal | None,
        plan: list[tuple[Resting, Decimal]],
    ) -> Decimal:
        if side == "BUY":
            if price is not None:
                return LEDGER.multiply(price, quantity)  # type: ignore[arg-type]
            if quote_qty is not None:
                return quote_qty
            return sum((LEDGER.multiply(r.price, q) for r, q in plan), ZERO)
        if quantity is not None:
            return quantity
        return sum((q for _, q in plan), ZERO)

    def _reference_price(self, market: _Market, side: str) -> Decimal | None:
        top = market.book.top("SELL" if side == "BUY" else "BUY")
        return top[0] if top is not None else market.klines.last_price

    # -- matching --------------------------------------------------------------------

    def _plan(
        self,
        market: _Market,
        side: str,
        *,
        limit: Decimal | None,
        qty: Decimal | None,
        quote: Decimal | None,
        skip_owner: str | None = None,
    ) -> tuple[list[tuple[Resting, Decimal]], bool]:
        """The resting orders an incoming order would hit, best first, with the
        quantity from each; and whether it ran out of book (or of its limit price)
        before its quantity or amount was used up."""
        plan: list[tuple[Resting, Decimal]] = []
        step_places = market.info.base_precision
        qty_left, quote_left = qty, quote
        opposite = market.book.opposite(side)
        for level_price in opposite.prices_best_first():
            if limit is not None and (level_price > limit if side == "BUY" else level_price < limit):
                return plan, True
            for resting in opposite.queue_at(level_price):
                if resting.owner == skip_owner:
                    continue
                take = resting.remaining
                if qty_left is not None:
                    take = min(take, qty_left)
                if quote_left is not None:
                    # Quantity is truncated to the base precision: the amount is
                    # spent up to, never beyond, what was asked.
                    take = min(take, truncate(divide(quote_left, level_price), step_places))
                if take <= 0:
                    return plan, False
                plan.append((resting, take))
                if take < resting.remaining:
                    return plan, False  # what is left of the order (or amount) is used up here
                if qty_left is not None:
                    qty_left -= take
                if quote_left is not None:
                    quote_left = LEDGER.subtract(quote_left, LEDGER.multiply(level_price, take))
        used_up = (qty_left is not None and qty_left <= 0) or (quote_left is not None and quote_left <= 0)
        return plan, not used_up

    def _execute(self, market: _Market, resting: Resting, qty: Decimal, taker: SimOrder | None, now: int) -> None:
        """One match: ``taker`` (None for the maker bot) hits ``resting`` at its price."""
        price = resting.price
        quote = LEDGER.multiply(price, qty)
        taker_side = "SELL" if resting.side == "BUY" else "BUY"
        trade_id = f"{self._ids.getrandbits(128):032x}"
        market.book.fill(resting, qty)
        self._dirty.add(market.info.symbol)
        self_trade = taker is not None and resting.owner == taker.api_key
        if resting.owner == MAKER:
            if resting.remaining <= 0:
                market.maker.pop((resting.side, resting.price), None)
        else:
            maker_order = self._accounts[resting.owner].orders[resting.order_id]
            self._fill(market, maker_order, price, qty, quote, True, trade_id, self_trade, now)
            if resting.remaining <= 0:
                market.resting.pop(resting.order_id, None)
                self._finish(maker_order, "FILLED", now)
        if taker is not None:
            self._fill(market, taker, price, qty, quote, False, trade_id, self_trade, now)
        self._record_deal(market, PublicDeal(price, qty, taker_side, now, trade_id))  # type: ignore[arg-type]

    def _fill(
        self,
        market: _Market,
        order: SimOrder,
        price: Decimal,
        qty: Decimal,
        quote: Decimal,
        is_maker: bool,
        trade_id: str,
        self_trade: bool,
        now: int,
    ) -> None:
        info = market.info
        account = self._accounts[order.api_key]
        rate = self.maker_fee if is_maker else self.taker_fee
        # The fee is taken from what the trade brings in, as on MEXC spot, in the
        # commission precision exchangeInfo states for that asset.
        if order.side == "BUY":
            fee, fee_asset = commission(qty, rate, info.base_commission_precision), info.base
            spend_asset, spend, gain_asset, gain = info.quote, quote, info.base, LEDGER.subtract(qty, fee)
        else:
            fee, fee_asset = commission(quote, rate, info.quote_commission_precision), info.quote
            spend_asset, spend, gain_asset, gain = info.base, qty, info.quote, LEDGER.subtract(quote, fee)
        order.reserved = LEDGER.subtract(order.reserved, spend)
        changes = [
            account.move(spend_asset, ZERO, -spend, "ENTRUST", now),
            account.move(gain_asset, gain, ZERO, "ENTRUST", now),
        ]
        order.executed_qty = LEDGER.add(order.executed_qty, qty)
        order.cum_quote = LEDGER.add(order.cum_quote, quote)
        order.update_time = now
        full = order.orig_qty is not None and order.executed_qty >= order.orig_qty
        order.status = "FILLED" if full else "PARTIALLY_FILLED"
        trade = SimTrade(
            trade_id=trade_id,
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            qty=qty,
            quote=quote,
            fee=fee,
            fee_asset=fee_asset,
            is_maker=is_maker,
            is_self_trade=self_trade,
            time=now,
        )
        account.trades.append(trade)
        for listener in self.listeners:
            _call(listener.on_private_deal, order.api_key, trade)
        self._emit_account(order.api_key, changes)
        self._emit_order(order, qty)

    def _cancel(self, market: _Market, order: SimOrder, now: int) -> None:
        resting = market.resting.pop(order.order_id, None)
        if resting is not None:
            market.book.remove(resting)
            self._dirty.add(market.info.symbol)
        self._finish(order, "PARTIALLY_CANCELED" if order.executed_qty > 0 else "CANCELED", now)

    def _finish(self, order: SimOrder, status: str, now: int) -> None:
        """Close an order: release what it still has locked and report it."""
        account = self._accounts[order.api_key]
        account.open_ids.discard(order.order_id)
        if order.reserved != 0:
            released, order.reserved = order.reserved, ZERO
            change = account.move(order.reserved_asset, released, -released, "ENTRUST_CANCEL", now)
            self._emit_account(order.api_key, [change])
        if order.status != status:
            order.status = status  # type: ignore[assignment]
            order.update_time = now
            self._emit_order(order, None)

    # -- the market maker and the path ---------------------------------------------

    def _move(self, market: _Market, now: int) -> None:
        price = market.path.price_at(now)
        previous, market.price = market.price, price
        self._requote(market, price)
        if previous is None or price != previous:
            self._tape(market, price, "BUY" if previous is None or price > previous else "SELL", now)

    def _requote(self, market: _Market, price: Decimal) -> None:
        info, book = market.info, market.book
        bids, asks = ladder(price, info, self.maker_config)
        wanted = {("BUY", p) for p in bids} | {("SELL", p) for p in asks}
        for key, resting in list(market.maker.items()):
            if key not in wanted:
                book.remove(resting)
                del market.maker[key]
                self._dirty.add(info.symbol)
        # The path moved through users' orders: the maker takes them at their price.
        now = self.clock.now_ms()
        for side, best in (("BUY", bids[0] if bids else None), ("SELL", asks[0] if asks else None)):
            if best is None:
                continue
            plan, _ = self._plan(market, side, limit=best, qty=None, quote=None, skip_owner=MAKER)
            for resting, qty in plan:
                self._execute(market, resting, qty, None, now)
        for side, prices in (("BUY", bids), ("SELL", asks)):
            for p in prices:
                if (side, p) in market.maker:
                    continue
                self._next_maker += 1
                size = level_size(p, info, self.maker_config, self._sizes)
                resting = Resting(f"mm-{self._next_maker}", MAKER, side, p, size)
                book.add(resting)
                market.maker[(side, p)] = resting
                self._dirty.add(info.symbol)

    def _tape(self, market: _Market, price: Decimal, taker_side: str, now: int) -> None:
        """A small trade by the crowd at the new quote: the print that moved the price."""
        info = market.info
        top = market.book.top("SELL" if taker_side == "BUY" else "BUY")
        at = top[0] if top is not None else price
        notional = Decimal(20 + self._sizes.randrange(2_000))
        qty = max(truncate(divide(notional, at), info.base_precision), info.step)
        trade_id = f"{self._ids.getrandbits(128):032x}"
        self._record_deal(market, PublicDeal(at, qty, taker_side, now, trade_id))  # type: ignore[arg-type]

    def _record_deal(self, market: _Market, deal: PublicDeal) -> None:
        symbol = market.info.symbol
        market.deals.append(deal)
        self._deals_out.setdefault(symbol, []).append(deal)
        updated = self._klines_out.setdefault(symbol, {})
        for kline in market.klines.add_trade(deal.price, deal.qty, deal.time):
            updated[kline.interval] = kline
        self._dirty.add(symbol)

    # -- reporting -------------------------------------------------------------------

    def _publish(self) -> None:
        """Hand what this operation changed to the listeners, in version order."""
        dirty, self._dirty = self._dirty, set()
        deals, self._deals_out = self._deals_out, {}
        klines, self._klines_out = self._klines_out, {}
        for symbol in dirty:
            market = self._markets.get(symbol)
            if market is None:
                continue
            diff = market.book.drain_changes()
            top = self._top(market)
            top_key = (top.bid, top.bid_qty, top.ask, top.ask_qty)
            for listener in self.listeners:
                if diff is not None:
                    _call(listener.on_depth, symbol, diff.from_version, diff.to_version, diff.bids, diff.asks)
                if symbol in deals:
                    _call(listener.on_deal, symbol, deals[symbol])
                if top_key != market.top:
                    _call(listener.on_book_ticker, symbol, top)
                for interval, kline in klines.get(symbol, {}).items():
                    _call(listener.on_kline, symbol, interval, kline)
            market.top = top_key

    def _top(self, market: _Market) -> BookTop:
        bid = market.book.top("BUY")
        ask = market.book.top("SELL")
        return BookTop(
            symbol=market.info.symbol,
            bid=bid[0] if bid else None,
            bid_qty=bid[1] if bid else None,
            ask=ask[0] if ask else None,
            ask_qty=ask[1] if ask else None,
            version=market.book.version,
            time=self.clock.now_ms(),
        )

    def _emit_order(self, order: SimOrder, last_qty: Decimal | None) -> None:
        if self.listeners:
            copy = order.snapshot()
            for listener in self.listeners:
                _call(listener.on_private_order, order.api_key, copy, last_qty)

    def _emit_account(self, api_key: str, changes: Iterable[AccountChange]) -> None:
        for change in changes:
            for listener in self.listeners:
                _call(listener.on_private_account, api_key, change)

    # -- lookups ---------------------------------------------------------------------

    def _market(self, symbol: str) -> _Market:
        market = self._markets.get(symbol)
        if market is None:
            raise SimReject(UNKNOWN_SYMBOL)
        return market

    def _account(self, api_key: str) -> Account:
        account = self._accounts.get(api_key)
        if account is None:
            raise SimReject(10072)
        return account


def commission(amount: Decimal, rate: Decimal, places: int) -> Decimal:
    """The fee on ``amount`` at ``rate`` in ``places`` decimals. MEXC does not say
    which way it rounds a commission; this simulator rounds half up."""
    return LEDGER.multiply(amount, rate).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=LEDGER)


def _call(fn, *args) -> None:  # type: ignore[no-untyped-def]
    # A broken listener must not break matching: log it and carry on.
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001
        log.error("sim.listener_failed", listener=getattr(fn, "__qualname__", repr(fn)), error=repr(exc), exc_info=exc)


def _plain(value: Decimal) -> str:
    text = format(value.normalize(LEDGER), "f")
    return text if decimal_places(value) else text.split(".")[0]

