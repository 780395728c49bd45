"""``cascade batch submit`` refuses a webhook target before it enqueues anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from tests.broker.test_cli import cascade

pytestmark = pytest.mark.integration


@pytest.fixture()
def redis_url(redis_url: str) -> str:
    url = redis_url.rsplit("/", 1)[0] + "/12"
    redis.Redis.from_url(url).flushdb()
    return url


def test_a_batch_with_an_internal_webhook_url_is_refused_and_nothing_is_enqueued(
    redis_url: str, tmp_path: Path
) -> None:
    lines = tmp_path / "in.jsonl"
    body = {"model": "fast", "messages": [{"role": "user", "content": "hi"}]}
    lines.write_text(
        json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                    "body": body}) + "\n"
    )

    shown = cascade(
        "batch", "submit", str(lines), "--webhook-url", "http://169.254.169.254/latest",
        redis_url=redis_url,
    )

    assert shown.returncode == 3, shown.stderr
    assert "--webhook-url" in shown.stderr and "link-local" in shown.stderr
    assert redis.Redis.from_url(redis_url).dbsize() == 0
