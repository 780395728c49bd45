"""Ids a caller chooses become parts of Redis keys: each is held to a charset without ':'."""

from __future__ import annotations

import pytest

from broker.client import CascadeClient, SubmitError
from broker.http_api.tenants import TenantConfigError, TenantDirectory
from broker.ids import BATCH_ID_MAX, ID_MAX, is_valid_id

PROMPT = {"messages": [{"role": "user", "content": "Hi"}]}


def job(**envelope: object) -> dict[str, object]:
    return {"needs": {"tier": "fast"}, "request": PROMPT, "envelope": envelope}


@pytest.mark.parametrize("suffix", [":attempts", ":result", ":jobs", ":custom_ids", ":claim"])
def test_a_job_id_that_spells_another_keys_name_is_refused_naming_envelope_id(
    suffix: str,
) -> None:
    with pytest.raises(SubmitError) as refused:
        CascadeClient.parse_job(job(id=f"order-1{suffix}"))

    assert str(refused.value).startswith("envelope.id: ")
    assert "no ':'" in str(refused.value)


@pytest.mark.parametrize("bad", ["", ".hidden", "-dash", "a b", "a/b", "é", "x" * (ID_MAX + 1)])
def test_a_job_id_outside_the_charset_or_too_long_is_refused(bad: str) -> None:
    with pytest.raises(SubmitError, match=r"^envelope\.id: "):
        CascadeClient.parse_job(job(id=bad))


def test_ids_of_letters_digits_dots_dashes_and_underscores_are_kept() -> None:
    parsed = CascadeClient.parse_job(job(id="Order_42.retry-1", tenant="acme-eu.1"))

    assert (parsed.id, parsed.envelope.tenant) == ("Order_42.retry-1", "acme-eu.1")
    assert is_valid_id("x" * ID_MAX) and not is_valid_id("x" * (ID_MAX + 1))


def test_a_tenant_or_batch_id_with_a_colon_or_too_long_is_refused_naming_its_field() -> None:
    with pytest.raises(SubmitError, match=r"^envelope\.tenant: "):
        CascadeClient.parse_job(job(tenant="acme:batches"))
    with pytest.raises(SubmitError, match=r"^envelope\.batch_id: "):
        CascadeClient.parse_job(job(batch_id="batch_1:jobs"))
    with pytest.raises(SubmitError, match=r"^envelope\.batch_id: "):
        CascadeClient.parse_job(job(batch_id="b" * (BATCH_ID_MAX + 1)))


def test_a_tenants_file_naming_a_tenant_that_is_no_valid_id_is_refused() -> None:
    with pytest.raises(TenantConfigError, match=r"tenants\.acme:eu: the tenant's name must"):
        TenantDirectory.from_keys({"acme:eu": ["sk-1"]})
