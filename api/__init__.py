"""Falcon WSGI app: HTTP requests become actor asks; errors become envelopes."""

from api.app import create_app

__all__ = ["create_app"]
