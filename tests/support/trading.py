"""The engine's actors driven by their messages, no HTTP: builders of orders and the
calls tests make of a running ActorSystem, stated once."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import apsw

from actors.messages import Cancel, GetOrder, GetTicker, GetWallet, ListOrders, Place, Ticket
from actors.system import ActorSystem
from engine.config import Config
from engine.model import BookTicker, Order
from engine.orders import PlaceOrder
from tests.support.waiting import wait_for

SYMBOL = "BTCUSDT"
USER = "alice"
START = Decimal(10000)


def limit_buy(quantity: str, price: str, **extra: Any) -> PlaceOrder:
    return PlaceOrder(symbol=SYMBOL, side="BUY", type="LIMIT", quantity=Decimal(quantity), price=Decimal(price), **extra)


def market_buy_amount(quote: str) -> PlaceOrder:
    return PlaceOrder(symbol=SYMBOL, side="BUY", type="MARKET", quote_quantity=Decimal(quote))


def place(system: ActorSystem, command: PlaceOrder, user: str = USER, *, deadline: float | None = None) -> Ticket:
    deadline = time.monotonic() + 5 if deadline is None else deadline
    return system.ask_portfolio(user, Place(command, deadline=deadline))


def settled(ticket: Ticket) -> Order:
    return ticket.settled.result(timeout=5)


def cancel(system: ActorSystem, order_id: str, user: str = USER, *, deadline: float | None = None) -> Ticket:
    deadline = time.monotonic() + 5 if deadline is None else deadline
    return system.ask_portfolio(user, Cancel(order_id, deadline=deadline))


def wallet(system: ActorSystem, user: str = USER) -> dict[str, tuple[Decimal, Decimal]]:
    return {asset: (free, locked) for asset, free, locked in system.ask_portfolio(user, GetWallet())}


def orders(system: ActorSystem, user: str = USER) -> list[Order]:
    return system.ask_portfolio(user, ListOrders())


def get_order(system: ActorSystem, order_id: str, user: str = USER) -> Order:
    return system.ask_portfolio(user, GetOrder(order_id))


def first_book(system: ActorSystem, symbol: str = SYMBOL) -> BookTicker:
    return wait_for(lambda: system.ask_market(symbol, GetTicker()), timeout=5, message=f"a book for {symbol}")


def journaled_order_ids(config: Config, user: str = USER) -> set[str]:
    conn = apsw.Connection(config.database_path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return {order_id for (order_id,) in conn.execute("SELECT id FROM orders WHERE user_id = ?", (user,))}
    finally:
        conn.close()



def sent_as(order: Order) -> str:
    """The client order id the exchange got for ``order``."""
    return order.exchange_client_id or order.client_order_id
