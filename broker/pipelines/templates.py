"""Prompt templates: ``{{ input.question }}``, ``{{ steps.classify.output.label }}`` and friends.

A template names values with dotted paths and nothing else (no logic): ``input`` (the pipeline's
input, or ``input.<key>...``), ``steps.<name>.text`` (an earlier step's answer), ``.output.<key>``
(its JSON answer), ``.tier``, ``.model``; ``feedback`` (what a validator said of the last round,
empty on the first) and ``round``. A value that is not a string is written as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["TemplateError", "missing_input", "references", "render", "step_references"]

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_PATH = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_STEP_FIELDS = frozenset({"text", "output", "tier", "model", "provider", "cost_usd"})


class TemplateError(ValueError):
    """A placeholder that names nothing, or a value the context does not hold."""


def references(template: str) -> Iterator[str]:
    """Every placeholder's path, checked for form; raises TemplateError."""
    for match in _PLACEHOLDER.finditer(template):
        path = match.group(1)
        if _PATH.fullmatch(path) is None:
            raise TemplateError(f"{{{{ {path} }}}} is not a dotted name")
        head, *rest = path.split(".")
        if head in ("feedback", "round") and not rest or head == "input":
            yield path
        elif head == "steps" and len(rest) >= 2 and rest[1] in _STEP_FIELDS:
            if rest[1] != "output" and len(rest) > 2:
                raise TemplateError(f"{{{{ {path} }}}}: steps.<name>.{rest[1]} has no fields")
            yield path
        else:
            raise TemplateError(
                f"{{{{ {path} }}}} names nothing: use input[.<key>], steps.<name>.text|output"
                f"[.<key>]|tier|model|provider|cost_usd, feedback or round"
            )


def step_references(template: str) -> set[str]:
    """The steps a template reads; raises TemplateError."""
    return {path.split(".")[1] for path in references(template) if path.startswith("steps.")}


def missing_input(template: str, data: Mapping[str, Any]) -> list[str]:
    """The ``input.<path>`` placeholders of a template that ``data`` does not hold."""
    missing: list[str] = []
    for path in references(template):
        if path.startswith("input."):
            try:
                render(f"{{{{ {path} }}}}", {"input": data})
            except TemplateError:
                missing.append(path)
    return missing


def render(template: str, context: Mapping[str, Any]) -> str:
    """The template with each placeholder replaced; raises TemplateError naming a missing one."""

    def value(match: re.Match[str]) -> str:
        path = match.group(1)
        node: Any = context
        for part in path.split("."):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise TemplateError(f"{{{{ {path} }}}}: no {part!r} in the values given")
        return node if isinstance(node, str) else json.dumps(node, ensure_ascii=False)

    return _PLACEHOLDER.sub(value, template)
