"""/api/v1/account: the caller's wallet, and who the caller is."""

from __future__ import annotations

import falcon

from actors.client import EngineClient
from api.auth import principal
from api.resources import send
from api.schemas import BalanceOut, WalletOut
from engine.money import fmt


class Wallet:
    roles = {"GET": "viewer"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = principal(req)
        lines = self.client.wallet(user.user_id)
        balances = [BalanceOut(asset=l.asset, free=fmt(l.free), locked=fmt(l.locked)) for l in lines]
        send(resp, WalletOut(user_id=user.user_id, balances=balances))


class Me:
    roles = {"GET": "viewer"}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = principal(req)
        send(resp, {"userId": user.user_id, "role": user.role})
