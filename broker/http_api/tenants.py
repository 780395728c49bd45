"""Tenants of the HTTP API: who an API key belongs to, and each tenant's webhook secret.

Configured by a file (``CASCADE_TENANTS_FILE``, YAML or JSON)::

    tenants:
      acme: {api_keys: [sk-acme-1, sk-acme-2], webhook_secret: whsec-acme}

or, for small setups, by ``CASCADE_API_KEYS=acme=sk-acme-1,globex=sk-globex`` and
``CASCADE_WEBHOOK_SECRETS=acme=whsec-acme``. Keys are held only as SHA-256 digests and are never
shown by ``repr`` or logged; secrets are never logged either.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from broker.ids import id_problem

__all__ = ["TenantConfigError", "TenantDirectory"]


class TenantConfigError(ValueError):
    """The tenants file or variables are malformed; the message names the entry."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _pairs(text: str, variable: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for index, item in enumerate(part.strip() for part in text.split(",")):
        if not item:
            continue
        tenant, sep, value = item.partition("=")
        if not sep or not tenant.strip() or not value.strip():
            raise TenantConfigError(f"{variable}[{index}]: expected tenant=value")
        found.setdefault(tenant.strip(), []).append(value.strip())
    return found


@dataclass(frozen=True)
class TenantDirectory:
    """Maps an API key to its tenant; holds each tenant's webhook secret."""

    key_digests: Mapping[str, str] = field(default_factory=dict, repr=False)
    webhook_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_keys(
        cls, keys: Mapping[str, list[str]], secrets: Mapping[str, str] | None = None
    ) -> TenantDirectory:
        digests: dict[str, str] = {}
        for tenant, tenant_keys in keys.items():
            # A tenant's name is part of its Redis keys (broker/ids.py).
            if (problem := id_problem(tenant)) is not None:
                raise TenantConfigError(f"tenants.{tenant}: the tenant's name {problem}")
            for key in tenant_keys:
                digest = _digest(key)
                if digests.get(digest, tenant) != tenant:
                    raise TenantConfigError(f"tenants.{tenant}: an API key is shared with another")
                digests[digest] = tenant
        return cls(digests, dict(secrets or {}))

    @classmethod
    def from_file(cls, path: str | Path) -> TenantDirectory:
        data: Any = yaml.safe_load(Path(path).read_text())
        tenants = data.get("tenants") if isinstance(data, dict) else None
        if not isinstance(tenants, dict):
            raise TenantConfigError(f"{path}: expected a 'tenants' mapping")
        keys: dict[str, list[str]] = {}
        secrets: dict[str, str] = {}
        for name, entry in tenants.items():
            api_keys = entry.get("api_keys") if isinstance(entry, dict) else None
            if not isinstance(api_keys, list) or not all(isinstance(k, str) for k in api_keys):
                raise TenantConfigError(f"tenants.{name}.api_keys: expected a list of strings")
            keys[str(name)] = api_keys
            if isinstance(entry.get("webhook_secret"), str):
                secrets[str(name)] = entry["webhook_secret"]
        return cls.from_keys(keys, secrets)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TenantDirectory:
        if environ.get("CASCADE_TENANTS_FILE"):
            return cls.from_file(environ["CASCADE_TENANTS_FILE"])
        keys = _pairs(environ.get("CASCADE_API_KEYS", ""), "CASCADE_API_KEYS")
        secrets = _pairs(environ.get("CASCADE_WEBHOOK_SECRETS", ""), "CASCADE_WEBHOOK_SECRETS")
        return cls.from_keys(keys, {tenant: values[-1] for tenant, values in secrets.items()})

    def tenant_for(self, api_key: str) -> str | None:
        """The tenant owning ``api_key``, or None."""
        digest = _digest(api_key)
        for known, tenant in self.key_digests.items():
            if hmac.compare_digest(known, digest):
                return tenant
        return None
