"""parse_retry_after: waits from retry-after-ms, retry-after seconds and HTTP-dates.

Header forms: RFC 9110 section 10.2.3 (seconds or HTTP-date); retry-after-ms as read by
openai-python's ``_base_client.py`` (shared/reference/provider-formats.md section 0.3).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from adapters.retry_after import parse_retry_after, parse_retry_after_value

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC).timestamp()


def test_no_header_means_no_wait_known() -> None:
    assert parse_retry_after({}) is None


def test_integer_seconds() -> None:
    assert parse_retry_after({"retry-after": "20"}) == 20.0


def test_decimal_seconds_are_accepted() -> None:
    assert parse_retry_after({"retry-after": " 1.25 "}) == pytest.approx(1.25)


def test_milliseconds_are_converted_to_seconds() -> None:
    assert parse_retry_after({"retry-after-ms": "250"}) == pytest.approx(0.25)


def test_milliseconds_win_over_seconds() -> None:
    assert parse_retry_after({"retry-after": "9", "retry-after-ms": "1500"}) == pytest.approx(1.5)


def test_unusable_milliseconds_fall_back_to_seconds() -> None:
    assert parse_retry_after({"retry-after-ms": "soon", "retry-after": "4"}) == 4.0


def test_http_date_in_the_future_is_the_seconds_until_then() -> None:
    """RFC 9110's example form: Wed, 21 Oct 2015 07:28:00 GMT."""
    assert parse_retry_after({"retry-after": "Wed, 25 Nov 2026 12:00:30 GMT"}, now=NOW) == 30.0


def test_http_date_in_the_past_means_retry_now() -> None:
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=NOW) == 0.0


def test_http_date_made_by_the_standard_library_round_trips() -> None:
    moment = datetime(2026, 11, 25, 12, 2, 0, tzinfo=UTC)
    header = format_datetime(moment, usegmt=True)
    assert parse_retry_after({"Retry-After": header}, now=NOW) == 120.0


@pytest.mark.parametrize("value", ["", "soon", "-5", "inf", "nan", "Someday, 99 Foo 20xx"])
def test_garbage_negative_or_infinite_values_are_ignored(value: str) -> None:
    assert parse_retry_after({"retry-after": value}, now=NOW) is None


def test_header_names_are_matched_whatever_their_case() -> None:
    assert parse_retry_after({"Retry-After-Ms": "100"}) == pytest.approx(0.1)
    assert parse_retry_after({"RETRY-AFTER": "3"}) == 3.0


def test_httpx_headers_are_accepted() -> None:
    assert parse_retry_after(httpx.Headers({"Retry-After": "7"})) == 7.0


def test_a_single_value_parses_seconds_or_date() -> None:
    assert parse_retry_after_value("12") == 12.0
    assert parse_retry_after_value("Wed, 25 Nov 2026 12:01:00 GMT", now=NOW) == 60.0
    assert parse_retry_after_value("later") is None
