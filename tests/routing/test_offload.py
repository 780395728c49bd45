"""The offload decision and the grouping of offloaded lines into provider batches (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from broker.jobs import CompletionJob, TargetRef
from routing.catalog import Catalog
from routing.offload import BatchLine, decide_offload, group_lines, parse_window
from tests.routing.factories import catalog_data

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MARGIN = timedelta(minutes=30)
MIN_WAIT = timedelta(hours=1)
TARGET = TargetRef(provider="alpha", model="a1", model_id="alpha-small-1", tier="fast",
                   queue="fast.alpha")


def _catalog(**changes: Any) -> Catalog:
    data = catalog_data()
    data["providers"]["alpha"]["batch"] = {"max_requests": 3, "max_bytes": 100}
    data["models"][0]["batch_price"] = {"input": 0.05, "output": 0.20}
    data.update(changes)
    return Catalog.model_validate(data)


def _job(*, deadline: datetime | None = None, tenant: str = "default",
         offload: str = "auto") -> CompletionJob:
    envelope: dict[str, Any] = {"created_at": NOW.isoformat(), "tenant": tenant}
    if deadline is not None:
        envelope["deadline"] = deadline.isoformat()
    return CompletionJob.model_validate({
        "envelope": envelope,
        "needs": {"tier": "fast", "offload": offload},
        "request": {"messages": [{"role": "user", "content": "hi"}]},
    })


def _decide(job: CompletionJob, catalog: Catalog | None = None, **kwargs: Any) -> Any:
    return decide_offload(job, TARGET, catalog or _catalog(), now=NOW, margin=MARGIN,
                          min_wait=MIN_WAIT, **kwargs)


def test_a_job_with_a_distant_deadline_is_offloaded_until_the_margin_before_it() -> None:
    decision = _decide(_job(deadline=NOW + timedelta(hours=6)))
    assert decision.offload
    assert decision.fall_back_at == NOW + timedelta(hours=5, minutes=30)
    assert "batch price 0.05/0.2" in decision.reason and "against 0.1/0.4" in decision.reason


def test_a_batch_jobs_completion_window_counts_as_its_deadline() -> None:
    decision = _decide(_job(), completion_window=timedelta(hours=24))
    assert decision.offload
    assert decision.fall_back_at == NOW + timedelta(hours=23, minutes=30)


def test_the_earlier_of_deadline_and_window_decides() -> None:
    decision = _decide(_job(deadline=NOW + timedelta(hours=1)),
                       completion_window=timedelta(hours=24))
    assert not decision.offload
    assert "the deadline is 1h00m away" in decision.reason


def test_fall_back_comes_no_later_than_the_providers_own_window() -> None:
    data = catalog_data()
    data["providers"]["alpha"]["batch"] = {"max_bytes": 100, "completion_window_s": 7200}
    data["models"][0]["batch_price"] = {"input": 0.05, "output": 0.20}
    decision = _decide(_job(deadline=NOW + timedelta(hours=10)), Catalog.model_validate(data))
    assert decision.fall_back_at == NOW + timedelta(hours=2)


def test_a_job_without_deadline_or_window_is_not_offloaded() -> None:
    decision = _decide(_job())
    assert not decision.offload
    assert "no deadline or completion window" in decision.reason


def test_a_deadline_too_close_for_margin_and_wait_is_not_offloaded() -> None:
    decision = _decide(_job(deadline=NOW + timedelta(minutes=80)))
    assert not decision.offload
    assert "leaves 50m00s after the 30m00s margin, under the 1h00m" in decision.reason


def test_a_job_that_opts_out_is_not_offloaded() -> None:
    decision = _decide(_job(deadline=NOW + timedelta(hours=6), offload="never"))
    assert not decision.offload
    assert "needs.offload: never" in decision.reason


def test_a_tenant_that_opts_out_is_not_offloaded() -> None:
    catalog = _catalog(offload_opt_out_tenants=["acme"])
    decision = _decide(_job(deadline=NOW + timedelta(hours=6), tenant="acme"), catalog)
    assert not decision.offload
    assert "tenant 'acme' opted out" in decision.reason


def test_a_provider_without_batch_mode_is_not_offloaded_to() -> None:
    data = catalog_data()
    decision = _decide(_job(deadline=NOW + timedelta(hours=6)), Catalog.model_validate(data))
    assert not decision.offload
    assert "provider 'alpha' has no batch mode" in decision.reason


def test_a_model_without_batch_price_is_not_offloaded() -> None:
    data = catalog_data()
    data["providers"]["alpha"]["batch"] = {"max_bytes": 100}
    decision = _decide(_job(deadline=NOW + timedelta(hours=6)), Catalog.model_validate(data))
    assert not decision.offload
    assert "model 'a1' has no batch price" in decision.reason


def test_the_catalog_defaults_to_no_batch_mode_at_all() -> None:
    catalog = Catalog.model_validate(catalog_data())
    assert all(provider.batch is None for provider in catalog.providers.values())
    assert all(model.batch_price is None for model in catalog.models)


def test_a_batch_price_needs_its_providers_batch_limits() -> None:
    data = catalog_data()
    data["models"][0]["batch_price"] = {"input": 0.05, "output": 0.20}
    with pytest.raises(ValueError, match=r"models\[0\]\.batch_price: provider 'alpha' has no"):
        Catalog.model_validate(data)


def test_a_batch_price_above_the_synchronous_price_is_refused() -> None:
    data = catalog_data()
    data["providers"]["alpha"]["batch"] = {"max_bytes": 100}
    data["models"][0]["batch_price"] = {"input": 0.05, "output": 0.50}
    with pytest.raises(ValueError, match=r"batch_price\.output: 0\.5 is above the synchronous"):
        Catalog.model_validate(data)


def test_the_shipped_catalog_prices_batches_at_half_the_synchronous_price() -> None:
    from broker.catalog_file import load_catalog

    shipped = load_catalog(None, None)
    for model in shipped.models:
        if model.batch_price is not None:
            assert model.batch_price.input == pytest.approx(model.price.input / 2)
            assert model.batch_price.output == pytest.approx(model.price.output / 2)
            assert shipped.provider(model.provider).batch is not None
    assert shipped.provider("openai").batch is not None
    assert shipped.provider("anthropic").batch is not None
    assert shipped.provider("google").batch is not None


# --- grouping ---------------------------------------------------------------------------


def _line(job_id: str, size: int = 10, *, model: str = "a1", key: str = "k1") -> BatchLine:
    return BatchLine(job_id=job_id, provider="alpha", model=model, key=key, size_bytes=size)


def test_lines_are_grouped_per_provider_model_and_key() -> None:
    grouping = group_lines(
        [_line("1"), _line("2", key="k2"), _line("3"), _line("4", model="a2")], _catalog()
    )
    assert [(b.model, b.key, b.job_ids) for b in grouping.batches] == [
        ("a1", "k1", ("1", "3")), ("a1", "k2", ("2",)), ("a2", "k1", ("4",)),
    ]


def test_a_batch_closes_at_the_providers_request_limit() -> None:
    grouping = group_lines([_line(str(n)) for n in range(7)], _catalog())
    assert [b.job_ids for b in grouping.batches] == [("0", "1", "2"), ("3", "4", "5"), ("6",)]


def test_a_batch_closes_before_the_providers_byte_limit_counting_separators() -> None:
    # 49 + 1 separator byte each: two lines make exactly 100, a third would pass it
    grouping = group_lines([_line(str(n), 49) for n in range(3)], _catalog())
    assert [(b.job_ids, b.size_bytes) for b in grouping.batches] == [
        (("0", "1"), 100), (("2",), 50),
    ]


def test_a_line_over_the_byte_limit_alone_stays_out_of_every_batch() -> None:
    grouping = group_lines([_line("big", 100), _line("small")], _catalog())
    assert grouping.too_large == ["big"]
    assert [b.job_ids for b in grouping.batches] == [("small",)]


def test_grouping_a_line_for_a_provider_without_batch_mode_is_an_error() -> None:
    line = BatchLine(job_id="1", provider="beta", model="b1", key="k", size_bytes=1)
    with pytest.raises(ValueError, match="provider 'beta' has no batch mode"):
        group_lines([line], _catalog())


def test_a_deadline_inside_the_margin_leaves_nothing() -> None:
    decision = _decide(_job(deadline=NOW + timedelta(minutes=10)))
    assert "which leaves nothing after the 30m00s margin" in decision.reason


@pytest.mark.parametrize(("text", "seconds"), [("24h", 86400), ("90m", 5400), ("2d", 172800)])
def test_a_completion_window_reads_as_a_span(text: str, seconds: int) -> None:
    assert parse_window(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "24", "0h", "1.5h", "24 hours"])
def test_a_malformed_completion_window_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="completion window"):
        parse_window(text)
