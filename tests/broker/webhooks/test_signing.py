"""Webhook signatures and backoff: pure functions, and the format receivers verify."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from broker.webhooks import InvalidSignature, backoff_s, signature_header, verify_signature

BODY = b'{"type":"batch.completed"}'


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    header = signature_header("s3cret", BODY, timestamp=1700000000)

    expected = hmac.new(b"s3cret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_a_signature_made_with_the_secret_verifies() -> None:
    header = signature_header("s3cret", BODY, timestamp=1700000000)

    verify_signature("s3cret", header, BODY, now=1700000010)


@pytest.mark.parametrize(
    ("secret", "body", "now", "reason"),
    [
        ("other", BODY, 1700000010, "does not match"),
        ("s3cret", BODY + b" ", 1700000010, "does not match"),
        ("s3cret", BODY, 1700009999, "outside the tolerance"),
    ],
)
def test_a_wrong_secret_a_changed_body_or_a_stale_timestamp_is_refused(
    secret: str, body: bytes, now: float, reason: str
) -> None:
    header = signature_header("s3cret", BODY, timestamp=1700000000)

    with pytest.raises(InvalidSignature, match=reason):
        verify_signature(secret, header, body, now=now)


def test_a_missing_or_malformed_header_is_refused() -> None:
    with pytest.raises(InvalidSignature):
        verify_signature("s3cret", None, BODY)
    with pytest.raises(InvalidSignature, match="malformed"):
        verify_signature("s3cret", "v1=abc", BODY)


def test_backoff_doubles_per_attempt_up_to_the_cap() -> None:
    delays = [backoff_s(n, base_s=1.0, cap_s=10.0) for n in range(1, 7)]

    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
