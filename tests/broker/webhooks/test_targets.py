"""Which webhook URLs are refused at submit, and what the operator's allowlist opens: pure."""

from __future__ import annotations

import pytest

from broker.settings import Settings
from broker.webhooks import RefusedTarget, TargetPolicy, WebhookRegistry
from broker.webhooks.targets import Target

REFUSED = [
    ("http://127.0.0.1:6379/", "loopback"),
    ("http://127.1/", "non-standard form"),
    ("http://2130706433/", "non-standard form"),
    ("http://0x7f000001/", "non-standard form"),
    ("http://0x7f.1/", "non-standard form"),
    ("http://0177.0.0.1/", "IPv4"),  # httpx itself refuses a 0-prefixed dotted quad
    ("http://017700000001/", "non-standard form"),
    ("http://0.0.0.0:8080/", "unspecified"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://10.0.0.8/hook", "private"),
    ("http://172.16.5.4/hook", "private"),
    ("http://192.168.1.1/hook", "private"),
    ("http://100.100.100.200/latest", "not a public address"),
    ("http://224.0.0.251/", "multicast"),
    ("http://[::1]/", "loopback"),
    ("http://[::]/", "unspecified"),
    ("http://[fd00::1]/", "private"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped form of 127.0.0.1, a loopback"),
    ("http://[::ffff:169.254.169.254]/", "IPv4-mapped form of 169.254.169.254, a link-local"),
    ("http://[64:ff9b::a00:1]/", "NAT64 form of 10.0.0.1"),
    ("http://[2002:7f00:1::]/", "6to4 form of 127.0.0.1"),
    ("http://localhost:8000/", "local name"),
    ("http://LOCALHOST./", "local name"),
    ("http://api.localhost/", "local name"),
    ("http://printer.local/", "local name"),
    ("http://vault.internal/", "local name"),
    ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata"),
    ("http://metadata/computeMetadata/v1/", "cloud metadata"),
    ("http://instance-data/latest/", "cloud metadata"),
    ("http://metadata.azure.com/", "cloud metadata"),
    ("http://redis:6379/", "single-label"),
    ("http://user:pass@example.com/hook", "credentials"),
    ("https://token@example.com/hook", "credentials"),
    ("gopher://example.com/", "http or https"),
    ("file:///etc/passwd", "http or https"),
    ("ftp://example.com/", "http or https"),
    ("http:///nohost", "no host"),
    ("not a url", "http or https"),
]

ALLOWED = [
    ("https://hooks.example.com/cascade", "hooks.example.com"),
    ("https://hooks.example.com:8443/a?b=c", "hooks.example.com:8443"),
    ("http://Example.COM./x", "example.com"),
    ("http://8.8.8.8/hook", "8.8.8.8"),
    ("http://[2606:4700:4700::1111]/hook", "[2606:4700:4700::1111]"),
    ("http://[::ffff:8.8.8.8]/hook", "[::ffff:8.8.8.8]"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_a_url_to_an_internal_target_is_refused_naming_why(url: str, reason: str) -> None:
    with pytest.raises(RefusedTarget, match=reason):
        TargetPolicy().check_url(url)


@pytest.mark.parametrize(("url", "host_header"), ALLOWED)
def test_a_public_http_url_is_allowed(url: str, host_header: str) -> None:
    target = TargetPolicy().check_url(url)

    assert isinstance(target, Target)
    assert target.host_header == host_header


def test_the_allowlist_opens_listed_networks_and_host_names_only() -> None:
    policy = TargetPolicy.parse(["127.0.0.1/32", "10.1.0.0/16", "hooks.internal", "*.svc.lan"])

    for url in (
        "http://127.0.0.1:9000/hook",
        "http://10.1.2.3/hook",
        "http://hooks.internal/x",
        "http://a.svc.lan/x",
    ):
        policy.check_url(url)
    for url in ("http://127.0.0.2/", "http://10.2.0.1/", "http://other.internal/", "http://localhost/"):
        with pytest.raises(RefusedTarget):
            policy.check_url(url)


def test_the_allowlist_never_opens_credentials_or_other_schemes() -> None:
    policy = TargetPolicy.parse(["127.0.0.0/8"])

    with pytest.raises(RefusedTarget, match="credentials"):
        policy.check_url("http://u:p@127.0.0.1/")
    with pytest.raises(RefusedTarget, match="http or https"):
        policy.check_url("gopher://127.0.0.1:6379/")


def test_a_bad_allowlist_entry_is_named() -> None:
    with pytest.raises(ValueError, match="'not/a host'"):
        TargetPolicy.parse(["10.0.0.0/8", "not/a host"])


def test_the_allowlist_setting_reads_comma_separated_entries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CASCADE_WEBHOOK_ALLOW", "127.0.0.1/32, hooks.internal")

    policy = TargetPolicy.from_settings(Settings())

    policy.check_url("http://127.0.0.1:1234/")
    policy.check_url("http://hooks.internal/")


def test_check_url_raises_value_error_and_writes_nothing() -> None:
    # No Redis behind this client: check_url must not touch it.
    registry = WebhookRegistry(None, None, 60, targets=TargetPolicy())  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="link-local"):
        registry.check_url("http://169.254.169.254/")
    registry.check_url("https://hooks.example.com/")
