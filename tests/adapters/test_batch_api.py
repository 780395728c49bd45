"""The pure provider batch adapters (adapters/batch_api/) against the official SDKs' types.

Inputs are checked with the SDKs' request types (openai-python ``BatchCreateParams`` and
``CompletionCreateParamsNonStreaming``; anthropic ``messages.batch_create_params``); status
objects and result lines are built with the SDKs' response types (openai ``Batch``,
``ChatCompletion``; anthropic ``MessageBatch``, ``MessageBatchIndividualResponse``), so the
parsers read what the providers document (platform.openai.com/docs/guides/batch,
platform.claude.com/docs/en/build-with-claude/batch-processing,
ai.google.dev/gemini-api/docs/batch-api)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
from anthropic.types.messages import batch_create_params as anthropic_params
from openai.types import Batch, batch_create_params
from openai.types.chat import ChatCompletion, completion_create_params
from pydantic import TypeAdapter

from adapters.base import AdapterTarget
from adapters.batch_api import anthropic as anthropic_batch
from adapters.batch_api import gemini as gemini_batch
from adapters.batch_api import openai as openai_batch
from adapters.batch_api.outcomes import BatchItem, BatchStatus
from adapters.errors import ContextTooLong, InvalidRequest, Overloaded, RateLimited, ServerError
from broker.jobs import CompletionRequest

OPENAI = AdapterTarget("openai", "https://api.openai.com/v1", "gpt-5.4")
ANTHROPIC = AdapterTarget("anthropic", "https://api.anthropic.com", "claude-haiku-4-5")
GEMINI = AdapterTarget("google", "https://generativelanguage.googleapis.com", "gemini-2.5-flash")


def _items(*ids: str) -> list[BatchItem]:
    request = CompletionRequest.model_validate(
        {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 16}
    )
    return [BatchItem(custom_id, request) for custom_id in ids]


# --- shared -----------------------------------------------------------------------------


@pytest.mark.parametrize(("ids", "message"), [
    (("ok", "has.dot"), r"lines\[1\]\.custom_id: 'has.dot' must be 1 to 64"),
    (("a", "a"), r"lines\[1\]\.custom_id: 'a' is repeated"),
    ((), "at least one line"),
])
def test_a_malformed_or_repeated_custom_id_is_refused_naming_the_line(
    ids: tuple[str, ...], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        openai_batch.input_lines(_items(*ids), OPENAI)


# --- OpenAI -----------------------------------------------------------------------------


def test_openai_input_lines_are_batch_requests_with_the_synchronous_body() -> None:
    lines = [json.loads(line) for line in openai_batch.input_lines(_items("a", "b"), OPENAI)]
    assert [line["custom_id"] for line in lines] == ["a", "b"]
    for line in lines:
        assert set(line) == {"custom_id", "method", "url", "body"}
        assert (line["method"], line["url"]) == ("POST", "/v1/chat/completions")
        assert "stream" not in line["body"] and line["body"]["model"] == "gpt-5.4"
        TypeAdapter(completion_create_params.CompletionCreateParamsNonStreaming).validate_python(
            line["body"])


def test_openai_upload_and_create_calls_follow_the_files_and_batches_api() -> None:
    upload = openai_batch.upload_call(['{"x":1}', '{"y":2}'], OPENAI, "sk")
    assert upload.url == "https://api.openai.com/v1/files"
    assert upload.fields == {"purpose": "batch"} and upload.content == b'{"x":1}\n{"y":2}\n'
    create = openai_batch.create_call("file-1", OPENAI, "sk", {"cascade": "b1"})
    assert create.url == "https://api.openai.com/v1/batches"
    TypeAdapter(batch_create_params.BatchCreateParams).validate_python(dict(create.json))
    assert create.headers["Authorization"] == "Bearer sk"


def _openai_batch(status: str, **fields: Any) -> bytes:
    batch = Batch(id="batch_1", object="batch", endpoint="/v1/chat/completions",
                  input_file_id="file-in", completion_window="24h", created_at=1, status=status,
                  **fields)
    return batch.model_dump_json().encode()


@pytest.mark.parametrize(("status", "state"), [
    ("validating", "running"), ("in_progress", "running"), ("finalizing", "running"),
    ("cancelling", "cancelling"), ("completed", "ended"), ("expired", "ended"),
    ("cancelled", "ended"), ("failed", "ended"),
])
def test_openai_batch_statuses_map_to_three_states(status: str, state: str) -> None:
    assert openai_batch.parse_status(_openai_batch(status)).state == state


def test_openai_status_names_its_result_files_and_counts() -> None:
    status = openai_batch.parse_status(_openai_batch(
        "completed", output_file_id="file-out", error_file_id="file-err",
        request_counts={"total": 3, "completed": 2, "failed": 1}))
    assert status.results == ("file-out", "file-err")
    assert (status.done, status.total) == (3, 3)


def test_a_failed_openai_batch_fails_every_line_with_the_reason_and_its_line() -> None:
    status = openai_batch.parse_status(_openai_batch("failed", errors={"object": "list", "data": [
        {"code": "invalid_json", "message": "bad line", "line": 2}]}))
    outcomes = openai_batch.parse_results(["a", "b"], status, [], OPENAI)
    assert [o.state for o in outcomes] == ["errored", "errored"]
    assert isinstance(outcomes[0].error, ServerError)
    assert "line 2: invalid_json: bad line" in str(outcomes[0].error)


def _completion() -> dict[str, Any]:
    return ChatCompletion.model_validate({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-5.4",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Hi."}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }).model_dump(mode="json")


def test_openai_results_read_answers_errors_and_lines_never_run() -> None:
    output = json.dumps({"id": "r1", "custom_id": "a", "error": None, "response": {
        "status_code": 200, "request_id": "q1", "body": _completion()}})
    errors = "\n".join(json.dumps(line) for line in [
        {"id": "r2", "custom_id": "b", "error": None, "response": {
            "status_code": 400, "request_id": "q2", "body": {"error": {
                "message": "too long", "type": "invalid_request_error", "param": "messages",
                "code": "context_length_exceeded"}}}},
        {"id": "r3", "custom_id": "c", "response": None,
         "error": {"code": "batch_expired", "message": "not run in time"}},
        {"id": "r4", "custom_id": "d", "response": None,
         "error": {"code": "batch_cancelled", "message": "cancelled"}},
    ])
    status = BatchStatus("batch_1", "ended", "expired")
    outcomes = openai_batch.parse_results(
        ["a", "b", "c", "d", "e"], status, [output.encode(), errors.encode()], OPENAI)
    assert [o.state for o in outcomes] == ["succeeded", "errored", "expired", "cancelled",
                                           "expired"]
    assert outcomes[0].answer is not None and outcomes[0].answer.usage.total_tokens == 7
    assert outcomes[0].answer.choices[0].message.content == "Hi."
    assert isinstance(outcomes[1].error, ContextTooLong)


def test_openai_results_of_a_running_batch_leave_the_rest_unfinished() -> None:
    outcomes = openai_batch.parse_results(["a"], BatchStatus("b", "running", "in_progress"), [],
                                          OPENAI)
    assert [o.state for o in outcomes] == ["unfinished"]


def test_an_unreadable_openai_results_line_is_a_server_error_naming_it() -> None:
    with pytest.raises(ServerError, match="results line 2"):
        openai_batch.parse_results(["a"], BatchStatus("b", "ended", "completed"),
                                   [b'{"custom_id": "a", "error": null}\nnot json'], OPENAI)


# --- Anthropic --------------------------------------------------------------------------


def test_anthropic_create_call_holds_each_request_as_custom_id_and_params() -> None:
    call = anthropic_batch.create_call(_items("a", "b"), ANTHROPIC, "sk-ant")
    assert call.url == "https://api.anthropic.com/v1/messages/batches"
    assert call.headers["x-api-key"] == "sk-ant" and "anthropic-version" in call.headers
    requests = call.json["requests"]
    assert [r["custom_id"] for r in requests] == ["a", "b"]
    for request in requests:
        TypeAdapter(anthropic_params.Request).validate_python(request)
        assert request["params"]["model"] == "claude-haiku-4-5"


def _message_batch(status: str, **fields: Any) -> bytes:
    counts = {"processing": 0, "succeeded": 1, "errored": 1, "canceled": 0, "expired": 1}
    batch = MessageBatch.model_validate({
        "id": "msgbatch_1", "type": "message_batch", "processing_status": status,
        "request_counts": counts, "created_at": "2026-12-01T00:00:00Z",
        "expires_at": "2026-12-02T00:00:00Z", "ended_at": None, "archived_at": None,
        "cancel_initiated_at": None, "results_url": None, **fields})
    return batch.model_dump_json().encode()


def test_anthropic_status_maps_states_and_finds_the_results_url() -> None:
    assert anthropic_batch.parse_status(_message_batch("in_progress")).state == "running"
    assert anthropic_batch.parse_status(_message_batch("canceling")).state == "cancelling"
    ended = anthropic_batch.parse_status(_message_batch(
        "ended", results_url="https://api.anthropic.com/v1/messages/batches/msgbatch_1/results"))
    assert ended.state == "ended" and ended.results[0].endswith("/results")
    assert (ended.done, ended.total) == (3, 3)


def _result_line(custom_id: str, result: dict[str, Any]) -> str:
    line = MessageBatchIndividualResponse.model_validate({"custom_id": custom_id,
                                                         "result": result})
    return line.model_dump_json()


def test_anthropic_results_read_each_result_type() -> None:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
               "content": [{"type": "text", "text": "Hi."}], "stop_reason": "end_turn",
               "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 2}}
    error = {"type": "error", "request_id": None,
             "error": {"type": "overloaded_error", "message": "Overloaded"}}
    content = "\n".join([
        _result_line("a", {"type": "succeeded", "message": message}),
        _result_line("b", {"type": "errored", "error": error}),
        _result_line("c", {"type": "canceled"}),
        _result_line("d", {"type": "expired"}),
    ]).encode()
    outcomes = anthropic_batch.parse_results(
        ["a", "b", "c", "d"], BatchStatus("m", "ended", "ended"), content, ANTHROPIC)
    assert [o.state for o in outcomes] == ["succeeded", "errored", "cancelled", "expired"]
    assert outcomes[0].answer is not None
    assert outcomes[0].answer.choices[0].message.content == "Hi."
    assert isinstance(outcomes[1].error, Overloaded)


def test_an_anthropic_batch_ended_after_a_cancel_reports_missing_lines_cancelled() -> None:
    status = anthropic_batch.parse_status(_message_batch(
        "ended", cancel_initiated_at="2026-12-01T00:01:00Z", results_url="https://x/results"))
    outcomes = anthropic_batch.parse_results(["a"], status, b"", ANTHROPIC)
    assert [o.state for o in outcomes] == ["cancelled"]


# --- Gemini -----------------------------------------------------------------------------


def test_gemini_create_call_holds_inline_requests_keyed_by_custom_id() -> None:
    call = gemini_batch.create_call(_items("a", "b"), GEMINI, "g-key", "cascade-b1")
    assert call.url == ("https://generativelanguage.googleapis.com/v1beta/models/"
                        "gemini-2.5-flash:batchGenerateContent")
    batch = call.json["batch"]
    assert batch["displayName"] == "cascade-b1"
    requests = batch["inputConfig"]["requests"]["requests"]
    assert [r["metadata"] for r in requests] == [{"key": "a"}, {"key": "b"}]
    assert requests[0]["request"]["contents"][0]["parts"] == [{"text": "Say hi."}]


def _operation(state: str, entries: list[dict[str, Any]] | None = None) -> bytes:
    metadata: dict[str, Any] = {"state": state, "batchStats": {"requestCount": "3",
                                "successfulRequestCount": "1", "failedRequestCount": "1"}}
    if entries is not None:
        metadata["output"] = {"inlinedResponses": {"inlinedResponses": entries}}
    return json.dumps({"name": "batches/b1", "metadata": metadata,
                       "done": entries is not None}).encode()


def test_gemini_outcomes_read_responses_errors_and_lines_never_run() -> None:
    response = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi."}]},
                                "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2,
                                  "totalTokenCount": 7}, "modelVersion": "gemini-2.5-flash"}
    entries = [{"response": response, "metadata": {"key": "a"}},
               {"error": {"code": 8, "message": "quota"}, "metadata": {"key": "b"}}]
    outcomes = gemini_batch.parse_outcomes(["a", "b", "c"],
                                           _operation("BATCH_STATE_EXPIRED", entries), GEMINI)
    assert [o.state for o in outcomes] == ["succeeded", "errored", "expired"]
    assert outcomes[0].answer is not None and outcomes[0].answer.usage.total_tokens == 7
    assert isinstance(outcomes[1].error, RateLimited)
    status = gemini_batch.parse_status(_operation("BATCH_STATE_EXPIRED", entries))
    assert (status.batch_id, status.done, status.total) == ("batches/b1", 2, 3)


def test_gemini_states_and_a_cancelled_or_running_batch() -> None:
    running = gemini_batch.parse_outcomes(["a"], _operation("BATCH_STATE_RUNNING"), GEMINI)
    assert [o.state for o in running] == ["unfinished"]
    cancelled = gemini_batch.parse_outcomes(["a"], _operation("BATCH_STATE_CANCELLED", []),
                                            GEMINI)
    assert [o.state for o in cancelled] == ["cancelled"]
    assert gemini_batch.status_call("batches/b1", GEMINI, "k").url.endswith("/v1beta/batches/b1")
    assert gemini_batch.cancel_call("b1", GEMINI, "k").url.endswith("/batches/b1:cancel")


def test_line_sizes_measure_what_each_provider_batch_carries() -> None:
    items = _items("a", "b")
    lines = openai_batch.input_lines(items, OPENAI)
    sizes = openai_batch.line_sizes(lines)
    assert sum(sizes) == len(openai_batch.upload_call(lines, OPENAI, "k").content)
    anthropic_sizes = anthropic_batch.line_sizes(items, ANTHROPIC)
    body = anthropic_batch.create_call(items, ANTHROPIC, "k").json
    assert anthropic_sizes == [len(json.dumps(r).encode()) for r in body["requests"]]
    gemini_sizes = gemini_batch.line_sizes(items)
    assert len(gemini_sizes) == 2 and all(size > 0 for size in gemini_sizes)
    # the sizes never undercount the body a client sends in compact JSON
    compact = json.dumps(dict(body), separators=(",", ":")).encode()
    assert sum(anthropic_sizes) >= len(compact) - len('{"requests":[]}')
