"""HTTP resources: each turns a request into one call on the EngineClient."""

from __future__ import annotations

from typing import Any

import falcon

from api.errors import ok_body
from api.schemas import MAX_BODY_BYTES, decode_body
from engine.errors import BadRequest, ValidationFailed


def send(resp: falcon.Response, data: Any, status: str = falcon.HTTP_200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = ok_body(data)


def read(req: falcon.Request, type_: type) -> Any:
    length = req.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise BadRequest(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        if length is None and "chunked" in (req.get_header("Transfer-Encoding") or "").lower():
            # No length to bound it by: gunicorn's input ends where the chunks do.
            raw = req.stream.read(MAX_BODY_BYTES + 1)
        else:
            raw = req.bounded_stream.read(MAX_BODY_BYTES + 1)
    except Exception as exc:  # noqa: BLE001 - gunicorn's parse errors (bad chunk sizes, a cut body) have no common base
        raise BadRequest(f"the request body could not be read: {type(exc).__name__}") from None
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    return decode_body(raw, type_)


def query_int(req: falcon.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = req.get_param(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be an integer from {lo} to {hi}") from None
    if not lo <= value <= hi:
        raise ValidationFailed(f"{name} must be an integer from {lo} to {hi}")
    return value
