"""The control API under /_emulator/: health, counts, faults, latency, reset."""

from __future__ import annotations

from starlette.testclient import TestClient

from adapters.emulator import EmulatorConfig, FaultRule, LatencySettings, create_app
from tests.adapters.emulator.helpers import chat, chat_body, set_rules


def test_health_says_ok(client: TestClient) -> None:
    assert client.get("/_emulator/health").json() == {"ok": True}


def test_calls_are_counted_by_provider_model_status_and_job(client: TestClient) -> None:
    set_rules(client, {"provider": "openai", "kind": "status", "first_n": 1})
    chat(client, job_id="job-1")  # 503
    chat(client, job_id="job-1")  # 200: the retry
    chat(client, job_id="job-2")
    chat(client, chat_body(model="o3"), job_id="job-2")  # 503: first call of o3
    chat(client, path="/deepseek/chat/completions")
    client.post("/openai/v1/chat/completions", json=chat_body())  # 401, no key

    calls = client.get("/_emulator/calls").json()
    assert calls["total"] == 6
    assert calls["by_provider"] == {"openai": 5, "deepseek": 1}
    assert calls["by_model"] == {"openai/gpt-5.4": 4, "openai/o3": 1, "deepseek/gpt-5.4": 1}
    assert calls["by_status"] == {"503": 2, "200": 3, "401": 1}
    assert calls["by_job"] == {"job-1": 2, "job-2": 2}
    assert calls["answered_by_job"] == {"job-1": 1, "job-2": 1}
    assert calls["by_job_status"]["job-2"] == {"200": 1, "503": 1}


def test_a_job_answered_twice_shows_in_answered_by_job(client: TestClient) -> None:
    chat(client, job_id="dup")
    chat(client, job_id="dup")
    assert client.get("/_emulator/calls").json()["answered_by_job"] == {"dup": 2}


def test_bad_fault_rule_is_422_naming_the_field(client: TestClient) -> None:
    response = client.post(
        "/_emulator/faults", json={"rules": [{"kind": "status"}, {"kind": "explode"}]}
    )
    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert [f["field"] for f in fields] == ["rules[1].kind"]
    assert "explode" not in fields[0]["field"]


def test_fault_rule_with_unknown_field_is_422_naming_it(client: TestClient) -> None:
    response = client.post("/_emulator/faults", json={"rules": [{"fraktion": 0.5}]})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == [
        {"field": "rules[0].fraktion", "message": "unknown field"}
    ]


def test_fault_body_that_is_not_json_is_400(client: TestClient) -> None:
    assert client.post("/_emulator/faults", content=b"rules").status_code == 400


def test_faults_can_be_read_replaced_and_deleted(client: TestClient) -> None:
    set_rules(client, {"provider": "openai", "kind": "rate_limit", "retry_after": 3})
    (rule,) = client.get("/_emulator/faults").json()["rules"]
    assert rule["kind"] == "rate_limit" and rule["retry_after"] == 3
    assert client.delete("/_emulator/faults").json() == {"rules": []}
    assert chat(client).status_code == 200


def test_latency_update_changes_only_the_parts_it_names(client: TestClient) -> None:
    client.post("/_emulator/latency", json={"base": 0.5, "providers": {"openai": 1.0}})
    after = client.post("/_emulator/latency", json={"base": 0.25}).json()
    assert after == {
        "base": 0.25,
        "providers": {"openai": 1.0},
        "models": {},
        "chunk_interval_s": 0.0,
    }
    bad = client.post("/_emulator/latency", json={"base": -1})
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "base"


def test_reset_restores_the_start_config_and_clears_counts() -> None:
    config = EmulatorConfig(
        latency=LatencySettings(base=0.0, providers={"mistral": 0.01}),
        rules=[FaultRule(provider="deepseek", kind="status")],
    )
    with TestClient(create_app(config)) as client:
        chat(client)
        client.delete("/_emulator/faults")
        client.post("/_emulator/latency", json={"base": 2.0})
        assert client.post("/_emulator/reset").json() == {"ok": True}
        assert client.get("/_emulator/calls").json()["total"] == 0
        assert len(client.get("/_emulator/faults").json()["rules"]) == 1
        assert client.get("/_emulator/latency").json()["base"] == 0.0
        assert chat(client, path="/deepseek/chat/completions").status_code == 503


def test_two_apps_keep_separate_counts() -> None:
    with TestClient(create_app()) as first, TestClient(create_app()) as second:
        chat(first)
        assert second.get("/_emulator/calls").json()["total"] == 0
