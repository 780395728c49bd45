"""cascade's HTTP API: OpenAI-compatible chat completions, Files and Batches, native jobs."""

from broker.http_api.app import create_app
from broker.http_api.tenants import TenantConfigError, TenantDirectory

__all__ = ["TenantConfigError", "TenantDirectory", "create_app"]
