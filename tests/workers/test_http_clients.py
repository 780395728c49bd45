"""The worker's provider clients keep no cookies: what one call was sent never rides on the next.

A transport stands in for the provider here: the behaviour under test is the client's own."""

from __future__ import annotations

import httpx
import pytest

from routing.catalog import ProviderConfig
from workers.http_clients import (
    StatelessClient,
    http_client_for,
    http_clients_for,
    parsed_url,
    query_params,
)


def _provider(concurrency: int) -> ProviderConfig:
    return ProviderConfig.model_validate(
        {"wire_format": "openai", "base_url": "https://api.example/v1", "api_key_env": "K",
         "concurrency": concurrency}
    )  # fmt: skip


def test_a_cookie_a_provider_sets_is_never_sent_back() -> None:
    seen: list[str | None] = []

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "__cf_bm=abc; Path=/"}, json={})

    with StatelessClient(transport=httpx.MockTransport(provider)) as client:
        client.get("https://api.example/v1/models")
        client.get("https://api.example/v1/models")

        assert seen == [None, None]
        assert not client.cookies


def test_a_stateless_client_refuses_cookies_given_to_it() -> None:
    with pytest.raises(TypeError, match="keeps no cookies"):
        StatelessClient(cookies={"a": "b"})
    with StatelessClient() as client, pytest.raises(TypeError, match="keeps no cookies"):
        client.cookies = {"a": "b"}


def test_a_providers_concurrency_is_split_over_pools_of_at_most_sixteen() -> None:
    clients = http_clients_for(_provider(40))

    assert len(clients) == 3
    assert all(isinstance(client, StatelessClient) for client in clients)
    for client in clients:
        client.close()


def test_a_client_is_bounded_by_the_providers_timeouts() -> None:
    provider = _provider(4)
    timeouts = provider.timeouts
    with http_client_for(provider, 4) as client:
        assert client.timeout == httpx.Timeout(
            connect=timeouts.connect, read=timeouts.read, write=timeouts.write, pool=timeouts.pool
        )


def test_an_adapters_url_is_parsed_once_and_sent_as_it_was_written() -> None:
    url = "http://127.0.0.1:1/v1/chat/completions"
    assert parsed_url(url) is parsed_url(url)
    assert str(parsed_url(url)) == url


def test_no_query_parameters_are_none_so_httpx_keeps_the_parsed_url() -> None:
    assert query_params({}) is None
    assert query_params({"key": "k"}) == {"key": "k"}
    client = httpx.Client()
    try:
        request = client.build_request("POST", parsed_url("http://h/v1/x"), params=None)
        assert str(request.url) == "http://h/v1/x"
        with_key = client.build_request("POST", parsed_url("http://h/v1/x"), params={"key": "k"})
        assert str(with_key.url) == "http://h/v1/x?key=k"
    finally:
        client.close()
