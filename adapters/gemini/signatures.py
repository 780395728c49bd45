"""Gemini's thought signatures carried inside the tool-call ids cascade hands back.

OpenAI's shape has no slot for a ``functionCall`` part's ``thoughtSignature``, so it rides in
the id (``call_<hex>__ts__<base64url>``) and is taken out when the conversation returns (the
package docstring has the sources and the placeholder for histories from other providers).
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["MIGRATED_SIGNATURE", "decode_tool_call_id", "encode_tool_call_id"]

# Google's documented placeholder for function calls the model did not produce itself.
MIGRATED_SIGNATURE = "skip_thought_signature_validator"

_SIGNATURE_SEPARATOR = "__ts__"


def encode_tool_call_id(base_id: str, signature: str | None) -> str:
    """``base_id`` with ``signature`` (standard base64) appended as unpadded base64url."""
    if not signature:
        return base_id
    try:
        raw = base64.b64decode(signature, validate=False)
    except (binascii.Error, ValueError):
        return base_id
    encoded = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
    return f"{base_id}{_SIGNATURE_SEPARATOR}{encoded}"


def decode_tool_call_id(tool_call_id: str) -> tuple[str, str | None]:
    """(the id without its signature, the signature as standard base64 or None)."""
    base, separator, encoded = tool_call_id.partition(_SIGNATURE_SEPARATOR)
    if not separator or not encoded:
        return tool_call_id, None
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return tool_call_id, None
    return base, base64.b64encode(raw).decode("ascii")
