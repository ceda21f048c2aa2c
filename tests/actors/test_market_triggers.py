"""The trigger index lives in the market actors: a restarted one loads it from the
journal's projection, so a stop placed before its crash still fires."""

from __future__ import annotations

from decimal import Decimal

import pykka

from actors.client import EngineClient
from actors.system import ActorSystem
from engine.orders import PlaceOrder
from tests.support.waiting import wait_for

SYMBOL = "SOLUSDT"


def test_a_stop_placed_before_its_market_actor_crashed_fires_after_the_restart(
        client: EngineClient, system: ActorSystem) -> None:
    book = wait_for(lambda: client.ticker(SYMBOL), timeout=5)
    bought = client.place_order("alice", PlaceOrder(symbol=SYMBOL, side="BUY", type="MARKET", quote_quantity=Decimal(500)))
    quantity = bought.order.executed_quantity - bought.order.fee
    trigger = (book.last * Decimal("0.95")).quantize(Decimal("0.01"))
    stop = client.place_order("alice", PlaceOrder(symbol=SYMBOL, side="SELL", type="STOP_LOSS", quantity=quantity,
                                                  trigger_price=trigger)).order
    old = system.ref("market", SYMBOL)
    wait_for(lambda: old.proxy().triggers.get().get("alice", stop.id) is not None, timeout=5)
    old.tell(object())  # an unknown message crashes it
    new: pykka.ActorRef = wait_for(
        lambda: (ref := system._refs.get(("market", SYMBOL))) is not None and ref is not old and ref.is_alive() and ref,
        timeout=5, message="a new market actor")
    assert wait_for(lambda: new.proxy().triggers.get().get("alice", stop.id), timeout=5)  # loaded from the journal
    client.set_paper_price(SYMBOL, book.last * Decimal("0.9"))
    done = wait_for(lambda: (o := client.get_order("alice", stop.id)).status == "FILLED" and o, timeout=10)
    assert done.triggered and done.executed_quantity == quantity
