"""MEXC's signed order endpoints under /api/v3: place (one, a test, or a batch),
cancel, and query orders.

``POST batchOrders`` takes ``batchOrders``, a JSON array of up to 20 orders for
one symbol, each with the parameters of ``POST order``. The batch as a whole is
refused (33333) when it is not such an array; otherwise each order is placed in
turn, and the answer lists, in the same order, each one's
``{"symbol", "orderId", "orderListId"}`` or its ``{"msg", "code"}`` (with the
``newClientOrderId`` it was sent with), as MEXC answers.
"""

from __future__ import annotations

import json
from typing import Any

from engine.exchanges.mexc_sim import shapes
from engine.exchanges.mexc_sim.calls import (
    BAD_PARAM,
    Call,
    Endpoint,
    Routes,
    amount,
    integer,
    limit,
    names,
    order_ref,
    required,
    weight,
)
from engine.exchanges.mexc_sim.core import UNKNOWN_ORDER, SimExchange
from engine.exchanges.mexc_sim.faults import Faults
from engine.exchanges.mexc_sim.model import SimOrder
from engine.exchanges.mexc_sim.rejects import SimReject

MAX_BATCH = 20
BATCHES_PER_SECOND = 2
AMOUNT_ERROR = 10097  # "amount is error": a quantity that is not a number


class Trading:
    def __init__(self, exchange: SimExchange, faults: Faults) -> None:
        self._x = exchange
        self._faults = faults

    def routes(self) -> Routes:
        return {
            ("POST", "order"): Endpoint(self._new_order, weight(1), True),
            ("POST", "order/test"): Endpoint(self._test_order, weight(1), True),
            ("POST", "batchOrders"): Endpoint(self._batch_orders, weight(1), True, per_second=BATCHES_PER_SECOND),
            ("DELETE", "order"): Endpoint(self._cancel_order, weight(1), True),
            ("GET", "order"): Endpoint(self._get_order, weight(2), True),
            ("GET", "openOrders"): Endpoint(self._open_orders, weight(3), True),
            ("DELETE", "openOrders"): Endpoint(self._cancel_open_orders, weight(1), True),
            ("DELETE", "order/all"): Endpoint(self._cancel_all, weight(1), True),
            ("GET", "allOrders"): Endpoint(self._all_orders, weight(10), True),
        }

    def _place(self, api_key: str, p: dict[str, str], test: bool) -> SimOrder:
        return self._x.place_order(
            api_key,
            required(p, "symbol"),
            required(p, "side").upper(),
            required(p, "type").upper(),
            quantity=amount(p, "quantity", AMOUNT_ERROR),
            quote_qty=amount(p, "quoteOrderQty", AMOUNT_ERROR),
            price=amount(p, "price", BAD_PARAM),
            client_order_id=p.get("newClientOrderId") or None,
            test=test,
        )

    def _new_order(self, c: Call) -> Any:
        return shapes.new_order(self._place(c.key, c.params, test=False))

    def _test_order(self, c: Call) -> Any:
        self._place(c.key, c.params, test=True)
        return {}

    def _batch_orders(self, c: Call) -> Any:
        orders = _batch(required(c.params, "batchOrders"), c.params.get("symbol"))
        answers: list[dict[str, Any]] = []
        for params in orders:
            client_id = params.get("newClientOrderId") or None
            try:
                answers.append(shapes.batch_order(self._place(c.key, params, test=False), client_id))
            except SimReject as reject:
                answers.append(shapes.batch_refusal(reject.code, reject.msg, client_id))
        return answers

    def _cancel_order(self, c: Call) -> Any:
        symbol = required(c.params, "symbol")
        order_id, client_id = order_ref(c.params)
        self._unless_hidden(c, self._x.get_order(c.key, symbol, order_id, client_id))
        order = self._x.cancel_order(c.key, symbol, order_id, client_id)
        return shapes.canceled(order)

    def _get_order(self, c: Call) -> Any:
        symbol = required(c.params, "symbol")
        order_id, client_id = order_ref(c.params)
        return shapes.order(self._unless_hidden(c, self._x.get_order(c.key, symbol, order_id, client_id)))

    def _unless_hidden(self, c: Call, order: SimOrder) -> SimOrder:
        """The order, or MEXC's answer for one it does not know yet (an injected fault)."""
        if self._faults.hides_order(order.api_key, order.time, c.now):
            raise SimReject(UNKNOWN_ORDER)
        return order

    def _open_orders(self, c: Call) -> Any:
        found = self._x.open_orders(c.key, c.params.get("symbol") or None)
        return [shapes.order(o) for o in found if not self._faults.hides_order(c.key, o.time, c.now)]

    def _cancel_open_orders(self, c: Call) -> Any:
        symbols = names(required(c.params, "symbol"))
        if len(symbols) > 5:
            raise SimReject(BAD_PARAM)
        return [shapes.canceled(o) for o in self._x.cancel_open_orders(c.key, symbols)]

    def _cancel_all(self, c: Call) -> Any:
        self._x.cancel_open_orders(c.key, None)
        return {"code": 200, "msg": "success", "timestamp": c.now}

    def _all_orders(self, c: Call) -> Any:
        symbol = required(c.params, "symbol")
        count = limit(c.params, default=500, maximum=1000)
        start, end = integer(c.params, "startTime"), integer(c.params, "endTime")
        return [shapes.order(o) for o in self._x.all_orders(c.key, symbol, start, end, count)]


def _batch(raw: str, symbol: str | None) -> list[dict[str, str]]:
    """The orders of a ``batchOrders`` array, each as a ``POST order``'s parameters
    (numbers as sent, never through a float); a symbol sent beside the array
    stands for orders that name none."""
    try:
        items = json.loads(raw, parse_float=str, parse_int=str)
    except ValueError:
        raise SimReject(BAD_PARAM) from None
    if not isinstance(items, list) or not 0 < len(items) <= MAX_BATCH or not all(isinstance(i, dict) for i in items):
        raise SimReject(BAD_PARAM)
    orders = [{str(k): str(v) for k, v in item.items() if v is not None} for item in items]
    for order in orders:
        if symbol and not order.get("symbol"):
            order["symbol"] = symbol
    if len({order.get("symbol") for order in orders}) != 1:
        raise SimReject(BAD_PARAM)  # one symbol per batch
    return orders
