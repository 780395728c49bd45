"""structlog set-up: JSON lines for machines, readable lines in a terminal, secrets never written.

Every line goes through ``Redactor``: keys that carry message contents or credentials are dropped
(wherever they sit in a nested value), and strings that look like API keys, bearer tokens or
``?key=`` query parameters are masked, as are the values of the credential variables found in the
environment when logging is configured. Lines from the standard library's loggers (Celery, httpx)
go through the same processors, so they too carry the job context bound with
``structlog.contextvars`` (job_id, batch_id, tenant, provider, model, attempt) and are redacted.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "JOB_CONTEXT_KEYS",
    "REDACTED",
    "SENSITIVE_KEYS",
    "Redactor",
    "configure_logging",
    "secrets_from_environ",
]

REDACTED = "[redacted]"

# The context every line about a job carries; the worker binds these with structlog.contextvars.
JOB_CONTEXT_KEYS = ("job_id", "batch_id", "tenant", "provider", "model", "attempt")

# Keys (lower case, '-' read as '_') whose values are message contents or credentials.
SENSITIVE_KEYS = frozenset(
    {
        "messages",
        "content",
        "contents",
        "prompt",
        "prompts",
        "system",
        "text",
        "input",
        "body",
        "payload",
        "request_body",
        "response_body",
        "authorization",
        "proxy_authorization",
        "api_key",
        "apikey",
        "api_keys",
        "x_api_key",
        "x_goog_api_key",
        "key",
        "secret",
        "password",
        "token",
        "access_token",
        "basic_auth",
    }
)

# Shapes of provider credentials. Job ids (hex uuids) and model ids match none of them.
_KEY_SHAPES = re.compile(
    r"""
    \b(?:sk|pk|rk)-[A-Za-z0-9_\-]{16,}        # OpenAI, Anthropic (sk-ant-...), DeepSeek
    | \bAIza[0-9A-Za-z_\-]{30,}               # Google API keys
    | \b(?:xai|gsk|hf)[-_][A-Za-z0-9]{20,}    # xAI, Groq, Hugging Face
    | (?i:\bbearer)\s+[A-Za-z0-9._~+/=\-]{8,} # Authorization: Bearer ...
    | (?i:\bbasic)\s+[A-Za-z0-9+/=]{8,}       # Authorization: Basic ...
    """,
    re.VERBOSE,
)
# Gemini's REST API takes its key as a query parameter: keep the name, mask the value.
_KEY_PARAM = re.compile(r"(?i)([?&](?:key|api_key|api-key)=)[^&\s\"']+")
# Pieces (lower case) that every match of the two patterns above contains. Most strings of a
# line (event names, ids, model names, timestamps) hold none of them, and looking for them spares
# those strings both patterns' substitutions: the masking was over half of a log line's CPU
# (docs/performance.md).
_SHAPE_PIECES = ("sk-", "pk-", "rk-", "aiza", "xai", "gsk", "hf-", "hf_", "bearer", "basic", "key=")

# Environment variables whose values are credentials; their values are masked wherever seen.
_SECRET_ENV_NAME = re.compile(r"(?i)(API_KEY|_KEY|_TOKEN|_SECRET|PASSWORD|BASIC_AUTH)(_\d+)?$")
_MIN_SECRET_LENGTH = 8


def secrets_from_environ(environ: Mapping[str, str]) -> frozenset[str]:
    """Values of credential-like variables (``*_API_KEY``, ``*_TOKEN``, ...), long enough to
    be masked without masking ordinary words."""
    return frozenset(
        value
        for name, value in environ.items()
        if _SECRET_ENV_NAME.search(name) and len(value) >= _MIN_SECRET_LENGTH
    )


class Redactor:
    """A structlog processor: drops sensitive keys and masks credential-shaped strings."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a key that contains another is masked whole.
        self.secrets = tuple(sorted(set(secrets), key=len, reverse=True))

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        cleaned = self.clean(event_dict)
        assert isinstance(cleaned, dict)
        return cleaned

    def clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.mask(value)
        if value is None or isinstance(value, bool | int | float):
            return value  # before the Mapping check, which is slow for what is not one
        if isinstance(value, Mapping):
            return {
                key: self.clean(item) for key, item in value.items() if not _is_sensitive_key(key)
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self.clean(item) for item in value]
        return value

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        lowered = text.lower()
        for piece in _SHAPE_PIECES:
            if piece in lowered:
                break
        else:
            return text
        text = _KEY_SHAPES.sub(REDACTED, text)
        return _KEY_PARAM.sub(lambda match: match.group(1) + REDACTED, text)


def _is_sensitive_key(key: object) -> bool:
    return isinstance(key, str) and key.lower().replace("-", "_") in SENSITIVE_KEYS


def _wants_json(stream: TextIO) -> bool:
    chosen = os.environ.get("CASCADE_LOG_FORMAT", "").lower()
    if chosen in ("json", "console"):
        return chosen == "json"
    return not stream.isatty()


def configure_logging(
    json_lines: bool | None = None,
    level: int | str = logging.INFO,
    *,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Configure structlog and the standard library's root logger to write to ``stream``
    (stderr by default): JSON when asked (``CASCADE_LOG_FORMAT=json``) or when the stream is not
    a terminal (a container, a log shipper), else readable console lines."""
    out = stream or sys.stderr
    if json_lines is None:
        json_lines = _wants_json(out)
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    redactor = Redactor(secrets_from_environ(os.environ if environ is None else environ))
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        # Not cached: module-level loggers must follow a later configure_logging (the CLI, tests).
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(out, numeric, [*shared, _add_logger_name], redactor, renderer)


_CELERY_PER_TASK_LOGGERS = ("celery.worker.strategy", "celery.app.trace")


def _add_logger_name(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    if isinstance(record, logging.LogRecord):
        event_dict.setdefault("logger", record.name)
    return event_dict


def _route_stdlib_logging(
    out: TextIO,
    level: int,
    pre_chain: list[Processor],
    redactor: Redactor,
    renderer: Processor,
) -> None:
    """Celery's and httpx's lines, rendered and redacted like cascade's own."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redactor,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO; Gemini's carry the key as a query parameter.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    # Celery's "Task ... received" and "... succeeded in" lines repeat, per job, what
    # cascade's own job lines and Flower already say; rendering them cost about a tenth of a
    # worker's CPU under load (docs/performance.md). DEBUG brings them back.
    for name in _CELERY_PER_TASK_LOGGERS:
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else logging.WARNING)
    _keep_celery_from_reconfiguring()


def _celery_keeps_our_logging(**_: Any) -> None:
    """A receiver of Celery's setup_logging signal: with one connected, Celery leaves the
    root logger as configured here instead of installing its own handlers and format."""


def _keep_celery_from_reconfiguring() -> None:
    try:
        from celery.signals import setup_logging
    except ImportError:  # pragma: no cover - celery is a dependency; the CLI may run without it
        return
    setup_logging.connect(_celery_keeps_our_logging, weak=False, dispatch_uid="cascade-logs")
