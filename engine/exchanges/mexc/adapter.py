"""One MEXC account as its ExchangeGateway sees it: every order's life at the exchange.

Why it is built this way
------------------------
The engine's view of an order and the exchange's may differ for a while: an
answer is lost (timeout, 5xx), MEXC says "no such order" for a moment right after
a create, a deal push comes late or never, myTrades lags behind the order's
status. Each of those, handled in a different place, once produced an order the
engine thought closed while it still traded, or one sent twice. So:

- One owner decides. This adapter holds each order's phase (to send, sending,
  outcome unknown, live, ending, ended) and decides every placement, lookup,
  resend and cancel. The REST client sends each order once and never retries it.
- It never calls the exchange. It returns ``Job``s (``account_io``), which the
  gateway runs on worker threads, and is handed their outcomes as messages; its
  re-checks are due times looked at on the gateway's timer. Nothing here sleeps
  or blocks, so pushes are handled while a call is out.
- "No such order" is proof only when it is said ``GRACE_MS`` after the order
  could last have been sent; a refusal because the client order id is taken
  means the order exists: it is looked up, never sent again.
- An order's end (FILLED, CANCELED) is reported only when its fills add up to
  what the exchange executed. Until then the adapter reads the trades again on
  its timer; after ``FILLS_WAIT_MS`` it reports the end with what it has and tells
  operators. A fill that still comes later is reported, and applied to the
  closed order.
- Ended orders are forgotten after a while (``RECENT_ENDS``): memory stays bounded.
- A sweep of the account (open orders and recent orders on each symbol) finds
  what pushes missed and orders the engine's journal lacks (orphans of a crash
  between send and commit), which go to their user's portfolio to be adopted.

Single-threaded by design: the gateway actor owns the instance.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import structlog

from engine.clock import Clock
from engine.exchanges.base import MARKET_SEND_WINDOW_MS, ExchangeOrder, ExecutionReport
from engine.exchanges.mexc import account_io
from engine.exchanges.mexc.account_io import Job, PlaceParams, QueryResult
from engine.exchanges.mexc.codec import PrivateDealPush, PrivateOrderPush, Push
from engine.exchanges.mexc.errors import MexcCircuitOpen, MexcError, MexcRateLimited, MexcUnknownOrder
from engine.exchanges.mexc.order_state import (
    CANCEL_DEFER_MAX_SECONDS,
    CANCEL_TRIES,
    CONTENT_CODES,
    CONTENT_REFUSALS,
    ENDS,
    FILLS_WAIT_MS,
    FIRST_REREAD_MS,
    GRACE_MS,
    LOOKUP_AFTER_MS,
    PUSH_STATUS,
    RECENT_ENDS,
    RECHECK_MS,
    STATUS,
    SWEEP_TIMEOUT_MS,
    SWEEP_WAIT_MS,
    TAKEN_WAIT_MS,
    BalancesRead,
    Effects,
    Finding,
    Orphan,
    SweepState,
    Swept,
    Tracked,
    describe,
    first_time,
    unanswered,
)
from engine.exchanges.mexc.rest import MexcOrder, MexcOrderAck, MexcTrade
from engine.exchanges.mexc.rules import format_price, format_quantity, format_quote
from engine.exchanges.mexc.sweeps import AccountSweeps
from engine.model import IMMEDIATE_TYPES, Fill, OrderStatus
from engine.money import truncate
from engine.symbols import SymbolCatalog

log = structlog.get_logger(__name__)

class MexcAccountAdapter(AccountSweeps):
    def __init__(
        self,
        rest: Any,
        catalog: Callable[[], SymbolCatalog],
        clock: Clock,
        *,
        name: str = "",
        owners: Callable[[], list[str]] = lambda: [],
        is_ours: Callable[[str | None], str | None] = lambda _cid: None,
        symbols: Callable[[], list[str]] = lambda: [],
        sweep_every_ms: int = 60_000,
    ) -> None:
        self.rest = rest  # the gateway runs this adapter's jobs with it
        self._catalog = catalog  # asked each time: new listings replace the catalog
        self._clock = clock
        self._name = name
        self._owners = owners
        self._is_ours = is_ours  # client id -> the user it was made for, if this engine made it
        self._symbols = symbols  # symbols a sweep looks at besides those of tracked orders
        self._sweep_every_ms = sweep_every_ms
        self._orders: dict[str, Tracked] = {}  # client id -> order not ended
        self._ended: OrderedDict[str, Tracked] = OrderedDict()  # the newest ended ones
        self._by_exchange_id: dict[str, str] = {}  # exchange id -> client id
        self._serial = 0
        self._sweep: SweepState | None = None  # the sweep whose job is out, or whose resends are
        self._next_sweep: SweepState | None = None  # asked for while one runs
        self._sweep_due = clock.now_ms() + sweep_every_ms
        self._orphans_told: OrderedDict[str, None] = OrderedDict()
        # client ids an owner was asked about (None for a push that names no client id)
        self._handovers_asked: OrderedDict[str, None] = OrderedDict()
        self._swept_once = False  # a sweep of the account has finished since this adapter was made

    # -- what the gateway asks ----------------------------------------------------------

    def submit(self, order: ExchangeOrder, *, look_after: bool = False) -> Effects:
        """Place the order. MEXC's ack says nothing of fills: with ``look_after``
        (an order expected to trade at once) it is queried right after the ack, so
        its first report already says what it did."""
        fx = Effects()
        now = self._clock.now_ms()
        known = self._orders.get(order.client_order_id)
        if known is not None:
            log.info("mexc.submit_again_ignored", account=self._name, order_id=order.order_id, phase=known.phase)
            return fx
        tracked = self._orders[order.client_order_id] = Tracked(order, "to_send", now)
        tracked.look_after = tracked.awaiting_look = look_after
        self._drive(tracked, now, fx)
        return fx

    def cancel(self, order: ExchangeOrder) -> Effects:
        """Ask to cancel. An order not known to be on the exchange yet is withdrawn
        from any resend first; it is canceled once it is known to have arrived, or
        closed as canceled once it is known never to have."""
        fx = Effects()
        now = self._clock.now_ms()
        tracked = self._orders.get(order.client_order_id)
        if tracked is None:
            ended = self._ended.get(order.client_order_id)
            if ended is not None:  # its end was told; tell it again
                self._report(ended, ended.last_status or "CANCELED", fx, everything=True)
                return fx
            # Not followed here (a gateway restarted since): learn where it stands first.
            tracked = self._orders[order.client_order_id] = Tracked(order, "unknown", now)
        tracked.cancel_wanted = True
        tracked.cancel_tries = 0
        if not tracked.busy:
            tracked.due = now
        self._drive(tracked, now, fx)
        return fx

    def track(self, orders: list[ExchangeOrder], *, user_id: str, token: int | None, sweep: bool = True) -> Effects:
        """A portfolio's open orders (at its activation, or after the gateway was lost):
        follow each and sweep the account. An order whose end was already told is
        told again, in case that message was lost. Without ``sweep``, an adapter that
        already follows every one of them and has swept the account since it was made
        answers at once: a portfolio woken by a fill does not cost a sweep."""
        fx = Effects()
        now = self._clock.now_ms()
        new = False
        for order in orders:
            cid = order.client_order_id
            if cid in self._orders:
                continue
            new = True
            ended = self._ended.get(cid)
            if ended is not None:
                self._report(ended, ended.last_status or "CANCELED", fx, everything=True)
                continue
            # Where it stands is for the sweep to say; alone, if the sweep cannot.
            self._orders[cid] = Tracked(order, "unknown", now + SWEEP_TIMEOUT_MS)
        if sweep or new or not self._swept_once:
            self._request_sweep(user_id, token, now, fx)
        else:
            fx.swept.append(Swept(user_id, token, updated=[], resent=[], swept=False))
        return fx

    def adopt(self, order: ExchangeOrder, exchange_id: str, fills: tuple[Fill, ...]) -> Effects:
        """A portfolio took an order the sweep found into its journal (an orphan, or
        one it had closed while the exchange still traded it): follow it. It is asked
        about at once; its trades beyond ``fills`` (those the portfolio holds) are
        reported as they are read."""
        fx = Effects()
        now = self._clock.now_ms()
        tracked = self._orders.get(order.client_order_id)
        if tracked is None:
            tracked = self._orders[order.client_order_id] = Tracked(order, "unknown", now)
            self._ended.pop(order.client_order_id, None)
        self._link(tracked, exchange_id)
        for fill in fills:
            tracked.fills[fill.trade_id] = fill
            tracked.reported.add(fill.trade_id)
        tracked.taken = True  # it is on the exchange: a "no such order" now is not believed
        tracked.last_status = tracked.last_status or "NEW"
        if not tracked.busy:
            tracked.phase, tracked.due = "unknown", now
        self._drive(tracked, now, fx)
        return fx

    def fetch_balances(self, user_id: str, token: int) -> Effects:
        fx = Effects()
        fx.jobs.append(Job("balances", user_id=user_id, token=token, serial=self._next_serial()))
        return fx

    def tick(self) -> Effects:
        """Whatever is due: looks, resends, re-reads, the periodic sweep."""
        fx = Effects()
        now = self._clock.now_ms()
        for tracked in list(self._orders.values()):
            if tracked.phase == "ending" and tracked.ending_since is not None and not tracked.busy \
                    and now - tracked.ending_since >= FILLS_WAIT_MS:
                self._give_up_on_fills(tracked, fx)
                continue
            self._drive(tracked, now, fx)
        sweep = self._sweep
        if sweep is not None and sweep.answered and now - sweep.dispatched_at >= SWEEP_WAIT_MS:
            log.warning("mexc.sweep_unsettled", account=self._name, orders=len(sweep.pending))
            self._finish_sweep(fx)  # its owners hear now; the orders are still followed
        if now >= self._sweep_due and self._sweep is None:
            self._start_sweep(self._next_sweep or SweepState(), now, fx)
            self._next_sweep = None
        return fx

    def next_due(self) -> int:
        """The clock time (ms) before which ``tick`` has nothing to do, as things
        stand now (anything the adapter is told may bring it closer): a host of many
        accounts ticks only those that are due."""
        due = self._sweep_due if self._sweep is None else self._clock.now_ms() + self._sweep_every_ms
        sweep = self._sweep
        if sweep is not None and sweep.answered:
            due = min(due, sweep.dispatched_at + SWEEP_WAIT_MS)
        for tracked in self._orders.values():
            if tracked.busy or tracked.phase == "ended":
                continue
            if tracked.phase == "ending" and tracked.ending_since is not None:
                due = min(due, tracked.ending_since + FILLS_WAIT_MS)
            due = min(due, tracked.due)
        return due

    def on_result(self, job: Job, result: Any = None, error: Exception | None = None) -> Effects:
        """What a job came back with (``error`` if the exchange refused or failed)."""
        fx = Effects()
        now = self._clock.now_ms()
        if job.kind == "sweep":
            self._on_sweep(job, result, error, now, fx)
            return fx
        if job.kind == "balances":
            reason = None if error is None else unanswered(error)
            fx.balances.append(BalancesRead(job.user_id, job.token, None if error else result, reason))
            return fx
        if job.kind == "probe":
            return fx
        tracked = self._orders.get(job.client_id)
        if tracked is None:
            return fx  # ended meanwhile (a push told it)
        tracked.busy = False
        if job.kind == "place":
            self._on_placed(tracked, result, error, now, fx)
        elif job.kind == "query":
            self._on_queried(tracked, result, error, now, fx)
        elif job.kind == "cancel":
            self._on_cancel_answer(tracked, result, error, now, fx)
        if tracked.phase != "ended":
            self._drive(tracked, now, fx)
        return fx

    def on_push(self, push: Push) -> Effects:
        fx = Effects()
        now = self._clock.now_ms()
        body = push.body
        if isinstance(body, PrivateDealPush):
            tracked = self._find(body.client_order_id, body.order_id, fx, now)
            if tracked is None:
                return fx
            fill = Fill(
                trade_id=body.trade_id, price=body.price, quantity=body.quantity, quote=body.amount,
                fee=body.fee_amount, fee_asset=body.fee_currency, is_maker=body.is_maker, time=body.time,
            )
            if fill.trade_id in tracked.fills:
                return fx
            tracked.fills[fill.trade_id] = fill
            self._arrived(tracked, body.order_id, fx)
            if tracked.phase == "ended":
                self._report(tracked, tracked.last_status or "FILLED", fx)  # a late fill of a closed order
            elif tracked.phase == "ending":
                self._advance(tracked, tracked.exchange_status or "FILLED", now, fx)
            else:
                self._report(tracked, "PARTIALLY_FILLED", fx)
            return fx
        if isinstance(body, PrivateOrderPush):
            tracked = self._find(body.client_id, body.id, fx, now)
            if tracked is None or tracked.phase == "ended":
                return fx  # old news of an order whose end was told
            status = PUSH_STATUS.get(body.status)
            if status is None:
                return fx
            self._arrived(tracked, body.id, fx)
            tracked.executed = max(tracked.executed, body.cumulative_quantity)
            if status == "NEW" and tracked.awaiting_look:
                # Only its creation, which may come ahead of the answer to the placement
                # or of the look after it: an order expected to trade at once reports
                # what that look finds.
                self._drive(tracked, now, fx)
                return fx
            self._advance(tracked, status, now, fx)
            # _advance() may have ended it; mypy still holds the phase narrowed by the check above.
            if tracked.phase != "ended":  # type: ignore[comparison-overlap]
                self._drive(tracked, now, fx)
        return fx

    def is_quiet(self) -> bool:
        """Nothing is under way: no sweep, and every order followed rests on the
        exchange with no look, cancel or resend of its own pending. Only the exchange
        (a push) or the owner can change that, so a gateway whose pushes reach it
        asleep may let go of the account: its next push or order starts it again."""
        if self._sweep is not None or self._next_sweep is not None:
            return False
        return all(
            t.phase == "live" and not t.busy and not t.cancel_wanted and not t.look_after and not t.after
            for t in self._orders.values()
        )

    def stats(self) -> dict[str, int]:
        return {
            "orders": len(self._orders),
            "busy": sum(1 for t in self._orders.values() if t.busy),
            "ended": len(self._ended),
            "sweeping": int(self._sweep is not None),
        }

    def is_settled(self, user_id: str | None = None) -> bool:
        """No order (of ``user_id``) is waiting for its placement's outcome."""
        return not any(
            t.phase in ("to_send", "sending", "unknown") and (user_id is None or t.order.user_id == user_id)
            for t in self._orders.values()
        )

    # -- driving one order ------------------------------------------------------------

    def _drive(self, tracked: Tracked, now: int, fx: Effects) -> None:
        """The next step of ``tracked``, if one is due and no job of it is out."""
        if tracked.busy or tracked.due > now or tracked.phase == "ended":
            return
        order = tracked.order
        if tracked.phase == "to_send":
            if tracked.cancel_wanted:
                self._close(tracked, "CANCELED", "canceled before it reached the exchange", fx)
            elif order.type in IMMEDIATE_TYPES and now - tracked.origin(now) > MARKET_SEND_WINDOW_MS:
                self._close(tracked, "REJECTED", "the order did not reach the exchange in time", fx)
            else:
                tracked.first_sent = tracked.first_sent or now
                tracked.last_sent = now
                tracked.phase = "sending"
                self._job(tracked, "place", fx, place=self._place_params(order))
        elif tracked.phase in ("unknown", "ending"):
            self._job(tracked, "query", fx)
        elif tracked.phase == "live":
            if tracked.cancel_wanted and not tracked.cancel_sent:
                tracked.cancel_sent = True
                tracked.cancel_tries += 1
                self._job(tracked, "cancel", fx)
            elif tracked.look_after or tracked.after:
                tracked.look_after = False
                self._job(tracked, "query", fx)

    def _on_placed(self, tracked: Tracked, result: Any, error: Exception | None, now: int, fx: Effects) -> None:
        if error is None and isinstance(result, MexcOrderAck):
            self._arrived(tracked, result.order_id, fx)
            if tracked.last_status is None and not tracked.awaiting_look:
                self._report(tracked, "NEW", fx)  # one looked after reports what the look finds
            return
        if tracked.phase != "sending":
            return  # a push said it arrived while the answer was out
        if not isinstance(error, MexcError):
            error = error or RuntimeError("no answer")
            tracked.phase, tracked.due = "unknown", now + LOOKUP_AFTER_MS
            log.warning("mexc.submit_failed", account=self._name, order_id=tracked.order.order_id, error=repr(error))
            return
        if error.outcome_unknown:
            log.warning("mexc.submit_unknown", account=self._name, order_id=tracked.order.order_id, error=repr(error))
            tracked.phase, tracked.due = "unknown", now + LOOKUP_AFTER_MS
        elif isinstance(error, (MexcRateLimited, MexcCircuitOpen)):
            # Refused before it was processed (a 429, a spent budget, an open breaker): send later.
            wait = getattr(error, "retry_after", None) or 1.0
            tracked.phase, tracked.due = "to_send", now + max(int(wait * 1000), 250)
            log.info("mexc.submit_deferred", account=self._name, order_id=tracked.order.order_id, seconds=wait)
        elif (isinstance(error, CONTENT_REFUSALS) or error.code in CONTENT_CODES) and tracked.last_sent == tracked.first_sent:
            self._close(tracked, "REJECTED", f"exchange refused the order ({error.code}: {error.msg})", fx)
        else:
            # A refusal of a resent order, or one MEXC gives no specific code for, may
            # mean its client order id is taken: by an earlier send that landed.
            tracked.phase, tracked.due = "unknown", now
            tracked.refusal = f"exchange refused the order ({error.code}: {error.msg})"
            tracked.taken = tracked.last_sent != tracked.first_sent

    def _on_queried(self, tracked: Tracked, result: Any, error: Exception | None, now: int, fx: Effects) -> None:
        tracked.awaiting_look = False  # answered or not, what it says (or the ack) is reported now
        unanswered = error is not None or not isinstance(result, QueryResult) or result.order is None
        if tracked.phase == "live" and unanswered:
            if tracked.last_status is None:
                self._report(tracked, "NEW", fx)  # the look after its ack found nothing more: the ack it is
            # Its pushes may never come: a look after its ack (not a cancel's) is asked
            # again when due; a MARKET order's caller waits for its outcome.
            tracked.look_after = tracked.look_after or not tracked.after
        if error is not None or not isinstance(result, QueryResult):
            tracked.due = now + RECHECK_MS
            log.info("mexc.lookup_failed", account=self._name, order_id=tracked.order.order_id, error=repr(error))
            return
        if result.order is not None:
            self._apply(tracked, result.order, result.trades, now, fx)
            return
        self._on_missing(tracked, now, now, fx)

    def _on_missing(self, tracked: Tracked, now: int, answered_at: int, fx: Effects) -> None:
        """The exchange said it has no such order (at ``answered_at``)."""
        proof = answered_at >= tracked.latest_send() + GRACE_MS
        if tracked.phase in ("live", "ending"):
            if not proof or tracked.phase == "ending":
                tracked.due = now + RECHECK_MS
                return
            self._close(tracked, "CANCELED", "the exchange does not have the order", fx)
            fx.findings.append(Finding(tracked.order.user_id, tracked.order.order_id, "order_vanished",
                                       "the exchange had acknowledged the order, then said it has no such order"))
            return
        if tracked.taken and tracked.refusal is not None and now - tracked.latest_send() > TAKEN_WAIT_MS:
            # Refused as taken, yet never found: the refusal meant something else.
            fx.findings.append(Finding(tracked.order.user_id, tracked.order.order_id, "resend_refused",
                                       f"{tracked.refusal}, and the exchange never showed the order"))
            self._close(tracked, "REJECTED", tracked.refusal, fx)
            return
        if tracked.taken or not proof:
            # Taken means it exists, whatever a lookup says now; and a fresh "no such
            # order" may only mean "not yet". A sweep waits for the answer.
            tracked.due = max(now + RECHECK_MS, tracked.latest_send() + GRACE_MS)
            self._hold_sweep(tracked)
            return
        if tracked.refusal is not None:
            self._close(tracked, "REJECTED", tracked.refusal, fx)
        elif tracked.cancel_wanted:
            self._close(tracked, "CANCELED", "canceled before it reached the exchange", fx)
        elif tracked.order.type in IMMEDIATE_TYPES and now - tracked.origin(now) > MARKET_SEND_WINDOW_MS:
            self._close(tracked, "REJECTED", "the order did not reach the exchange in time", fx)
        else:
            log.warning("mexc.order_resend", account=self._name, order_id=tracked.order.order_id,
                        client_order_id=tracked.order.client_order_id)
            tracked.phase, tracked.due = "to_send", now
            self._hold_sweep(tracked)
            if self._sweep is not None:
                self._sweep.resent[tracked.order.order_id] = tracked.order.user_id

    def _on_cancel_answer(self, tracked: Tracked, result: Any, error: Exception | None, now: int, fx: Effects) -> None:
        if error is None and isinstance(result, MexcOrder) and result.status is not None:
            tracked.cancel_sent = False
            self._apply(tracked, result, [], now, fx)
            if tracked.phase not in ("ended", "ending"):
                tracked.after, tracked.due = "cancel_done", now  # the order says how it ended
            return
        if error is None:
            # MEXC's usual answer says nothing of status or fills: ask the order.
            tracked.after, tracked.due = "cancel_done", now
            return
        if isinstance(error, MexcUnknownOrder):
            tracked.after, tracked.due = "cancel_unknown", now  # filled already, or not visible yet
            return
        if isinstance(error, MexcError) and error.outcome_unknown:
            tracked.after, tracked.due = "cancel_uncertain", now
            return
        if isinstance(error, (MexcRateLimited, MexcCircuitOpen)):
            # Turned away unprocessed: sent again once the exchange takes calls, if soon.
            wait = getattr(error, "retry_after", None) or 1.0
            if wait <= CANCEL_DEFER_MAX_SECONDS and tracked.cancel_tries < CANCEL_TRIES:
                tracked.cancel_sent, tracked.due = False, now + max(int(wait * 1000), 250)
                return
        self._cancel_failed(tracked, error, fx)

    def _cancel_failed(self, tracked: Tracked, error: Exception | None, fx: Effects) -> None:
        log.warning("mexc.cancel_failed", account=self._name, order_id=tracked.order.order_id, error=repr(error))
        tracked.cancel_wanted = tracked.cancel_sent = False
        tracked.after = ""
        reason = f"the exchange did not cancel the order ({describe(error)})" if error else None
        status: OrderStatus = "PARTIALLY_FILLED" if tracked.fills else "NEW"
        fx.reports.append(self._make(tracked, status, (), reason=reason, cancel_failed=True))

    def _apply(self, tracked: Tracked, found: MexcOrder, trades: list[MexcTrade], now: int, fx: Effects) -> None:
        """The exchange's word on the order (a query, a sweep, a cancel's answer)."""
        self._arrived(tracked, found.order_id, fx)
        for trade in trades:
            if trade.id not in tracked.fills:
                tracked.fills[trade.id] = self._fill(tracked, trade)
        tracked.executed = max(tracked.executed, found.executed_qty or Decimal(0))
        status = STATUS.get(found.status or "", "NEW")
        after, tracked.after = tracked.after, ""
        if status not in ENDS and after:
            # The cancel did not take (yet): ask again, at once if its answer was lost,
            # after a moment if the exchange did not see the order yet.
            if tracked.cancel_tries < CANCEL_TRIES:
                tracked.cancel_sent = False
                tracked.due = now if after == "cancel_uncertain" else now + RECHECK_MS
            else:
                self._cancel_failed(tracked, None, fx)
        self._advance(tracked, status, now, fx)

    def _advance(self, tracked: Tracked, status: OrderStatus, now: int, fx: Effects) -> None:
        """Report what changed; end the order only when its fills add up."""
        if tracked.exchange_status in ENDS and status not in ENDS:
            status = tracked.exchange_status  # an older view than one already seen
        tracked.exchange_status = status
        if status in ENDS:
            if tracked.known_executed >= tracked.executed:
                self._end(tracked, status, fx)
                return
            entering = tracked.phase != "ending"
            if entering:
                tracked.phase, tracked.ending_since = "ending", now
                log.info("mexc.fills_pending", account=self._name, order_id=tracked.order.order_id,
                         executed=str(tracked.executed), read=str(tracked.known_executed))
            if entering:
                tracked.due = now + FIRST_REREAD_MS  # a deal push on its way usually lands first
            elif tracked.due <= now:
                tracked.due = now + RECHECK_MS
            if set(tracked.fills) - tracked.reported:
                self._report(tracked, "PARTIALLY_FILLED", fx)
            return
        if tracked.phase in ("unknown", "sending", "to_send"):
            tracked.phase = "live"
        if set(tracked.fills) - tracked.reported or tracked.last_status not in (status, "PARTIALLY_FILLED"):
            self._report(tracked, status, fx)

    def _give_up_on_fills(self, tracked: Tracked, fx: Effects) -> None:
        detail = (f"the exchange executed {tracked.executed} but myTrades shows {tracked.known_executed} after "
                  f"{FILLS_WAIT_MS // 1000}s; the order is closed with the fills read, later ones are still applied")
        log.error("mexc.fills_incomplete", account=self._name, order_id=tracked.order.order_id,
                  executed=str(tracked.executed), read=str(tracked.known_executed), fills=len(tracked.fills))
        fx.findings.append(Finding(tracked.order.user_id, tracked.order.order_id, "fills_incomplete", detail))
        self._end(tracked, tracked.exchange_status or "FILLED", fx, reason="fills incomplete at the exchange")

    # -- helpers ------------------------------------------------------------------------

    def _job(self, tracked: Tracked, kind: Any, fx: Effects, place: PlaceParams | None = None) -> None:
        tracked.busy = True
        fx.jobs.append(Job(
            kind, client_id=tracked.order.client_order_id, symbol=tracked.order.symbol,
            exchange_id=tracked.exchange_id, known_executed=tracked.known_executed, place=place,
            serial=self._next_serial(),
        ))

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def _place_params(self, order: ExchangeOrder) -> PlaceParams:
        info = self._catalog().get(order.symbol)
        quantity = None if order.quantity is None else Decimal(format_quantity(info, order.quantity))
        if order.max_quote is not None and quantity:
            # A MARKET buy by quantity: an immediate-or-cancel limit that cannot spend
            # past the reservation (the book may be thinner than the price it was made at).
            cap = truncate(order.max_quote / quantity, info.quote_precision)
            return PlaceParams(order.symbol, order.side, "IMMEDIATE_OR_CANCEL", quantity, None,
                               Decimal(format_price(info, cap)), order.client_order_id)
        return PlaceParams(
            order.symbol, order.side, order.type, quantity,
            None if order.quote_quantity is None else Decimal(format_quote(info, order.quote_quantity)),
            None if order.price is None else Decimal(format_price(info, order.price)),
            order.client_order_id,
        )

    def _arrived(self, tracked: Tracked, exchange_id: str | None, fx: Effects) -> None:
        """The exchange has the order."""
        self._settle_resend(tracked, fx)
        if exchange_id:
            self._link(tracked, exchange_id)
        tracked.refusal = None
        if tracked.phase in ("to_send", "sending", "unknown"):
            tracked.phase = "live"

    def _link(self, tracked: Tracked, exchange_id: str) -> None:
        tracked.exchange_id = exchange_id
        self._by_exchange_id[exchange_id] = tracked.order.client_order_id

    def _find(self, client_id: str | None, exchange_id: str | None, fx: Effects, now: int) -> Tracked | None:
        cid = client_id or (self._by_exchange_id.get(exchange_id) if exchange_id else None)
        if cid:
            tracked = self._orders.get(cid) or self._ended.get(cid)
            if tracked is not None:
                return tracked
        owner = self._is_ours(client_id)
        if owner is not None:
            # One of this engine's orders that nothing here follows: its gateway started
            # for this push (the owner sleeps), or restarted, or a crash lost its record.
            # The owner hands over its open orders (whose looks read what the push
            # said), and a sweep finds the order if the journal lacks it.
            log.info("mexc.push_for_untracked_order", account=self._name, client_order_id=client_id)
            if first_time(self._handovers_asked, client_id or "", RECENT_ENDS):
                fx.handovers.append(owner)
            self._sweep_due = min(self._sweep_due, now)
        else:
            log.info("mexc.push_for_unknown_order", account=self._name, client_order_id=client_id, order_id=exchange_id)
        return None

    def _fill(self, tracked: Tracked, trade: MexcTrade) -> Fill:
        return Fill(
            trade_id=trade.id, price=trade.price, quantity=trade.qty, quote=trade.quote_qty, fee=trade.commission,
            fee_asset=trade.commission_asset or self._catalog().get(tracked.order.symbol).quote,
            is_maker=trade.is_maker, time=trade.time,
        )

    def _end(self, tracked: Tracked, status: OrderStatus, fx: Effects, reason: str | None = None) -> None:
        self._report(tracked, status, fx, reason=reason, force=True)
        self._retire(tracked, fx)

    def _close(self, tracked: Tracked, status: OrderStatus, reason: str, fx: Effects) -> None:
        """An end decided here, not by the exchange (it never had the order)."""
        self._report(tracked, status, fx, reason=reason, force=True)
        self._retire(tracked, fx)

    def _retire(self, tracked: Tracked, fx: Effects) -> None:
        self._settle_resend(tracked, fx)
        tracked.phase = "ended"
        cid = tracked.order.client_order_id
        self._orders.pop(cid, None)
        self._ended[cid] = tracked
        while len(self._ended) > RECENT_ENDS:
            _, old = self._ended.popitem(last=False)
            if old.exchange_id:
                self._by_exchange_id.pop(old.exchange_id, None)

    def _report(self, tracked: Tracked, status: OrderStatus, fx: Effects, *, reason: str | None = None,
                force: bool = False, everything: bool = False) -> None:
        fresh = tuple(tracked.fills.values()) if everything else tuple(
            f for tid, f in tracked.fills.items() if tid not in tracked.reported)
        if not fresh and not force and not everything and tracked.last_status == status:
            return
        tracked.reported.update(f.trade_id for f in fresh)
        tracked.last_status = status
        fx.reports.append(self._make(tracked, status, fresh, reason=reason))

    def _make(self, tracked: Tracked, status: OrderStatus, fills: tuple[Fill, ...], *, reason: str | None = None,
              cancel_failed: bool = False) -> ExecutionReport:
        return ExecutionReport(
            user_id=tracked.order.user_id, order_id=tracked.order.order_id, status=status,
            fills=tuple(sorted(fills, key=lambda f: (f.time, f.trade_id))), reason=reason,
            time=self._clock.now_ms(), cancel_failed=cancel_failed,
        )


__all__ = ["MexcAccountAdapter", "Effects", "Finding", "Swept", "Orphan", "BalancesRead", "account_io"]
