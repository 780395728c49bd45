"""Fault injection through the app: each kind, targeting, first_n, fraction, latency.

Error bodies follow what OpenAI sends (provider-formats.md 0.3 and 1.3); the quota body is the
one reported in chatanywhere/GPT_API_free#229 and OpenHands/OpenHands#998.
"""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from tests.adapters.emulator.helpers import chat, chat_body, set_rules


@pytest.mark.parametrize(
    ("status", "code", "error_type"),
    [
        (503, "server_is_overloaded", "service_unavailable_error"),
        (500, "server_error", "server_error"),
    ],
)
def test_status_fault_answers_that_status_with_openai_error_body(
    client: TestClient, status: int, code: str, error_type: str
) -> None:
    set_rules(client, {"kind": "status", "status": status})
    response = chat(client)
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["type"]) == (code, error_type)
    assert set(error) == {"message", "type", "param", "code"}


def test_400_fault_with_context_length_code_names_messages(client: TestClient) -> None:
    set_rules(client, {"kind": "status", "status": 400, "error_code": "context_length_exceeded"})
    response = chat(client)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert "maximum context length" in error["message"]


def test_fault_message_overrides_the_default(client: TestClient) -> None:
    set_rules(client, {"kind": "status", "status": 502, "message": "upstream gone"})
    assert chat(client).json()["error"]["message"] == "upstream gone"


def test_rate_limit_is_429_with_retry_after_header(client: TestClient) -> None:
    set_rules(client, {"kind": "rate_limit", "retry_after": 2})
    response = chat(client)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.headers["retry-after-ms"] == "2000"
    error = response.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert "2s" in error["message"]


def test_rate_limit_without_retry_after_still_sends_one_second(client: TestClient) -> None:
    set_rules(client, {"kind": "rate_limit"})
    assert chat(client).headers["retry-after"] == "1"


def test_insufficient_quota_is_429_with_quota_body_and_no_retry_after(client: TestClient) -> None:
    set_rules(client, {"kind": "rate_limit", "error_code": "insufficient_quota"})
    response = chat(client)
    assert response.status_code == 429
    assert "retry-after" not in response.headers
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_quota")
    assert error["message"].startswith("You exceeded your current quota")


def test_first_n_fails_only_the_first_n_calls(client: TestClient) -> None:
    set_rules(client, {"kind": "status", "status": 503, "first_n": 2})
    assert [chat(client).status_code for _ in range(4)] == [503, 503, 200, 200]


def test_fraction_0_3_fails_300_of_1000_calls(client: TestClient) -> None:
    set_rules(client, {"kind": "status", "status": 503, "fraction": 0.3})
    statuses = [chat(client).status_code for _ in range(1000)]
    assert 290 <= statuses.count(503) <= 310
    assert statuses.count(200) == 1000 - statuses.count(503)


def test_rule_for_one_model_leaves_other_models_and_providers_alone(client: TestClient) -> None:
    set_rules(client, {"provider": "openai", "model": "gpt-5.4", "kind": "status"})
    assert chat(client).status_code == 503
    assert chat(client, chat_body(model="gpt-5.4-mini")).status_code == 200
    assert chat(client, path="/deepseek/chat/completions").status_code == 200


def test_wildcard_model_rule_fails_every_model_of_its_provider(client: TestClient) -> None:
    set_rules(client, {"provider": "openai", "model": "*", "kind": "status", "status": 500})
    assert chat(client).status_code == 500
    assert chat(client, chat_body(model="gpt-5.4-mini")).status_code == 500
    assert chat(client, path="/mistral/v1/chat/completions").status_code == 200


def test_first_n_counts_each_model_of_a_wildcard_rule_separately(client: TestClient) -> None:
    set_rules(client, {"provider": "openai", "kind": "status", "first_n": 1})
    assert chat(client).status_code == 503
    assert chat(client).status_code == 200
    assert chat(client, chat_body(model="o3")).status_code == 503


def test_first_matching_rule_wins(client: TestClient) -> None:
    set_rules(
        client,
        {"provider": "openai", "kind": "rate_limit", "first_n": 1},
        {"provider": "*", "kind": "status", "status": 500},
    )
    assert [chat(client).status_code for _ in range(2)] == [429, 500]


def test_timeout_fault_holds_the_call_then_answers_504(client: TestClient) -> None:
    set_rules(client, {"kind": "timeout", "hang_s": 0.2})
    started = time.monotonic()
    response = chat(client)
    assert time.monotonic() - started >= 0.2
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "timeout"


def test_timeout_fault_without_hang_uses_the_configured_hang(client: TestClient) -> None:
    set_rules(client, {"kind": "timeout"})  # the fixture configures hang_s=0.05
    assert chat(client).status_code == 504


def test_latency_delays_answers_per_provider_and_model(client: TestClient) -> None:
    settings = {"base": 0.0, "providers": {"openai": 0.15}, "models": {"openai/o3": 0.0}}
    assert client.post("/_emulator/latency", json=settings).status_code == 200
    started = time.monotonic()
    headers = chat(client).headers
    assert time.monotonic() - started >= 0.15
    assert int(headers["openai-processing-ms"]) == 150
    started = time.monotonic()
    chat(client, chat_body(model="o3"))
    assert time.monotonic() - started < 0.15


def test_faults_do_not_apply_to_requests_rejected_before(client: TestClient) -> None:
    set_rules(client, {"kind": "status", "first_n": 1})
    assert client.post("/openai/v1/chat/completions", json=chat_body()).status_code == 401
    assert chat(client).status_code == 503
