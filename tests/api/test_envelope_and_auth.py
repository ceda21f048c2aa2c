"""Every response is an envelope; tokens and roles decide who may do what."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.server import EngineProcess, new_user

pytestmark = pytest.mark.e2e


def test_health_reports_ok_with_its_checks(server: EngineProcess) -> None:
    response = server.client().get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"]["status"] == "ok"
    journal = body["data"]["checks"]["journal"]
    assert journal["failure"] is None and journal["committingForSeconds"] is None
    assert {"lastCommitAt", "lastCommitAgeSeconds", "commits", "appends"} <= set(journal)  # read, not written
    assert all(body["data"]["checks"]["actors"].values())


def test_version_and_config_need_no_token_and_config_hides_secrets(tmp_path) -> None:
    engine = EngineProcess(tmp_path, {"TURSO_AUTH_TOKEN": "turso-secret-value", "MEXC_SECRET_KEY": "mexc-secret-value"}).start()
    try:
        with engine.client() as http:
            version = http.get("/version").json()
            assert version["success"] is True and version["data"]["version"]
            config = http.get("/config")
            assert config.status_code == 200
            assert "turso-secret-value" not in config.text and "mexc-secret-value" not in config.text
            data = config.json()["data"]
            assert data["turso_auth_token"] == "***redacted***"
            assert data["port"] == engine.port
            assert data["auth_mode"] == "dev"
    finally:
        engine.stop()


@pytest.mark.parametrize(
    "method,path,status,code",
    [
        ("GET", "/no/such/route", 404, "NOT_FOUND"),
        ("GET", "/api/v1/nothing-here", 404, "NOT_FOUND"),
        ("POST", "/health", 405, "METHOD_NOT_ALLOWED"),
        ("PATCH", "/api/v1/trading/orders", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_falcon_errors_use_the_envelope(server: EngineProcess, method, path, status, code) -> None:
    with server.client(new_user()) as http:
        response = http.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def raw_exchange(server: EngineProcess, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request as raw bytes (what an HTTP client library would refuse to send)."""
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    "request_bytes,status,code",
    [
        (b"GET /api/v1/market/ticker/" + b"A" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "URI_TOO_LONG"),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nIdempotency-Key: " + b"k" * 10000 + b"\r\n\r\n", 431, "HEADERS_TOO_LARGE"),
        (b"GARBAGE\r\n\r\n", 400, "BAD_REQUEST"),
        (b"POST /api/v1/trading/orders HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400, "BAD_REQUEST"),
        (b"PUT /api/v1/paper/prices/BTCUSDT HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer TOKEN\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400, "BAD_REQUEST"),
    ],
    ids=["uri-too-long", "header-too-large", "garbage-request-line", "negative-content-length", "bad-chunk-size"],
)
def test_requests_refused_before_the_app_still_get_the_envelope(server: EngineProcess, request_bytes, status, code) -> None:
    import json

    request_bytes = request_bytes.replace(b"TOKEN", server.token("ops", role="admin").encode())
    got_status, headers, body = raw_exchange(server, request_bytes)
    assert got_status == status
    assert headers["content-type"] == "application/json"
    envelope = json.loads(body)
    assert envelope["success"] is False and envelope["error"]["code"] == code and envelope["error"]["message"]


def test_unknown_ticker_symbol_is_404(server: EngineProcess) -> None:
    with server.client(new_user()) as http:
        response = http.get("/api/v1/market/ticker/NOPEUSDT")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "UNKNOWN_SYMBOL"


def test_tickers_cover_every_configured_symbol(server: EngineProcess) -> None:
    with server.client(new_user(), role="viewer") as http:
        tickers = http.get("/api/v1/market/tickers").json()["data"]
        assert {t["symbol"] for t in tickers} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
        for ticker in tickers:
            assert float(ticker["bidPrice"]) < float(ticker["askPrice"])
            assert isinstance(ticker["time"], int)
        one = http.get("/api/v1/market/ticker/btcusdt").json()["data"]
        assert set(one) >= {"symbol", "lastPrice", "bidPrice", "askPrice", "time"}


def _other_key_token(user: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    now = int(time.time())
    return jwt.encode({"sub": user, "role": "admin", "iss": "cryptobot-dev", "exp": now + 60}, pem, algorithm="RS256")


def test_requests_without_a_valid_token_get_401(server: EngineProcess) -> None:
    expired = jwt.encode(
        {"sub": "x", "role": "trader", "iss": "cryptobot-dev", "exp": int(time.time()) - 3600},
        __import__("engine.auth", fromlist=["x"]).load_or_create_dev_key(server.data_dir),
        algorithm="RS256",
    )
    cases = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Bearer {_other_key_token('mallory')}"},
        {"Authorization": f"Bearer {expired}"},
    ]
    with server.client() as http:
        for headers in cases:
            for method, path in (("GET", "/api/v1/account/wallet"), ("POST", "/api/v1/trading/orders"), ("GET", "/api/v1/market/tickers")):
                response = http.request(method, path, headers=headers, json={})
                assert response.status_code == 401, (headers, path, response.text)
                assert response.json()["error"]["code"] == "UNAUTHORIZED"


def test_the_session_cookie_is_accepted(server: EngineProcess) -> None:
    user = new_user()
    with server.client() as http:
        http.cookies.set("__session", server.token(user))
        response = http.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["data"] == {"userId": user, "role": "trader"}


def test_roles_limit_what_a_user_may_do(server: EngineProcess) -> None:
    body = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "10"}
    with server.client(new_user(), role="viewer") as viewer, server.client(new_user(), role="trader") as trader:
        assert viewer.get("/api/v1/account/wallet").status_code == 200
        refused = viewer.post("/api/v1/trading/orders", json=body)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "FORBIDDEN"
        assert trader.get("/api/v1/status/risk").status_code == 403
        assert trader.put("/api/v1/paper/prices/BTCUSDT", json={"price": "1"}).status_code == 403


def test_the_kill_switch_halts_orders_until_resumed(tmp_path) -> None:
    engine = EngineProcess(tmp_path).start()
    try:
        body = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteQuantity": "10"}
        with engine.client("ops", role="admin") as admin, engine.client(new_user()) as trader:
            halted = admin.post("/api/v1/status/halt", json={"reason": "exchange incident"})
            assert halted.status_code == 200 and halted.json()["data"]["halted"] is True
            refused = trader.post("/api/v1/trading/orders", json=body)
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "TRADING_HALTED"
            assert "exchange incident" in refused.json()["error"]["message"]
            assert admin.post("/api/v1/status/resume").json()["data"]["halted"] is False
            assert trader.post("/api/v1/trading/orders", json=body).status_code == 201
    finally:
        engine.stop()


def test_openapi_lists_every_route_with_schemas(server: EngineProcess) -> None:
    response = server.client().get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    order = doc["paths"]["/api/v1/trading/orders"]["post"]
    body_ref = order["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = doc["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert {"symbol", "side", "type", "quantity", "quoteQuantity", "price", "clientOrderId"} <= set(body["properties"])
    assert set(body["required"]) == {"symbol", "side", "type"}
    assert "/api/v1/market/candles/{symbol}" in doc["paths"]
    candles = {p["name"]: p for p in doc["paths"]["/api/v1/market/candles/{symbol}"]["get"]["parameters"]}
    assert candles["symbol"]["in"] == "path" and candles["interval"]["in"] == "query"
    assert candles["limit"]["schema"]["maximum"] == 1000
    listing = {p["name"] for p in doc["paths"]["/api/v1/trading/orders"]["get"]["parameters"]}
    assert listing == {"status", "symbol", "limit", "clientOrderId"}
