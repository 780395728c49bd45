"""What a streamed attempt lets readers see: nothing before its first token, everything from
then on, and a reset when it fails after appending."""

from __future__ import annotations

from typing import Any

from adapters.errors import ProviderTimeout
from workers.stream_calls import ChunkRelay


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


def _relay() -> tuple[ChunkRelay, _Recorder]:
    recorder = _Recorder()
    return ChunkRelay(recorder), recorder  # type: ignore[arg-type]


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
    relay.abandon(ProviderTimeout("no first token"))

    assert recorder.entries == []


def test_a_failure_after_text_appends_a_reset_naming_the_error() -> None:
    relay, recorder = _relay()
    relay.add([ROLE, _delta(content="Hi")])
    relay.abandon(ProviderTimeout("stalled"))

    assert recorder.entries[-1] == ("reset", "ProviderTimeout")
