"""Positions: what a user holds of each symbol's base asset through this engine, what it
cost, and what it earned, folded from fills.

Pure and deterministic: ``apply_fill`` is called by ``engine.portfolio.evolve`` for every
``OrderFilled`` (late fills of closed orders included), so a portfolio replayed from the
journal holds exactly the positions the live one did.

The accounting is average cost, in the symbol's quote asset:
- a BUY adds what it received (net of a fee taken in the base asset) to the quantity,
  and what it paid (plus a fee taken in the quote asset) to the cost basis, so the
  average entry price includes fees;
- a SELL takes the quantity it gave up (plus a fee taken in the base asset) out at the
  average cost, and realizes what it received (net of a fee taken in the quote asset)
  minus that cost.
A SELL of more than the position holds (coins that came from a deposit, not from a
buy here) realizes nothing on the excess: its cost is unknown, so no profit or loss is
made up for it. A fee in a third asset (none on MEXC spot today) has no price here and
is left out of the figures.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

import msgspec

from engine.model import Fill, Order
from engine.money import LEDGER, ZERO


class Position(msgspec.Struct):
    symbol: str
    quantity: Decimal = ZERO  # base units held
    cost_basis: Decimal = ZERO  # quote paid for ``quantity``, fees included
    realized_pnl: Decimal = ZERO  # quote, over the position's whole life
    fees: Decimal = ZERO  # quote value of the fees paid (base fees at the fill price)
    bought: Decimal = ZERO  # base units received, over its life
    sold: Decimal = ZERO  # base units given up, over its life
    updated_at: int = 0
    # The UTC day (ms of its 00:00) ``day_realized`` is for: the daily loss limit's half.
    day: int = 0
    day_realized: Decimal = ZERO

    @property
    def average_price(self) -> Decimal | None:
        if self.quantity <= 0:
            return None
        return LEDGER.divide(self.cost_basis, self.quantity)

    def unrealized(self, last: Decimal | None) -> Decimal | None:
        """Value at ``last`` minus cost: what selling everything at that price would earn
        before the sale's own fee. None with no price."""
        if last is None:
            return None
        with localcontext(LEDGER):
            return self.quantity * last - self.cost_basis if self.quantity > 0 else ZERO

    def realized_on(self, day: int) -> Decimal:
        """Realized PnL of the UTC day starting at ``day`` (ms)."""
        return self.day_realized if self.day == day else ZERO

    def copy(self) -> Position:
        return msgspec.structs.replace(self)


DAY_MS = 86_400_000


def utc_day(time_ms: int) -> int:
    """The ms of 00:00 UTC of the day ``time_ms`` falls in."""
    return time_ms - time_ms % DAY_MS


def assets_of(order: Order) -> tuple[str, str]:
    """(base, quote) of the order's symbol. MEXC spot symbols are base and quote written
    together, and an order reserves the quote (a BUY) or the base (a SELL), so the order
    names both without the symbol catalogue (which a replay must not depend on)."""
    symbol, reserved = order.symbol, order.reserved_asset
    if order.side == "BUY":
        return (symbol[: -len(reserved)] if symbol.endswith(reserved) else ""), reserved
    return reserved, (symbol[len(reserved):] if symbol.startswith(reserved) else "")


def apply_fill(positions: dict[str, Position], order: Order, fill: Fill) -> Position:
    """Fold one fill of ``order`` into its symbol's position (made if new)."""
    position = positions.get(order.symbol)
    if position is None:
        position = positions[order.symbol] = Position(order.symbol)
    base, quote = assets_of(order)
    with localcontext(LEDGER):
        fee_in_quote = fill.fee if fill.fee_asset == quote else ZERO
        fee_in_base = fill.fee if fill.fee_asset == base else ZERO
        position.fees += fee_in_quote + fee_in_base * fill.price
        if order.side == "BUY":
            received = fill.quantity - fee_in_base
            position.quantity += received
            position.cost_basis += fill.quote + fee_in_quote
            position.bought += received
        else:
            given = fill.quantity + fee_in_base
            proceeds = fill.quote - fee_in_quote
            matched = min(given, max(position.quantity, ZERO))
            realized = ZERO
            if matched > 0:
                # The whole position goes at its cost basis: no division, no residue.
                whole = matched == position.quantity
                cost = position.cost_basis if whole else position.cost_basis * matched / position.quantity
                realized = proceeds * matched / given - cost
                position.quantity -= matched
                position.cost_basis -= cost
                if position.quantity == 0:
                    position.cost_basis = ZERO
            position.realized_pnl += realized
            position.sold += given
            day = utc_day(fill.time)
            if day > position.day:
                position.day, position.day_realized = day, ZERO
            if day == position.day:  # a late fill of an earlier day is that day's, not today's
                position.day_realized += realized
        position.updated_at = max(position.updated_at, fill.time)
    return position
