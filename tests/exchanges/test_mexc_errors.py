"""engine.exchanges.mexc.errors: MEXC's answers as typed exceptions."""

from __future__ import annotations

import pytest

from engine.exchanges.mexc.errors import (
    ERROR_CODES,
    MexcAuthError,
    MexcBadRequest,
    MexcBadSymbol,
    MexcCircuitOpen,
    MexcError,
    MexcInsufficientBalance,
    MexcIpBanned,
    MexcMinNotional,
    MexcPrecisionError,
    MexcRateLimited,
    MexcServerError,
    MexcTimestampError,
    MexcTradingDisabled,
    MexcTransportError,
    MexcUnknownOrder,
    error_from_response,
)

# Every code in the reference's error table (section 3), with the class it must map to.
REFERENCE_CODES: dict[int, type[MexcError]] = {
    400: MexcBadRequest, 401: MexcAuthError, 403: MexcAuthError, 429: MexcRateLimited,
    500: MexcServerError, 503: MexcServerError, 504: MexcServerError, 602: MexcAuthError,
    10072: MexcAuthError, 10073: MexcTimestampError, 700001: MexcAuthError, 700002: MexcAuthError,
    700003: MexcTimestampError, 700004: MexcBadRequest, 700005: MexcTimestampError,
    700006: MexcAuthError, 700007: MexcAuthError, 700008: MexcBadRequest, 700013: MexcAuthError,
    10101: MexcInsufficientBalance, 30004: MexcInsufficientBalance, 30005: MexcInsufficientBalance,
    10007: MexcBadSymbol, 30014: MexcBadSymbol, 30021: MexcBadSymbol, -1121: MexcBadSymbol,
    730001: MexcBadSymbol, -2011: MexcUnknownOrder, -2013: MexcUnknownOrder, 30026: MexcBadRequest,
    30002: MexcMinNotional, 30003: MexcBadRequest, 10095: MexcBadRequest, 10096: MexcPrecisionError,
    10097: MexcBadRequest, 10102: MexcBadRequest, 30010: MexcBadRequest, 30087: MexcBadRequest,
    30000: MexcTradingDisabled, 30016: MexcTradingDisabled, 30018: MexcTradingDisabled,
    30019: MexcTradingDisabled, 30041: MexcBadRequest, 30029: MexcBadRequest,
    30020: MexcTradingDisabled, 70011: MexcTradingDisabled, 26: MexcBadRequest,
    33333: MexcBadRequest, 44444: MexcBadRequest,
}


def body(code: int, msg: str) -> bytes:
    return f'{{"code":{code},"msg":"{msg}"}}'.encode()


def test_error_table_holds_every_code_of_the_reference_with_its_class() -> None:
    missing = set(REFERENCE_CODES) - set(ERROR_CODES)
    assert not missing
    wrong = {code: ERROR_CODES[code][1] for code, cls in REFERENCE_CODES.items() if ERROR_CODES[code][1] is not cls}
    assert not wrong


def test_error_table_messages_are_mexcs_observed_wording() -> None:
    assert ERROR_CODES[700003][0] == "Timestamp for this request is outside of the recvWindow."
    assert ERROR_CODES[700002][0] == "Signature for this request is not valid."
    assert ERROR_CODES[-2013][0] == "Order does not exist."
    assert ERROR_CODES[10007][0] == "bad symbol"
    # Sent with a suffix such as ":0.5USDT": the stored text stops before the colon.
    assert ERROR_CODES[30002][0] + ":0.5USDT" == "The minimum transaction volume cannot be less than:0.5USDT"


@pytest.mark.parametrize("code", sorted(REFERENCE_CODES))
def test_each_table_code_in_a_400_body_becomes_its_class_with_code_and_message(code: int) -> None:
    msg, cls = ERROR_CODES[code]
    status = 400 if cls is not MexcServerError else 500
    error = error_from_response(status, body(code, msg), {})
    assert type(error) is cls
    assert (error.code, error.msg, error.http_status) == (code, msg, status)


def test_body_with_msg_before_code_and_extend_null_is_parsed() -> None:
    error = error_from_response(400, b'{"msg":"Order does not exist.","code":-2013,"_extend":null}', {})
    assert isinstance(error, MexcUnknownOrder)
    assert error.code == -2013 and error.msg == "Order does not exist."


def test_code_sent_as_a_string_is_read_as_the_number() -> None:
    error = error_from_response(400, b'{"code":"700003","msg":"late"}', {})
    assert isinstance(error, MexcTimestampError) and error.code == 700003


def test_error_code_in_a_200_body_is_still_an_error() -> None:
    error = error_from_response(200, body(10101, "Insufficient balance"), {})
    assert isinstance(error, MexcInsufficientBalance) and error.http_status == 200


@pytest.mark.parametrize(
    "payload",
    [b'{"code":200,"msg":"success","timestamp":1778744778528}', b'{"code":0,"msg":"PONG"}',
     b'{"code":"200","data":[]}', b'{"symbol":"MXUSDT","orderId":"C02__1"}', b"[]", b"{}"],
)
def test_a_2xx_without_an_error_code_is_not_an_error(payload: bytes) -> None:
    assert error_from_response(200, payload, {}) is None


def test_code_400_amount_scale_message_is_a_precision_error_not_a_missing_key() -> None:
    error = error_from_response(400, b'{"msg":" amount scale is invalid","code":400}', {})
    assert isinstance(error, MexcPrecisionError)
    assert error.msg == " amount scale is invalid"


def test_min_notional_refusal_keeps_the_suffixed_message() -> None:
    error = error_from_response(400, body(30002, "The minimum transaction volume cannot be less than:0.5USDT"), {})
    assert isinstance(error, MexcMinNotional)
    assert error.msg.endswith(":0.5USDT")


def test_unknown_code_is_classified_by_a_known_message_substring() -> None:
    assert isinstance(error_from_response(400, body(98765, "Oversold"), {}), MexcInsufficientBalance)
    assert isinstance(error_from_response(400, body(98766, "Invalid symbol."), {}), MexcBadSymbol)


def test_unknown_code_with_an_unknown_message_in_a_400_is_a_bad_request() -> None:
    error = error_from_response(400, body(98765, "something new"), {})
    assert type(error) is MexcBadRequest and error.code == 98765 and error.msg == "something new"


def test_a_specific_code_is_not_overridden_by_a_message_substring() -> None:
    error = error_from_response(400, body(-2013, "Invalid symbol. Order does not exist."), {})
    assert isinstance(error, MexcUnknownOrder)


def test_429_reads_retry_after_seconds_from_the_header_whatever_its_case() -> None:
    error = error_from_response(429, b"", {"retry-after": "7"})
    assert type(error) is MexcRateLimited
    assert error.retry_after == 7.0 and error.http_status == 429 and error.code == 429


def test_429_without_retry_after_has_none() -> None:
    error = error_from_response(429, body(429, "Too Many Requests"), {})
    assert isinstance(error, MexcRateLimited) and error.retry_after is None


def test_429_with_an_unreadable_retry_after_has_none() -> None:
    error = error_from_response(429, b"", {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert isinstance(error, MexcRateLimited) and error.retry_after is None


def test_418_is_an_ip_ban_carrying_retry_after() -> None:
    error = error_from_response(418, b"", {"Retry-After": "120"})
    assert type(error) is MexcIpBanned
    assert error.retry_after == 120.0 and error.http_status == 418
    assert isinstance(error, MexcRateLimited)  # a caller handling 429 also waits out a ban


def test_401_without_a_body_is_an_auth_error() -> None:
    error = error_from_response(401, b"", {})
    assert type(error) is MexcAuthError
    assert (error.code, error.http_status) == (401, 401)


def test_403_waf_html_page_is_an_auth_error_with_the_text_kept_short() -> None:
    error = error_from_response(403, b"<html>" + b"x" * 5000 + b"</html>", {})
    assert isinstance(error, MexcAuthError)
    assert error.msg.startswith("<html>") and len(error.msg) <= 200
    assert not error.refuses_key  # a firewall in the way says nothing of the key


@pytest.mark.parametrize("code", [602, 10072, 700001, 700002, 700006, 700007])
def test_codes_that_judge_the_key_itself_refuse_it(code: int) -> None:
    error = error_from_response(400, f'{{"code":{code},"msg":"x"}}'.encode(), {})
    assert isinstance(error, MexcAuthError) and error.refuses_key


def test_5xx_with_a_non_json_body_is_a_server_error_of_unknown_outcome() -> None:
    error = error_from_response(502, b"<html>Bad Gateway</html>", {})
    assert type(error) is MexcServerError
    assert error.outcome_unknown is True
    assert (error.code, error.http_status, error.msg) == (502, 502, "<html>Bad Gateway</html>")


def test_5xx_with_a_json_body_keeps_mexcs_code() -> None:
    error = error_from_response(503, body(503, "service not available"), {})
    assert isinstance(error, MexcServerError) and error.code == 503


def test_non_json_400_is_a_bad_request_with_the_status_as_code() -> None:
    error = error_from_response(400, b"Bad Request", {})
    assert type(error) is MexcBadRequest
    assert (error.code, error.msg) == (400, "Bad Request")


def test_outcome_is_unknown_only_for_server_and_transport_failures() -> None:
    assert MexcServerError(500, "x", 500).outcome_unknown
    assert MexcTransportError("read timeout").outcome_unknown
    assert not MexcBadRequest(33333, "param is error").outcome_unknown
    assert not MexcRateLimited().outcome_unknown  # refused, never executed
    # Nothing was sent when the breaker refused the call.
    assert not MexcCircuitOpen(503, "open", 0).outcome_unknown
    assert isinstance(MexcCircuitOpen(503, "open", 0), MexcServerError)


def test_error_string_names_code_message_and_status() -> None:
    assert str(MexcUnknownOrder(-2013, "Order does not exist.", 400)) == (
        "MEXC -2013: Order does not exist. (HTTP 400)"
    )
