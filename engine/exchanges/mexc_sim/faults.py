"""Faults a test can inject into a running simulator, to exercise a client's
unhappy paths: rate limiting, server errors (also after an order was placed:
"did it land?"), slow answers, dropped WebSockets and a listing mid-run.

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

    def clear(self) -> None:
        with self._lock:
            self._before.clear()
            self._after_order.clear()
            self._delay_seconds, self._delays_left = 0.0, None
            self._listings.clear()
        log.info("sim.faults_cleared")

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
