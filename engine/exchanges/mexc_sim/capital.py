"""``GET /api/v3/capital/config/getall``: the coins and their deposit and withdrawal
networks, in MEXC's shape (amounts as strings with MEXC's 18 decimals).

The simulator moves no coins on any chain; it lists each asset of its symbols
with the networks MEXC lists for it, so that clients that read this list before
trading (ccxt's ``load_markets``) find every asset they will trade. The fees and
limits are plausible figures, not MEXC's current ones.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from engine.money import LEDGER


class Network(msgspec.Struct, frozen=True):
    network: str  # MEXC's network id, as ccxt maps it (ERC20 -> ETH, TRC20 -> TRX)
    withdraw_fee: Decimal
    withdraw_min: Decimal
    withdraw_max: Decimal
    min_confirm: int
    contract: str | None = None


_COINS: dict[str, tuple[str, tuple[Network, ...]]] = {
    "BTC": ("Bitcoin", (Network("BTC", Decimal("0.0001"), Decimal("0.001"), Decimal(50), 1),)),
    "ETH": ("Ethereum", (Network("ERC20", Decimal("0.002"), Decimal("0.01"), Decimal(1_000), 64),)),
    "SOL": ("Solana", (Network("SOL", Decimal("0.01"), Decimal("0.1"), Decimal(50_000), 100),)),
    "USDT": (
        "Tether USD",
        (
            Network("ERC20", Decimal("3"), Decimal("10"), Decimal(1_000_000), 64, "0xdAC17F958D2ee523a2206206994597C13D831ec7"),
            Network("TRC20", Decimal("1"), Decimal("10"), Decimal(1_000_000), 20, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
        ),
    ),
    "USDC": (
        "USD Coin",
        (Network("ERC20", Decimal("3"), Decimal("10"), Decimal(1_000_000), 64, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"),),
    ),
}

_PLACES = Decimal("1e-18")  # MEXC writes these amounts with 18 decimals ("42.000000000000000000")


def _amount(value: Decimal) -> str:
    return format(value.quantize(_PLACES, context=LEDGER), "f")


def coin(asset: str, full_name: str = "") -> dict[str, Any]:
    """One coin's entry; an asset without a known network gets one of its own name."""
    name, networks = _COINS.get(asset, (full_name or asset, (Network(asset, Decimal(0), Decimal(1), Decimal(1_000_000), 12),)))
    return {
        "coin": asset,
        "name": name,
        "networkList": [
            {
                "coin": asset,
                "depositDesc": None,
                "depositEnable": True,
                "minConfirm": n.min_confirm,
                "name": name,
                "network": n.network,
                "netWork": n.network,
                "withdrawEnable": True,
                "withdrawFee": _amount(n.withdraw_fee),
                "withdrawIntegerMultiple": None,
                "withdrawMax": _amount(n.withdraw_max),
                "withdrawMin": _amount(n.withdraw_min),
                "sameAddress": False,
                "contract": n.contract,
                "withdrawTips": None,
                "depositTips": None,
            }
            for n in networks
        ],
    }
