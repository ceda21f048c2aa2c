"""Requests gunicorn refuses before the app sees them (a request line or headers over
its limits, malformed HTTP) get the API's JSON envelope, not gunicorn's HTML page:
clients parse one error shape, whoever answers."""

from __future__ import annotations

import socket

from gunicorn import util

from api.errors import error_body

CODES = {
    400: "BAD_REQUEST",
    403: "FORBIDDEN",
    414: "URI_TOO_LONG",
    417: "EXPECTATION_FAILED",
    431: "HEADERS_TOO_LARGE",
    500: "INTERNAL_ERROR",
    501: "NOT_IMPLEMENTED",
}
MESSAGE_CHARS = 200  # the refused input is echoed only in part


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    detail = mesg if len(mesg) <= MESSAGE_CHARS else mesg[:MESSAGE_CHARS] + "..."
    body = error_body(CODES.get(status_int, "BAD_REQUEST"), f"{reason}: {detail}" if detail else reason)
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    """gunicorn's workers call ``util.write_error`` for these answers; ours replaces it."""
    util.write_error = write_json_error
