"""A loopback MEXC spot exchange: REST under /api/v3, protobuf WebSocket at /ws.

The engine's real MEXC client runs against it unchanged: same paths, shapes,
codes, signatures, weights and pushes. ``Simulator`` is the entry point;
``cli.main`` is ``cryptobot simulator``.
"""

from engine.exchanges.mexc_sim.simulator import Simulator

__all__ = ["Simulator"]
