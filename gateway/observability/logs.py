"""JSON logs, one object per line, with the request id; secrets from the config are redacted from
every message (and bearer tokens from anything that looks like a header)."""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import secrets
from collections.abc import Iterable
from typing import Any, Final

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
REQUEST_ID_FORMAT: Final = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
BEARER: Final = re.compile(r"(?i)(bearer\s+)[^\s\"',]+")
REDACTED: Final = "[redacted]"
# `serve --log-level` > PASARELA_LOG_LEVEL > `[server] log_level` > info (the env overrides the file
# in gateway.tenants.config, the flag overrides both in gateway.cli.main)
LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
RESERVED: Final = frozenset({"time", "level", "logger", "message", "request_id", "event"})


def request_id() -> str | None:
    return _request_id.get()


def bind_request_id(candidate: str | None) -> tuple[str, contextvars.Token[str | None]]:
    """Use the client's X-Request-ID when it is sane, else make one."""
    rid = candidate if candidate and REQUEST_ID_FORMAT.match(candidate) else "req_" + secrets.token_hex(8)
    return rid, _request_id.set(rid)


def reset_request_id(token: contextvars.Token[str | None]) -> None:
    _request_id.reset(token)


class Redactor:
    def __init__(self, secrets_: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets_ if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.secrets:
            text = text.replace(value, REDACTED)
        return BEARER.sub(r"\1" + REDACTED, text)

    def value(self, value: Any) -> Any:
        """An event field: strings redacted, containers walked, numbers and booleans as they are."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value if value is None or isinstance(value, (bool, int, float)) else self(str(value))


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        if rid := request_id():
            entry["request_id"] = rid
        for key in ("method", "path", "status", "duration_ms", "document_id", "tenant"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if event := getattr(record, "event", None):  # gateway.observability.events: the name, then its fields
            entry["event"] = event
            fields = getattr(record, "fields", {})
            entry.update({k: self.redact.value(v) for k, v in fields.items() if k not in RESERVED})
        if record.exc_info:
            entry["error"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(secrets_: Iterable[str], level: int = logging.INFO) -> None:
    """Route every log record through one JSON, redacting handler on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(Redactor(secrets_)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs requests, without headers
    # httpx logs every provider call at info; each call is already an attempt row and a metric
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
