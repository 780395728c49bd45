"""map_transport_error (adapters/errors.py): httpx's transport failures to cascade's classes.

Exception names from httpx's documented hierarchy (httpx ``_exceptions.py``): TimeoutException
covers ConnectTimeout, ReadTimeout, WriteTimeout, PoolTimeout; NetworkError covers ConnectError,
ReadError, WriteError, CloseError; ProtocolError covers Local/RemoteProtocolError.
"""

from __future__ import annotations

import httpx
import pytest

from adapters.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    map_transport_error,
)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectTimeout("connect timed out"), ProviderTimeout),
        (httpx.ReadTimeout("read timed out"), ProviderTimeout),
        (httpx.WriteTimeout("write timed out"), ProviderTimeout),
        (httpx.PoolTimeout("no connection available"), ProviderTimeout),
        (httpx.ConnectError("[Errno 111] Connection refused"), ProviderConnectionError),
        (httpx.ReadError("connection reset by peer"), ProviderConnectionError),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."),
         ProviderConnectionError),
    ],
)
def test_each_transport_failure_maps_to_its_specific_class(
    exc: httpx.TransportError, expected: type[ProviderError]
) -> None:
    error = map_transport_error(exc)
    assert type(error) is expected
    assert type(exc).__name__ in error.message
    assert error.status_code is None


def test_a_timeout_without_text_still_names_its_kind() -> None:
    assert map_transport_error(httpx.PoolTimeout("")).message == "PoolTimeout"
