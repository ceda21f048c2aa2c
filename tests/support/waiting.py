"""Waiting on conditions with a deadline: tests never sleep for actors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T | Literal[False] | None], timeout: float = 10.0, interval: float = 0.01, message: str = "",
) -> T:
    """Return the first truthy value of ``predicate()``; fail after ``timeout``.

    ``cond and value`` is a common predicate: the False or None it gives while it waits
    is never returned, so the result's type is the value's."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"condition not met within {timeout}s: {message or predicate}{detail}")
        time.sleep(interval)
