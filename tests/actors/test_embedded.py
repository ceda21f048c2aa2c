"""The documented in-process entry point: an order and a wallet with no HTTP."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from actors.embedded import embedded_engine
from engine.orders import PlaceOrder
from tests.support.waiting import wait_for


def test_the_embedded_engine_places_an_order_and_reads_the_wallet(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    with embedded_engine(DATABASE_URL=db, PAPER_SPEED="0") as engine:
        wait_for(lambda: engine.ticker("BTCUSDT"), message="the first book")
        placed = engine.place_order("alice", PlaceOrder(
            symbol="BTCUSDT", side="BUY", type="MARKET", quote_quantity=Decimal("100")))
        assert placed.order.status == "FILLED" and not placed.pending
        wallet = {line.asset: line for line in engine.wallet("alice")}
        assert wallet["USDT"].free < Decimal(10000) and wallet["BTC"].free > 0
        system = engine.system
    assert not system.running  # stopped with the block
    with embedded_engine(DATABASE_URL=db, PAPER_SPEED="0") as again:  # and the journal kept it
        assert {line.asset for line in again.wallet("alice")} == {"USDT", "BTC"}


def test_settings_and_a_config_together_are_refused(tmp_path: Path) -> None:
    from tests.conftest import make_config

    with pytest.raises(TypeError), embedded_engine(make_config(tmp_path), PAPER_SPEED="0"):
        pass
