"""API keys map to tenants; keys are never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.http_api.tenants import TenantConfigError, TenantDirectory


def test_keys_from_the_environment_map_to_their_tenants() -> None:
    tenants = TenantDirectory.from_env(
        {"CASCADE_API_KEYS": "acme=sk-a1,acme=sk-a2,globex=sk-g",
         "CASCADE_WEBHOOK_SECRETS": "acme=whsec-a"}
    )

    assert [tenants.tenant_for(k) for k in ("sk-a1", "sk-a2", "sk-g", "sk-x")] == [
        "acme", "acme", "globex", None]
    assert tenants.webhook_secrets == {"acme": "whsec-a"}


def test_a_tenants_file_is_read_and_its_keys_never_appear_in_repr(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants:\n  acme: {api_keys: [sk-secret-a], webhook_secret: whsec-a}\n")

    tenants = TenantDirectory.from_env({"CASCADE_TENANTS_FILE": str(path)})

    assert tenants.tenant_for("sk-secret-a") == "acme"
    assert "sk-secret-a" not in repr(tenants) and "whsec-a" not in repr(tenants)


def test_a_key_given_to_two_tenants_is_refused() -> None:
    with pytest.raises(TenantConfigError, match="shared"):
        TenantDirectory.from_keys({"acme": ["k"], "globex": ["k"]})
