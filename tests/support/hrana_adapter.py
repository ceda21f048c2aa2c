"""A loopback adapter between libsql-client and the Turso test server.

libsql-client 0.3.1 speaks Hrana's first HTTP version: POST /v1/execute with
{"stmt": ...} and POST /v1/batch with {"batch": ...}, answered with
{"result": ...}. The Turso CLI's server only has /v2/pipeline (requests of type
execute and batch; it refuses "close"). This adapter wraps each v1 request in a
one-request pipeline, unwraps the answer, and turns a pipeline error into the
JSON error ({"message", "code"}) libsql-client reads. The engine's code is
then exercised unchanged against a real libSQL server.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

UPSTREAM_TIMEOUT_SECONDS = 10.0


class HranaV1Adapter:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        adapter = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                kind = {"/v1/execute": "execute", "/v1/batch": "batch"}.get(self.path.rstrip("/"))
                if kind is None:
                    self._reply(404, {"message": f"no route {self.path}", "code": "NOT_FOUND"})
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                status, payload = adapter.forward(kind, body, self.headers.get("Authorization"))
                self._reply(status, payload)

            def _reply(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="hrana-adapter", daemon=True)

    def start(self) -> HranaV1Adapter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def forward(self, kind: str, body: dict[str, Any], authorization: str | None) -> tuple[int, Any]:
        request = {"type": kind, "stmt": body.get("stmt")} if kind == "execute" else {"type": kind, "batch": body.get("batch")}
        headers = {"Authorization": authorization} if authorization else {}
        try:
            response = httpx.post(
                f"{self.upstream}/v2/pipeline", json={"requests": [request]}, headers=headers, timeout=UPSTREAM_TIMEOUT_SECONDS
            )
        except httpx.HTTPError as exc:
            return 502, {"message": f"upstream unreachable: {exc}", "code": "UPSTREAM_UNAVAILABLE"}
        if response.status_code != 200:
            return response.status_code, {"message": response.text, "code": "SERVER_ERROR"}
        result = response.json()["results"][0]
        if result["type"] != "ok":
            error = result.get("error") or {}
            return 400, {"message": error.get("message", "error"), "code": error.get("code") or "SQL_ERROR"}
        return 200, {"result": result["response"]["result"]}
