"""engine.config: defaults, parsing of every variable, and refusal of bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from engine import config as config_module
from engine.config import REDACTED, VARIABLES, Config, load
from engine.errors import ConfigError

ROOT = Path(__file__).parents[2]


def load_env(**env: str) -> Config:
    return load(env, isatty=False)


def config_error(**env: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_env(**env)
    return caught.value


# -- defaults --------------------------------------------------------------------------------


def test_empty_environment_gives_the_documented_defaults() -> None:
    config = load_env()
    assert config.port == 8080
    assert config.host == "0.0.0.0"
    assert config.database_path == "./data/cryptobot.db"
    assert config.exchange == "paper"
    assert config.paper_symbols == ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    assert config.paper_start_balance == Decimal(10000)
    assert config.paper_seed == 42
    assert (config.paper_speed, config.paper_prices) == (10.0, "candles")
    assert config.paper_taker_fee == Decimal("0.0005")
    assert config.paper_maker_fee == Decimal(0)
    assert config.clerk_secret_key is None
    assert config.clerk_jwt_key is None
    assert config.clerk_authorized_parties == ()
    assert config.log_level == "INFO"
    assert config.log_format == "json"
    assert config.max_order_notional == Decimal(100000)
    assert config.order_rate_limit == 20.0
    assert config.ask_timeout_seconds == 5.0
    assert config.market_stale_seconds == 30.0
    assert config.web_threads == 8
    assert config.supervisor_interval_seconds == 1.0
    assert config.portfolio_idle_seconds == 300.0
    assert config.mexc_api_key is None
    assert config.mexc_secret_key is None
    assert config.turso_enabled is False
    assert config.turso_url is None
    assert config.turso_auth_token is None
    assert config.turso_sync_enabled is False
    assert config.turso_sync_interval_seconds == 5.0
    assert config.auth_mode == "dev"


def test_log_format_defaults_to_console_on_a_terminal_and_json_otherwise() -> None:
    assert load({}, isatty=True).log_format == "console"
    assert load({}, isatty=False).log_format == "json"


def test_explicit_log_format_wins_over_terminal_detection() -> None:
    assert load({"LOG_FORMAT": "json"}, isatty=True).log_format == "json"


def test_empty_or_blank_variables_mean_the_default() -> None:
    config = load_env(PORT="", HOST="   ", LOG_LEVEL="", PAPER_SYMBOLS=" ")
    assert config.port == 8080
    assert config.host == "0.0.0.0"
    assert config.log_level == "INFO"
    assert config.paper_symbols == ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def test_load_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PORT", "9123")
    assert load(isatty=False).port == 9123


# -- every variable parsed ------------------------------------------------------------------------


PARSE_CASES = [
    ("PORT", " 9000 ", "port", 9000),
    ("PORT", "1", "port", 1),
    ("PORT", "65535", "port", 65535),
    ("HOST", " 127.0.0.1 ", "host", "127.0.0.1"),
    ("DATABASE_URL", "/var/lib/x.db", "database_path", "/var/lib/x.db"),
    ("DATABASE_URL", "sqlite:////var/lib/x.db", "database_path", "/var/lib/x.db"),
    ("DATABASE_URL", "sqlite:///rel/x.db", "database_path", "rel/x.db"),
    ("DATABASE_URL", "file:data/x.db", "database_path", "data/x.db"),
    ("EXCHANGE", "PAPER", "exchange", "paper"),
    ("PAPER_SYMBOLS", "btcusdt, ETHUSDT,,btcusdt", "paper_symbols", ("BTCUSDT", "ETHUSDT")),
    ("PAPER_START_BALANCE", "2500.50", "paper_start_balance", Decimal("2500.50")),
    ("PAPER_START_BALANCE", "0", "paper_start_balance", Decimal(0)),
    ("PAPER_SEED", "7", "paper_seed", 7),
    ("PAPER_SPEED", "0", "paper_speed", 0.0),
    ("PAPER_PRICES", "walk", "paper_prices", "walk"),
    ("PAPER_TAKER_FEE", "0.001", "paper_taker_fee", Decimal("0.001")),
    ("PAPER_MAKER_FEE", "0.0002", "paper_maker_fee", Decimal("0.0002")),
    ("PAPER_TRANSPORT", "Loopback", "paper_transport", "loopback"),
    ("CLERK_SECRET_KEY", "sk_test_abc", "clerk_secret_key", "sk_test_abc"),
    ("CLERK_JWT_KEY", "-----BEGIN\\nabc\\n-----END", "clerk_jwt_key", "-----BEGIN\nabc\n-----END"),
    ("CLERK_AUTHORIZED_PARTIES", "https://a.example, https://b.example,", "clerk_authorized_parties",
     ("https://a.example", "https://b.example")),
    ("LOG_LEVEL", "debug", "log_level", "DEBUG"),
    ("LOG_FORMAT", "Console", "log_format", "console"),
    ("MAX_ORDER_NOTIONAL", "5000", "max_order_notional", Decimal(5000)),
    ("RISK_MAX_ORDER_NOTIONAL", "6000", "max_order_notional", Decimal(6000)),
    ("RISK_MAX_POSITION_NOTIONAL", "20000", "risk_max_position_notional", Decimal(20000)),
    ("RISK_MAX_OPEN_ORDERS", "50", "risk_max_open_orders", 50),
    ("RISK_PRICE_BAND_PERCENT", "10", "risk_price_band_percent", Decimal(10)),
    ("RISK_MAX_DAILY_LOSS", "500", "risk_max_daily_loss", Decimal(500)),
    ("ORDER_RATE_LIMIT", "5", "order_rate_limit", 5.0),
    ("ORDER_RATE_LIMIT", "0", "order_rate_limit", 0.0),
    ("ASK_TIMEOUT_SECONDS", "2.5", "ask_timeout_seconds", 2.5),
    ("MARKET_STALE_SECONDS", "60", "market_stale_seconds", 60.0),
    ("WEB_THREADS", "16", "web_threads", 16),
    ("SUPERVISOR_INTERVAL_SECONDS", "0.5", "supervisor_interval_seconds", 0.5),
    ("PORTFOLIO_IDLE_SECONDS", "600", "portfolio_idle_seconds", 600.0),
    ("PORTFOLIO_MAX_LIVE", "500", "portfolio_max_live", 500),
    ("PORTFOLIO_HOSTS", "2", "portfolio_hosts", 2),
    ("GATEWAY_HOSTS", "3", "gateway_hosts", 3),
    ("MEXC_API_KEY", "mx-key", "mexc_api_key", "mx-key"),
    ("MEXC_SECRET_KEY", "mx-secret", "mexc_secret_key", "mx-secret"),
    ("MEXC_BASE_URL", "http://127.0.0.1:9000/", "mexc_base_url", "http://127.0.0.1:9000"),
    ("MEXC_WS_URL", "ws://127.0.0.1:9001/ws", "mexc_ws_url", "ws://127.0.0.1:9001/ws"),
    ("MEXC_SYMBOLS", "btcusdt, ETHUSDT", "mexc_symbols", ("BTCUSDT", "ETHUSDT")),
    ("MEXC_ACCOUNT_USER", "alice", "mexc_account_user", "alice"),
    ("TURSO_BATCH_SIZE", "100", "turso_batch_size", 100),
    ("BACKUP_DIR", "/var/backups/cb", "backup_dir", "/var/backups/cb"),
    ("BACKUP_INTERVAL_SECONDS", "3600", "backup_interval_seconds", 3600.0),
    ("BACKUP_KEEP", "3", "backup_keep", 3),
    ("SNAPSHOT_EVERY_EVENTS", "500", "snapshot_every_events", 500),
    ("MARKET_DATA_RETENTION_DAYS", "7", "market_data_retention_days", 7.0),
    ("MEXC_RECV_WINDOW_MS", "10000", "mexc_recv_window_ms", 10000),
    ("MEXC_TIMEOUT_SECONDS", "2.5", "mexc_timeout_seconds", 2.5),
    ("EXCHANGE_INFO_REFRESH_SECONDS", "1.5", "exchange_info_refresh_seconds", 1.5),
    ("RECONCILE_INTERVAL_SECONDS", "30", "reconcile_interval_seconds", 30.0),
    ("ORPHAN_POLICY", "cancel", "orphan_policy", "cancel"),
    ("EXCHANGE_IO_THREADS", "4", "exchange_io_threads", 4),
    ("CPU_AFFINITY", "1, 0,1", "cpu_affinity", (0, 1)),
    ("CPU_AFFINITY", "", "cpu_affinity", ()),
    ("TURSO_ENABLED", "false", "turso_enabled", False),
    ("TURSO_ENABLED", "", "turso_enabled", False),
    ("TURSO_URL", "libsql://db-name.turso.io", "turso_url", "libsql://db-name.turso.io"),
    ("TURSO_AUTH_TOKEN", "tok", "turso_auth_token", "tok"),
    ("TURSO_SYNC_ENABLED", "yes", "turso_sync_enabled", True),
    ("TURSO_SYNC_ENABLED", "off", "turso_sync_enabled", False),
    ("TURSO_SYNC_INTERVAL_SECONDS", "10", "turso_sync_interval_seconds", 10.0),
]


@pytest.mark.parametrize(("variable", "raw", "field", "expected"), PARSE_CASES)
def test_each_variable_is_parsed_into_its_field(variable: str, raw: str, field: str, expected: object) -> None:
    assert VARIABLES[variable][0] == field
    assert getattr(load_env(**{variable: raw}), field) == expected


def test_every_variable_has_a_parse_case() -> None:
    # Keeps PARSE_CASES complete when a variable is added.
    assert {case[0] for case in PARSE_CASES} == set(VARIABLES)


@pytest.mark.parametrize("truthy", ["1", "true", "TRUE", "yes", "on"])
def test_turso_enabled_accepts_the_usual_true_spellings(truthy: str) -> None:
    config = load_env(TURSO_ENABLED=truthy, TURSO_URL="https://db.turso.io")
    assert config.turso_enabled is True
    assert config.turso_url == "https://db.turso.io"


def test_clerk_jwt_key_selects_clerk_auth_mode() -> None:
    assert load_env(CLERK_JWT_KEY="pem").auth_mode == "clerk"
    assert load_env(CLERK_SECRET_KEY="sk").auth_mode == "clerk"


def test_data_dir_is_the_directory_of_the_database(tmp_path: Path) -> None:
    assert load_env(DATABASE_URL=str(tmp_path / "sub" / "x.db")).data_dir == (tmp_path / "sub").resolve()


# -- invalid values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("PORT", "abc"),
        ("PORT", "0"),
        ("PORT", "70000"),
        ("PORT", "-1"),
        ("PORT", "80.5"),
        ("EXCHANGE", "kraken"),
        ("PAPER_SYMBOLS", "BTC-USD"),
        ("PAPER_SYMBOLS", "BTCUSDT,ETHBTC"),
        ("PAPER_SYMBOLS", ","),
        ("PAPER_START_BALANCE", "-1"),
        ("PAPER_START_BALANCE", "NaN"),
        ("PAPER_START_BALANCE", "1e13"),
        ("PAPER_START_BALANCE", "lots"),
        ("PAPER_SEED", "-1"),
        ("PAPER_SEED", "seed"),
        ("PAPER_SPEED", "-5"),
        ("PAPER_PRICES", "/no/such/file.csv"),
        ("PAPER_TAKER_FEE", "0.2"),
        ("PAPER_TAKER_FEE", "-0.001"),
        ("PAPER_TRANSPORT", "websocket"),
        ("CPU_AFFINITY", "first"),
        ("CPU_AFFINITY", "-1"),
        ("PAPER_MAKER_FEE", "Infinity"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("MAX_ORDER_NOTIONAL", "-5"),
        ("RISK_MAX_OPEN_ORDERS", "-1"),
        ("RISK_PRICE_BAND_PERCENT", "ten"),
        ("ORDER_RATE_LIMIT", "-1"),
        ("ORDER_RATE_LIMIT", "fast"),
        ("ASK_TIMEOUT_SECONDS", "0"),
        ("ASK_TIMEOUT_SECONDS", "soon"),
        ("ASK_TIMEOUT_SECONDS", "nan"),
        ("MARKET_STALE_SECONDS", "0.01"),
        ("WEB_THREADS", "0"),
        ("WEB_THREADS", "1000"),
        ("SUPERVISOR_INTERVAL_SECONDS", "0"),
        ("PORTFOLIO_IDLE_SECONDS", "1e9"),
        ("DATABASE_URL", "postgres://x"),
        ("DATABASE_URL", "sqlite:///"),
        ("TURSO_ENABLED", "maybe"),
        ("TURSO_SYNC_ENABLED", "2"),
        ("TURSO_URL", "db.turso.io"),
        ("TURSO_URL", "ftp://db.turso.io"),
        ("TURSO_SYNC_INTERVAL_SECONDS", "0"),
    ],
)
def test_invalid_value_raises_one_line_config_error_naming_the_variable(variable: str, raw: str) -> None:
    error = config_error(**{variable: raw})
    assert error.code == "CONFIG_ERROR"
    assert error.message.startswith(f"invalid {variable}=")
    assert "\n" not in error.message and "\r" not in error.message
    assert str(error) == error.message


def test_config_error_message_shows_the_value_and_what_was_expected() -> None:
    error = config_error(PORT="abc")
    assert error.message == "invalid PORT='abc': expected an integer from 1 to 65535"


def test_config_error_is_one_line_even_when_the_value_has_newlines() -> None:
    error = config_error(LOG_LEVEL="INFO\nDEBUG")
    assert "LOG_LEVEL" in error.message
    assert "\n" not in error.message


def test_first_invalid_variable_is_the_one_named() -> None:
    # Two bad values: the error names one of them, and only one.
    error = config_error(PORT="abc", LOG_LEVEL="LOUD")
    assert ("PORT" in error.message) != ("LOG_LEVEL" in error.message)


def test_turso_enabled_without_turso_url_is_refused() -> None:
    error = config_error(TURSO_ENABLED="true")
    assert "TURSO_ENABLED" in error.message
    assert "TURSO_URL" in error.message
    assert "\n" not in error.message


def test_exchange_mexc_without_keys_is_market_data_only() -> None:
    config = load_env(EXCHANGE="mexc")
    assert config.exchange == "mexc" and config.mexc_api_key is None


def test_exchange_mexc_with_half_a_key_pair_is_refused() -> None:
    error = config_error(EXCHANGE="mexc", MEXC_API_KEY="key-AAAA")
    assert error.message.startswith("MEXC_SECRET_KEY is not set")  # the missing one is named first
    assert "key-AAAA" not in error.message
    assert config_error(EXCHANGE="mexc", MEXC_SECRET_KEY="secret-BBBB").message.startswith("MEXC_API_KEY is not set")


def test_exchange_mexc_with_keys_needs_the_account_user_and_hides_the_keys() -> None:
    error = config_error(EXCHANGE="mexc", MEXC_API_KEY="key-AAAA", MEXC_SECRET_KEY="secret-BBBB")
    assert error.message.startswith("invalid EXCHANGE=")
    assert "MEXC_ACCOUNT_USER" in error.message
    assert "key-AAAA" not in error.message
    assert "secret-BBBB" not in error.message
    config = load_env(EXCHANGE="mexc", MEXC_API_KEY="key-AAAA", MEXC_SECRET_KEY="secret-BBBB", MEXC_ACCOUNT_USER="alice")
    assert config.mexc_account_user == "alice"


# -- secrets ---------------------------------------------------------------------------------------


SECRET_ENV = {
    "CLERK_SECRET_KEY": "sk_live_SECRET1",
    "CLERK_JWT_KEY": "-----BEGIN PUBLIC KEY-----SECRET2",
    "MEXC_API_KEY": "mx0SECRET3",
    "MEXC_SECRET_KEY": "mxSECRET4",
    "TURSO_AUTH_TOKEN": "eyJSECRET5",
}


def test_public_replaces_every_secret_that_is_set() -> None:
    public = load_env(**SECRET_ENV).public()
    for field in Config.SECRETS:
        assert public[field] == REDACTED
    text = repr(public)
    for secret in SECRET_ENV.values():
        assert secret not in text


def test_public_shows_unset_secrets_as_none() -> None:
    public = load_env().public()
    for field in Config.SECRETS:
        assert public[field] is None


def test_public_lists_every_field_in_plain_types() -> None:
    config = load_env(PAPER_START_BALANCE="123.45", CLERK_AUTHORIZED_PARTIES="a,b")
    public = config.public()
    assert set(public) == set(Config.__struct_fields__) | {"auth_mode"}
    assert public["paper_start_balance"] == "123.45"
    assert public["paper_symbols"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert public["clerk_authorized_parties"] == ["a", "b"]
    assert public["port"] == 8080
    assert public["auth_mode"] == "dev"


def test_secrets_never_appear_in_a_config_error_caused_by_another_variable() -> None:
    error = config_error(**SECRET_ENV, PORT="abc")
    for secret in SECRET_ENV.values():
        assert secret not in error.message


def test_a_secret_variable_that_fails_to_parse_is_redacted_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    # No real secret parser refuses a non-blank value, so use one that does.
    def refuse(text: str) -> str:
        raise ValueError("not acceptable")

    monkeypatch.setitem(config_module.VARIABLES, "MEXC_SECRET_KEY", ("mexc_secret_key", refuse))
    error = config_error(MEXC_SECRET_KEY="mxTOPSECRET")
    assert "MEXC_SECRET_KEY" in error.message
    assert REDACTED in error.message
    assert "mxTOPSECRET" not in error.message


def test_credentials_in_a_refused_database_url_are_not_shown() -> None:
    error = config_error(DATABASE_URL="postgres://admin:hunter2@db.example/prod")
    assert "DATABASE_URL" in error.message
    assert "hunter2" not in error.message


# -- the processes refuse to start ------------------------------------------------------------------


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env["DATABASE_URL"] = str(tmp_path / "cryptobot.db")
    env.update(extra)
    return env


def test_cli_serve_with_bad_port_exits_2_with_one_stderr_line_naming_port(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve"],
        cwd=ROOT,
        env=_clean_env(tmp_path, PORT="abc"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "PORT" in lines[0]
    assert "abc" in lines[0]
    assert not (tmp_path / "cryptobot.db").exists()  # refused before touching the database


def test_gunicorn_started_directly_with_bad_log_level_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "python:api.gunicorn_conf", "api.wsgi:app"],
        cwd=ROOT,
        env=_clean_env(tmp_path, LOG_LEVEL="LOUD", PORT="1"),  # a port it could never bind: it must not try
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "LOG_LEVEL" in lines[0]


def test_a_loopback_mexc_base_url_without_a_ws_url_means_the_simulators_next_port() -> None:
    config = load_env(EXCHANGE="mexc", MEXC_BASE_URL="http://127.0.0.1:9000")
    assert config.mexc_ws_url == "ws://127.0.0.1:9001/ws"
    given = load_env(EXCHANGE="mexc", MEXC_BASE_URL="http://127.0.0.1:9000", MEXC_WS_URL="ws://127.0.0.1:7000/ws")
    assert given.mexc_ws_url == "ws://127.0.0.1:7000/ws"


def test_a_remote_mexc_base_url_keeps_mexcs_websocket_host() -> None:
    config = load_env(EXCHANGE="mexc", MEXC_BASE_URL="https://proxy.example:8443")
    assert config.mexc_ws_url == "wss://wbs-api.mexc.com/ws"


def test_the_new_name_of_the_order_notional_limit_wins_over_the_old_one() -> None:
    assert load({"MAX_ORDER_NOTIONAL": "5000", "RISK_MAX_ORDER_NOTIONAL": "7000"}).max_order_notional == Decimal(7000)
    assert load({"MAX_ORDER_NOTIONAL": "5000"}).max_order_notional == Decimal(5000)
