"""Authentication and roles for every route.

A resource declares the least role each method needs in ``roles``, e.g.
``{"GET": "viewer", "POST": "trader"}``; a resource without ``roles`` is public.
The token comes from ``Authorization: Bearer`` or Clerk's ``__session`` cookie.
"""

from __future__ import annotations

from typing import Any

import falcon
import structlog

from engine.auth import TokenVerifier
from engine.errors import Forbidden, Unauthorized
from engine.model import Principal


class AuthMiddleware:
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]) -> None:
        roles = getattr(resource, "roles", None)
        if resource is None or roles is None:
            return
        needed = roles.get(req.method)
        if needed is None:
            return  # a method the resource lacks: falcon answers 405
        principal = self._verifier.verify(self._token(req))
        if not principal.has_role(needed):
            raise Forbidden(f"this needs the {needed} role; you have {principal.role}")
        req.context.principal = principal
        structlog.contextvars.bind_contextvars(user_id=principal.user_id)

    @staticmethod
    def _token(req: falcon.Request) -> str:
        header = req.get_header("Authorization")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("the Authorization header must be 'Bearer <token>'")
            return token.strip()
        cookie = req.get_cookie_values("__session")
        if cookie:
            return cookie[0]
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>'")


def principal(req: falcon.Request) -> Principal:
    return req.context.principal
