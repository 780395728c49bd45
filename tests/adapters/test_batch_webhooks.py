"""OpenAI's batch webhooks: Standard Webhooks signatures as OpenAI makes them and openai-python
checks them, and the batch events' bodies.

Sources: the Standard Webhooks specification's published test vector
(github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md: secret
``whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw``, id ``msg_p5jXN8AQM9LWM0D4loKWxJek``, timestamp
1614265330, body ``{"test": 2432232314}``), which OpenAI's webhooks follow
(platform.openai.com/docs/guides/webhooks); openai-python's ``client.webhooks.unwrap`` and
``verify_signature`` (``lib/_webhooks.py``: five minutes either side) and its
``types/webhooks/batch_*_webhook_event.py`` event types.
"""

from __future__ import annotations

import json
import time

import openai
import pytest
from openai.types.webhooks import BatchCompletedWebhookEvent

from adapters.batch_api.webhooks import (
    BATCH_EVENTS,
    WebhookRefused,
    parse_batch_event,
    sign,
    signed_headers,
    verify,
)
from adapters.emulator.batches_engine import BatchSettings, EmulatedBatch
from adapters.emulator.openai_wire import OpenAIWire

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SECRET = "whsec_Y2FzY2FkZS10ZXN0LXdlYmhvb2stc2VjcmV0LTMyYiE="


def test_the_signature_is_the_standard_webhooks_reference_one() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE


def test_the_reference_delivery_verifies_within_the_tolerance_only() -> None:
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS),
               "webhook-signature": VECTOR_SIGNATURE}
    assert verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS + 299) == VECTOR_ID
    with pytest.raises(WebhookRefused, match="webhook-timestamp: older than 300 s"):
        verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS + 301)
    with pytest.raises(WebhookRefused, match="webhook-timestamp: more than 300 s ahead"):
        verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS - 301)


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"webhook-signature": "v1,AAAA"}, "webhook-signature: no signature matches"),
        ({"webhook-id": "msg_other"}, "webhook-signature: no signature matches"),
        ({"webhook-signature": ""}, "webhook-signature: header missing"),
        ({"webhook-id": ""}, "webhook-id: header missing"),
        ({"webhook-timestamp": "soon"}, "webhook-timestamp: not whole unix seconds"),
    ],
)
def test_a_changed_or_missing_header_is_refused_naming_it(
    change: dict[str, str], refusal: str
) -> None:
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS),
               "webhook-signature": VECTOR_SIGNATURE, **change}
    with pytest.raises(WebhookRefused, match=refusal):
        verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS)


def test_a_changed_body_or_another_secret_is_refused() -> None:
    headers = signed_headers(SECRET, "wh_1", VECTOR_TS, VECTOR_BODY)
    with pytest.raises(WebhookRefused):
        verify(SECRET, headers, VECTOR_BODY + b" ", now=VECTOR_TS)
    with pytest.raises(WebhookRefused):
        verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS)


def test_any_of_several_signatures_may_match_while_a_secret_is_rotated() -> None:
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS),
               "webhook-signature": f"v1,bm90IGl0 {VECTOR_SIGNATURE}"}
    assert verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS) == VECTOR_ID


def _emulated_event() -> tuple[bytes, dict[str, str]]:
    """What the emulator sends when a batch completes (adapters/emulator/batches_webhooks.py)."""
    from adapters.emulator.batches_webhooks import event_body

    settings = BatchSettings(webhook_url="http://127.0.0.1:9/hook", webhook_secret=SECRET)
    batch = EmulatedBatch("batch_abc", "alpha", OpenAIWire(), [], time.time(), settings,
                          ending="completed", ended_at=time.time())
    body = json.dumps(event_body(batch, time.time())).encode()
    return body, signed_headers(SECRET, "wh_emulated", int(time.time()), body)


def test_the_emulator_s_webhook_passes_openai_python_s_own_verifier_and_types() -> None:
    body, headers = _emulated_event()
    sdk = openai.OpenAI(api_key="unused", webhook_secret=SECRET)
    sdk.webhooks.verify_signature(body, headers)
    event = sdk.webhooks.unwrap(body, headers)
    assert isinstance(event, BatchCompletedWebhookEvent)
    assert event.data.id == "batch_abc"
    BatchCompletedWebhookEvent.model_validate(json.loads(body))  # every field, typed
    with pytest.raises(openai.InvalidWebhookSignatureError):
        sdk.webhooks.verify_signature(body + b" ", headers)


def test_a_batch_event_names_its_batch_and_other_events_are_not_batch_events() -> None:
    body, _ = _emulated_event()
    event = parse_batch_event(body)
    assert event is not None and (event.type, event.batch_id) == ("batch.completed", "batch_abc")
    other = {"id": "evt_1", "type": "response.completed", "data": {"id": "resp_1"}}
    assert parse_batch_event(json.dumps(other).encode()) is None
    assert BATCH_EVENTS == {"batch.completed", "batch.failed", "batch.expired",
                            "batch.cancelled"}


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        (b"not json", "body: not JSON"),
        (b"[]", "type: missing"),
        (b'{"type": "batch.failed", "data": {}}', "data.id: missing"),
    ],
)
def test_a_verified_body_that_is_no_batch_event_is_refused(body: bytes, refusal: str) -> None:
    with pytest.raises(WebhookRefused, match=refusal):
        parse_batch_event(body)
