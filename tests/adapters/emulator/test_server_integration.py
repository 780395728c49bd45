"""The emulator as a real HTTP server in its own process (uvicorn), reached over loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.adapters.emulator.helpers import AUTH, CHAT_PATH, chat_body

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, "the emulator process exited"
        try:
            if httpx.get(f"{base_url}/_emulator/health", timeout=1).json() == {"ok": True}:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the emulator did not become healthy in 15 s")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = _free_port()
    command = [sys.executable, "-m", "adapters.emulator", "--host", "127.0.0.1"]
    process = subprocess.Popen([*command, "--port", str(port)], cwd=REPO_ROOT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base_url, process)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def emulator(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=10) as client:
        client.post("/_emulator/reset")
        yield client


def test_real_server_answers_and_counts_the_job(emulator: httpx.Client) -> None:
    headers = {**AUTH, "X-Cascade-Job-Id": "job-42"}
    response = emulator.post(CHAT_PATH, json=chat_body(), headers=headers)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"].startswith("[openai/gpt-5.4] ")
    calls = emulator.get("/_emulator/calls").json()
    assert calls["by_model"] == {"openai/gpt-5.4": 1}
    assert calls["answered_by_job"] == {"job-42": 1}


def test_disconnect_fault_closes_the_connection_mid_answer(emulator: httpx.Client) -> None:
    rules = {"rules": [{"kind": "disconnect", "first_n": 1}]}
    assert emulator.post("/_emulator/faults", json=rules).status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        emulator.post(CHAT_PATH, json=chat_body(), headers=AUTH)
    assert emulator.post(CHAT_PATH, json=chat_body(), headers=AUTH).status_code == 200
    assert emulator.get("/_emulator/calls").json()["by_status"] == {"disconnect": 1, "200": 1}


def test_timeout_fault_lets_the_client_read_timeout_fire(emulator: httpx.Client) -> None:
    rules = {"rules": [{"kind": "timeout", "hang_s": 5, "first_n": 1}]}
    emulator.post("/_emulator/faults", json=rules)
    with pytest.raises(httpx.ReadTimeout):
        emulator.post(CHAT_PATH, json=chat_body(), headers=AUTH, timeout=0.3)


async def _raw_call(host: str, port: int, body: bytes) -> bytes:
    """One HTTP/1.1 call on its own socket, returning the status code.

    A bare socket, not httpx: httpx's AsyncClient itself spends several seconds opening 300
    connections at once here, which would hide what the server does.
    """
    reader, writer = await asyncio.open_connection(host, port)
    head = (
        f"POST {CHAT_PATH} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer sk-test\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer.split(b" ", 2)[1]


def test_300_concurrent_slow_calls_finish_together(emulator: httpx.Client, server: str) -> None:
    emulator.post("/_emulator/latency", json={"base": 1.0})
    url = httpx.URL(server)
    host, port = url.host, url.port
    assert port is not None

    async def burst() -> list[bytes]:
        bodies = [json.dumps(chat_body(f"question {i}")).encode() for i in range(300)]
        return await asyncio.gather(*(_raw_call(host, port, body) for body in bodies))

    started = time.monotonic()
    statuses = asyncio.run(burst())
    elapsed = time.monotonic() - started
    assert statuses == [b"200"] * 300
    # serial calls would take 300 s; concurrent ones take about the latency plus overhead
    assert elapsed < 4, elapsed
    assert emulator.get("/_emulator/calls").json()["by_status"] == {"200": 300}
