"""A spend cap is hard: however many calls run at once, what they cost never passes it.

Two ``cascade worker`` processes share provider alpha, whose daily cap fits about ten calls of
a 40-message prompt. The planner's typical token estimate counts such a prompt short (3 tokens
of framing a message where the emulator, like the providers, bills more), so reserving that
estimate let calls in flight together spend past the cap. The reservation is now a ceiling the
call cannot exceed; the cap is checked on the results themselves. The jobs the cap stops are
held for it (a cap reached for now), here for at most two seconds
(``CASCADE_SPEND_HOLD_MAX_S``), then end ``SpendCapReached``.

Runs on database 2 of the session's Redis: Celery's queue names carry no prefix.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adapters.emulator.content import Message, prompt_tokens
from broker.jobs import AttemptOutcome, CompletionResult, FailedResult
from broker.local_stack import LocalStack
from tests.integration.support import (
    Emulator,
    catalog_with_daily_cap,
    client_for,
    stack_on_database,
)

pytestmark = pytest.mark.integration

TURNS = [{"role": "user" if i % 2 == 0 else "assistant", "content": "ok"} for i in range(39)]
MAX_TOKENS = 4
PROMPT: dict[str, Any] = {
    "messages": [*TURNS, {"role": "user", "content": "ok"}],
    "max_tokens": MAX_TOKENS,
}
JOBS = 40


def _one_call_usd() -> float:
    """What the emulator bills one such call on a1 ($0.10 / $0.40 per million tokens)."""
    prompt = prompt_tokens([Message(m["role"], m["content"]) for m in PROMPT["messages"]])
    return (prompt * 0.10 + MAX_TOKENS * 0.40) / 1e6


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, float]:
    cap = round(_one_call_usd() * 10.5, 9)
    return catalog_with_daily_cap(tmp_path_factory.mktemp("hard-cap"), "alpha", cap), cap


@pytest.fixture(scope="module")
def stack(
    redis_url: str, capped: tuple[str, float], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    with stack_on_database(
        redis_url,
        2,
        config=capped[0],
        log_dir=tmp_path_factory.mktemp("hard-cap-logs"),
        workers={"alpha-1": ("alpha", 4), "alpha-2": ("alpha", 4)},
        env={"CASCADE_SPEND_HOLD_MAX_S": "2", "CASCADE_HOLD_S": "0.5"},
    ) as started:
        yield started


def test_two_workers_with_long_prompts_never_spend_past_a_hard_cap(
    stack: LocalStack, capped: tuple[str, float]
) -> None:
    config, cap = capped
    emulator = Emulator(stack.emulator_url)
    emulator.reset()
    # Slow answers keep many calls in flight at once, as under real load.
    emulator.latency(providers={"alpha": 0.3})
    needs = {"tier": "fast", "allowed_providers": ["alpha"]}
    with client_for(stack, config) as client:
        ids = client.submit_many([{"needs": needs, "request": PROMPT}] * JOBS)
        results = client.wait_many(ids, timeout=60)
        # Every call, made or skipped, took its mark away: none is left to pass for a lost call.
        assert list(client.redis.scan_iter("cascade:job:*:call")) == []
    emulator.latency(providers={"alpha": 0.0})

    assert len(results) == JOBS
    spent = sum(a.cost_usd for r in results.values() for a in r.attempts)
    assert spent <= cap, f"spent ${spent:.9f} of a ${cap:.9f} cap"
    answered = [r for r in results.values() if isinstance(r, CompletionResult)]
    refused = [r for r in results.values() if isinstance(r, FailedResult)]
    assert answered and refused, "the cap should stop part of the load"
    assert all(
        r.attempts[-1].outcome == AttemptOutcome.SKIPPED
        and r.attempts[-1].error_class == "SpendCapReached"
        for r in refused
    )
