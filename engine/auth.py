"""Bearer tokens: verifying Clerk session JWTs, and dev tokens when there is no Clerk.

Verification lives here and only here. In dev mode the engine keeps an RSA key
in its data directory, signs its own RS256 tokens with it (``cryptobot
dev-token``) and verifies them exactly as it would verify Clerk's.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from engine.errors import Unauthorized
from engine.model import ROLE_RANK, Principal

DEV_ISSUER = "cryptobot-dev"
DEV_KEY_FILE = "dev-jwt-private.pem"
DEV_KEY_ID = "cryptobot-dev-1"
LEEWAY_SECONDS = 10
USER_ID_RE = re.compile(r"^[A-Za-z0-9_.@:\-]{1,128}$")
ALGORITHMS = ["RS256"]


# -- dev keys and tokens ----------------------------------------------------------------


def load_or_create_dev_key(data_dir: str | Path) -> bytes:
    """The dev signing key (PEM), created on first use. Safe against two processes
    creating it at once: the first complete file to land wins."""
    path = Path(data_dir) / DEV_KEY_FILE
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".dev-key-")
    try:
        os.write(fd, pem)
        os.fsync(fd)
        os.close(fd)
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # fails if another process won the race
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return path.read_bytes()


def public_pem(private_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(private_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def issue_dev_token(private_pem: bytes, user_id: str, role: str, *, ttl_seconds: int = 86400, now: float | None = None) -> str:
    if not USER_ID_RE.fullmatch(user_id):
        raise ValueError("user id must be 1-128 characters of letters, digits and _.@:-")
    if role not in ROLE_RANK:
        raise ValueError(f"role must be one of {', '.join(ROLE_RANK)}")
    now = time.time() if now is None else now
    claims = {
        "sub": user_id,
        "role": role,
        "iss": DEV_ISSUER,
        "iat": int(now),
        "nbf": int(now) - 1,
        "exp": int(now) + ttl_seconds,
    }
    return jwt.encode(claims, private_pem, algorithm="RS256", headers={"kid": DEV_KEY_ID})


# -- verification ------------------------------------------------------------------------


def role_from_claims(claims: dict[str, Any]) -> str:
    """Clerk puts custom claims where the session-token template says; look in
    the usual places. No role means the least privilege."""
    candidates = [claims.get("role")]
    for container in ("metadata", "public_metadata", "publicMetadata"):
        value = claims.get(container)
        if isinstance(value, dict):
            candidates.append(value.get("role"))
    org_role = claims.get("org_role")
    if isinstance(org_role, str):
        candidates.append(org_role.removeprefix("org:"))
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.lower() in ROLE_RANK:
            return candidate.lower()
    return "viewer"


class TokenVerifier:
    """Verifies RS256 tokens against a key (PEM) or a key lookup (JWKS)."""

    def __init__(
        self,
        key_for: Callable[[str], Any],
        *,
        issuer: str | None = None,
        authorized_parties: tuple[str, ...] = (),
        leeway: int = LEEWAY_SECONDS,
    ) -> None:
        self._key_for = key_for
        self._issuer = issuer
        self._authorized_parties = authorized_parties
        self._leeway = leeway

    @classmethod
    def from_pem(cls, pem: str | bytes, **kwargs: Any) -> TokenVerifier:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
        return cls(lambda token: key, **kwargs)

    @classmethod
    def from_jwks(cls, url: str, secret_key: str, **kwargs: Any) -> TokenVerifier:
        client = jwt.PyJWKClient(url, headers={"Authorization": f"Bearer {secret_key}"}, timeout=5, cache_keys=True)
        return cls(lambda token: client.get_signing_key_from_jwt(token).key, **kwargs)

    def verify(self, token: str) -> Principal:
        try:
            key = self._key_for(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                leeway=self._leeway,
                issuer=self._issuer,
                options={"require": ["exp", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("the token is not valid yet") from None
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthorized(f"the token is not valid: {exc}") from None
        azp = claims.get("azp")
        if self._authorized_parties and azp is not None and azp not in self._authorized_parties:
            raise Unauthorized("the token was issued for another application")
        user_id = claims["sub"]
        if not isinstance(user_id, str) or not USER_ID_RE.fullmatch(user_id):
            raise Unauthorized("the token's subject is not a valid user id")
        return Principal(user_id=user_id, role=role_from_claims(claims))  # type: ignore[arg-type]


CLERK_JWKS_URL = "https://api.clerk.com/v1/jwks"


def verifier_for(config: Any) -> TokenVerifier:
    """The verifier the configuration asks for: Clerk's PEM key, Clerk's JWKS, or dev."""
    parties = tuple(config.clerk_authorized_parties)
    if config.clerk_jwt_key:
        return TokenVerifier.from_pem(config.clerk_jwt_key, authorized_parties=parties)
    if config.clerk_secret_key:
        return TokenVerifier.from_jwks(CLERK_JWKS_URL, config.clerk_secret_key, authorized_parties=parties)
    private = load_or_create_dev_key(config.data_dir)
    return TokenVerifier.from_pem(public_pem(private), issuer=DEV_ISSUER)
