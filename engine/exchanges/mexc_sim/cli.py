"""``cryptobot simulator``: run the loopback MEXC exchange until SIGINT/SIGTERM.

    cryptobot simulator --port 8200 --ws-port 8201 --account KEY:SECRET \
        --balance USDT=10000 --balance BTC=1 --symbols BTCUSDT,ETHUSDT --seed 7 [--candles [FILE]]

Prints the REST and WebSocket URLs (one per line), then the engine's settings
for them, once both listen. The WebSocket port is PORT+1 unless --ws-port says.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from engine.exchanges.mexc_sim.market import DEFAULT_SPEED

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cryptobot simulator", description="A loopback MEXC spot exchange (REST + WebSocket)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="REST port (default: any free port)")
    parser.add_argument(
        "--ws-port", type=int, default=None, help="WebSocket port (default: PORT+1 with --port, else any free port)"
    )
    parser.add_argument(
        "--account", action="append", default=[], metavar="KEY:SECRET", help="an API key and its secret (repeatable)"
    )
    parser.add_argument(
        "--balance", action="append", default=[], metavar="ASSET=AMOUNT",
        help="every account's starting balance (repeatable; default USDT=10000)",
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the price paths and the market maker")
    parser.add_argument("--symbols", default="BTCUSDT,ETHUSDT,SOLUSDT", help="comma-separated symbols")
    parser.add_argument(
        "--candles", nargs="?", const=True, default=None, metavar="FILE",
        help="replay candles (CSV open_time_ms,open,high,low,close,volume; the bundled BTC 5m without FILE) "
        "instead of a seeded random walk",
    )
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument("--speed", type=float, default=None, help=f"market ms per real ms (default {DEFAULT_SPEED:g})")
    return parser


def _balances(items: Sequence[str]) -> dict[str, Decimal]:
    balances: dict[str, Decimal] = {}
    for item in items or ["USDT=10000"]:
        asset, sep, amount = item.partition("=")
        try:
            value = Decimal(amount)
        except InvalidOperation:
            value = Decimal("NaN")
        if not sep or not asset or not value.is_finite() or value < 0:
            raise ValueError(f"--balance must be ASSET=AMOUNT, not {item!r}")
        balances[asset.strip().upper()] = value
    return balances


def _accounts(items: Sequence[str], balances: dict[str, Decimal]) -> dict[str, tuple[str, dict[str, Decimal]]]:
    accounts = {}
    for item in items:
        key, sep, secret = item.partition(":")
        if not sep or not key or not secret:
            raise ValueError(f"--account must be KEY:SECRET, not {item!r}")
        accounts[key] = (secret, dict(balances))
    return accounts


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        accounts = _accounts(args.account, _balances(args.balance))
    except ValueError as exc:
        print(f"cryptobot simulator: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from engine import logs
    from engine.exchanges.mexc_sim.simulator import Simulator

    logs.configure(args.log_level, "console" if sys.stderr.isatty() else "json")  # logs go to stderr; stdout has the URLs

    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    try:
        sim = Simulator(symbols=symbols, accounts=accounts, seed=args.seed, candles=args.candles, speed=args.speed)
        # PORT+1 is the convention the engine assumes for a loopback MEXC_BASE_URL.
        ws_port = args.ws_port if args.ws_port is not None else (args.port + 1 if args.port else 0)
        sim.start(host=args.host, rest_port=args.port, ws_port=ws_port)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"cryptobot simulator: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"REST {sim.rest_url}", flush=True)
        print(f"WS   {sim.ws_url}", flush=True)
        print(f"MEXC_BASE_URL={sim.rest_url} MEXC_WS_URL={sim.ws_url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
