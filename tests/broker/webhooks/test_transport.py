"""One webhook send against a real local receiver: the resolved address is checked (DNS
rebinding), the connection goes to that address with the right Host, redirects are answers."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from broker.webhooks import TargetPolicy
from broker.webhooks.transport import Resolver, send_checked, webhook_http_client
from tests.broker.webhooks.receivers import Receiver


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture()
def http() -> Iterator[httpx.Client]:
    client = webhook_http_client(5.0, 4)
    yield client
    client.close()


def resolving_to(address: str) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        return [address]

    return resolve


def test_a_public_name_that_resolves_to_loopback_is_not_called(
    receiver: Receiver, http: httpx.Client
) -> None:
    url = f"http://hooks.example.com:{receiver.port}/hook"

    outcome = send_checked(
        http, url, body=b"{}", headers={}, targets=TargetPolicy(),
        resolver=resolving_to("127.0.0.1"),
    )

    assert outcome.permanent and outcome.error is not None
    assert "127.0.0.1" in outcome.error and "loopback" in outcome.error
    assert receiver.received == []


def test_one_refused_address_among_several_refuses_the_send(
    receiver: Receiver, http: httpx.Client
) -> None:
    def resolve(host: str, port: int) -> list[str]:
        return ["8.8.8.8", "10.0.0.1"]

    outcome = send_checked(
        http, f"http://hooks.example.com:{receiver.port}/hook", body=b"{}", headers={},
        targets=TargetPolicy(), resolver=resolve,
    )

    assert outcome.permanent and "10.0.0.1" in str(outcome.error)


def test_the_send_connects_to_the_checked_address_with_the_names_host_header(
    receiver: Receiver, http: httpx.Client
) -> None:
    resolved: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    outcome = send_checked(
        http, f"http://hooks.example.com:{receiver.port}/hook?x=1", body=b'{"a":1}',
        headers={"X-Test": "1"}, targets=TargetPolicy.parse(["127.0.0.1/32"]), resolver=resolve,
    )

    assert outcome.error is None
    assert resolved == ["hooks.example.com"]
    [got] = receiver.received
    assert got.path == "/hook?x=1" and got.body == b'{"a":1}'
    assert got.headers["Host"] == f"hooks.example.com:{receiver.port}"
    assert got.headers["X-Test"] == "1"


def test_a_redirect_is_not_followed(http: httpx.Client) -> None:
    elsewhere = Receiver()
    redirecting = Receiver(status=307, location=elsewhere.url)
    try:
        outcome = send_checked(
            http, redirecting.url, body=b"{}", headers={},
            targets=TargetPolicy.parse(["127.0.0.1/32"]),
        )
    finally:
        redirecting.close()
        elsewhere.close()

    assert outcome.error == "HTTP 307: redirects are not followed"
    assert len(redirecting.received) == 1
    assert elsewhere.received == []


def test_a_url_refused_by_the_policy_is_not_sent_even_if_it_was_stored(
    receiver: Receiver, http: httpx.Client
) -> None:
    outcome = send_checked(http, receiver.url, body=b"{}", headers={}, targets=TargetPolicy())

    assert outcome.permanent and "loopback" in str(outcome.error)
    assert receiver.received == []


def test_https_to_the_checked_address_verifies_the_certificate_for_the_name(
    tmp_path: Path,
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=hooks.example.com", "-addext", "subjectAltName=DNS:hooks.example.com"],
        check=True, capture_output=True,
    )
    server_names: list[str] = []
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)

    def record_name(sock: ssl.SSLObject, name: str, context: ssl.SSLContext) -> None:
        server_names.append(name)

    server_tls.sni_callback = record_name
    receiver = Receiver()
    receiver.server.socket = server_tls.wrap_socket(receiver.server.socket, server_side=True)
    client_tls = ssl.create_default_context(cafile=str(cert))
    http = httpx.Client(verify=client_tls, follow_redirects=False, trust_env=False, timeout=5)
    try:
        outcome = send_checked(
            http, f"https://hooks.example.com:{receiver.port}/hook", body=b"{}", headers={},
            targets=TargetPolicy.parse(["127.0.0.1/32"]), resolver=resolving_to("127.0.0.1"),
        )
    finally:
        http.close()
        receiver.close()

    assert outcome.error is None
    assert server_names == ["hooks.example.com"]
    assert receiver.received[0].headers["Host"] == f"hooks.example.com:{receiver.port}"
