"""Domain model and pure logic of the trading engine.

Nothing in this package imports from actors/, api/ or persistence/: it is the
deterministic core that live trading and backtests share.
"""

__version__ = "0.1.0"
