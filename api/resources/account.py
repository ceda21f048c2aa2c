"""/api/v1/account: the caller's wallet, and who the caller is."""

from __future__ import annotations

import falcon

from actors.client import EngineClient, WalletLine
from api.auth import principal
from api.resources import send
from api.schemas import BalanceOut, WalletOut
from engine.money import fmt


def wallet_out(user_id: str, lines: list[WalletLine]) -> WalletOut:
    balances = [BalanceOut(asset=line.asset, free=fmt(line.free), locked=fmt(line.locked)) for line in lines]
    return WalletOut(user_id=user_id, balances=balances)


class Wallet:
    roles = {"GET": "viewer"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = principal(req)
        send(resp, wallet_out(user.user_id, self.client.wallet(user.user_id)))


class WalletRefresh:
    """Reconcile with the exchange now, then answer with the wallet."""

    roles = {"POST": "viewer"}

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = principal(req)
        send(resp, wallet_out(user.user_id, self.client.refresh_wallet(user.user_id)))


class Me:
    roles = {"GET": "viewer"}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        user = principal(req)
        send(resp, {"userId": user.user_id, "role": user.role})
