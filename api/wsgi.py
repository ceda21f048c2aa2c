"""The WSGI entry point for gunicorn: ``api.wsgi:app``.

Importing this module starts the engine, so gunicorn must load it in its one
worker (no --preload): the actors' threads live in the worker process.
"""

from __future__ import annotations

from api.server import from_environment

server = from_environment()
app = server.app


def shutdown() -> None:
    server.close()
