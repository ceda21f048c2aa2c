"""The ``cryptobot`` command: serve, migrate, dev-token, healthcheck, simulator, version.

This is the outermost layer (it starts gunicorn and opens the database), so it
may import every package.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from engine import __version__
from engine import config as config_module
from engine.config import Config
from engine.errors import EngineError

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cryptobot", description="Actor-model trading engine for MEXC spot.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the engine and its HTTP API under gunicorn")
    serve.add_argument("--port", type=int, help="overrides PORT")
    serve.add_argument("--host", help="overrides HOST")

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--status", action="store_true", help="list migrations and whether each is applied")

    token = sub.add_parser("dev-token", help="print a dev-mode bearer token")
    token.add_argument("--user", required=True, help="user id (the token's subject)")
    token.add_argument("--role", default="trader", choices=("viewer", "trader", "admin"))
    token.add_argument("--ttl", type=int, default=86400, help="lifetime in seconds (default 86400)")

    sub.add_parser("verify", help="check every journal row and the database file; exit 1 if damaged")

    backup = sub.add_parser("backup", help="an online, consistent copy of the database (safe while trading)")
    backup.add_argument("--to", required=True, metavar="FILE", help="where to write the copy")

    restore = sub.add_parser("restore", help="replace the database with a backup or the Turso replica")
    source = restore.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="source", metavar="FILE", help="a file made by `cryptobot backup`")
    source.add_argument("--from-turso", action="store_true", help="rebuild from the Turso replica (TURSO_URL)")
    sub.add_parser("healthcheck", help="exit 0 if the local engine's /health answers 200")
    sub.add_parser("version", help="print the version")

    sub.add_parser("simulator", help="run the loopback MEXC simulator (see `cryptobot simulator --help`)", add_help=False)

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulator"]:
        from engine.exchanges.mexc_sim.cli import main as simulator_main

        return simulator_main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "version":
        print(f"cryptobot {__version__}")
        return 0
    if args.command == "serve":
        if args.port is not None:
            os.environ["PORT"] = str(args.port)
        if args.host is not None:
            os.environ["HOST"] = args.host
    try:
        config = config_module.load()
        handler = {
            "serve": _serve,
            "migrate": _migrate,
            "dev-token": _dev_token,
            "healthcheck": _healthcheck,
            "verify": _verify,
            "backup": _backup,
            "restore": _restore,
        }
        return handler[args.command](config, args)
    except EngineError as exc:
        print(f"cryptobot: {exc.message}", file=sys.stderr)
        return EXIT_USAGE


def _serve(config: Config, args: argparse.Namespace) -> int:
    # Fail here, with a clear message, rather than in a worker that gunicorn
    # would report only as "failed to boot".
    from persistence.journal import Journal
    from persistence.lock import DatabaseLock

    if DatabaseLock(config.database_path).is_held_elsewhere():
        print(f"cryptobot: another engine is already running on {config.database_path}", file=sys.stderr)
        return EXIT_USAGE
    journal = Journal.open(config.database_path)  # migrates; refuses a newer schema
    try:
        journal.verify_new_rows()  # a damaged row stops start-up, named
    finally:
        journal.close()
    refusal = _credentials_refusal(config)
    if refusal is not None:
        print(f"cryptobot: MEXC refused MEXC_API_KEY/MEXC_SECRET_KEY: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    if config.cpu_affinity:
        try:
            os.sched_setaffinity(0, config.cpu_affinity)  # gunicorn and its worker inherit it across exec and fork
        except OSError as exc:
            print(f"cryptobot: CPU_AFFINITY {','.join(map(str, config.cpu_affinity))} cannot be applied: {exc}",
                  file=sys.stderr)
            return EXIT_USAGE
    gunicorn_args = [sys.executable, "-m", "gunicorn", "--config", "python:api.gunicorn_conf", "api.wsgi:app"]
    os.execv(sys.executable, gunicorn_args)
    return 0  # not reached


def _credentials_refusal(config: Config) -> str | None:
    """MEXC's refusal of the configured key, if it refuses it. An exchange that
    cannot be reached now does not stop the start: the engine keeps trying."""
    if config.exchange != "mexc" or not config.mexc_api_key:
        return None
    from engine.exchanges.mexc.errors import MexcAuthError, MexcError
    from engine.exchanges.mexc.rest import MexcRestClient

    client = MexcRestClient(
        config.mexc_base_url, config.mexc_api_key, config.mexc_secret_key,
        recv_window=config.mexc_recv_window_ms, timeout=config.mexc_timeout_seconds, max_retries=1, max_block=5.0,
    )
    try:
        client.account()
    except MexcAuthError as exc:
        return f"{exc.msg} ({exc.code})"
    except MexcError as exc:
        print(f"cryptobot: could not check the MEXC credentials now ({exc}); starting anyway", file=sys.stderr)
    finally:
        client.close()
    return None


def _migrate(config: Config, args: argparse.Namespace) -> int:
    from persistence import db, migrate

    conn = db.connect(config.database_path)
    try:
        if args.status:
            for item in migrate.status(conn):
                state = "applied" if item.applied_at else "pending"
                print(f"{item.version:04d}  {item.name:<30}  {state}")
            return 0
        applied = migrate.apply(conn)
    finally:
        conn.close()
    for migration in applied:
        print(f"applied {migration.version:04d}_{migration.name}")
    if not applied:
        print(f"database {config.database_path} is up to date")
    return 0


def _dev_token(config: Config, args: argparse.Namespace) -> int:
    from engine.auth import issue_dev_token, load_or_create_dev_key

    if config.auth_mode != "dev":
        print("cryptobot: Clerk is configured (CLERK_*); the engine will not accept dev tokens", file=sys.stderr)
        return EXIT_USAGE
    if args.ttl <= 0:
        print("cryptobot: --ttl must be positive", file=sys.stderr)
        return EXIT_USAGE
    try:
        token = issue_dev_token(load_or_create_dev_key(config.data_dir), args.user, args.role, ttl_seconds=args.ttl)
    except ValueError as exc:
        print(f"cryptobot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(token)
    return 0


def _verify(config: Config, args: argparse.Namespace) -> int:
    from engine.errors import JournalCorrupted
    from persistence.backup import integrity_check
    from persistence.journal import Journal

    if not Path(config.database_path).is_file():
        print(f"cryptobot: no database at {config.database_path}", file=sys.stderr)
        return 1
    problems = integrity_check(config.database_path)
    if problems:
        print(f"cryptobot: the database file is damaged: {'; '.join(problems[:5])}", file=sys.stderr)
        return 1
    journal = Journal.open(config.database_path)
    try:
        last = journal.verify(0)
    except JournalCorrupted as exc:
        print(f"cryptobot: {exc.message}", file=sys.stderr)
        return 1
    finally:
        journal.close()
    print(f"journal {config.database_path}: every row through seq {last} is sound")
    return 0


def _backup(config: Config, args: argparse.Namespace) -> int:
    from persistence.backup import backup

    print(backup(config.database_path, args.to).summary())
    return 0


def _restore(config: Config, args: argparse.Namespace) -> int:
    if args.from_turso:
        from persistence.turso import restore_from_turso

        if not config.turso_url:
            print("cryptobot: set TURSO_URL (and TURSO_AUTH_TOKEN) to restore from Turso", file=sys.stderr)
            return EXIT_USAGE
        restored = restore_from_turso(config.turso_url, config.turso_auth_token, config.database_path)
        print(f"restored {restored} events from Turso into {config.database_path}")
        return 0
    from persistence.backup import restore

    print(restore(args.source, config.database_path).summary())
    return 0


def _healthcheck(config: Config, args: argparse.Namespace) -> int:
    import httpx

    try:
        response = httpx.get(f"http://127.0.0.1:{config.port}/health", timeout=5.0)
    except httpx.HTTPError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if response.status_code != 200:
        print(f"unhealthy: {response.text}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
