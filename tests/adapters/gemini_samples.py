"""Gemini generateContent wire samples shared by the Gemini adapter tests.

Bodies follow Google's published shapes: GenerateContentResponse in
https://ai.google.dev/api/generate-content#generatecontentresponse and googleapis/python-genai
``types.py``; error bodies are the ones quoted in provider-formats.md section 4.4 with their
sources.
"""

from __future__ import annotations

import json
from typing import Any

from adapters.base import AdapterTarget

__all__ = ["TARGET", "as_bytes", "error_body", "text_response"]

TARGET = AdapterTarget(
    provider="gemini",
    base_url="https://generativelanguage.googleapis.com",
    model_id="gemini-2.5-flash",
)


def as_bytes(payload: Any) -> bytes:
    return json.dumps(payload).encode("utf-8")


def text_response(text: str = "Hello there.", **extra: Any) -> dict[str, Any]:
    """A one-candidate text answer, as in Google's REST quickstart output."""
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": text}]},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 3, "totalTokenCount": 11},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-1",
        **extra,
    }


def error_body(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return as_bytes({"error": error})
