"""How long a provider asked us to wait, read from its Retry-After style headers.

Every wire format reports waits the same few ways: ``retry-after-ms`` (milliseconds, OpenAI and
Azure), ``retry-after`` as seconds (RFC 9110 says an integer; providers also send decimals) or as
an HTTP-date. The milliseconds header is read first because it is the more precise of the two
when a provider sends both, as OpenAI's own SDK does (openai-python ``_base_client.py``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime

from adapters.http_response import header_value

__all__ = ["parse_retry_after", "parse_retry_after_value"]

# (header, seconds per unit), in the order they are trusted
_NUMERIC_HEADERS: tuple[tuple[str, float], ...] = (
    ("retry-after-ms", 0.001),
    ("retry-after", 1.0),
)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait according to ``headers``, or None when they say nothing usable.

    ``now`` (a Unix time) is only needed to test HTTP-date values; it defaults to the clock.
    A date already past means "retry now" (0.0); a negative or non-finite number is ignored.
    """
    for name, unit in _NUMERIC_HEADERS:
        raw = header_value(headers, name)
        if raw is None:
            continue
        seconds = _number(raw)
        if seconds is not None:
            return seconds * unit
    raw = header_value(headers, "retry-after")
    if raw is None:
        return None
    return _http_date_delay(raw, time.time() if now is None else now)


def parse_retry_after_value(value: str, *, now: float | None = None) -> float | None:
    """Seconds to wait for one ``retry-after`` value: a number of seconds or an HTTP-date."""
    seconds = _number(value)
    if seconds is not None:
        return seconds
    return _http_date_delay(value, time.time() if now is None else now)


def _number(raw: str) -> float | None:
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def _http_date_delay(raw: str, now: float) -> float | None:
    try:
        moment = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        # RFC 9110 HTTP-dates are always GMT; "-0000" parses zone-less but means the same
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)
