"""One structured log event per request, with a request id the client can quote."""

from __future__ import annotations

import secrets
import time
from typing import Any

import falcon
import structlog

log = structlog.get_logger("api.access")


class RequestLogMiddleware:
    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        structlog.contextvars.clear_contextvars()
        request_id = req.get_header("X-Request-ID") or secrets.token_hex(8)
        req.context.request_id = request_id[:64]
        req.context.started = time.perf_counter()
        structlog.contextvars.bind_contextvars(request_id=req.context.request_id)

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool) -> None:
        resp.set_header("X-Request-ID", getattr(req.context, "request_id", ""))
        elapsed = time.perf_counter() - getattr(req.context, "started", time.perf_counter())
        status = resp.status_code if hasattr(resp, "status_code") else resp.status
        code = int(str(status)[:3])
        event = log.error if code == 500 else log.warning if code >= 500 else log.info
        if req.path != "/health" or code >= 500:
            event("http.request", method=req.method, path=req.path, status=status, ms=round(elapsed * 1000, 2))
        structlog.contextvars.clear_contextvars()
