"""Configuration from environment variables.

``load(env)`` either returns a complete, validated ``Config`` or raises
``ConfigError`` with a one-line message naming the variable. The CLI turns that
into exit status 2, so a bad deployment stops before anything starts.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec

from engine.errors import ConfigError
from engine.money import to_decimal

T = TypeVar("T")

SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,20}USDT$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REDACTED = "***redacted***"


class Config(msgspec.Struct, frozen=True, kw_only=True):
    port: int = 8080
    host: str = "0.0.0.0"
    database_path: str = "./data/cryptobot.db"
    exchange: Literal["paper", "mexc"] = "paper"
    paper_symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    paper_start_balance: Decimal = Decimal(10000)
    paper_seed: int = 42
    paper_speed: float = 10.0  # market ms per real ms; 0 keeps the market still until moved
    paper_prices: str = "candles"  # the price path: real BTC candles, a random walk, or a CSV file
    paper_taker_fee: Decimal = Decimal("0.0005")
    paper_maker_fee: Decimal = Decimal(0)
    # How the MEXC client reaches the paper simulator: in this process (its REST app
    # called directly, its user data handed over by the stream server) or over loopback
    # HTTP and a WebSocket per account, as it reaches MEXC.
    paper_transport: str = "inprocess"
    clerk_secret_key: str | None = None
    clerk_jwt_key: str | None = None
    clerk_authorized_parties: tuple[str, ...] = ()
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    max_order_notional: Decimal = Decimal(100000)  # RISK_MAX_ORDER_NOTIONAL (MAX_ORDER_NOTIONAL, its old name)
    # Risk limits for every user (an admin may set a user's own); unset: no limit.
    risk_max_position_notional: Decimal | None = None  # per symbol, at the last price
    risk_max_open_orders: int | None = None
    risk_price_band_percent: Decimal | None = None  # a LIMIT or trigger price this far from the last price
    risk_max_daily_loss: Decimal | None = None  # realized today plus unrealized, in the quote asset
    order_rate_limit: float = 20.0  # orders and cancels per second per user; 0 turns it off
    ask_timeout_seconds: float = 5.0
    market_stale_seconds: float = 30.0
    web_threads: int = 8
    supervisor_interval_seconds: float = 1.0
    portfolio_idle_seconds: float = 300.0
    portfolio_max_live: int = 2000  # live portfolios at most; the least recently used passivates first
    portfolio_hosts: int = 4  # actors (threads) hosting every user's portfolio
    gateway_hosts: int = 2  # actors (threads) hosting every exchange account's gateway
    mexc_api_key: str | None = None
    mexc_secret_key: str | None = None
    mexc_base_url: str = "https://api.mexc.com"
    mexc_ws_url: str = "wss://wbs-api.mexc.com/ws"
    mexc_symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    mexc_account_user: str | None = None  # the user who trades with MEXC_API_KEY
    mexc_recv_window_ms: int = 5000
    mexc_timeout_seconds: float = 10.0
    exchange_info_refresh_seconds: float = 60.0
    reconcile_interval_seconds: float = 60.0  # the gateway sweeps each account this often
    orphan_policy: Literal["adopt", "cancel"] = "adopt"  # an engine order the journal lacks
    exchange_io_threads: int = 8  # workers that carry out every gateway's REST calls
    # CPUs `cryptobot serve` keeps the engine on (empty: wherever the OS schedules it). One
    # process's threads hand the GIL to each other; on one core that hand-off is cheaper.
    cpu_affinity: tuple[int, ...] = ()
    turso_enabled: bool = False
    turso_url: str | None = None
    turso_auth_token: str | None = None
    turso_sync_enabled: bool = False
    turso_sync_interval_seconds: float = 5.0
    turso_batch_size: int = 500
    backup_dir: str | None = None  # default: <data dir>/backups
    backup_interval_seconds: float = 0.0  # 0: no scheduled backups
    backup_keep: int = 7
    snapshot_every_events: int = 1000
    market_data_retention_days: float = 30.0

    # Names of fields whose values never leave the process.
    SECRETS = frozenset({"clerk_secret_key", "clerk_jwt_key", "mexc_api_key", "mexc_secret_key", "turso_auth_token"})

    @property
    def data_dir(self) -> Path:
        return Path(self.database_path).resolve().parent

    @property
    def backup_path(self) -> Path:
        return Path(self.backup_dir) if self.backup_dir else self.data_dir / "backups"

    @property
    def auth_mode(self) -> Literal["dev", "clerk"]:
        return "clerk" if (self.clerk_jwt_key or self.clerk_secret_key) else "dev"

    def public(self) -> dict[str, Any]:
        """Every setting, with secrets replaced; safe to show to an operator."""
        out: dict[str, Any] = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if name in self.SECRETS:
                value = REDACTED if value else None
            elif isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        out["auth_mode"] = self.auth_mode
        return out


# -- parsers: each takes the raw text and returns a value or raises ValueError --------


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError(f"expected an integer from {lo} to {hi}") from None
        if not lo <= value <= hi:
            raise ValueError(f"expected an integer from {lo} to {hi}")
        return value

    return parse


def _float(lo: float, hi: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ValueError(f"expected a number from {lo:g} to {hi:g}") from None
        if not lo <= value <= hi:
            raise ValueError(f"expected a number from {lo:g} to {hi:g}")
        return value

    return parse


def _decimal(lo: Decimal, hi: Decimal) -> Callable[[str], Decimal]:
    def parse(text: str) -> Decimal:
        value = to_decimal(text.strip())
        if value is None or not lo <= value <= hi:
            raise ValueError(f"expected a decimal number from {lo} to {hi}")
        return value

    return parse


def _choice(*options: str, lower: bool = True) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower() if lower else text.strip().upper()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return value

    return parse


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _cpus(text: str) -> tuple[int, ...]:
    """CPU numbers, comma separated ("0", "0,1"); "" means no pinning."""
    cpus: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if not part.isdigit() or int(part) > 4095:
            raise ValueError("expected CPU numbers separated by commas, such as 0 or 0,1")
        cpus.append(int(part))
    return tuple(sorted(set(cpus)))


def _symbols(text: str) -> tuple[str, ...]:
    symbols = tuple(dict.fromkeys(s.strip().upper() for s in text.split(",") if s.strip()))
    if not symbols:
        raise ValueError("expected a comma-separated list of symbols such as BTCUSDT,ETHUSDT")
    for symbol in symbols:
        if not SYMBOL_RE.fullmatch(symbol):
            raise ValueError(f"{symbol!r} is not a USDT-quoted symbol such as BTCUSDT")
    return symbols


def _database_path(text: str) -> str:
    value = text.strip()
    if value.startswith("sqlite:///"):
        value = value[len("sqlite:///") :]
    elif value.startswith("file:"):
        value = value[len("file:") :]
    elif "://" in value:
        raise ValueError("expected a SQLite file path or sqlite:///path (Turso is configured with TURSO_URL)")
    if not value:
        raise ValueError("expected a SQLite file path")
    return value


def _url(text: str) -> str:
    value = text.strip()
    if not re.fullmatch(r"(https?|libsql|wss?)://[^\s]+", value):
        raise ValueError("expected a URL such as https://host or wss://host/path")
    return value.rstrip("/")


def _nonempty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text.strip()


def _pem_or_text(text: str) -> str:
    # Environment files often carry PEM keys with literal "\n".
    return _nonempty(text).replace("\\n", "\n")


def _price_path(text: str) -> str:
    value = text.strip()
    if value.lower() in ("candles", "walk"):
        return value.lower()
    if not Path(value).is_file():
        raise ValueError("expected candles, walk, or the path of a CSV file of candles")
    return value


def _list(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


# variable name -> (field name, parser)
VARIABLES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "PORT": ("port", _int(1, 65535)),
    "HOST": ("host", _nonempty),
    "DATABASE_URL": ("database_path", _database_path),
    "EXCHANGE": ("exchange", _choice("paper", "mexc")),
    "PAPER_SYMBOLS": ("paper_symbols", _symbols),
    "PAPER_START_BALANCE": ("paper_start_balance", _decimal(Decimal(0), Decimal(10) ** 12)),
    "PAPER_SEED": ("paper_seed", _int(0, 2**63 - 1)),
    "PAPER_SPEED": ("paper_speed", _float(0, 100_000)),
    "PAPER_PRICES": ("paper_prices", _price_path),
    "PAPER_TAKER_FEE": ("paper_taker_fee", _decimal(Decimal(0), Decimal("0.1"))),
    "PAPER_MAKER_FEE": ("paper_maker_fee", _decimal(Decimal(0), Decimal("0.1"))),
    "PAPER_TRANSPORT": ("paper_transport", _choice("inprocess", "loopback")),
    "CLERK_SECRET_KEY": ("clerk_secret_key", _nonempty),
    "CLERK_JWT_KEY": ("clerk_jwt_key", _pem_or_text),
    "CLERK_AUTHORIZED_PARTIES": ("clerk_authorized_parties", _list),
    "LOG_LEVEL": ("log_level", _choice(*LOG_LEVELS, lower=False)),
    "LOG_FORMAT": ("log_format", _choice("json", "console")),
    "MAX_ORDER_NOTIONAL": ("max_order_notional", _decimal(Decimal(0), Decimal(10) ** 15)),
    "RISK_MAX_ORDER_NOTIONAL": ("max_order_notional", _decimal(Decimal(0), Decimal(10) ** 15)),  # wins over the alias
    "RISK_MAX_POSITION_NOTIONAL": ("risk_max_position_notional", _decimal(Decimal(0), Decimal(10) ** 15)),
    "RISK_MAX_OPEN_ORDERS": ("risk_max_open_orders", _int(0, 1_000_000)),
    "RISK_PRICE_BAND_PERCENT": ("risk_price_band_percent", _decimal(Decimal(0), Decimal(1000))),
    "RISK_MAX_DAILY_LOSS": ("risk_max_daily_loss", _decimal(Decimal(0), Decimal(10) ** 15)),
    "ORDER_RATE_LIMIT": ("order_rate_limit", _float(0, 100_000)),
    "ASK_TIMEOUT_SECONDS": ("ask_timeout_seconds", _float(0.05, 300)),
    "MARKET_STALE_SECONDS": ("market_stale_seconds", _float(0.1, 86400)),
    "WEB_THREADS": ("web_threads", _int(1, 256)),
    "SUPERVISOR_INTERVAL_SECONDS": ("supervisor_interval_seconds", _float(0.05, 3600)),
    "PORTFOLIO_IDLE_SECONDS": ("portfolio_idle_seconds", _float(0.1, 86400 * 7)),
    "PORTFOLIO_MAX_LIVE": ("portfolio_max_live", _int(1, 10_000_000)),
    "PORTFOLIO_HOSTS": ("portfolio_hosts", _int(1, 64)),
    "GATEWAY_HOSTS": ("gateway_hosts", _int(1, 64)),
    "MEXC_API_KEY": ("mexc_api_key", _nonempty),
    "MEXC_SECRET_KEY": ("mexc_secret_key", _nonempty),
    "MEXC_BASE_URL": ("mexc_base_url", _url),
    "MEXC_WS_URL": ("mexc_ws_url", _url),
    "MEXC_SYMBOLS": ("mexc_symbols", _symbols),
    "MEXC_ACCOUNT_USER": ("mexc_account_user", _nonempty),
    "MEXC_RECV_WINDOW_MS": ("mexc_recv_window_ms", _int(1, 59_999)),
    "MEXC_TIMEOUT_SECONDS": ("mexc_timeout_seconds", _float(0.5, 120)),
    "EXCHANGE_INFO_REFRESH_SECONDS": ("exchange_info_refresh_seconds", _float(0.1, 86400)),
    "RECONCILE_INTERVAL_SECONDS": ("reconcile_interval_seconds", _float(1, 86400)),
    "ORPHAN_POLICY": ("orphan_policy", _choice("adopt", "cancel")),
    "EXCHANGE_IO_THREADS": ("exchange_io_threads", _int(1, 256)),
    "CPU_AFFINITY": ("cpu_affinity", _cpus),
    "TURSO_ENABLED": ("turso_enabled", _bool),
    "TURSO_URL": ("turso_url", _url),
    "TURSO_AUTH_TOKEN": ("turso_auth_token", _nonempty),
    "TURSO_SYNC_ENABLED": ("turso_sync_enabled", _bool),
    "TURSO_SYNC_INTERVAL_SECONDS": ("turso_sync_interval_seconds", _float(0.1, 86400)),
    "TURSO_BATCH_SIZE": ("turso_batch_size", _int(1, 10_000)),
    "BACKUP_DIR": ("backup_dir", _nonempty),
    "BACKUP_INTERVAL_SECONDS": ("backup_interval_seconds", _float(0, 86400 * 30)),
    "BACKUP_KEEP": ("backup_keep", _int(1, 10_000)),
    "SNAPSHOT_EVERY_EVENTS": ("snapshot_every_events", _int(10, 10_000_000)),
    "MARKET_DATA_RETENTION_DAYS": ("market_data_retention_days", _float(0.001, 36_500)),
}


def load(env: Mapping[str, str] | None = None, *, isatty: bool | None = None) -> Config:
    """Build the configuration from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for variable, (field, parse) in VARIABLES.items():
        raw = env.get(variable)
        if raw is None or (raw.strip() == "" and field not in ("turso_enabled", "turso_sync_enabled")):
            continue
        try:
            values[field] = parse(raw)
        except ValueError as exc:
            shown = REDACTED if field in Config.SECRETS else _without_credentials(raw)
            raise ConfigError(f"invalid {variable}={shown!r}: {exc}") from None
    if "log_format" not in values:
        tty = sys.stderr.isatty() if isatty is None else isatty
        values["log_format"] = "console" if tty else "json"
    _default_ws_url(values)
    config = Config(**values)
    _check_combinations(config)
    return config


def _default_ws_url(values: dict[str, Any]) -> None:
    """A loopback MEXC_BASE_URL is a simulator (or a local proxy): without MEXC_WS_URL,
    its WebSocket is taken to be on the next port, as `cryptobot simulator --port`
    serves it, rather than MEXC's real host, which such a setup cannot mean."""
    base = values.get("mexc_base_url")
    if base is None or values.get("mexc_ws_url") is not None:
        return
    match = re.fullmatch(r"https?://(127\.[0-9.]+|localhost|\[::1\]):([0-9]+)", base)
    if match:
        values["mexc_ws_url"] = f"ws://{match.group(1)}:{int(match.group(2)) + 1}/ws"


def _without_credentials(text: str) -> str:
    """A URL's user:password@ would otherwise end up in logs and terminals."""
    return re.sub(r"//[^/@\s]*@", "//***@", text)


def _check_combinations(config: Config) -> None:
    if config.exchange == "mexc":
        if bool(config.mexc_api_key) != bool(config.mexc_secret_key):
            missing = "MEXC_SECRET_KEY" if config.mexc_api_key else "MEXC_API_KEY"
            raise ConfigError(f"{missing} is not set: set both MEXC_API_KEY and MEXC_SECRET_KEY, or neither (market data only)")
        if config.mexc_api_key and not config.mexc_account_user:
            raise ConfigError("invalid EXCHANGE='mexc': MEXC_ACCOUNT_USER must name the user who trades with MEXC_API_KEY")
    if config.turso_enabled and not config.turso_url:
        raise ConfigError("invalid TURSO_ENABLED='true': TURSO_URL must be set")
