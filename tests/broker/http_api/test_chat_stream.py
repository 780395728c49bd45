"""How a streamed job's entries become SSE text, for OpenAI SDK readers and native ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from broker.http_api.chat_stream import SseStyle, render
from broker.job_streams import StreamEnd, StreamEntry
from broker.jobs import FailedResult

CHUNK = StreamEntry("1-0", "chunk", {"choices": [{"index": 0, "delta": {"content": "a"}}]})
USAGE = StreamEntry("2-0", "chunk", {"choices": [], "usage": {"total_tokens": 1}})
RESET = StreamEntry("3-0", "reset", {"error_class": "ProviderTimeout", "message": "stalled"})
SDK = SseStyle("job1", native=False)
NATIVE = SseStyle("job1", native=True)


def _payload(text: str) -> dict[str, object]:
    data = next(line for line in text.splitlines() if line.startswith("data: "))
    loaded: dict[str, object] = json.loads(data.removeprefix("data: "))
    return loaded


def test_a_chunk_carries_its_entry_id_as_the_sse_id() -> None:
    text, stop = render(CHUNK, SDK)

    assert text.startswith("id: 1-0\ndata: ") and text.endswith("\n\n") and not stop


def test_the_usage_chunk_is_sent_only_when_include_usage_asked_for_it() -> None:
    assert render(USAGE, SseStyle("job1", native=False, include_usage=False)) == ("", False)
    assert "usage" in _payload(render(USAGE, SDK)[0])


def test_a_reset_is_an_event_for_native_readers_and_a_final_error_for_sdk_readers() -> None:
    native, native_stop = render(RESET, NATIVE)
    sdk, sdk_stop = render(RESET, SDK)

    assert "event: cascade.reset" in native and not native_stop
    error = _payload(sdk)["error"]
    assert sdk_stop and isinstance(error, dict)
    assert "ProviderTimeout: stalled" in error["message"] and "/v1/jobs/job1" in error["message"]


def test_the_end_is_done_or_the_failed_jobs_error_or_a_timeout() -> None:
    failed = FailedResult(
        job_id="job1",
        error_class="InvalidRequest",
        error_message="bad request",
        attempts=[],
        finished_at=datetime.now(UTC),
    )

    assert render(StreamEnd(failed), SDK)[0] != "data: [DONE]\n\n"
    assert _payload(render(StreamEnd(failed), SDK)[0])["error"] == {
        "message": "bad request",
        "type": "cascade_job_failed",
        "code": "InvalidRequest",
        "job_id": "job1",
    }
    timeout = _payload(render(StreamEnd(None), NATIVE)[0])["error"]
    assert isinstance(timeout, dict) and timeout["code"] == "timeout"
