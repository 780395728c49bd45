"""A job's way along its route, told from its attempts: each hop, from where to where, and why."""

from __future__ import annotations

from datetime import UTC, datetime

from broker.jobs import Attempt, AttemptOutcome, TargetRef
from broker.reroute_chain import answer_summary, reroute_chain, reroute_step

A1 = TargetRef(provider="alpha", model="a1", model_id="alpha-1", tier="fast", queue="fast.alpha")
B1 = TargetRef(provider="beta", model="b1", model_id="beta-fast-1", tier="fast", queue="fast.beta")
G1 = TargetRef(provider="gamma", model="g1", model_id="g-1", tier="smart", queue="smart.gamma")
_AT = datetime(2026, 12, 1, tzinfo=UTC)


def attempt(
    target: TargetRef,
    hop: int,
    outcome: AttemptOutcome,
    *,
    number: int = 1,
    run: int = 0,
    error_class: str | None = None,
    status_code: int | None = None,
    error_message: str | None = None,
) -> Attempt:
    return Attempt(
        target=target,
        hop=hop,
        run=run,
        number=number,
        started_at=_AT,
        duration_s=0.1,
        outcome=outcome,
        error_class=error_class,
        status_code=status_code,
        error_message=error_message,
    )


def test_a_reroute_step_names_both_hops_their_targets_and_the_reason() -> None:
    assert reroute_step(A1, B1, hop=0, error_class="ServerError", status_code=503) == (
        "hop 0 alpha/a1 (fast.alpha) -> hop 1 beta/b1 (fast.beta): ServerError (HTTP 503)"
    )


def test_the_chain_gives_one_step_per_move_with_the_last_error_of_the_hop_left() -> None:
    attempts = [
        attempt(A1, 0, AttemptOutcome.RETRY, error_class="Overloaded", status_code=529),
        attempt(A1, 0, AttemptOutcome.REROUTE, number=2, error_class="ServerError",
                status_code=503),
        attempt(B1, 1, AttemptOutcome.SKIPPED, error_class="CircuitOpen",
                error_message="the circuit of beta/b1 is open"),
        attempt(G1, 2, AttemptOutcome.SUCCESS),
    ]

    assert reroute_chain(attempts) == [
        "hop 0 alpha/a1 (fast.alpha) -> hop 1 beta/b1 (fast.beta): ServerError (HTTP 503)",
        "hop 1 beta/b1 (fast.beta) -> hop 2 gamma/g1 (smart.gamma): "
        "skipped, the circuit of beta/b1 is open",
    ]
    assert answer_summary(attempts) == (
        "answered by gamma/g1 (smart.gamma) at hop 2, after "
        "hop 0 alpha/a1 (fast.alpha) -> hop 1 beta/b1 (fast.beta): ServerError (HTTP 503); "
        "hop 1 beta/b1 (fast.beta) -> hop 2 gamma/g1 (smart.gamma): "
        "skipped, the circuit of beta/b1 is open"
    )


def test_a_job_answered_at_its_first_hop_has_no_chain() -> None:
    attempts = [attempt(A1, 0, AttemptOutcome.SUCCESS)]

    assert reroute_chain(attempts) == []
    assert answer_summary(attempts) == "answered by alpha/a1 (fast.alpha) at hop 0"


def test_a_replay_from_the_dead_letters_shows_as_a_new_run_not_a_reroute() -> None:
    attempts = [
        attempt(A1, 0, AttemptOutcome.FAILED, error_class="InvalidRequest", status_code=400),
        attempt(A1, 0, AttemptOutcome.SUCCESS, run=1),
    ]

    assert reroute_chain(attempts) == ["replay 1: from hop 0 alpha/a1 (fast.alpha)"]
