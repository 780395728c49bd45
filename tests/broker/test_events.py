"""The events a worker sends, read by Celery's own event state (what Flower shows): a finished
job's task carries its reroute chain, never an earlier hop's exception as its own."""

from __future__ import annotations

import time
from typing import Any, cast

from celery.events.state import State

from broker import events
from tests.broker.test_reroute_chain import A1, B1

JOB = "job-7"


class Recorder:
    """A ``send`` that keeps each event as Celery would put it on the wire."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def __call__(self, event_type: str, **fields: Any) -> None:
        self.sent.append(
            {"type": event_type, "uuid": JOB, "hostname": "w@h", "timestamp": time.time(),
             "local_received": time.time(), "clock": len(self.sent) + 1, **fields}
        )


def _flower_task(sent: list[dict[str, Any]]) -> Any:
    state = State()
    for event in sent:
        state.event(event)
    return cast(Any, state).tasks[JOB]


def test_an_answered_job_after_a_retry_and_a_reroute_shows_no_exception_and_its_chain() -> None:
    send = Recorder()
    events.job_retried(send, A1, hop=0, attempt=1, error_class="ServerError", status_code=503,
                       countdown_s=0.1)
    events.job_rerouted(send, A1, B1, hop=0, error_class="ServerError", status_code=503)
    summary = "answered by beta/b1 (fast.beta) at hop 1, after hop 0 ..."
    events.job_answered(send, summary=summary, hop=1, attempts=3)
    send("task-succeeded", result=repr(summary), runtime=0.2)

    task = _flower_task(send.sent)

    assert task.state == "SUCCESS"
    assert task.exception is None and task.traceback is None
    assert task.result == repr(summary)


def test_a_rerouted_job_shows_the_move_as_its_exception_not_the_retry_before() -> None:
    send = Recorder()
    events.job_retried(send, A1, hop=0, attempt=1, error_class="Overloaded", status_code=529,
                       countdown_s=0.1)
    events.job_rerouted(send, A1, B1, hop=0, error_class="ServerError", status_code=503)

    task = _flower_task(send.sent)

    assert task.state == "REROUTED"
    assert task.exception == (
        "rerouted: hop 0 alpha/a1 (fast.alpha) -> hop 1 beta/b1 (fast.beta): ServerError (HTTP 503)"
    )


def test_a_failed_job_shows_its_error_and_its_reroute_chain_as_the_traceback() -> None:
    send = Recorder()
    chain = ["hop 0 a -> hop 1 b: ServerError (HTTP 503)", "hop 1 b -> hop 2 c: AuthError"]
    events.job_failed(send, error_class="ServerError", reason="every target failed", attempts=5,
                      chain=chain)

    task = _flower_task(send.sent)

    assert task.state == "FAILURE"
    assert task.exception == "ServerError: every target failed"
    assert task.traceback == "\n".join(chain)
