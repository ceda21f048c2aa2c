"""Conflation: a slow consumer sees the newest value, never a growing mailbox.

A producer ``offer``s values per key; the consumer is notified once and takes
the newest value when it gets to it. Whatever arrives in between replaces the
waiting value, or is merged into it by ``merge``. At most one notification per
key is outstanding, so memory is bounded by the number of keys however fast the
producer is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any


class Conflator:
    def __init__(self, notify: Callable[[Hashable], bool], merge: Callable[[Any, Any], Any] | None = None) -> None:
        """``notify(key)`` tells the consumer a value waits; it returns False if the
        consumer is gone, in which case the next offer notifies again.
        ``merge(waiting, newer)`` combines values instead of replacing (it must
        keep its result bounded)."""
        self._notify = notify
        self._merge = merge
        self._lock = threading.Lock()
        self._latest: dict[Hashable, Any] = {}
        self._last: dict[Hashable, Any] = {}  # newest ever offered, kept after take
        self._notified: set[Hashable] = set()
        self.offered = 0
        self.delivered = 0
        self.offered_by: dict[Hashable, int] = {}  # per key, for operators (merged away = offered - delivered)
        self.delivered_by: dict[Hashable, int] = {}

    def offer(self, key: Hashable, value: Any) -> None:
        with self._lock:
            if self._merge is not None:
                waiting = self._latest.get(key)
                last = self._last.get(key)
                self._latest[key] = value if waiting is None else self._merge(waiting, value)
                self._last[key] = value if last is None else self._merge(last, value)
            else:
                self._latest[key] = value
                self._last[key] = value
            self.offered += 1
            self.offered_by[key] = self.offered_by.get(key, 0) + 1
            if key in self._notified:
                return
            self._notified.add(key)
        if not self._notify(key):
            with self._lock:
                self._notified.discard(key)

    def take(self, key: Hashable) -> Any | None:
        with self._lock:
            self._notified.discard(key)
            value = self._latest.pop(key, None)
            if value is not None:
                self.delivered += 1
                self.delivered_by[key] = self.delivered_by.get(key, 0) + 1
            return value

    def last(self, key: Hashable) -> Any | None:
        """The newest value ever offered for ``key``: a restarted consumer's start."""
        with self._lock:
            return self._last.get(key)

    def renotify(self, key: Hashable) -> None:
        """After the consumer was replaced: make sure it hears of a waiting value."""
        with self._lock:
            if key not in self._latest:
                return
            self._notified.add(key)
        if not self._notify(key):
            with self._lock:
                self._notified.discard(key)
