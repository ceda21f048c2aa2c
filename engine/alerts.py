"""Price alerts: a user's watch on a symbol's price, recorded each time it fires (the
events that notifications will deliver).

Pure, as rules are: the portfolio holds the alerts (folded from ``AlertSaved``,
``AlertDeleted`` and ``AlertFired``) and their triggers are watched by the symbol's
market actor. ``ABOVE`` fires when the price rises to ``price``, ``BELOW`` when it falls
to it; either is armed again once the price is back across the level, so it fires once
per crossing. ``CHANGE_PERCENT`` fires on a move of ``changePercent`` either way within
``windowSeconds``, and is armed again one window later.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from engine.errors import InvalidAlert
from engine.money import amount_problem, fits_places

AlertKind = Literal["ABOVE", "BELOW", "CHANGE_PERCENT"]
ALERT_KINDS: tuple[str, ...] = ("ABOVE", "BELOW", "CHANGE_PERCENT")
FIRINGS_KEPT = 200
MAX_WINDOW_SECONDS = 86_400


class AlertFields(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """The request body of a new alert."""

    symbol: str
    kind: str
    price: Decimal | None = None
    change_percent: Decimal | None = None
    window_seconds: int | None = None


class Alert(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    symbol: str
    kind: AlertKind
    created_at: int
    price: Decimal | None = None
    change_percent: Decimal | None = None
    window_seconds: int | None = None
    armed: bool = True  # False between a firing and the price's return across the level (or a window)
    fired: int = 0
    last_fired_at: int | None = None

    def copy(self) -> Alert:
        return msgspec.structs.replace(self)


class AlertFiring(msgspec.Struct, frozen=True):
    id: str
    alert_id: str
    time: int
    price: Decimal  # the price that reached it
    reference: Decimal | None = None  # CHANGE_PERCENT: the window's high or low it moved from


def _bad(message: str, field: str) -> InvalidAlert:
    return InvalidAlert(message, details={"field": field})


def validate_alert(fields: AlertFields, places: int) -> AlertKind:
    kind = fields.kind.upper()
    if kind not in ALERT_KINDS:
        raise _bad(f"kind must be one of {', '.join(ALERT_KINDS)}, not {fields.kind!r}", "kind")
    if kind in ("ABOVE", "BELOW"):
        if fields.price is None:
            raise _bad(f"an {kind} alert needs price", "price")
        problem = amount_problem(fields.price)
        if problem is not None or not fits_places(fields.price, places):
            raise _bad(f"price {problem or f'has more than {places} decimal places'}", "price")
        for name, value in (("changePercent", fields.change_percent), ("windowSeconds", fields.window_seconds)):
            if value is not None:
                raise _bad(f"{name} is only for CHANGE_PERCENT alerts", name)
        return kind  # type: ignore[return-value]
    if fields.price is not None:
        raise _bad("price is not for CHANGE_PERCENT alerts", "price")
    if fields.change_percent is None:
        raise _bad("a CHANGE_PERCENT alert needs changePercent", "changePercent")
    problem = amount_problem(fields.change_percent)
    if problem is not None or fields.change_percent >= 100 or not fits_places(fields.change_percent, 4):
        raise _bad("changePercent must be above 0 and below 100, with at most 4 decimal places", "changePercent")
    if fields.window_seconds is None or not 1 <= fields.window_seconds <= MAX_WINDOW_SECONDS:
        raise _bad(f"windowSeconds must be from 1 to {MAX_WINDOW_SECONDS}", "windowSeconds")
    return "CHANGE_PERCENT"
