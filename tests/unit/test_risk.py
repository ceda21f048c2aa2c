"""The pre-trade checks every portfolio runs on the risk engine's published state."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.errors import RiskLimitExceeded, TradingHalted
from engine.risk import RiskState, check_order, halted, resumed

LIMIT = RiskState(max_order_notional=Decimal("1000"))


def test_an_order_up_to_the_limit_passes_and_one_above_is_refused_with_both_figures() -> None:
    check_order(LIMIT, Decimal("1000"))
    with pytest.raises(RiskLimitExceeded) as refused:
        check_order(LIMIT, Decimal("1000.01"))
    assert refused.value.code == "ORDER_NOTIONAL_LIMIT"
    assert refused.value.details["limit"] == "maxOrderNotional"
    assert (refused.value.details["maximum"], refused.value.details["value"]) == ("1000", "1000.01")


def test_a_halt_refuses_every_order_until_resumed_and_says_why() -> None:
    stopped = halted(LIMIT, reason="maintenance", by="ops", at=1)
    with pytest.raises(TradingHalted, match="maintenance"):
        check_order(stopped, Decimal("1"))
    assert LIMIT.halted is False  # states are values: the old one is unchanged
    again = resumed(stopped)
    check_order(again, Decimal("1"))
    assert (again.halt_reason, again.halted_by, again.halted_at) == (None, None, None)
