"""Stock openai SDK code against ``cascade api`` on the shipped catalog (broker/cascade.yaml,
profile ``emulated``): real Redis, one real ``cascade worker`` for every shipped provider, the
emulator over HTTP.

Tier ``standard`` starts with claude-sonnet-5 on Anthropic: a parameter Anthropic cannot carry
routes the job to gpt-5.4 (OpenAI) instead of failing it. The parameter list is the SDK's
``CompletionCreateParamsBase`` (openai-python, ``types/chat/completion_create_params.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import redis

from broker.local_stack import LocalStack
from tests.integration.support import FAST_ENV, Emulator, api_server

pytestmark = pytest.mark.integration

SHIPPED = str(Path(__file__).parents[2] / "broker" / "cascade.yaml")
KEY = "sk-test-compat"
PROVIDERS = ("openai", "anthropic", "google", "deepseek", "mistral")
HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def stack(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # A database of its own: Celery's queue names are not prefixed.
    url = redis_url.rsplit("/", 1)[0] + "/13"
    redis.Redis.from_url(url).flushdb()
    env = {**FAST_ENV, "CASCADE_API_KEYS": f"acme={KEY}"}
    logs = tmp_path_factory.mktemp("compat-logs")
    with LocalStack(config=SHIPPED, redis_url=url, log_dir=logs, extra_env=env) as s:
        s.start_redis()
        s.start_emulator()
        s.start_worker(*PROVIDERS, name="all", concurrency=8)
        s.wait_for_workers(timeout=60)
        yield s


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[str]:
    with api_server(stack) as base:
        yield base


@pytest.fixture()
def emulator(stack: LocalStack) -> Iterator[Emulator]:
    found = Emulator(stack.emulator_url)
    found.reset()
    yield found
    found.reset()


@pytest.fixture()
def sdk(api: str, emulator: Emulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api}/v1", api_key=KEY, max_retries=0, timeout=30)


def _create(sdk: openai.OpenAI, **kwargs: Any) -> Any:
    """The raw response (for the headers) and the parsed chat.completion."""
    kwargs.setdefault("model", "standard")
    kwargs.setdefault("messages", HELLO)
    raw = sdk.chat.completions.with_raw_response.create(**kwargs)
    return raw, raw.parse()


# --- 1 and 2: every parameter the SDK sends is carried or routed around ----------------------

ROUTED_AROUND_ANTHROPIC: dict[str, dict[str, Any]] = {
    "n": {"n": 2},
    "seed": {"seed": 42},
    "stop_newline": {"stop": ["\n"]},
    "frequency_penalty": {"frequency_penalty": 0.5},
    "presence_penalty": {"presence_penalty": 0.5},
    "logit_bias": {"logit_bias": {"50256": -100}},
    "logprobs": {"logprobs": True, "top_logprobs": 2},
    "verbosity": {"verbosity": "low"},
    "web_search_options": {"web_search_options": {"search_context_size": "low"}},
}
CARRIED_BY_ANTHROPIC: dict[str, dict[str, Any]] = {
    "stop": {"stop": ["END"]},
    "reasoning_effort": {"reasoning_effort": "low"},
    "stream_options": {"stream_options": {"include_usage": True}},
    "service_tier": {"service_tier": "flex"},
    "prediction": {"prediction": {"type": "content", "content": "Hello"}},
    "store": {"store": False},
    "modalities": {"modalities": ["text"]},
    "prompt_cache_key": {"prompt_cache_key": "greeting"},
    "safety_identifier": {"safety_identifier": "user-hash-1"},
    "temperature_top_p": {"temperature": 0.5, "top_p": 0.9},
}


@pytest.mark.parametrize("case", sorted(ROUTED_AROUND_ANTHROPIC))
def test_a_parameter_anthropic_cannot_carry_is_answered_by_the_next_model(
    sdk: openai.OpenAI, case: str
) -> None:
    raw, completion = _create(sdk, **ROUTED_AROUND_ANTHROPIC[case])
    assert raw.headers["x-cascade-provider"] == "openai"
    assert raw.headers["x-cascade-model"] == "gpt-5.4"
    assert raw.headers["x-cascade-attempts"] == "1"  # routed at submit: no failed call first
    if case == "n":
        assert len(completion.choices) == 2
    if case == "logprobs":
        logprobs = completion.choices[0].logprobs
        assert logprobs is not None and logprobs.content
        assert len(logprobs.content[0].top_logprobs) == 2


@pytest.mark.parametrize("case", sorted(CARRIED_BY_ANTHROPIC))
def test_a_parameter_anthropic_carries_keeps_the_tiers_first_model(
    sdk: openai.OpenAI, case: str
) -> None:
    raw, completion = _create(sdk, **CARRIED_BY_ANTHROPIC[case])
    assert raw.headers["x-cascade-provider"] == "anthropic"
    assert raw.headers["x-cascade-model"] == "claude-sonnet-5"
    assert completion.choices[0].message.content


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"store": True}, "store"),
        ({"functions": [{"name": "f", "parameters": {}}]}, "functions"),
    ],
)
def test_a_refused_parameter_is_a_400_that_names_it(
    sdk: openai.OpenAI, kwargs: dict[str, Any], name: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        _create(sdk, **kwargs)
    assert name in refused.value.message
    assert "unknown field" not in refused.value.message


def test_a_parameter_no_target_carries_is_refused_naming_it_and_the_models(
    sdk: openai.OpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        _create(sdk, model="claude-haiku-4-5", seed=1)
    assert "anthropic cannot carry seed" in refused.value.message
    assert "claude-haiku-4-5" in refused.value.message


# --- 3: routing from the OpenAI endpoint ------------------------------------------------------


def test_extra_body_needs_route_the_job(sdk: openai.OpenAI) -> None:
    raw, _ = _create(sdk, extra_body={"needs": {"blocked_providers": ["anthropic", "openai"]}})
    assert raw.headers["x-cascade-provider"] == "google"


def test_openrouter_models_fall_back_in_order(sdk: openai.OpenAI, emulator: Emulator) -> None:
    emulator.faults({"provider": "anthropic", "kind": "status", "status": 503})
    raw, _ = _create(
        sdk, model="anthropic/claude-haiku-4-5", extra_body={"models": ["deepseek/deepseek-chat"]}
    )
    assert raw.headers["x-cascade-model"] == "deepseek-chat"


def test_openrouter_provider_preferences_route_the_job(sdk: openai.OpenAI) -> None:
    raw, _ = _create(sdk, extra_body={"provider": {"order": ["mistral"], "sort": "price"}})
    assert raw.headers["x-cascade-provider"] == "mistral"
    raw, _ = _create(sdk, extra_body={"provider": {"only": ["google"]}})
    assert raw.headers["x-cascade-provider"] == "google"
    raw, _ = _create(sdk, extra_body={"provider": {"ignore": ["anthropic"]}})
    assert raw.headers["x-cascade-provider"] == "openai"


def test_an_unsupported_openrouter_preference_is_a_400_naming_it(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        _create(sdk, extra_body={"provider": {"zdr": True}})
    assert "provider.zdr" in refused.value.message


# --- 5: responses an SDK reads ----------------------------------------------------------------


def test_headers_and_nested_usage_on_a_chat_completion(sdk: openai.OpenAI) -> None:
    raw, completion = _create(sdk)
    assert raw.headers["x-cascade-job-id"] == completion.model_extra["job_id"]
    assert float(raw.headers["x-cascade-cost-usd"]) > 0
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details is not None
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_an_unrecognized_argument_400_reroutes_instead_of_failing(
    sdk: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.faults(
        {
            "provider": "anthropic",
            "kind": "status",
            "status": 400,
            "message": "top_k: Extra inputs are not permitted",
        }
    )
    raw, _ = _create(sdk)
    assert raw.headers["x-cascade-provider"] == "openai"
    assert raw.headers["x-cascade-attempts"] == "2"
