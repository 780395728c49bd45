"""A real worker acknowledges a succeeded job's Celery message in the job's finish round trip
(``workers/message_acks.py``), not in a Redis transaction of kombu's own afterwards.

Counted on a Redis server of this module's own, whose command statistics only this stack adds
to: each message costs one transaction (kombu's record of it as unacknowledged, written when it
is delivered), where it cost two while the acknowledgement was a second one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from broker.jobs import CompletionResult
from broker.keys import CELERY_UNACKED, CELERY_UNACKED_INDEX
from broker.local_stack import LocalStack
from tests.integration.support import FAST_ENV, FIXTURE_CATALOG, client_for
from tests.redis_writes import command_calls

pytestmark = pytest.mark.integration

JOBS = 20


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    logs = tmp_path_factory.mktemp("message-acks-logs")
    with LocalStack(config=str(FIXTURE_CATALOG), log_dir=logs, extra_env=FAST_ENV) as s:
        s.start_redis()  # no URL given: a private server
        s.start_emulator()
        s.start_worker("alpha", concurrency=4)
        s.wait_for_workers()
        yield s


def test_a_succeeded_jobs_message_is_acknowledged_without_a_transaction_of_its_own(
    stack: LocalStack,
) -> None:
    server = redis.Redis.from_url(stack.redis_url or "")
    request = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    with client_for(stack, str(FIXTURE_CATALOG)) as client:
        warm_up = client.submit(request, tier="fast")  # the worker's first call opens its pools
        assert isinstance(client.wait(warm_up, timeout=30), CompletionResult)
        server.config_resetstat()
        job_ids = [client.submit(request, tier="fast") for _ in range(JOBS)]
        results = [client.wait(job_id, timeout=30) for job_id in job_ids]

    assert all(isinstance(result, CompletionResult) for result in results)
    # One per message (its unacknowledged record), and a few of kombu's restore sweeps'.
    assert command_calls(server, "exec") < JOBS * 3 // 2
    assert server.hlen(CELERY_UNACKED) == 0 and server.zcard(CELERY_UNACKED_INDEX) == 0
    assert server.llen("fast.alpha") == 0  # nothing handed back to run again
