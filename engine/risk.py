"""Pre-trade risk checks: pure functions over the engine's risk state and a user's own.

The risk engine actor owns the kill switch and the global limits and publishes them as
one immutable ``RiskState``; a portfolio checks each order against the state it reads,
with its user's own limits and halt (journaled in the user's stream), in its own thread,
so no actor is a serialization point for every order of every user. A halt is published
before it is acknowledged: an order decided after an operator's halt was answered sees it.

Each limit refuses with a code of its own and ``details`` naming the limit and the value.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from engine.config import Config
from engine.errors import (
    DailyLossLimit,
    OpenOrdersLimit,
    OrderNotionalLimit,
    PositionLimit,
    PriceBand,
    TradingHalted,
)
from engine.money import fmt


class Limits(msgspec.Struct, frozen=True, omit_defaults=True):
    """Risk limits; None: none (globally), or the global one (a user's own)."""

    max_order_notional: Decimal | None = None
    max_position_notional: Decimal | None = None
    max_open_orders: int | None = None
    price_band_percent: Decimal | None = None
    max_daily_loss: Decimal | None = None

    def over(self, base: Limits) -> Limits:
        """These limits where set, ``base``'s elsewhere."""
        fields = msgspec.structs.asdict(self)
        return Limits(**{name: value if value is not None else getattr(base, name) for name, value in fields.items()})


class RiskState(msgspec.Struct, frozen=True):
    max_order_notional: Decimal
    halted: bool = False
    halt_reason: str | None = None
    halted_by: str | None = None
    halted_at: int | None = None
    limits: Limits = Limits()  # the global limits but the order notional (above, for the status's sake)

    @property
    def global_limits(self) -> Limits:
        return msgspec.structs.replace(self.limits, max_order_notional=self.max_order_notional)


class UserRisk(msgspec.Struct, frozen=True):
    """A user's risk picture, for operators."""

    user_id: str
    limits: Limits  # the user's own
    effective: Limits  # what their orders are checked against
    halted: bool
    halt_reason: str | None
    daily_loss_halted: bool
    daily_pnl: Decimal


class OrderRisk(msgspec.Struct, frozen=True):
    """What the checks need of an order and its user, gathered by the portfolio."""

    notional: Decimal
    side: str = "BUY"
    price: Decimal | None = None  # a LIMIT's price or a trigger's level, for the price band
    last: Decimal | None = None  # the symbol's last price
    position_value: Decimal = Decimal(0)  # what the user holds of the symbol, at the last price
    open_orders: int = 0  # the user's open orders before this one
    daily_pnl: Decimal | None = None  # realized today plus unrealized, when a daily limit is set


def risk_state_of(config: Config) -> RiskState:
    """The engine's limits as configured (RISK_*), no halt."""
    return RiskState(max_order_notional=config.max_order_notional, limits=Limits(
        max_position_notional=config.risk_max_position_notional, max_open_orders=config.risk_max_open_orders,
        price_band_percent=config.risk_price_band_percent, max_daily_loss=config.risk_max_daily_loss))


def check_order(state: RiskState, notional: Decimal, *, user: Limits | None = None,
                order: OrderRisk | None = None, user_halt: str | None = None) -> None:
    """Refuse an order while trading is halted (for everyone, or for this user), or if it
    breaks a limit: the user's own where set, else the engine's."""
    if state.halted:
        raise TradingHalted(f"trading is halted: {state.halt_reason}")
    if user_halt is not None:
        raise TradingHalted(f"trading is halted for this user: {user_halt}")
    limits = (user or Limits()).over(state.global_limits)
    cap = limits.max_order_notional
    if cap is not None and notional > cap:
        raise OrderNotionalLimit(
            f"order value {fmt(notional)} exceeds the limit of {fmt(cap)} per order",
            details={"limit": "maxOrderNotional", "maximum": fmt(cap), "value": fmt(notional),
                     "notional": fmt(notional)},
        )
    if order is None:
        return
    if limits.max_open_orders is not None and order.open_orders + 1 > limits.max_open_orders:
        raise OpenOrdersLimit(
            f"{order.open_orders} orders are open; the limit is {limits.max_open_orders}",
            details={"limit": "maxOpenOrders", "maximum": limits.max_open_orders, "value": order.open_orders + 1},
        )
    if limits.max_position_notional is not None and order.side == "BUY":
        after = order.position_value + notional
        if after > limits.max_position_notional:
            raise PositionLimit(
                f"the position would be worth {fmt(after)}, above the limit of {fmt(limits.max_position_notional)}",
                details={"limit": "maxPositionNotional", "maximum": fmt(limits.max_position_notional),
                         "value": fmt(after)},
            )
    band = limits.price_band_percent
    if band is not None and order.price is not None and order.last is not None and order.last > 0:
        off = abs(order.price - order.last) / order.last * 100
        if off > band:
            raise PriceBand(
                f"price {fmt(order.price)} is {fmt(off.quantize(Decimal('0.01')))}% from the last price "
                f"{fmt(order.last)}; the band is {fmt(band)}%",
                details={"limit": "priceBandPercent", "maximum": fmt(band), "value": fmt(off.quantize(Decimal("0.01"))),
                         "lastPrice": fmt(order.last)},
            )
    check_daily_loss(limits, order.daily_pnl)


def check_daily_loss(limits: Limits, daily_pnl: Decimal | None) -> None:
    if limits.max_daily_loss is None or daily_pnl is None:
        return
    if -daily_pnl >= limits.max_daily_loss:
        raise DailyLossLimit(
            f"today's loss {fmt(-daily_pnl)} has reached the limit of {fmt(limits.max_daily_loss)}; new orders are "
            "halted until 00:00 UTC or until an admin lifts it",
            details={"limit": "maxDailyLoss", "maximum": fmt(limits.max_daily_loss), "value": fmt(-daily_pnl)},
        )


def halted(state: RiskState, *, reason: str, by: str, at: int) -> RiskState:
    return msgspec.structs.replace(state, halted=True, halt_reason=reason, halted_by=by, halted_at=at)


def resumed(state: RiskState) -> RiskState:
    return msgspec.structs.replace(state, halted=False, halt_reason=None, halted_by=None, halted_at=None)
