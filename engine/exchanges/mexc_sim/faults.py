"""Faults a test can inject into a running simulator, to exercise a client's
unhappy paths: rate limiting, server errors (also after an order was placed:
"did it land?"), slow answers, dropped WebSockets and a listing mid-run; and,
per account (api key), a late, reordered, doubled or lossy user data stream
(push_faults), fills that reach myTrades late, and orders unknown to queries and
cancels for a moment after they were created (as MEXC answers -2013 then).

Thread-safe: tests set faults from their thread, REST threads consume them.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable
from decimal import Decimal

import msgspec
import structlog

from engine.clock import Clock
from engine.exchanges.mexc_sim.push_faults import PushFaults, make_rule
from engine.money import amount_problem

log = structlog.get_logger(__name__)


class HttpFault(msgspec.Struct, frozen=True):
    status: int  # 429, 418 or 5xx
    retry_after: int | None = None  # seconds, sent as Retry-After
    method: str | None = None  # only requests with this method (None: any)
    path: str | None = None  # only this endpoint under /api/v3/, e.g. "order" (None: any)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or self.path == path)


class Listing(msgspec.Struct, frozen=True):
    at_ms: int
    symbol: str
    base_precision: int
    quote_precision: int
    price: Decimal


class Faults:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._before: deque[HttpFault] = deque()
        self._after_order: deque[HttpFault] = deque()
        self._delay_seconds = 0.0
        self._delays_left: int | None = None  # None: every response
        self._listings: list[Listing] = []
        self._drop: Callable[[], int] | None = None
        self._trades_lag_ms: dict[str, int] = {}
        self._unknown_ms: dict[str, int] = {}
        self.push_stream = PushFaults(clock)  # what the WebSocket server routes private pushes through

    # -- injecting ---------------------------------------------------------------------

    def fail_next(
        self, count: int = 1, status: int = 429, retry_after: int | None = None, *,
        method: str | None = None, path: str | None = None,
    ) -> None:
        """The next ``count`` REST requests (of ``method`` to ``path`` under /api/v3/,
        if given) are answered ``status`` without being handled. 429 and 418 carry
        Retry-After (default 1 s)."""
        _check_fault(count, status)
        if retry_after is not None and not 0 <= retry_after <= 3600:
            raise ValueError("retryAfter must be 0 to 3600 seconds")
        if status in (418, 429) and retry_after is None:
            retry_after = 1
        with self._lock:
            self._before.extend(HttpFault(status, retry_after, method, path) for _ in range(count))
        log.info("sim.fault_injected", fault="fail_next", count=count, status=status, retry_after=retry_after)

    def fail_after_order(self, count: int = 1, status: int = 500) -> None:
        """The next ``count`` POST /api/v3/order are placed, then answered ``status``."""
        _check_fault(count, status)
        with self._lock:
            self._after_order.extend(HttpFault(status) for _ in range(count))
        log.info("sim.fault_injected", fault="fail_after_order", count=count, status=status)

    def delay(self, seconds: float, count: int | None = None) -> None:
        """Hold each of the next ``count`` responses (all, if None) for ``seconds``."""
        if not 0 <= seconds <= 300:
            raise ValueError("seconds must be 0 to 300")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._delay_seconds, self._delays_left = seconds, count
        log.info("sim.fault_injected", fault="delay", seconds=seconds, count=count)

    def list_later(self, after_seconds: float, symbol: str, base_precision: int, quote_precision: int, price: Decimal) -> None:
        """List ``symbol`` ``after_seconds`` from now (by the market clock)."""
        check_listing(symbol, base_precision, quote_precision, price)
        at = self._clock.now_ms() + int(after_seconds * 1000)
        with self._lock:
            self._listings.append(Listing(at, symbol, base_precision, quote_precision, price))
        log.info("sim.fault_injected", fault="listing", symbol=symbol, after_seconds=after_seconds)

    def drop_websockets(self) -> int:
        """Close every WebSocket connection now; returns how many there were."""
        dropped = self._drop() if self._drop is not None else 0
        log.info("sim.fault_fired", fault="drop_websockets", connections=dropped)
        return dropped

    def pushes(
        self, api_key: str, mode: str, *, count: int | None = None, probability: float | None = None,
        ms: int | None = None, seed: int = 0,
    ) -> None:
        """Private pushes to ``api_key``, by ``mode``:

        - "drop": never sent; "duplicate": sent twice in a row; "delay": held ``ms``
          (by the simulator's clock), while later pushes go ahead of it. Each takes
          the next ``count`` pushes (default 1), or with ``probability`` each push
          until cleared.
        - "deals_last": an order's deal pushes held until its final order update
          (FILLED, CANCELED, PARTIALLY_CANCELED) is sent, then sent after it; for the
          next ``count`` orders with a deal (default 1), or each by ``probability``.
          An order left open keeps its deals until it ends or the fault is cleared.
        - "reorder": the next ``count`` pushes (default 2) held and sent shuffled,
          never in the order they came, once all are in or ``ms`` (default 1000)
          after the first; one window per call.

        Random draws come from ``random.Random(seed)``. A mode set again replaces
        its earlier setting for the account; see push_faults for how modes combine."""
        self.push_stream.add(api_key, make_rule(mode, count, probability, ms, seed))

    def lag_trades(self, api_key: str, ms: int) -> None:
        """GET /api/v3/myTrades of ``api_key`` lists a trade only ``ms`` after it happened."""
        self._per_account(self._trades_lag_ms, "trades_lag", api_key, ms)

    def unknown_after_create(self, api_key: str, ms: int) -> None:
        """For ``ms`` after it was created, an order of ``api_key`` is unknown to GET and
        DELETE /api/v3/order (-2013) and missing from GET /api/v3/openOrders, while it
        is on the book and trades."""
        self._per_account(self._unknown_ms, "unknown_order", api_key, ms)

    def clear(self, api_key: str | None = None) -> None:
        """No more faults; with ``api_key``, only that account's (pushes, trades lag,
        unknown orders), leaving the rest."""
        with self._lock:
            if api_key is None:
                self._before.clear()
                self._after_order.clear()
                self._delay_seconds, self._delays_left = 0.0, None
                self._listings.clear()
                self._trades_lag_ms.clear()
                self._unknown_ms.clear()
            else:
                self._trades_lag_ms.pop(api_key, None)
                self._unknown_ms.pop(api_key, None)
        self.push_stream.clear(api_key)
        log.info("sim.faults_cleared", api_key=api_key)

    def _per_account(self, table: dict[str, int], fault: str, api_key: str, ms: int) -> None:
        if not api_key:
            raise ValueError("apiKey is required")
        if not 1 <= ms <= 600_000:
            raise ValueError("ms must be 1 to 600000")
        with self._lock:
            table[api_key] = ms
        log.info("sim.fault_injected", fault=fault, api_key=api_key, ms=ms)

    # -- consuming (the simulator's own threads) ----------------------------------------

    def attach_drop(self, drop: Callable[[], int]) -> None:
        self._drop = drop

    def take_before(self, method: str = "GET", path: str = "") -> HttpFault | None:
        with self._lock:
            fault = next((f for f in self._before if f.matches(method, path)), None)
            if fault is not None:
                self._before.remove(fault)
        if fault is not None:
            log.info("sim.fault_fired", fault="fail_next", status=fault.status)
        return fault

    def take_after_order(self) -> HttpFault | None:
        with self._lock:
            fault = self._after_order.popleft() if self._after_order else None
        if fault is not None:
            log.info("sim.fault_fired", fault="fail_after_order", status=fault.status)
        return fault

    def take_delay(self) -> float:
        with self._lock:
            if self._delay_seconds <= 0 or self._delays_left == 0:
                return 0.0
            if self._delays_left is not None:
                self._delays_left -= 1
            return self._delay_seconds

    def trades_visible_until(self, api_key: str, now: int, end: int | None) -> int | None:
        """The latest trade time myTrades may list now: ``end``, or earlier under a lag."""
        with self._lock:
            lag = self._trades_lag_ms.get(api_key)
        return end if lag is None else min(now - lag, end if end is not None else now)

    def hides_order(self, api_key: str, created_ms: int, now: int) -> bool:
        with self._lock:
            unknown_for = self._unknown_ms.get(api_key)
        return unknown_for is not None and now - created_ms < unknown_for

    def due_listings(self) -> list[Listing]:
        now = self._clock.now_ms()
        with self._lock:
            due = [item for item in self._listings if item.at_ms <= now]
            self._listings = [item for item in self._listings if item.at_ms > now]
        return due


def _check_fault(count: int, status: int) -> None:
    if not 1 <= count <= 100_000:
        raise ValueError("count must be 1 to 100000")
    if not 400 <= status <= 599:
        raise ValueError("status must be an HTTP error status, 400 to 599")


def check_listing(symbol: str, base_precision: int, quote_precision: int, price: Decimal) -> None:
    """A listing the exchange could really have: refused before anything changes."""
    if not re.fullmatch(r"[A-Z0-9]{2,20}(USDT|USDC|BTC|ETH)", symbol):
        raise ValueError(f"symbol {symbol!r} is not BASEQUOTE with a USDT, USDC, BTC or ETH quote")
    for name, places in (("basePrecision", base_precision), ("quotePrecision", quote_precision)):
        if not 0 <= places <= 18:
            raise ValueError(f"{name} must be 0 to 18")
    problem = amount_problem(price)
    if problem is not None:
        raise ValueError(f"price {problem}")
