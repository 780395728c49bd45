"""The stack the failover and caller-wait tests share: the fixture catalog with one provider on
the shipped timeouts and retry budget, every fixture provider served by one real worker, the
emulator, and ``cascade api`` keyed for one tenant (tests/integration/test_failover.py,
test_caller_waits.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import redis
import yaml

from broker.local_stack import LocalStack
from tests.integration.support import FIXTURE_CATALOG, Emulator

__all__ = ["calls_to", "catalog_on_shipped_timeouts", "sdk_stack"]


def catalog_on_shipped_timeouts(
    directory: Path, provider: str = "alpha", circuit: dict[str, Any] | None = None
) -> str:
    """The fixture catalog with ``provider``'s own timeouts taken out (the shipped defaults
    apply) and, if given, its circuit policy."""
    data: dict[str, Any] = yaml.safe_load(FIXTURE_CATALOG.read_text())
    data["providers"][provider].pop("timeouts")
    if circuit is not None:
        data["providers"][provider]["circuit"] = circuit
    path = directory / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@contextmanager
def sdk_stack(
    config: str, redis_url: str, db: int, logs: Path, api_key: str
) -> Iterator[LocalStack]:
    """The stack on database ``db`` (flushed: Celery's queue names are not prefixed), with the
    shipped backoff; only redelivery and claims are shortened."""
    url = redis_url.rsplit("/", 1)[0] + f"/{db}"
    with closing(redis.Redis.from_url(url)) as connection:
        connection.flushdb()
    env = {
        "CASCADE_API_KEYS": f"acme={api_key}",
        "CASCADE_VISIBILITY_TIMEOUT_S": "120",
        "CASCADE_RESTORE_INTERVAL_S": "1",
        "CASCADE_CLAIM_TTL_S": "60",
    }
    with LocalStack(config=config, redis_url=url, log_dir=logs, extra_env=env) as stack:
        stack.start_redis()
        stack.start_emulator()
        stack.start_worker("alpha", "beta", "gamma", name="all", concurrency=8)
        stack.wait_for_workers(timeout=60)
        yield stack


def calls_to(emulator: Emulator, provider: str) -> int:
    """The calls the emulator received for ``provider``'s models."""
    counts = emulator.calls()["by_model"]
    return int(sum(v for k, v in counts.items() if k.startswith(f"{provider}/")))
