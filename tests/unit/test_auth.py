"""engine.auth: dev keys and tokens, token verification and roles."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from engine.auth import (
    DEV_ISSUER,
    DEV_KEY_FILE,
    TokenVerifier,
    issue_dev_token,
    load_or_create_dev_key,
    public_pem,
    role_from_claims,
    verifier_for,
)
from engine.errors import Unauthorized
from engine.model import Principal


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dev-key")


@pytest.fixture(scope="module")
def private_pem(key_dir: Path) -> bytes:
    return load_or_create_dev_key(key_dir)


@pytest.fixture(scope="module")
def other_private_pem(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return load_or_create_dev_key(tmp_path_factory.mktemp("other-key"))


@pytest.fixture(scope="module")
def verifier(private_pem: bytes) -> TokenVerifier:
    return TokenVerifier.from_pem(public_pem(private_pem), issuer=DEV_ISSUER)


def sign(private_pem: bytes, claims: dict[str, Any], **headers: Any) -> str:
    return jwt.encode(claims, private_pem, algorithm="RS256", headers=headers or None)


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"sub": "alice", "iss": DEV_ISSUER, "iat": now, "exp": now + 600}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def rejected(verifier: TokenVerifier, token: str) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        verifier.verify(token)
    assert caught.value.code == "UNAUTHORIZED"
    return caught.value


# -- dev tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "trader", "admin"])
def test_dev_token_round_trips_user_id_and_role(private_pem: bytes, verifier: TokenVerifier, role: str) -> None:
    token = issue_dev_token(private_pem, "user_1@example.com", role)
    assert verifier.verify(token) == Principal(user_id="user_1@example.com", role=role)  # type: ignore[arg-type]


def test_dev_token_carries_issuer_kid_and_lifetime(private_pem: bytes) -> None:
    token = issue_dev_token(private_pem, "alice", "trader", ttl_seconds=120, now=1_700_000_000)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["kid"] == "cryptobot-dev-1"
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["iss"] == DEV_ISSUER
    assert payload["iat"] == 1_700_000_000
    assert payload["exp"] == 1_700_000_120


@pytest.mark.parametrize("user", ["", "has space", "a" * 129, "semi;colon"])
def test_issue_dev_token_refuses_a_bad_user_id(private_pem: bytes, user: str) -> None:
    with pytest.raises(ValueError):
        issue_dev_token(private_pem, user, "trader")


def test_issue_dev_token_refuses_an_unknown_role(private_pem: bytes) -> None:
    with pytest.raises(ValueError):
        issue_dev_token(private_pem, "alice", "root")


# -- refusals ------------------------------------------------------------------------------------


def test_expired_token_is_unauthorized(private_pem: bytes, verifier: TokenVerifier) -> None:
    token = issue_dev_token(private_pem, "alice", "trader", ttl_seconds=60, now=time.time() - 3600)
    assert "expired" in rejected(verifier, token).message


def test_token_expired_within_the_leeway_is_still_accepted(private_pem: bytes, verifier: TokenVerifier) -> None:
    token = issue_dev_token(private_pem, "alice", "trader", ttl_seconds=60, now=time.time() - 63)
    assert verifier.verify(token).user_id == "alice"


def test_token_not_valid_yet_is_unauthorized(private_pem: bytes, verifier: TokenVerifier) -> None:
    token = issue_dev_token(private_pem, "alice", "trader", now=time.time() + 3600)
    rejected(verifier, token)


def test_token_signed_by_another_key_is_unauthorized(other_private_pem: bytes, verifier: TokenVerifier) -> None:
    rejected(verifier, issue_dev_token(other_private_pem, "alice", "admin"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_token_with_tampered_payload_is_unauthorized(private_pem: bytes, verifier: TokenVerifier) -> None:
    token = issue_dev_token(private_pem, "alice", "viewer")
    header, payload, signature = token.split(".")
    body = json.loads(_unb64(payload))
    body["role"] = "admin"
    forged = ".".join([header, _b64(json.dumps(body).encode()), signature])
    assert verifier.verify(token).role == "viewer"  # the original is fine
    rejected(verifier, forged)


def test_token_with_tampered_signature_is_unauthorized(private_pem: bytes, verifier: TokenVerifier) -> None:
    header, payload, signature = issue_dev_token(private_pem, "alice", "viewer").split(".")
    raw = bytearray(_unb64(signature))
    raw[0] ^= 0x01
    rejected(verifier, ".".join([header, payload, _b64(bytes(raw))]))


def test_unsigned_token_is_unauthorized(verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(role="admin"), None, algorithm="none")  # type: ignore[arg-type]  # no key: unsigned on purpose
    rejected(verifier, token)


def test_hs256_token_keyed_with_the_public_key_is_unauthorized(private_pem: bytes, verifier: TokenVerifier) -> None:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims(role="admin")).encode())
    mac = hmac.new(public_pem(private_pem), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    rejected(verifier, f"{header}.{payload}.{_b64(mac)}")


def test_token_without_sub_is_unauthorized(private_pem: bytes, verifier: TokenVerifier) -> None:
    rejected(verifier, sign(private_pem, claims(sub=None)))


def test_token_without_exp_is_unauthorized(private_pem: bytes, verifier: TokenVerifier) -> None:
    rejected(verifier, sign(private_pem, claims(exp=None)))


@pytest.mark.parametrize("sub", ["", "has space", "a" * 129, 12345])
def test_token_whose_sub_is_not_a_valid_user_id_is_unauthorized(
    private_pem: bytes, verifier: TokenVerifier, sub: object
) -> None:
    rejected(verifier, sign(private_pem, claims(sub=sub)))


def test_token_whose_sub_ends_in_a_newline_is_unauthorized(private_pem: bytes, verifier: TokenVerifier) -> None:
    rejected(verifier, sign(private_pem, claims(sub="alice\n")))


def test_token_from_another_issuer_is_unauthorized(private_pem: bytes, verifier: TokenVerifier) -> None:
    rejected(verifier, sign(private_pem, claims(iss="someone-else")))


@pytest.mark.parametrize("garbage", ["", "not-a-token", "a.b.c", "Bearer x"])
def test_garbage_is_unauthorized(verifier: TokenVerifier, garbage: str) -> None:
    rejected(verifier, garbage)


def test_failing_key_lookup_is_unauthorized() -> None:
    def no_key(token: str) -> Any:
        raise jwt.PyJWKClientError("no such kid")

    rejected(TokenVerifier(no_key), "x.y.z")


# -- authorized parties ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def azp_verifier(private_pem: bytes) -> TokenVerifier:
    return TokenVerifier.from_pem(public_pem(private_pem), authorized_parties=("https://app.example",))


def test_token_for_an_authorized_party_is_accepted(private_pem: bytes, azp_verifier: TokenVerifier) -> None:
    assert azp_verifier.verify(sign(private_pem, claims(azp="https://app.example"))).user_id == "alice"


def test_token_for_another_party_is_unauthorized(private_pem: bytes, azp_verifier: TokenVerifier) -> None:
    error = rejected(azp_verifier, sign(private_pem, claims(azp="https://evil.example")))
    assert "another application" in error.message


def test_token_without_azp_is_accepted_by_an_allow_list(private_pem: bytes, azp_verifier: TokenVerifier) -> None:
    assert azp_verifier.verify(sign(private_pem, claims())).user_id == "alice"


def test_without_an_allow_list_any_azp_is_accepted(private_pem: bytes, verifier: TokenVerifier) -> None:
    assert verifier.verify(sign(private_pem, claims(azp="https://anything.example"))).user_id == "alice"


# -- roles -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims_", "role"),
    [
        ({"role": "trader"}, "trader"),
        ({"role": "ADMIN"}, "admin"),
        ({"metadata": {"role": "trader"}}, "trader"),
        ({"public_metadata": {"role": "admin"}}, "admin"),
        ({"publicMetadata": {"role": "trader"}}, "trader"),
        ({"org_role": "org:admin"}, "admin"),
        ({"org_role": "admin"}, "admin"),
        ({"org_role": "org:member"}, "viewer"),
        ({}, "viewer"),
        ({"role": "superuser"}, "viewer"),
        ({"role": 2}, "viewer"),
        ({"metadata": "admin"}, "viewer"),  # not a mapping
        ({"role": "superuser", "metadata": {"role": "trader"}}, "trader"),  # first recognised wins
        ({"role": "viewer", "org_role": "org:admin"}, "viewer"),
    ],
)
def test_role_from_claims(claims_: dict[str, Any], role: str) -> None:
    assert role_from_claims(claims_) == role


def test_verified_principal_takes_its_role_from_the_claims(private_pem: bytes, verifier: TokenVerifier) -> None:
    token = sign(private_pem, claims(public_metadata={"role": "admin"}))
    assert verifier.verify(token) == Principal(user_id="alice", role="admin")
    assert verifier.verify(sign(private_pem, claims())).role == "viewer"


# -- the dev key -------------------------------------------------------------------------------------


def test_dev_key_is_created_once_and_stable_across_calls(tmp_path: Path) -> None:
    data_dir = tmp_path / "data" / "nested"
    first = load_or_create_dev_key(data_dir)
    assert first.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert load_or_create_dev_key(data_dir) == first
    assert load_or_create_dev_key(str(data_dir)) == first
    assert (data_dir / DEV_KEY_FILE).read_bytes() == first


def test_dev_key_file_is_readable_only_by_its_owner(tmp_path: Path) -> None:
    load_or_create_dev_key(tmp_path)
    assert stat.S_IMODE(os.stat(tmp_path / DEV_KEY_FILE).st_mode) == 0o600


def test_dev_key_creation_leaves_no_temporary_files(tmp_path: Path) -> None:
    load_or_create_dev_key(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [DEV_KEY_FILE]


def test_dev_keys_of_different_data_dirs_differ(private_pem: bytes, other_private_pem: bytes) -> None:
    assert private_pem != other_private_pem


def test_verifier_for_dev_config_accepts_tokens_from_the_data_dir_key(key_dir: Path, private_pem: bytes) -> None:
    class DevConfig:
        clerk_authorized_parties = ()
        clerk_jwt_key = None
        clerk_secret_key = None
        data_dir = key_dir

    verifier = verifier_for(DevConfig())
    assert verifier.verify(issue_dev_token(private_pem, "bob", "trader")) == Principal(user_id="bob", role="trader")


def test_verifier_for_clerk_pem_config_refuses_dev_tokens(private_pem: bytes, other_private_pem: bytes) -> None:
    class ClerkConfig:
        clerk_authorized_parties = ()
        clerk_jwt_key = public_pem(other_private_pem).decode()
        clerk_secret_key = None
        data_dir = None

    verifier = verifier_for(ClerkConfig())
    rejected(verifier, issue_dev_token(private_pem, "bob", "admin"))
    # ... and accepts a token signed with the configured key, with any issuer.
    assert verifier.verify(sign(other_private_pem, claims(iss="https://clerk.example"))).user_id == "alice"
