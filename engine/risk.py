"""Pre-trade risk checks: pure functions over the engine's risk state.

The risk engine actor owns the kill switch and the limits and publishes them as one
immutable ``RiskState``; a portfolio checks each order against the state it reads,
in its own thread, so no actor is a serialization point for every order of every
user. A halt is published before it is acknowledged: an order decided after an
operator's halt was answered sees it.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.errors import RiskLimitExceeded, TradingHalted
from engine.money import fmt


class RiskState(msgspec.Struct, frozen=True):
    max_order_notional: Decimal
    halted: bool = False
    halt_reason: str | None = None
    halted_by: str | None = None
    halted_at: int | None = None


def check_order(state: RiskState, notional: Decimal) -> None:
    """Refuse an order while trading is halted, or above the notional limit."""
    if state.halted:
        raise TradingHalted(f"trading is halted: {state.halt_reason}")
    if notional > state.max_order_notional:
        raise RiskLimitExceeded(
            f"order value {fmt(notional)} exceeds the limit of {fmt(state.max_order_notional)} per order",
            details={"limit": fmt(state.max_order_notional), "notional": fmt(notional)},
        )


def halted(state: RiskState, *, reason: str, by: str, at: int) -> RiskState:
    return msgspec.structs.replace(state, halted=True, halt_reason=reason, halted_by=by, halted_at=at)


def resumed(state: RiskState) -> RiskState:
    return msgspec.structs.replace(state, halted=False, halt_reason=None, halted_by=None, halted_at=None)
