"""Where the emulator's provider batch endpoints live, and their control endpoint.

Batch paths sit under ``/{provider}`` like every provider call, ahead of the catch-all
route, so ``/openai/v1/batches`` and ``/anthropic/v1/messages/batches`` reach them whatever
the provider is called. ``/_emulator/batches`` reads or sets how new batches behave::

    POST /_emulator/batches {"completion_delay_s": 2, "expire": true, "unfinished_fraction": 0.3,
                             "webhook_url": "http://...", "webhook_secret": "whsec_..."}
    GET  /_emulator/batches      -> the settings and every batch's id, provider and state
    DELETE /_emulator/batches    -> settings back to their defaults, batches and files gone

Lines fail as calls do, by the fault rules of ``/_emulator/faults``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.emulator.batches_anthropic import AnthropicBatches
from adapters.emulator.batches_engine import BatchBook, BatchSettings
from adapters.emulator.batches_gemini import GeminiBatches
from adapters.emulator.batches_openai import OpenAIBatches
from adapters.emulator.control import read_body

__all__ = ["batch_control_routes", "batch_routes"]


def batch_routes(book: BatchBook) -> list[Route]:
    """The provider-side batch endpoints of the three batch APIs."""
    openai, anthropic, gemini = OpenAIBatches(book), AnthropicBatches(book), GeminiBatches(book)
    p = "/{provider}"
    return [
        Route(f"{p}/v1/files", openai.upload, methods=["POST"]),
        Route(f"{p}/v1/files/{{file_id}}", openai.file, methods=["GET"]),
        Route(f"{p}/v1/files/{{file_id}}/content", openai.content, methods=["GET"]),
        Route(f"{p}/v1/batches", openai.create, methods=["POST"]),
        Route(f"{p}/v1/batches/{{batch_id}}", openai.retrieve, methods=["GET"]),
        Route(f"{p}/v1/batches/{{batch_id}}/cancel", openai.cancel, methods=["POST"]),
        Route(f"{p}/v1/messages/batches", anthropic.create, methods=["POST"]),
        Route(f"{p}/v1/messages/batches/{{batch_id}}", anthropic.retrieve, methods=["GET"]),
        Route(f"{p}/v1/messages/batches/{{batch_id}}/cancel", anthropic.cancel, methods=["POST"]),
        Route(f"{p}/v1/messages/batches/{{batch_id}}/results", anthropic.results,
              methods=["GET"]),
        Route(f"{p}/v1beta/models/{{model}}:batchGenerateContent", gemini.create,
              methods=["POST"]),
        Route(f"{p}/v1beta/batches/{{batch_id}}:cancel", gemini.cancel, methods=["POST"]),
        Route(f"{p}/v1beta/batches/{{batch_id}}", gemini.retrieve, methods=["GET"]),
    ]


def batch_control_routes(book: BatchBook) -> list[Route]:
    """``/batches`` under the control API's mount."""

    async def batches(request: Request) -> Response:
        if request.method == "POST":
            parsed = await read_body(request, BatchSettings)
            if isinstance(parsed, Response):
                return parsed
            book.settings = parsed
        elif request.method == "DELETE":
            book.reset()
        return JSONResponse(_snapshot(book))

    return [Route("/batches", batches, methods=["GET", "POST", "DELETE"])]


def _snapshot(book: BatchBook) -> dict[str, Any]:
    return {
        "settings": book.settings.model_dump(exclude={"webhook_secret"}),
        "webhooks_sent": book.webhooks_sent,
        "batches": [
            {
                "id": batch.id,
                "provider": batch.provider,
                "lines": len(batch.lines),
                "done": len(batch.results),
                "ending": batch.ending,
                "failed": batch.failure is not None,
            }
            for batch in book.batches.values()
        ],
    }
