"""What a streamed attempt lets readers see: nothing before its first token, everything from
then on; a continuation (prefill) shows only what follows the caller's text."""

from __future__ import annotations

from typing import Any

from broker.jobs import Usage
from workers.stream_calls import ChunkRelay
from workers.stream_resume import Continuation


class _Recorder:
    """Stands in for JobStreamWriter: the relay's decisions are pure, Redis is not the point."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any]] = []

    def append(self, chunks: list[dict[str, Any]]) -> None:
        self.entries.extend(("chunk", chunk) for chunk in chunks)

    def reset(self, error_class: str, message: str) -> None:
        self.entries.append(("reset", error_class))


def _delta(**delta: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


ROLE = _delta(role="assistant", content="")


def _relay(continuation: Continuation | None = None) -> tuple[ChunkRelay, _Recorder]:
    recorder = _Recorder()
    return ChunkRelay(recorder, continuation), recorder  # type: ignore[arg-type]


def test_the_role_chunk_is_held_back_until_the_first_token() -> None:
    relay, recorder = _relay()
    relay.add([ROLE])
    assert recorder.entries == [] and not relay.appended

    relay.add([_delta(content="Hi")])
    assert [chunk for _, chunk in recorder.entries] == [ROLE, _delta(content="Hi")]
    assert relay.kept == [ROLE, _delta(content="Hi")]


def test_a_tool_call_delta_counts_as_a_first_token() -> None:
    relay, recorder = _relay()
    relay.add([ROLE, _delta(tool_calls=[{"index": 0, "id": "call_1"}])])

    assert relay.appended and len(recorder.entries) == 2


def test_a_failure_before_the_first_token_leaves_nothing_for_readers() -> None:
    relay, recorder = _relay()
    relay.add([ROLE])

    assert recorder.entries == [] and not relay.appended


def test_a_continuation_drops_the_second_role_chunk_and_the_space_the_prefill_left_out() -> None:
    # The caller has "Hello " (the prefill sent "Hello"): the continuation's " world" would
    # repeat the space, and its role chunk a second assistant turn.
    continuation = Continuation(
        "Hello ", Usage(prompt_tokens=5, completion_tokens=2, total_tokens=7)
    )
    relay, recorder = _relay(continuation)
    relay.add([ROLE, _delta(content=" "), _delta(content=" world")])
    relay.add(
        [{"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}}]
    )

    contents = [c["choices"][0]["delta"]["content"] for _, c in recorder.entries if c["choices"]]
    assert contents == ["world"]
    assert all("role" not in c["choices"][0]["delta"] for _, c in recorder.entries if c["choices"])
    assert recorder.entries[-1][1]["usage"] == {
        "prompt_tokens": 14,
        "completion_tokens": 3,
        "total_tokens": 17,
    }
