"""gunicorn settings: one worker process (the engine lives in it), gthread threads.

Used by ``cryptobot serve`` and by the Docker image. A bad environment stops
start-up here, before any worker forks, with a one-line message and status 2.
"""

from __future__ import annotations

import sys

from gunicorn import glogging

from api import http_errors
from engine import __version__, logs
from engine import config as _config
from engine.auth import issue_dev_token, load_or_create_dev_key
from engine.errors import ConfigError

try:
    _cfg = _config.load()
except ConfigError as _exc:
    print(f"cryptobot: {_exc.message}", file=sys.stderr)
    sys.exit(2)

logs.configure(_cfg.log_level, _cfg.log_format)
http_errors.install()  # before the worker forks, so it inherits it


class GunicornLogger(glogging.Logger):
    """gunicorn's own log lines go through structlog like everything else."""

    def setup(self, cfg):  # noqa: ANN001
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logger.handlers.clear()
            logger.propagate = True


bind = [f"{_cfg.host}:{_cfg.port}"]
workers = 1  # the engine is in-process state: never more than one worker
worker_class = "gthread"
threads = _cfg.web_threads
timeout = 60
graceful_timeout = 20
keepalive = 5
preload_app = False
control_socket_disable = True  # nothing uses it; several engines may share a host
proc_name = "cryptobot"
logger_class = GunicornLogger
accesslog = None  # api.logging writes one structured event per request
loglevel = _cfg.log_level.lower()


def when_ready(server):  # noqa: ANN001
    host = "127.0.0.1" if _cfg.host in ("0.0.0.0", "::", "") else _cfg.host
    url = f"http://{host}:{_cfg.port}"
    lines = [f"cryptobot {__version__} serving {url}  (exchange: {_cfg.exchange}, auth: {_cfg.auth_mode})"]
    if _cfg.auth_mode == "dev":
        token = issue_dev_token(load_or_create_dev_key(_cfg.data_dir), "demo", "trader")
        lines.append(f"  try:   curl -s -H 'Authorization: Bearer {token}' {url}/api/v1/account/wallet")
        lines.append("  token: cryptobot dev-token --user alice --role trader")
    print("\n".join(lines), flush=True)


def worker_exit(server, worker):  # noqa: ANN001
    # Only if the worker got as far as loading the app: importing it starts an engine.
    wsgi = sys.modules.get("api.wsgi")
    if wsgi is not None:
        wsgi.shutdown()
