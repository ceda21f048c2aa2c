"""A simulated MEXC account: balances (free/locked per asset), orders and trades.

Balance moves go through ``move`` so each one yields the AccountChange that a
private account push reports. Sums use the LEDGER context: exact, so a balance
always equals its deposits and fills.
"""

from __future__ import annotations

from decimal import Decimal

from engine.exchanges.mexc_sim.model import AccountChange, SimOrder, SimTrade
from engine.model import Balance
from engine.money import LEDGER, ZERO


class Account:
    def __init__(self, api_key: str, secret: str, uid: int) -> None:
        self.api_key = api_key
        self.secret = secret
        self.uid = uid
        self.balances: dict[str, Balance] = {}
        self.orders: dict[str, SimOrder] = {}  # every order ever accepted, in order
        self.by_client_id: dict[str, str] = {}
        self.open_ids: set[str] = set()
        self.trades: list[SimTrade] = []
        self.update_time: int | None = None

    def balance(self, asset: str) -> Balance:
        held = self.balances.get(asset)
        if held is None:
            held = self.balances[asset] = Balance()
        return held

    def free(self, asset: str) -> Decimal:
        held = self.balances.get(asset)
        return ZERO if held is None else held.free

    def move(self, asset: str, free: Decimal, locked: Decimal, kind: str, now: int) -> AccountChange:
        """Add ``free`` and ``locked`` (deltas, either sign) to ``asset``."""
        held = self.balance(asset)
        held.free = LEDGER.add(held.free, free)
        held.locked = LEDGER.add(held.locked, locked)
        self.update_time = now
        return AccountChange(asset, held.free, free, held.locked, locked, kind, now)

    def set_free(self, asset: str, amount: Decimal, now: int) -> AccountChange:
        """A deposit or withdrawal that leaves ``amount`` free."""
        return self.move(asset, LEDGER.subtract(amount, self.free(asset)), ZERO, "DEPOSIT", now)

    def remember(self, order: SimOrder) -> None:
        self.orders[order.order_id] = order
        if order.client_order_id:
            self.by_client_id[order.client_order_id] = order.order_id
        if order.is_open:
            self.open_ids.add(order.order_id)

    def find(self, order_id: str | None, client_order_id: str | None) -> SimOrder | None:
        if order_id:
            return self.orders.get(order_id)
        if client_order_id:
            found = self.by_client_id.get(client_order_id)
            return None if found is None else self.orders.get(found)
        return None

    def open_orders(self, symbol: str | None = None) -> list[SimOrder]:
        found = (self.orders[i] for i in self.open_ids)
        return sorted((o for o in found if symbol is None or o.symbol == symbol), key=lambda o: (o.time, o.order_id))
