"""Error types of the engine.

Each error carries a stable UPPER_SNAKE_CASE ``code`` that clients rely on. The
HTTP status for each type is decided in one place, ``api/errors.py``; nothing in
the engine knows about HTTP.
"""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base of every error the engine reports to a caller on purpose."""

    code = "ENGINE_ERROR"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


# -- the request itself is wrong --------------------------------------------------


class BadRequest(EngineError):
    code = "BAD_REQUEST"


class InvalidJson(BadRequest):
    code = "INVALID_JSON"


class ValidationFailed(EngineError):
    """The request is well-formed but a value is not acceptable."""

    code = "VALIDATION_ERROR"


class InvalidQuantity(ValidationFailed):
    code = "INVALID_QUANTITY"


class InvalidPrice(ValidationFailed):
    code = "INVALID_PRICE"


class InvalidRule(ValidationFailed):
    code = "INVALID_RULE"


class InvalidAlert(ValidationFailed):
    code = "INVALID_ALERT"


class InvalidTrigger(ValidationFailed):
    """A conditional order's trigger (or a BUY's stop-loss or take-profit price) is
    missing, malformed, or already reached."""

    code = "INVALID_TRIGGER"


class UnknownSymbol(ValidationFailed):
    code = "UNKNOWN_SYMBOL"


class BelowMinimum(ValidationFailed):
    code = "MIN_NOTIONAL"


class AboveMaximum(ValidationFailed):
    code = "MAX_NOTIONAL"


class InsufficientBalance(ValidationFailed):
    code = "INSUFFICIENT_BALANCE"


class RiskLimitExceeded(ValidationFailed):
    """An order breaks a risk limit; each limit has a code of its own."""

    code = "RISK_LIMIT_EXCEEDED"


class OrderNotionalLimit(RiskLimitExceeded):
    code = "ORDER_NOTIONAL_LIMIT"


class PositionLimit(RiskLimitExceeded):
    code = "POSITION_LIMIT"


class OpenOrdersLimit(RiskLimitExceeded):
    code = "OPEN_ORDERS_LIMIT"


class PriceBand(RiskLimitExceeded):
    code = "PRICE_BAND"


class DailyLossLimit(RiskLimitExceeded):
    code = "DAILY_LOSS_LIMIT"


# -- identity and permission --------------------------------------------------------


class Unauthorized(EngineError):
    code = "UNAUTHORIZED"


class Forbidden(EngineError):
    code = "FORBIDDEN"


# -- state ---------------------------------------------------------------------------


class NotFound(EngineError):
    code = "NOT_FOUND"


class OrderNotFound(NotFound):
    code = "ORDER_NOT_FOUND"


class RuleNotFound(NotFound):
    code = "RULE_NOT_FOUND"


class AlertNotFound(NotFound):
    code = "ALERT_NOT_FOUND"


class SymbolNotFound(NotFound):
    code = "UNKNOWN_SYMBOL"


class RateLimited(EngineError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: int | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class Conflict(EngineError):
    code = "CONFLICT"


class OrderNotCancelable(Conflict):
    code = "ORDER_NOT_CANCELABLE"


class IdempotencyKeyReused(Conflict):
    code = "IDEMPOTENCY_KEY_REUSED"


class ClientOrderIdReused(Conflict):
    code = "CLIENT_ORDER_ID_REUSED"


class NotSupported(Conflict):
    code = "NOT_SUPPORTED"


# -- the engine cannot serve right now ---------------------------------------------


class Unavailable(EngineError):
    code = "SERVICE_UNAVAILABLE"


class TradingHalted(Unavailable):
    code = "TRADING_HALTED"


class ActorUnavailable(Unavailable):
    code = "ACTOR_UNAVAILABLE"


class EngineTimeout(Unavailable):
    code = "ENGINE_TIMEOUT"


class MarketDataUnavailable(Unavailable):
    code = "MARKET_DATA_UNAVAILABLE"


class JournalUnavailable(Unavailable):
    code = "JOURNAL_UNAVAILABLE"


class ExchangeUnavailable(Unavailable):
    """The exchange did not do what was asked (and said so, or did not answer)."""

    code = "EXCHANGE_UNAVAILABLE"


class JournalCorrupted(EngineError):
    """A journal row failed its checksum or did not decode. Never skipped silently."""

    code = "JOURNAL_CORRUPTED"


class ConfigError(EngineError):
    code = "CONFIG_ERROR"
