"""MEXC's signed account endpoints under /api/v3: balances, the account's trades,
its commission per symbol, the coin list (capital/config/getall) and listen keys.

``GET tradeFee?symbol=`` answers in MEXC's enveloped shape, the rates as JSON
numbers (as MEXC writes them, and ccxt's ``fetch_trading_fee`` reads them):
``{"data": {"makerCommission": 0.0, "takerCommission": 0.0005}, "code": 0,
"msg": "success", "timestamp": ...}``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from engine.exchanges.mexc_sim import capital, shapes
from engine.exchanges.mexc_sim.calls import BAD_PARAM, Call, Endpoint, Routes, integer, limit, required, weight
from engine.exchanges.mexc_sim.core import SimExchange
from engine.exchanges.mexc_sim.faults import Faults
from engine.exchanges.mexc_sim.listenkeys import ListenKeyLimit, ListenKeys
from engine.exchanges.mexc_sim.rejects import SimReject
from engine.money import fmt

LISTEN_KEY_LIMIT = 26  # "operation not allowed"


class AccountApi:
    def __init__(self, exchange: SimExchange, listen_keys: ListenKeys, faults: Faults) -> None:
        self._x = exchange
        self._keys = listen_keys
        self._faults = faults

    def routes(self) -> Routes:
        return {
            ("GET", "account"): Endpoint(self._account, weight(10), True),
            ("GET", "myTrades"): Endpoint(self._my_trades, weight(10), True),
            ("GET", "tradeFee"): Endpoint(self._trade_fee, weight(20), True),  # the weight ccxt gives it
            ("GET", "capital/config/getall"): Endpoint(self._coins, weight(10), True),
            ("POST", "userDataStream"): Endpoint(self._create_listen_key, weight(1), True),
            ("GET", "userDataStream"): Endpoint(self._list_listen_keys, weight(1), True),
            ("PUT", "userDataStream"): Endpoint(self._keep_alive_listen_key, weight(1), True),
            ("DELETE", "userDataStream"): Endpoint(self._delete_listen_key, weight(1), True),
        }

    def _account(self, c: Call) -> Any:
        return shapes.account(self._x.balances(c.key), self._x.account_update_time(c.key))

    def _my_trades(self, c: Call) -> Any:
        symbol = required(c.params, "symbol")
        count = limit(c.params, default=100, maximum=100)
        start = integer(c.params, "startTime")
        end = self._faults.trades_visible_until(c.key, c.now, integer(c.params, "endTime"))
        trades = self._x.my_trades(c.key, symbol, c.params.get("orderId") or None, start, end, count)
        return [shapes.my_trade(t) for t in trades]

    def _trade_fee(self, c: Call) -> Any:
        self._x.symbol(required(c.params, "symbol"))  # an unknown symbol is -1121
        return {
            "data": {"makerCommission": _number(self._x.maker_fee), "takerCommission": _number(self._x.taker_fee)},
            "code": 0,
            "msg": "success",
            "timestamp": c.now,
        }

    def _coins(self, c: Call) -> Any:
        names: dict[str, str] = {}
        for s in self._x.symbols():
            names.setdefault(s.base, s.full_name)
            names.setdefault(s.quote, "")
        return [capital.coin(asset, full_name) for asset, full_name in sorted(names.items())]

    def _create_listen_key(self, c: Call) -> Any:
        try:
            return {"listenKey": self._keys.create(c.key)}
        except ListenKeyLimit:
            raise SimReject(LISTEN_KEY_LIMIT) from None

    def _list_listen_keys(self, c: Call) -> Any:
        return {"listenKey": self._keys.list(c.key)}

    def _keep_alive_listen_key(self, c: Call) -> Any:
        key = required(c.params, "listenKey")
        if not self._keys.keep_alive(c.key, key):
            raise SimReject(BAD_PARAM)
        return {"listenKey": key}

    def _delete_listen_key(self, c: Call) -> Any:
        key = required(c.params, "listenKey")
        if not self._keys.delete(c.key, key):
            raise SimReject(BAD_PARAM)
        return {"listenKey": key}


def _number(value: Decimal) -> msgspec.Raw:
    """A Decimal written as a JSON number, exactly (no float in between)."""
    return msgspec.Raw((fmt(value) or "0").encode())
