"""Errors to HTTP, in one place, and the response envelope.

Every response is ``{"success": true, "data": ...}`` or
``{"success": false, "error": {"code": ..., "message": ...}}``; that holds for
the engine's errors, falcon's own (404, 405, ...), and anything unexpected.
"""

from __future__ import annotations

from typing import Any

import falcon
import msgspec
import structlog

from engine import errors as e

log = structlog.get_logger(__name__)

# Most specific first: the first class an error is an instance of decides.
STATUS: list[tuple[type[e.EngineError], str]] = [
    (e.BadRequest, falcon.HTTP_400),
    (e.ValidationFailed, falcon.HTTP_422),
    (e.Unauthorized, falcon.HTTP_401),
    (e.Forbidden, falcon.HTTP_403),
    (e.NotFound, falcon.HTTP_404),
    (e.Conflict, falcon.HTTP_409),
    (e.RateLimited, falcon.HTTP_429),
    (e.Unavailable, falcon.HTTP_503),
    (e.JournalCorrupted, falcon.HTTP_503),
]

# Codes for falcon's own errors, by status.
FALCON_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
}

_encoder = msgspec.json.Encoder()


def status_for(error: e.EngineError) -> str:
    for cls, status in STATUS:
        if isinstance(error, cls):
            return status
    return falcon.HTTP_500


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return _encoder.encode({"success": False, "error": error})


def ok_body(data: Any) -> bytes:
    return _encoder.encode({"success": True, "data": data})


def handle_engine_error(req: falcon.Request, resp: falcon.Response, ex: e.EngineError, params: Any) -> None:
    resp.status = status_for(ex)
    resp.content_type = falcon.MEDIA_JSON
    resp.data = error_body(ex.code, ex.message, ex.details)
    if isinstance(ex, e.RateLimited) and ex.retry_after is not None:
        resp.set_header("Retry-After", str(ex.retry_after))
    if isinstance(ex, e.Unauthorized):
        resp.set_header("WWW-Authenticate", 'Bearer realm="cryptobot"')


def handle_http_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, params: Any) -> None:
    code = FALCON_CODES.get(ex.status_code, "HTTP_ERROR")
    message = ex.description or ex.title or code
    if ex.status_code == 404:
        message = f"no route for {req.method} {req.path}"
    elif ex.status_code == 405:
        message = f"{req.method} is not allowed on {req.path}"
    resp.status = ex.status
    if ex.headers:
        resp.set_headers(ex.headers)
    resp.content_type = falcon.MEDIA_JSON
    resp.data = error_body(code, message)


def handle_unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
    if isinstance(ex, falcon.HTTPError):
        return handle_http_error(req, resp, ex, params)
    log.error("http.unexpected_error", method=req.method, path=req.path, error=repr(ex), exc_info=ex)
    resp.status = falcon.HTTP_500
    resp.content_type = falcon.MEDIA_JSON
    resp.data = error_body("INTERNAL_ERROR", "an unexpected error occurred; it has been logged")


def install(app: falcon.App) -> None:
    # Falcon picks the handler of the most specific class in the exception's MRO.
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(falcon.HTTPError, handle_http_error)
    app.add_error_handler(e.EngineError, handle_engine_error)
