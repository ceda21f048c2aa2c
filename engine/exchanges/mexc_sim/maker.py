"""The synthetic market maker's quoting rule: a ladder of levels around a price.

Only the shape lives here (which prices, what size); the exchange places and
replaces the orders. Sizes are random notionals so depth looks real and large
market orders walk several levels.
"""

from __future__ import annotations

import random
from decimal import ROUND_DOWN, Decimal

import msgspec

from engine.exchanges.mexc_sim.model import SimSymbol
from engine.money import divide

MAKER = "__market_maker__"  # owner of the maker's orders; never a valid API key


class MakerConfig(msgspec.Struct, frozen=True):
    levels: int = 20  # per side
    gap_ticks: int = 3  # between levels
    spread_ticks: int = 1  # best ask - best bid
    min_notional: Decimal = Decimal(500)  # quote per level
    max_notional: Decimal = Decimal(20_000)


def ladder(price: Decimal, info: SimSymbol, config: MakerConfig) -> tuple[list[Decimal], list[Decimal]]:
    """Bid and ask prices, best first: the best bid at or under ``price``."""
    tick = info.tick
    best_bid = max(price.quantize(tick, rounding=ROUND_DOWN), tick)
    best_ask = best_bid + tick * config.spread_ticks
    gap = tick * config.gap_ticks
    bids = [best_bid - gap * i for i in range(config.levels)]
    asks = [best_ask + gap * i for i in range(config.levels)]
    return [p for p in bids if p > 0], asks


def level_size(price: Decimal, info: SimSymbol, config: MakerConfig, rng: random.Random) -> Decimal:
    """A random size for one level, on the symbol's step and above its minimums."""
    span = float(config.max_notional - config.min_notional)
    notional = config.min_notional + Decimal(repr(round(rng.random() * span, 2)))
    qty = divide(notional, price).quantize(info.step, rounding=ROUND_DOWN)
    return max(qty, info.step, info.min_quantity)
