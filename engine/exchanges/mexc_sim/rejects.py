"""The simulator's refusals, worded exactly as MEXC words them.

Messages come from the client's ``ERROR_CODES`` table, so the simulator and the
client can never disagree on what a code says. A few refusals carry a suffix
(30002 ":1USDT") or a message observed in the wild that differs from the docs'
(700004 for a missing mandatory parameter); those pass ``msg`` or ``suffix``.
"""

from __future__ import annotations

from engine.exchanges.mexc.errors import ERROR_CODES

# Codes MEXC answers with a status other than 400.
HTTP_STATUS = {401: 401, 403: 403, 429: 429, 500: 500, 503: 503, 504: 504}


class SimReject(Exception):
    def __init__(self, code: int, *, suffix: str = "", msg: str | None = None, http_status: int | None = None) -> None:
        text = msg if msg is not None else message_for(code) + suffix
        super().__init__(f"{code}: {text}")
        self.code = code
        self.msg = text
        self.http_status = http_status or HTTP_STATUS.get(code, 400)

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def message_for(code: int) -> str:
    entry = ERROR_CODES.get(code)
    return entry[0] if entry is not None else "Internal error"


def missing(name: str) -> SimReject:
    """A mandatory parameter absent: MEXC's observed 700004 wording (the docs' text is
    about orderId/origClientOrderId only; that case uses the table's message)."""
    return SimReject(700004, msg=f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
