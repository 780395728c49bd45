"""Which catalog models may continue a partial answer (an assistant prefill), and the check
that a catalog's ``prefill: true`` names a wire format that has one.

A stream that breaks after part of its answer reached the caller continues on its fallback with
that part as a trailing assistant message, where the target supports it
(``workers/stream_resume.py``); elsewhere the answer restarts. Anthropic's Messages API continues
a final assistant turn ("Prefill Claude's response",
https://docs.claude.com/en/docs/prefill-claudes-response), but not every model does: Opus 4.6
and later refuse it with a 400 ("This model does not support assistant message prefill"), so
the capability is the catalog's, per model. OpenAI's Chat Completions has no prefill: a
trailing assistant message there is context, answered anew.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

__all__ = ["PREFILL_WIRE_FORMATS", "prefill_problems"]

# wire formats whose API continues a trailing assistant message
PREFILL_WIRE_FORMATS: frozenset[str] = frozenset({"anthropic"})


class _Model(Protocol):
    @property
    def provider(self) -> str: ...
    @property
    def prefill(self) -> bool: ...


class _Provider(Protocol):
    @property
    def wire_format(self) -> str: ...


def prefill_problems(models: Sequence[_Model], providers: Mapping[str, _Provider]) -> list[str]:
    """One line per model that claims a prefill its provider's wire format cannot send."""
    problems = []
    for index, model in enumerate(models):
        provider = providers.get(model.provider)
        if model.prefill and provider is not None:
            if provider.wire_format not in PREFILL_WIRE_FORMATS:
                problems.append(
                    f"models[{index}].prefill: wire format {provider.wire_format!r} has no"
                    f" assistant prefill (only {', '.join(sorted(PREFILL_WIRE_FORMATS))})"
                )
    return problems
