"""User-data-stream listen keys: 60 minutes of validity, at most 60 per account.

Shared by the REST endpoints (create, list, keep alive, delete) and the WebSocket
server (``owner`` of a key on connect). Thread-safe; time comes from the clock.
"""

from __future__ import annotations

import builtins
import secrets
import threading

from engine.clock import Clock

VALIDITY_MS = 60 * 60 * 1000
MAX_PER_ACCOUNT = 60


class ListenKeyLimit(Exception):
    """The account already has the most valid keys MEXC allows."""


class ListenKeys:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[str, int]] = {}  # key -> (api key, expires at ms)

    def create(self, api_key: str) -> str:
        with self._lock:
            self._expire()
            if len(self._owned(api_key)) >= MAX_PER_ACCOUNT:
                raise ListenKeyLimit(api_key)
            key = secrets.token_hex(32)  # 64 characters of [0-9a-f], like MEXC's
            self._keys[key] = (api_key, self._clock.now_ms() + VALIDITY_MS)
            return key

    def list(self, api_key: str) -> list[str]:
        with self._lock:
            self._expire()
            return self._owned(api_key)

    def keep_alive(self, api_key: str, key: str) -> bool:
        """Extend ``key`` by 60 minutes from now; False if it is not a valid key of ``api_key``."""
        with self._lock:
            self._expire()
            if self._keys.get(key, ("", 0))[0] != api_key:
                return False
            self._keys[key] = (api_key, self._clock.now_ms() + VALIDITY_MS)
            return True

    def delete(self, api_key: str, key: str) -> bool:
        with self._lock:
            self._expire()
            if self._keys.get(key, ("", 0))[0] != api_key:
                return False
            del self._keys[key]
            return True

    def owner(self, key: str) -> str | None:
        """The API key a valid listen key belongs to."""
        with self._lock:
            self._expire()
            found = self._keys.get(key)
            return None if found is None else found[0]

    def _owned(self, api_key: str) -> builtins.list[str]:  # `list` here is the method above
        return [k for k, (owner, _) in self._keys.items() if owner == api_key]

    def _expire(self) -> None:
        now = self._clock.now_ms()
        for key in [k for k, (_, expires) in self._keys.items() if expires <= now]:
            del self._keys[key]
