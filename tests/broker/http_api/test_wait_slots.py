"""Each tenant holds at most its bound of waits; past it a 429, refused before any write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis

from broker.http_api.errors import ApiError
from broker.http_api.state import ApiState
from broker.http_api.wait_slots import WaitSlots, released_after
from tests.broker.http_api.conftest import AUTH_A, AUTH_B, ApiFactory, job_body


def test_a_tenant_at_its_bound_is_refused_with_429_and_others_are_not() -> None:
    slots = WaitSlots(2)
    held = [slots.take("acme"), slots.take("acme")]

    with pytest.raises(ApiError) as refused:
        slots.take("acme")
    other = slots.take("globex")

    assert refused.value.status == 429
    assert "CASCADE_API_MAX_WAITS_PER_TENANT" in refused.value.message
    held[0].release()
    held[0].release()
    assert slots.held("acme") == 1
    other.release()
    assert slots.held("globex") == 0


def test_a_stream_gives_its_slot_back_when_it_ends_and_when_it_is_dropped() -> None:
    slots = WaitSlots(5)

    async def events() -> AsyncIterator[str]:
        yield "a"
        yield "b"

    async def run() -> None:
        ended = released_after(events(), slots.take("acme"))
        assert [event async for event in ended] == ["a", "b"]
        dropped = released_after(events(), slots.take("acme"))
        assert await anext(dropped) == "a"
        await dropped.aclose()

    asyncio.run(run())

    assert slots.held("acme") == 0


def test_over_the_bound_a_chat_completion_is_refused_before_it_is_submitted(
    make_api: ApiFactory, api_redis: redis.Redis
) -> None:
    chat = {"model": "fast", "messages": [{"role": "user", "content": "Hi"}]}
    with make_api(api_max_waits_per_tenant=1) as api:
        job_id = api.post("/v1/jobs", headers=AUTH_B, json=job_body()).json()["id"]
        before = set(api_redis.keys())
        state: ApiState = api.app.state.cascade  # type: ignore[attr-defined]
        state.waits.take("acme")

        refused = api.post("/v1/chat/completions", headers=AUTH_A, json=chat)
        waited = api.post("/v1/jobs/wait", headers=AUTH_B, json={"ids": [job_id]})

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_waits"
    assert set(api_redis.keys()) == before
    assert waited.status_code == 200


def test_over_the_bound_a_streamed_chat_completion_is_refused_before_it_is_submitted(
    make_api: ApiFactory, api_redis: redis.Redis
) -> None:
    chat = {"model": "fast", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    with make_api(api_max_waits_per_tenant=1) as api:
        before = set(api_redis.keys())
        state: ApiState = api.app.state.cascade  # type: ignore[attr-defined]
        state.waits.take("acme")

        refused = api.post("/v1/chat/completions", headers=AUTH_A, json=chat)

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_waits"
    assert set(api_redis.keys()) == before


def test_over_the_bound_a_job_stream_is_refused_with_429(
    make_api: ApiFactory,
) -> None:
    with make_api(api_max_waits_per_tenant=1) as api:
        mine = api.post(
            "/v1/jobs", headers=AUTH_A, json={**job_body(), "envelope": {"stream": True}}
        )
        state: ApiState = api.app.state.cascade  # type: ignore[attr-defined]
        state.waits.take("acme")

        refused = api.get(f"/v1/jobs/{mine.json()['id']}/stream?timeout=0", headers=AUTH_A)

    assert mine.status_code == 202
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_waits"


def test_over_the_bound_a_pipeline_wait_and_its_events_are_refused_with_429(
    make_api: ApiFactory,
) -> None:
    spec = {"steps": {"only": {"tier": "fast", "prompt": "hello {{ input.name }}"}}}
    with make_api(api_max_waits_per_tenant=1) as api:
        started = api.post(
            "/v1/pipelines", headers=AUTH_A, json={"pipeline": spec, "input": {"name": "ada"}}
        )
        pid = started.json()["id"]
        state: ApiState = api.app.state.cascade  # type: ignore[attr-defined]
        state.waits.take("acme")

        waited = api.get(f"/v1/pipelines/{pid}/wait?timeout=0", headers=AUTH_A)
        followed = api.get(f"/v1/pipelines/{pid}/events?timeout=0", headers=AUTH_A)

    assert started.status_code == 202, started.text
    assert (waited.status_code, followed.status_code) == (429, 429)
