"""A plain call's time limits: the wait for the response headers is bounded apart from the
read timeout, which then bounds each read of the body."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from adapters.base import AdapterTarget, ParsedResponse
from adapters.errors import ProviderTimeout
from adapters.registry import get_adapter
from broker.jobs import CompletionRequest
from workers.calls import call_provider

ANSWER = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()


def _serve(listener: socket.socket, headers_after_s: float, body_after_s: float) -> None:
    connection, _ = listener.accept()
    with connection:
        connection.recv(65536)
        time.sleep(headers_after_s)
        head = (
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            f"content-length: {len(ANSWER)}\r\n\r\n"
        )
        try:
            connection.sendall(head.encode())
            time.sleep(body_after_s)
            connection.sendall(ANSWER)
        except OSError:
            return  # the client gave up, as it should have


@pytest.fixture()
def provider_url(request: pytest.FixtureRequest) -> Iterator[str]:
    headers_after_s, body_after_s = request.param
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    thread = threading.Thread(
        target=_serve, args=(listener, headers_after_s, body_after_s), daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    listener.close()


def _call(url: str, client: httpx.Client) -> ParsedResponse:
    request = CompletionRequest.model_validate({"messages": [{"role": "user", "content": "hi"}]})
    target = AdapterTarget("p", url, "m", {})
    return call_provider(
        client,
        get_adapter("openai"),
        request,
        target,
        "sk-test",
        job_id="j1",
        total_timeout_s=30,
        headers_timeout_s=0.5,
    )


@pytest.mark.parametrize("provider_url", [(5.0, 0.0)], indirect=True)
def test_a_provider_silent_before_its_headers_times_out_at_the_headers_limit(
    provider_url: str,
) -> None:
    with httpx.Client(timeout=httpx.Timeout(10.0)) as client:
        start = time.monotonic()
        with pytest.raises(ProviderTimeout):
            _call(provider_url, client)
        assert time.monotonic() - start < 2.0  # the headers' 0.5 s, not the read's 10 s


@pytest.mark.parametrize("provider_url", [(0.0, 1.0)], indirect=True)
def test_a_body_slower_than_the_headers_limit_is_read_under_the_read_timeout(
    provider_url: str,
) -> None:
    with httpx.Client(timeout=httpx.Timeout(10.0)) as client:
        parsed = _call(provider_url, client)
    assert parsed.usage.completion_tokens == 1
