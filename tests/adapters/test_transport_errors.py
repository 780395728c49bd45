"""map_transport_error and map_stream_error (adapters/errors.py): httpx's transport failures
and a stream's faults to cascade's classes.

Exception names from httpx's documented hierarchy (httpx ``_exceptions.py``): TimeoutException
covers ConnectTimeout, ReadTimeout, WriteTimeout, PoolTimeout; NetworkError covers ConnectError,
ReadError, WriteError, CloseError; ProtocolError covers Local/RemoteProtocolError.
"""

from __future__ import annotations

import httpx
import pytest

from adapters.errors import (
    MalformedChunk,
    Overloaded,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    ServerError,
    StreamCut,
    StreamErrorEvent,
    StreamFault,
    TransientError,
    map_stream_error,
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
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            ProviderConnectionError,
        ),
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


# Every StreamFault class, with the class it maps to. A new fault class must be added here, so
# that none is left unmapped (the test below walks the whole tree).
_STREAM_FAULTS: dict[type[StreamFault], tuple[StreamFault, type[ProviderError]]] = {
    StreamErrorEvent: (StreamErrorEvent(Overloaded("Overloaded")), Overloaded),
    MalformedChunk: (MalformedChunk("line 7: the event's data is not JSON"), ServerError),
    StreamCut: (
        StreamCut("the body ended before the answer's finish reason"),
        ProviderConnectionError,
    ),
}


def _subclasses(cls: type[StreamFault]) -> set[type[StreamFault]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_no_stream_fault_is_left_unmapped() -> None:
    assert _subclasses(StreamFault) == set(_STREAM_FAULTS)
    for fault, expected in _STREAM_FAULTS.values():
        error = map_stream_error(fault)
        assert type(error) is expected
        assert error.status_code is None


def test_every_stream_fault_is_retryable_but_an_error_event_keeps_its_own_class() -> None:
    for fault, _ in _STREAM_FAULTS.values():
        assert isinstance(map_stream_error(fault), TransientError)
    refused = StreamErrorEvent(ProviderError("invalid"))
    assert map_stream_error(refused) is refused.error
    assert "line 7" in map_stream_error(_STREAM_FAULTS[MalformedChunk][0]).message
