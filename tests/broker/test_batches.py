"""Batch input checking, status and output lines: pure functions, no Redis."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from broker.batches import (
    BatchCounts,
    BatchInputError,
    BatchStatus,
    batch_status,
    needs_for_model,
    output_line,
    parse_batch_lines,
)
from broker.catalog_file import load_catalog
from broker.jobs import CompletionResult, FailedResult, Usage
from routing.catalog import Catalog

CATALOG = str(Path(__file__).parents[1] / "fixtures" / "catalog.yaml")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CATALOG, "emulated")


def line(custom_id: str = "r1", **body: Any) -> str:
    # The line shape of https://platform.openai.com/docs/guides/batch (custom_id, method, url, body)
    request = {"model": "fast", "messages": [{"role": "user", "content": "Hi"}], **body}
    return json.dumps(
        {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": request}
    )


def refusal(lines: list[str], catalog: Catalog) -> BatchInputError:
    with pytest.raises(BatchInputError) as caught:
        parse_batch_lines(lines, catalog, batch_id="batch_x")
    return caught.value


def test_a_file_broken_at_line_57_is_refused_whole_naming_line_57_and_the_field(
    catalog: Catalog,
) -> None:
    lines = [line(f"r{i}") for i in range(1, 101)]
    lines[56] = line("r57", messages=[{"role": "user", "content": 7}])

    error = refusal(lines, catalog)

    assert [(e.line, e.param) for e in error.errors] == [(57, "body.messages[0].content")]
    assert str(error).startswith("line 57: body.messages[0].content:")


def test_each_line_becomes_a_job_of_the_batch_keyed_by_its_line_number(catalog: Catalog) -> None:
    parsed = parse_batch_lines(
        [line("a"), "", line("b", model="a1")], catalog, batch_id="batch_x", tenant="acme"
    )

    assert [(p.number, p.custom_id, p.job.id) for p in parsed] == [
        (1, "a", "batch_x-1"),
        (3, "b", "batch_x-3"),
    ]
    first, second = parsed[0].job, parsed[1].job
    assert (first.needs.tier, second.needs.model) == ("fast", "a1")
    assert (first.envelope.batch_id, first.envelope.tenant) == ("batch_x", "acme")
    assert first.envelope.tags == {"custom_id": "a"}


@pytest.mark.parametrize(
    ("text", "param", "fragment"),
    [
        ("{not json", "(line)", "not valid JSON"),
        (line(model="gpt-4o"), "body.model", "unknown model 'gpt-4o'"),
        (line(stream=True), "body.stream", "not supported"),
        (line().replace('"POST"', '"GET"'), "method", "must be 'POST'"),
        (line().replace("/v1/chat/completions", "/v1/embeddings"), "url", "endpoint"),
        (line(temperature=9), "body.temperature", "less than or equal to 2"),
        (json.dumps({"custom_id": "x", "method": "POST", "url": "/v1/chat/completions"}), "body",
         "Field required"),
    ],
)
def test_a_bad_line_is_refused_naming_its_field(
    catalog: Catalog, text: str, param: str, fragment: str
) -> None:
    error = refusal([line("ok"), text], catalog)

    assert (error.errors[0].line, error.errors[0].param) == (2, param)
    assert fragment in error.errors[0].message


def test_a_repeated_custom_id_is_refused_naming_the_first_line(catalog: Catalog) -> None:
    error = refusal([line("same"), line("other"), line("same")], catalog)

    assert str(error.errors[0]) == "line 3: custom_id: 'same' is already used on line 1"


def test_model_names_a_tier_first_then_a_catalog_model(catalog: Catalog) -> None:
    assert needs_for_model("smart", catalog) == {"tier": "smart"}
    assert needs_for_model("g1", catalog) == {"model": "g1"}
    with pytest.raises(ValueError, match="name a tier \\(fast, smart\\)"):
        needs_for_model("gpt-4o", catalog)


def test_a_batch_is_in_progress_until_every_job_ended_then_completed() -> None:
    assert batch_status(BatchCounts(total=3, succeeded=2), cancel_requested=False) == (
        BatchStatus.IN_PROGRESS
    )
    assert batch_status(BatchCounts(total=3, succeeded=2, failed=1), cancel_requested=False) == (
        BatchStatus.COMPLETED
    )
    assert batch_status(BatchCounts(total=3, succeeded=1), cancel_requested=True) == (
        BatchStatus.CANCELLING
    )
    assert batch_status(BatchCounts(total=3, succeeded=1, cancelled=2), cancel_requested=True) == (
        BatchStatus.CANCELLED
    )


def _now() -> datetime:
    return datetime.now(UTC)


def test_output_lines_follow_openais_batch_output_format() -> None:
    # https://platform.openai.com/docs/guides/batch: {id, custom_id, response{status_code,
    # request_id, body}, error}; failures carry error {code, message} and no response.
    ok = CompletionResult(
        id="chatcmpl-1", created=1, model="alpha-small-1", choices=[], usage=Usage(),
        job_id="batch_x-1", provider="alpha", tier="fast", cost_usd=0.0, attempts=[],
        finished_at=_now(),
    )
    failed = FailedResult(job_id="batch_x-2", error_class="Cancelled", error_message="cancelled",
                          attempts=[], finished_at=_now())

    good, bad = output_line("batch_x-1", "a", ok), output_line("batch_x-2", "b", failed)

    assert good["custom_id"] == "a" and good["error"] is None
    assert good["response"]["status_code"] == 200
    assert good["response"]["body"]["object"] == "chat.completion"
    assert bad == {"id": "batch_req_batch_x-2", "custom_id": "b", "response": None,
                   "error": {"code": "batch_cancelled", "message": "cancelled"}}
