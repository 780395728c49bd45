"""The errors a provider call can end in, one class per thing the worker does about it.

Every failure of a provider call, whatever the wire format, becomes exactly one of these:

ProviderError                       a provider call failed
├── TransientError                  worth another try on the same target
│   ├── RateLimited                 429, quota headers: wait Retry-After, then retry
│   ├── Overloaded                  503, 529: back off, retry; counts toward the circuit
│   ├── ServerError                 500, 502, 504, an unreadable answer; counts toward the circuit
│   ├── ProviderTimeout             connect, read, write or pool timeout
│   └── ProviderConnectionError     refused, reset, DNS, protocol errors
├── TargetError                     this target cannot serve the job; another one may
│   ├── QuotaExhausted              spend or billing limit: no retry helps until it resets
│   ├── AuthError                   401, 403, a rejected key: trip the circuit for that key
│   ├── ContextTooLong              the prompt is over the window: only a larger model helps
│   ├── ContentBlocked              the provider's safety system refused the request
│   ├── ModelNotFound               the provider does not know the model id (a catalog mistake)
│   └── UnsupportedParameter        a 400 naming a parameter this target does not take
├── InvalidRequest                  no provider would accept it: fail the job now
└── PrefillRefused                  a fallback refused (4xx) to continue a broken stream's
                                    partial answer: the job fails with the stream's own
                                    error, which this carries, not with the refusal

Adapters classify; the worker acts. ``map_transport_error`` is the one place that turns httpx's
exceptions into these classes, and ``map_stream_error`` the one place for a stream's faults, which
the stream parsers (``adapters/streams``) raise as their own exceptions:

StreamFault                         a streamed answer went wrong after its 2xx status
├── StreamErrorEvent                the provider sent an error event mid-stream (Anthropic's
│                                   ``error``, OpenAI's ``{"error": ...}`` data line): the class
│                                   the format's own error tables give it (overloaded_error ->
│                                   Overloaded, retryable; invalid_request_error -> InvalidRequest)
├── MalformedChunk                  an event that is not what the format promises -> ServerError
│                                   (retryable: the provider's fault, counted toward the circuit)
└── StreamCut                       the body ended before the answer was complete (no finish
                                    reason, no terminal event) -> ProviderConnectionError
                                    (retryable, as a connection reset is)

A stream whose answer is complete (finish reason and usage seen) but whose terminal event
(``[DONE]``, ``message_stop``) never came is not a fault: it is finished, with the usage it had.
"""

from __future__ import annotations

import httpx

__all__ = [
    "AuthError",
    "ContentBlocked",
    "ContextTooLong",
    "InvalidRequest",
    "MalformedChunk",
    "ModelNotFound",
    "Overloaded",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeout",
    "QuotaExhausted",
    "RateLimited",
    "ServerError",
    "StreamCut",
    "StreamErrorEvent",
    "StreamFault",
    "TargetError",
    "TransientError",
    "UnsupportedParameter",
    "map_stream_error",
    "map_transport_error",
    "PrefillRefused",
]


class ProviderError(Exception):
    """A provider call failed. ``status_code`` is the HTTP status when there was one."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        provider_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after
        self.provider_code = provider_code

    @property
    def error_class(self) -> str:
        return type(self).__name__


class TransientError(ProviderError):
    """Worth another try on the same target after a pause."""


class RateLimited(TransientError):
    """The provider asked us to slow down; ``retry_after`` says for how long when it told us."""


class Overloaded(TransientError):
    """The provider is overloaded (503, Anthropic's 529)."""


class ServerError(TransientError):
    """The provider failed on its side (500, 502, 504) or answered with something unreadable."""


class ProviderTimeout(TransientError):
    """The call did not finish in time: connect, read, write or waiting for a pooled connection."""


class ProviderConnectionError(TransientError):
    """The connection failed: refused, reset, a name that does not resolve, a broken protocol."""


class TargetError(ProviderError):
    """This target cannot serve this job; retrying it is pointless, another target may serve it."""


class QuotaExhausted(TargetError):
    """A spend or billing limit: 429 insufficient_quota, 402. Clears only when the period resets."""


class AuthError(TargetError):
    """The key was refused (401, 403, or a provider's own way of saying so)."""


class ContextTooLong(TargetError):
    """The prompt and the output limit do not fit the model's context window."""


class ContentBlocked(TargetError):
    """The provider's safety system refused the input."""


class ModelNotFound(TargetError):
    """The provider does not serve the model id the catalog gave it."""


class UnsupportedParameter(TargetError):
    """The target refused a parameter it does not know or take ("Unrecognized request argument
    supplied", "Unsupported parameter", "Extra inputs are not permitted"): the request is fine
    for another model, so the job moves on instead of failing."""


class InvalidRequest(ProviderError):
    """The request itself is wrong; no provider would accept it, so the job fails at once."""


class PrefillRefused(ProviderError):
    """A call that was to continue a partial answer (an assistant prefill) was refused with a
    4xx. The job ends with the fault that broke its stream (``original_class``,
    ``original_message``): the refusal is the fallback's, and would hide what went wrong."""

    def __init__(self, refusal: ProviderError, original_class: str, original_message: str):
        super().__init__(
            f"the fallback refused to continue the partial answer ({refusal.error_class}:"
            f" {refusal.message})",
            status_code=refusal.status_code,
            provider_code=refusal.provider_code,
        )
        self.original_class = original_class
        self.original_message = original_message


def map_transport_error(exc: httpx.TransportError) -> ProviderError:
    """The most specific cascade error for an httpx transport failure (no response was read)."""
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeout(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    if isinstance(exc, httpx.NetworkError | httpx.ProtocolError | httpx.ProxyError):
        return ProviderConnectionError(f"{type(exc).__name__}: {exc}")
    return ProviderConnectionError(f"{type(exc).__name__}: {exc}")


class StreamFault(Exception):
    """A streamed answer went wrong after its 2xx status; ``map_stream_error`` classifies it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StreamErrorEvent(StreamFault):
    """The provider reported an error inside the stream; ``error`` is its classification."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(f"error event mid-stream: {error.message}")
        self.error = error


class MalformedChunk(StreamFault):
    """An event that is not valid JSON, or not the shape its format promises."""


class StreamCut(StreamFault):
    """The body ended before the answer was complete."""


def map_stream_error(exc: StreamFault) -> ProviderError:
    """The cascade error for a stream's fault (see the tree in this module's docstring)."""
    if isinstance(exc, StreamErrorEvent):
        return exc.error
    if isinstance(exc, MalformedChunk):
        return ServerError(f"malformed stream chunk: {exc.message}")
    return ProviderConnectionError(f"stream cut: {exc.message}")
