"""The engine in-process, for tests, notebooks and tools: no HTTP, no gunicorn.

    from decimal import Decimal
    from actors.embedded import embedded_engine
    from engine.orders import PlaceOrder

    with embedded_engine(DATABASE_URL="/tmp/demo.db", PAPER_SPEED="0") as engine:
        order = engine.place_order("alice", PlaceOrder(
            symbol="BTCUSDT", side="BUY", type="MARKET", quote_quantity=Decimal("100")))
        print(order.order.status, engine.wallet("alice"))

Settings are the environment variables the README lists, given as keywords (or a
whole ``Config``); whatever is not given takes its default, never the process
environment, so a notebook does not pick up a server's settings by accident. The
engine stops (journal flushed, threads joined) when the block ends, also on an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from actors.client import EngineClient
from actors.system import ActorSystem
from engine import config as config_module
from engine.clock import Clock
from engine.config import Config


@contextmanager
def embedded_engine(config: Config | None = None, *, clock: Clock | None = None, **settings: str) -> Iterator[EngineClient]:
    """Start an engine in this process and hand back its client; stop it after."""
    if config is not None and settings:
        raise TypeError("give a Config or settings, not both")
    if config is None:
        config = config_module.load(settings, isatty=False)
    system = ActorSystem(config, clock=clock).start()
    try:
        yield EngineClient(system)
    finally:
        system.stop()


__all__ = ["embedded_engine"]
