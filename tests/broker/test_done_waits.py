"""A wait's channels: one per job, subscribed in bounded chunks, and a message read back to
the job it announces."""

from __future__ import annotations

from broker.done_waits import SUBSCRIBE_CHUNK, done_channels, ended_job, subscribe_chunks
from broker.keys import Keys


def test_each_job_gets_its_own_done_channel_mapped_back_to_its_id() -> None:
    keys = Keys("cascade")

    assert done_channels(keys, ["a", "b"]) == {
        keys.done_channel("a"): "a",
        keys.done_channel("b"): "b",
    }


def test_a_large_wait_subscribes_in_chunks_none_over_the_bound() -> None:
    channels = [f"c{n}" for n in range(2 * SUBSCRIBE_CHUNK + 1)]

    chunks = list(subscribe_chunks(channels))

    assert [len(chunk) for chunk in chunks] == [SUBSCRIBE_CHUNK, SUBSCRIBE_CHUNK, 1]
    assert [channel for chunk in chunks for channel in chunk] == channels
    assert list(subscribe_chunks([])) == []


def test_a_message_names_the_job_of_its_channel_and_nothing_else_names_a_job() -> None:
    channels = done_channels(Keys("cascade"), ["job-1"])
    channel = Keys("cascade").done_channel("job-1")

    assert (
        ended_job({"type": "message", "channel": channel.encode(), "data": b"failed"}, channels)
        == "job-1"
    )
    assert ended_job({"type": "message", "channel": channel, "data": "succeeded"}, channels) == (
        "job-1"
    )
    assert ended_job({"type": "subscribe", "channel": channel, "data": 1}, channels) is None
    assert ended_job({"type": "message", "channel": b"cascade:done:other"}, channels) is None
    assert ended_job(None, channels) is None
