"""Falcon WSGI app: HTTP requests become actor asks; errors become envelopes.

The package imports nothing itself: `cryptobot serve` (``api.cli``) runs in a process
of its own before it execs gunicorn, and importing the app there (the actors,
persistence, the MEXC client) only to throw it away cost a restart most of a second.
"""

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from api.app import create_app

        return create_app
    raise AttributeError(f"module 'api' has no attribute {name!r}")
