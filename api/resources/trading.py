"""/api/v1/trading/orders: place, list, look up and cancel orders."""

from __future__ import annotations

import falcon

from actors.client import EngineClient
from api.auth import principal
from api.resources import query_int, read, send
from api.schemas import OrderRequest, order_out, position_out
from engine.errors import ValidationFailed


class Orders:
    roles = {"GET": "viewer", "POST": "trader"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = principal(req)
        body: OrderRequest = read(req, OrderRequest)
        command = body.to_command(req.get_header("Idempotency-Key"))
        placed = self.client.place_order(user.user_id, command)
        if placed.replayed:
            resp.set_header("Idempotent-Replayed", "true")
        # 202: accepted and durable, but the exchange has not confirmed it yet.
        send(resp, order_out(placed.order), falcon.HTTP_202 if placed.pending else falcon.HTTP_201)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = principal(req)
        status = (req.get_param("status") or "all").lower()
        if status not in ("all", "open"):
            raise ValidationFailed("status must be 'open' or 'all'")
        symbol = req.get_param("symbol")
        limit = query_int(req, "limit", 100, 1, 1000)
        client_order_id = req.get_param("clientOrderId")
        orders = self.client.list_orders(
            user.user_id, symbol=symbol.upper() if symbol else None, open_only=status == "open", limit=limit,
            client_order_id=client_order_id,
        )
        send(resp, [order_out(o) for o in orders])


class Order:
    roles = {"GET": "viewer", "DELETE": "trader"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response, order_id: str) -> None:
        send(resp, order_out(self.client.get_order(principal(req).user_id, order_id)))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, order_id: str) -> None:
        send(resp, order_out(self.client.cancel_order(principal(req).user_id, order_id)))


class Positions:
    roles = {"GET": "viewer"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send(resp, [position_out(p, last) for p, last in self.client.positions(principal(req).user_id)])


class PositionOfSymbol:
    roles = {"GET": "viewer"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response, symbol: str) -> None:
        [(position, last)] = self.client.positions(principal(req).user_id, symbol.strip().upper())
        send(resp, position_out(position, last))
