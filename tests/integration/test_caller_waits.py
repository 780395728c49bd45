"""A caller who stops waiting (issue 15 item 5), through the real openai SDK, ``cascade api``,
one real worker and the emulator: a 504 bounds the job's remaining work unless the caller asks
it to go on, and an ``Idempotency-Key`` makes the SDK's retries wait on one job.

Tier ``fast`` is a1 (alpha, on the shipped timeouts: 6 s to the headers, one retry after a
timeout) then b1 (beta).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from broker.local_stack import LocalStack
from tests.integration.sdk_stack import calls_to, catalog_on_shipped_timeouts, sdk_stack
from tests.integration.support import (
    Emulator,
    api_server,
    fresh_emulator,
    wait_for,
)

pytestmark = pytest.mark.integration

KEY = "sk-test-waits"
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello."}]
OTHER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Something else."}]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> str:
    return catalog_on_shipped_timeouts(tmp_path_factory.mktemp("waits"))


@pytest.fixture(scope="module")
def stack(
    catalog: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    logs = tmp_path_factory.mktemp("waits-logs")
    with sdk_stack(catalog, redis_url, 15, logs, KEY) as stack:
        yield stack


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[str]:
    with api_server(stack) as base:
        yield base


@pytest.fixture()
def emulator(stack: LocalStack) -> Iterator[Emulator]:
    with fresh_emulator(stack) as control:
        yield control


def _sdk(api: str, **options: Any) -> openai.OpenAI:
    options.setdefault("max_retries", 0)
    options.setdefault("timeout", 30)
    return openai.OpenAI(base_url=f"{api}/v1", api_key=KEY, **options)


def _job(api: str, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{api}/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {KEY}"})
    response.raise_for_status()
    job: dict[str, Any] = response.json()
    return job


def _timed_out_job(api: str, **headers: str) -> str:
    """The id of a chat completion that ran past a 2 s wait."""
    with pytest.raises(openai.InternalServerError) as timed_out:
        _sdk(api).chat.completions.create(
            model="fast", messages=HELLO, extra_headers={"X-Cascade-Timeout": "2", **headers}
        )
    assert timed_out.value.status_code == 504
    job_id = timed_out.value.response.headers["x-cascade-job-id"]
    assert isinstance(job_id, str)
    return job_id


def _ended(api: str, job_id: str) -> bool:
    return _job(api, job_id)["status"] in ("succeeded", "failed")


def test_a_job_whose_caller_got_its_504_starts_no_call_after_the_wait(
    api: str, emulator: Emulator
) -> None:
    emulator.faults({"provider": "alpha", "kind": "timeout", "hang_s": 60})
    job_id = _timed_out_job(api)

    # the call in flight at the 504 ends at alpha's 6 s headers limit; nothing follows it
    wait_for(lambda: _ended(api, job_id), 15, "the abandoned job ending")
    job = _job(api, job_id)
    assert job["status"] == "failed"
    assert calls_to(emulator, "alpha") == 1 and calls_to(emulator, "beta") == 0


def test_on_timeout_continue_lets_the_job_go_on_to_its_answer(api: str, emulator: Emulator) -> None:
    emulator.faults({"provider": "alpha", "kind": "timeout", "hang_s": 60})
    job_id = _timed_out_job(api, **{"X-Cascade-On-Timeout": "continue"})

    wait_for(lambda: _ended(api, job_id), 25, "the job going on")
    assert _job(api, job_id)["status"] == "succeeded"
    assert calls_to(emulator, "beta") == 1


def test_the_sdk_s_retries_of_a_timed_out_post_with_an_idempotency_key_get_one_job(
    api: str, emulator: Emulator
) -> None:
    emulator.latency(providers={"alpha": 2.5})
    sdk = _sdk(api, max_retries=4, timeout=1.0)  # the SDK gives up on each try after 1 s
    answer = sdk.chat.completions.create(
        model="fast", messages=HELLO, extra_headers={"Idempotency-Key": "order-42"}
    )
    assert answer.model == "alpha-small-1"
    assert calls_to(emulator, "alpha") == 1  # one job, one call, however many POSTs

    again = _sdk(api).chat.completions.create(
        model="fast", messages=HELLO, extra_headers={"Idempotency-Key": "order-42"}
    )
    assert again.id == answer.id
    assert calls_to(emulator, "alpha") == 1


def test_an_idempotency_key_reused_for_another_request_is_a_422(
    api: str, emulator: Emulator
) -> None:
    sdk = _sdk(api)
    sdk.chat.completions.create(
        model="fast", messages=HELLO, extra_headers={"Idempotency-Key": "order-43"}
    )
    with pytest.raises(openai.UnprocessableEntityError):
        sdk.chat.completions.create(
            model="fast",
            messages=OTHER,
            extra_headers={"Idempotency-Key": "order-43"},
        )
    assert calls_to(emulator, "alpha") == 1


def test_a_streamed_job_whose_reader_s_wait_ended_starts_no_call_after_it(
    api: str, emulator: Emulator
) -> None:
    emulator.faults({"provider": "alpha", "kind": "timeout", "hang_s": 60})
    stream = _sdk(api).chat.completions.create(
        model="fast", messages=HELLO, stream=True, extra_headers={"X-Cascade-Timeout": "2"}
    )
    job_id = stream.response.headers["x-cascade-job-id"]
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass

    wait_for(lambda: _ended(api, job_id), 15, "the abandoned streamed job ending")
    assert _job(api, job_id)["status"] == "failed"
    assert calls_to(emulator, "beta") == 0
