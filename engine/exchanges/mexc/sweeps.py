"""Sweeps of an exchange account: the adapter's look at the whole account.

At start, after a user-stream reconnect and on an interval, the account's open orders
and its recent orders on each symbol are read (one job, ``account_io.sweep``). What they
say is applied to the orders the adapter follows (missed fills and ends; an order the
exchange does not have is sent again by the usual rules), an ended order whose fills
never added up gets its trades read again, and an order with an owner's engine prefix
that nothing follows is handed to that owner to adopt. Those waiting on a sweep (a
portfolio's reconciliation, a start) hear once its job and the orders it sent again are
answered, or after ``SWEEP_WAIT_MS``.

A part of ``MexcAccountAdapter``, kept apart because it is a job of its own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog

from engine.exchanges.base import VenueOrder
from engine.exchanges.mexc.account_io import Job, SweepRequest, SweepResult
from engine.exchanges.mexc.order_state import (
    ENDS,
    RECENT_ENDS,
    RECENT_WINDOW_MS,
    STATUS,
    Effects,
    Orphan,
    SweepState,
    Swept,
    Tracked,
    first_time,
    unanswered,
)
from engine.exchanges.mexc.rest import MexcOrder, MexcTrade
from engine.model import EXCHANGE_TYPES, PRICED_TYPES

if TYPE_CHECKING:
    from engine.clock import Clock
    from engine.model import ExchangeType, Fill, OrderStatus

log = structlog.get_logger(__name__)


class AccountSweeps:
    """The sweep half of the adapter; uses its orders, clock and owners."""

    # What it uses of MexcAccountAdapter, which sets and defines these.
    _clock: Clock
    _name: str
    _owners: Callable[[], list[str]]
    _is_ours: Callable[[str | None], str | None]
    _symbols: Callable[[], list[str]]
    _sweep_every_ms: int
    _orders: dict[str, Tracked]
    _ended: OrderedDict[str, Tracked]
    _sweep: SweepState | None
    _next_sweep: SweepState | None
    _sweep_due: int
    _orphans_told: OrderedDict[str, None]
    _swept_once: bool

    if TYPE_CHECKING:
        def _next_serial(self) -> int: ...
        def _drive(self, tracked: Tracked, now: int, fx: Effects) -> None: ...
        def _on_missing(self, tracked: Tracked, now: int, answered_at: int, fx: Effects) -> None: ...
        def _apply(self, tracked: Tracked, found: MexcOrder, trades: list[MexcTrade], now: int, fx: Effects) -> None: ...
        def _fill(self, tracked: Tracked, trade: MexcTrade) -> Fill: ...
        def _report(self, tracked: Tracked, status: OrderStatus, fx: Effects, *, reason: str | None = None,
                    force: bool = False, everything: bool = False) -> None: ...

    def sweep_now(self) -> Effects:
        """Look at the whole account now (after a user stream reconnect: pushes may
        have been missed); owners hear when it is over."""
        fx = Effects()
        waiters: list[tuple[str, int | None]] = [(user, None) for user in self._owners()]
        if self._sweep is None:
            # Those waiting for the next sweep go with this one: starting it puts the
            # timer's next sweep a whole interval off, and they would wait that long.
            sweep, self._next_sweep = self._next_sweep or SweepState(), None
            sweep.waiters.extend(waiters)
            self._start_sweep(sweep, self._clock.now_ms(), fx)
        else:
            self._next_sweep = self._next_sweep or SweepState()
            self._next_sweep.waiters.extend(waiters)
            self._sweep_due = min(self._sweep_due, self._clock.now_ms())
        return fx

    # -- sweeps -------------------------------------------------------------------------

    def _request_sweep(self, user_id: str, token: int | None, now: int, fx: Effects) -> None:
        if self._sweep is None:
            # Those waiting for the next sweep (asked for while the last one ran, not
            # started by the timer yet) go with this one: starting it puts the timer's
            # next sweep a whole interval off.
            sweep, self._next_sweep = self._next_sweep or SweepState(), None
            sweep.waiters.append((user_id, token))
            self._start_sweep(sweep, now, fx)
        else:
            self._next_sweep = self._next_sweep or SweepState()
            self._next_sweep.waiters.append((user_id, token))
            self._sweep_due = min(self._sweep_due, now)

    def _start_sweep(self, sweep: SweepState, now: int, fx: Effects) -> None:
        self._sweep = sweep
        sweep.dispatched_at = now
        self._sweep_due = now + self._sweep_every_ms
        symbols = sorted({t.order.symbol for t in self._orders.values()} | set(self._symbols()))
        tracked = {
            cid: (t.order.symbol, t.exchange_id, t.known_executed)
            for cid, t in self._orders.items() if not t.busy
        }
        # Ended with fills missing (they never added up in time): their trades are read again.
        tracked.update(
            (cid, (t.order.symbol, t.exchange_id, t.known_executed))
            for cid, t in self._ended.items() if t.known_executed < t.executed
        )
        request = SweepRequest(tuple(symbols), now - RECENT_WINDOW_MS, tracked,
                               is_ours=lambda cid: self._is_ours(cid) is not None)
        fx.jobs.append(Job("sweep", sweep=request, serial=self._next_serial()))

    def _on_sweep(self, job: Job, result: Any, error: Exception | None, now: int, fx: Effects) -> None:
        sweep = self._sweep
        if sweep is None:
            return
        if error is not None or not isinstance(result, SweepResult):
            log.warning("mexc.sweep_failed", account=self._name, error=repr(error))
            sweep.error = unanswered(error or RuntimeError("no answer"))
            self._finish_sweep(fx)  # its orders are asked about one by one when due
            return
        for found in result.orders:
            cid = found.client_order_id or found.orig_client_order_id or ""
            trades = result.trades.get(found.order_id, [])
            tracked = self._orders.get(cid)
            if tracked is not None:
                if tracked.busy:
                    continue  # its own question is out; that answer is newer
                told = len(fx.reports)
                tracked.due = min(tracked.due, now) if tracked.phase == "unknown" else tracked.due
                self._apply(tracked, found, trades, now, fx)
                if any(r.fills or r.status in ENDS for r in fx.reports[told:]):
                    sweep.updated[tracked.order.order_id] = tracked.order.user_id  # fills or an end it missed
                if tracked.phase != "ended":
                    self._drive(tracked, now, fx)
                continue
            ended = self._ended.get(cid)
            if ended is not None:
                late = [t for t in trades if t.id not in ended.fills]
                for trade in late:
                    ended.fills[trade.id] = self._fill(ended, trade)
                if late:
                    self._report(ended, ended.last_status or "FILLED", fx)
                continue
            user = self._is_ours(cid)
            closed_empty = STATUS.get(found.status or "") == "CANCELED" and not found.executed_qty
            # (One that ended with nothing done moved no money: nothing to adopt.)
            # Its owner says whether the journal has it; trades are read if it adopts it.
            if user is not None and not closed_empty and first_time(self._orphans_told, cid, RECENT_ENDS * 5):
                fx.orphans.append(Orphan(user, self._venue_order(found)))
        for cid in result.missing:
            tracked = self._orders.get(cid)
            if tracked is not None and not tracked.busy:
                self._on_missing(tracked, now, sweep.dispatched_at, fx)
                self._drive(tracked, now, fx)
        sweep.answered = True
        if not sweep.pending:
            self._finish_sweep(fx)

    def _hold_sweep(self, tracked: Tracked) -> None:
        """The current sweep is not over before ``tracked`` is known to be on the
        exchange (or closed): its owner waits for its orders to be back."""
        if self._sweep is not None:
            self._sweep.pending.add(tracked.order.client_order_id)

    def _settle_resend(self, tracked: Tracked, fx: Effects) -> None:
        """An order the current sweep waits for is on the exchange or closed; the sweep
        is over once its job and all of those are answered (or SWEEP_WAIT_MS passed)."""
        sweep = self._sweep
        if sweep is not None and tracked.order.client_order_id in sweep.pending:
            sweep.pending.discard(tracked.order.client_order_id)
            if sweep.answered and not sweep.pending:
                self._finish_sweep(fx)

    def _finish_sweep(self, fx: Effects) -> None:
        sweep, self._sweep = self._sweep, None
        if sweep is None:
            return
        self._swept_once = self._swept_once or sweep.error is None
        told: set[tuple[str, int | None]] = set()
        waiting = {user for user, _ in sweep.waiters}
        changed = [(u, None) for u in sorted(set(sweep.updated.values()) | set(sweep.resent.values())) if u not in waiting]
        for user, token in sweep.waiters + changed:
            if (user, token) in told:
                continue
            told.add((user, token))
            fx.swept.append(Swept(
                user, token,
                updated=[o for o, u in sweep.updated.items() if u == user],
                resent=[o for o, u in sweep.resent.items() if u == user],
                error=sweep.error,
            ))

    def _venue_order(self, found: MexcOrder) -> VenueOrder:
        # The exchange's type as it is (a MARKET buy by quantity went as IMMEDIATE_OR_CANCEL).
        kind: ExchangeType = found.type if found.type in EXCHANGE_TYPES else "LIMIT"  # type: ignore[assignment]
        quote = found.orig_quote_order_qty if found.orig_quote_order_qty else None
        return VenueOrder(
            client_order_id=found.client_order_id or found.orig_client_order_id or "",
            exchange_id=found.order_id, symbol=found.symbol, side="SELL" if found.side == "SELL" else "BUY",
            type=kind, status=STATUS.get(found.status or "", "NEW"),
            quantity=found.orig_qty if found.orig_qty else None, quote_quantity=quote,
            price=found.price if kind in PRICED_TYPES else None, executed_quantity=found.executed_qty or Decimal(0),
            created_at=found.time or self._clock.now_ms(),
        )
