"""The emulator's batch bodies read by the official SDKs' own types, in every state a batch
passes through: openai-python ``FileObject``/``Batch`` (and ``ChatCompletion`` for each output
line's body), anthropic ``MessageBatch``/``MessageBatchIndividualResponse``, and google-genai
``BatchJob`` as its ``batches._BatchJob_from_mldev`` converts the REST body."""

from __future__ import annotations

import json
from typing import Any

from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
from google.genai import batches as genai_batches
from google.genai import types as genai_types
from openai.types import Batch, FileObject
from openai.types.chat import ChatCompletion
from pydantic import BaseModel
from starlette.testclient import TestClient

from tests.routing.factories import Clock

OPENAI = {"Authorization": "Bearer sk-test"}
ANTHROPIC = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
GOOGLE = {"x-goog-api-key": "g-test"}


def _chat_line(custom_id: str, model: str = "gpt-5.4") -> str:
    body = {"model": model, "messages": [{"role": "user", "content": f"hi {custom_id}"}]}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
                       "body": body})



def _strict(model: type[BaseModel], body: dict[str, Any]) -> None:
    """Validates, and names no field the type lacks (the SDKs' models allow extras)."""
    model.model_validate(body)
    assert set(body) <= set(model.model_fields), set(body) - set(model.model_fields)


def _openai_batch(clocked: TestClient, lines: list[str]) -> str:
    content = "".join(line + "\n" for line in lines).encode()
    uploaded = clocked.post("/openai/v1/files", headers=OPENAI, data={"purpose": "batch"},
                           files={"file": ("in.jsonl", content)})
    _strict(FileObject, uploaded.json())
    created = clocked.post("/openai/v1/batches", headers=OPENAI, json={
        "input_file_id": uploaded.json()["id"], "endpoint": "/v1/chat/completions",
        "completion_window": "24h"})
    _strict(Batch, created.json())
    return str(created.json()["id"])


def test_openai_batch_bodies_are_sdk_batches_from_start_to_end(
    clocked: TestClient, clock: Clock
) -> None:
    clocked.post("/_emulator/batches", json={"completion_delay_s": 10, "expire": True,
                                            "unfinished_fraction": 0.5})
    clocked.post("/_emulator/faults", json={"rules": [{"provider": "openai", "first_n": 1}]})
    batch_id = _openai_batch(clocked, [_chat_line(f"r{n}") for n in range(4)])
    assert clocked.get(f"/openai/v1/batches/{batch_id}", headers=OPENAI).json()["status"] == (
        "in_progress")
    clock.advance(10)
    ended = clocked.get(f"/openai/v1/batches/{batch_id}", headers=OPENAI).json()
    _strict(Batch, ended)
    assert ended["status"] == "expired"
    assert ended["request_counts"] == {"total": 4, "completed": 1, "failed": 3}
    output = clocked.get(f"/openai/v1/files/{ended['output_file_id']}/content", headers=OPENAI)
    errors = clocked.get(f"/openai/v1/files/{ended['error_file_id']}/content", headers=OPENAI)
    (answered,) = [json.loads(line) for line in output.text.splitlines()]
    ChatCompletion.model_validate(answered["response"]["body"])
    failed = [json.loads(line) for line in errors.text.splitlines()]
    assert [line["response"]["status_code"] if line["response"] else line["error"]["code"]
            for line in failed] == [503, "batch_expired", "batch_expired"]
    _strict(FileObject, clocked.get(f"/openai/v1/files/{ended['error_file_id']}",
                                   headers=OPENAI).json())


def test_openai_cancel_answers_cancelling_then_cancelled(clocked: TestClient) -> None:
    clocked.post("/_emulator/batches", json={"completion_delay_s": 60})
    batch_id = _openai_batch(clocked, [_chat_line("a")])
    cancelling = clocked.post(f"/openai/v1/batches/{batch_id}/cancel", headers=OPENAI).json()
    _strict(Batch, cancelling)
    assert cancelling["status"] == "cancelling"
    cancelled = clocked.get(f"/openai/v1/batches/{batch_id}", headers=OPENAI).json()
    _strict(Batch, cancelled)
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] is not None


def test_openai_input_with_a_bad_line_fails_the_batch_naming_the_line(
    clocked: TestClient,
) -> None:
    batch_id = _openai_batch(clocked, [_chat_line("a"), "not json", _chat_line("a")])
    failed = clocked.get(f"/openai/v1/batches/{batch_id}", headers=OPENAI).json()
    _strict(Batch, failed)
    assert failed["status"] == "failed"
    assert [(e["code"], e["line"]) for e in failed["errors"]["data"]] == [
        ("invalid_json", 2), ("duplicate_custom_id", 3)]
    assert clocked.get("/_emulator/calls").json()["total"] == 0


def _anthropic_params(text: str) -> dict[str, Any]:
    return {"model": "claude-haiku-4-5", "max_tokens": 20,
            "messages": [{"role": "user", "content": text}]}


def test_anthropic_batch_bodies_are_sdk_message_batches_and_results(
    clocked: TestClient, clock: Clock
) -> None:
    clocked.post("/_emulator/batches", json={"completion_delay_s": 9, "expire": True,
                                            "unfinished_fraction": 0.3})
    clocked.post("/_emulator/faults", json={"rules": [
        {"provider": "anthropic", "status": 529, "first_n": 1}]})
    requests = [{"custom_id": f"r{n}", "params": _anthropic_params(f"hi {n}")} for n in range(3)]
    created = clocked.post("/anthropic/v1/messages/batches", headers=ANTHROPIC,
                          json={"requests": requests}).json()
    _strict(MessageBatch, created)
    assert created["processing_status"] == "in_progress" and created["results_url"] is None
    clock.advance(9)
    ended = clocked.get(f"/anthropic/v1/messages/batches/{created['id']}",
                       headers=ANTHROPIC).json()
    _strict(MessageBatch, ended)
    assert ended["processing_status"] == "ended"
    assert ended["request_counts"] == {"processing": 0, "succeeded": 1, "errored": 1,
                                       "canceled": 0, "expired": 1}
    results = clocked.get(ended["results_url"], headers=ANTHROPIC)
    lines = [json.loads(line) for line in results.text.splitlines()]
    for line in lines:
        _strict(MessageBatchIndividualResponse, line)
    assert [line["result"]["type"] for line in lines] == ["errored", "succeeded", "expired"]
    assert lines[0]["result"]["error"]["error"]["type"] == "overloaded_error"


def test_anthropic_line_with_invalid_params_is_errored_as_the_messages_api_would(
    clocked: TestClient,
) -> None:
    params = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "x"}]}
    created = clocked.post("/anthropic/v1/messages/batches", headers=ANTHROPIC, json={
        "requests": [{"custom_id": "a", "params": params}]}).json()
    ended = clocked.get(f"/anthropic/v1/messages/batches/{created['id']}",
                        headers=ANTHROPIC).json()
    (line,) = clocked.get(ended["results_url"], headers=ANTHROPIC).text.splitlines()
    result = MessageBatchIndividualResponse.model_validate_json(line).result
    assert result.type == "errored"
    assert result.error.error.type == "invalid_request_error"
    assert "max_tokens" in result.error.error.message


def test_anthropic_refuses_a_repeated_custom_id_whole(clocked: TestClient) -> None:
    requests = [{"custom_id": "same", "params": _anthropic_params("x")}] * 2
    refused = clocked.post("/anthropic/v1/messages/batches", headers=ANTHROPIC,
                          json={"requests": requests})
    assert refused.status_code == 400
    assert "requests.1.custom_id" in refused.json()["error"]["message"]


def test_anthropic_cancel_answers_canceling_then_ended(clocked: TestClient) -> None:
    clocked.post("/_emulator/batches", json={"completion_delay_s": 60})
    created = clocked.post("/anthropic/v1/messages/batches", headers=ANTHROPIC,
                          json={"requests": [{"custom_id": "a",
                                              "params": _anthropic_params("x")}]}).json()
    path = f"/anthropic/v1/messages/batches/{created['id']}"
    canceling = clocked.post(f"{path}/cancel", headers=ANTHROPIC).json()
    _strict(MessageBatch, canceling)
    assert canceling["processing_status"] == "canceling"
    ended = clocked.get(path, headers=ANTHROPIC).json()
    assert ended["processing_status"] == "ended" and ended["request_counts"]["canceled"] == 1


def _gemini_job(body: dict[str, Any]) -> genai_types.BatchJob:
    return genai_types.BatchJob.model_validate(genai_batches._BatchJob_from_mldev(body))


def test_gemini_batch_bodies_read_as_genai_batch_jobs(clocked: TestClient, clock: Clock) -> None:
    clocked.post("/_emulator/batches", json={"completion_delay_s": 4})
    clocked.post("/_emulator/faults", json={"rules": [
        {"provider": "google", "kind": "rate_limit", "first_n": 1}]})
    requests = [{"request": {"contents": [{"role": "user", "parts": [{"text": f"hi {n}"}]}]},
                 "metadata": {"key": f"r{n}"}} for n in range(2)]
    created = clocked.post("/google/v1beta/models/gemini-2.5-flash:batchGenerateContent",
                          headers=GOOGLE, json={"batch": {"displayName": "t", "inputConfig": {
                              "requests": {"requests": requests}}}}).json()
    job = _gemini_job(created)
    assert job.state == genai_types.JobState.JOB_STATE_RUNNING
    clock.advance(4)
    ended = clocked.get(f"/google/v1beta/{created['name']}", headers=GOOGLE).json()
    job = _gemini_job(ended)
    assert job.state == genai_types.JobState.JOB_STATE_SUCCEEDED
    assert job.model == "models/gemini-2.5-flash"
    assert job.dest is not None and job.dest.inlined_responses is not None
    first, second = job.dest.inlined_responses
    assert first.error is not None and first.error.code == 8  # RESOURCE_EXHAUSTED
    assert second.response is not None and second.response.text
    assert second.metadata == {"key": "r1"}


def test_gemini_cancel_ends_the_batch_cancelled(clocked: TestClient) -> None:
    clocked.post("/_emulator/batches", json={"completion_delay_s": 60})
    requests = [{"request": {"contents": [{"parts": [{"text": "hi"}]}]}}]
    created = clocked.post("/google/v1beta/models/gemini-2.5-flash:batchGenerateContent",
                          headers=GOOGLE, json={"batch": {"inputConfig": {
                              "requests": {"requests": requests}}}}).json()
    assert clocked.post(f"/google/v1beta/{created['name']}:cancel", headers=GOOGLE).json() == {}
    ended = clocked.get(f"/google/v1beta/{created['name']}", headers=GOOGLE).json()
    assert _gemini_job(ended).state == genai_types.JobState.JOB_STATE_CANCELLED


def test_batch_endpoints_refuse_a_call_without_a_key(clocked: TestClient) -> None:
    assert clocked.post("/openai/v1/batches", json={}).status_code == 401
    assert clocked.post("/anthropic/v1/messages/batches", json={}).status_code == 401
    assert clocked.get("/google/v1beta/batches/x").status_code in (400, 401, 403)


def test_the_batch_control_validates_its_settings_and_lists_batches(clocked: TestClient) -> None:
    refused = clocked.post("/_emulator/batches", json={"unfinished_fraction": 2})
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "unfinished_fraction"
    _openai_batch(clocked, [_chat_line("a")])
    listed = clocked.get("/_emulator/batches").json()
    assert [(b["provider"], b["lines"]) for b in listed["batches"]] == [("openai", 1)]
    assert clocked.delete("/_emulator/batches").json()["batches"] == []
