"""The tenants file (ARCHITECTURE.md, Config and CLI): TOML in, validated msgspec Structs out.

`"${NAME}"` reads the environment at load time, so secrets never sit in the file. Every problem is
reported with the key it concerns (`tenants[acme-co].routes[1].chain[0]: ...`), all at once, before
the gateway starts: a typo must not surface as a 500 on the first invoice.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import msgspec
from msgspec import Struct, field

from adapters.base import Account, NumberingRange
from canonical.document import Issuer
from gateway.tenants.routing import (  # routing validates PUT /v1/routing the same way
    Route,
    validate_routes,
)

ENV_REF: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

WEBHOOK_EVENTS: Final = frozenset(
    {
        "document.accepted",
        "document.rejected",
        "document.failed",
        "document.needs_attention",
        "account.misconfigured",
        "numbering.low",
        "document.delivered",
        "document.delivery_failed",
    }
)


class ConfigError(Exception):
    """The tenants file is wrong; `problems` names every offending key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid tenants file:\n  " + "\n  ".join(problems))
        self.problems = problems


LogLevel = Literal["debug", "info", "warning", "error"]  # gateway.observability.logs.LEVELS


class Server(Struct, kw_only=True, forbid_unknown_fields=True):
    database: str = "sqlite:///pasarela.db"
    secret_key: str | None = None
    admin_key: str | None = None  # creates tenants through the API; only its SHA-256 is stored
    # PostgreSQL connections per gateway process: kept open, opened beyond that under load, and how
    # long a request waits for one before it is answered 503 with Retry-After. The defaults keep
    # six processes (6 × 15) under PostgreSQL's default `max_connections` of 100 (issue 14: a
    # fixed 20 + 20 let four processes exhaust it). SQLite keeps its own (gateway.store.engine).
    pool_size: int = 10
    pool_max_overflow: int = 5
    pool_timeout_s: float = 10.0
    log_level: LogLevel = "info"  # `serve --log-level` wins over this (and over PASARELA_LOG_LEVEL)
    # Retention (gateway.dispatch.retention): how long the store keeps finished work before the sweep,
    # every `retention_sweep_every_s`, deletes it. Documents are fiscal records: never deleted, nor
    # the attempts of a document still pending or unknown. Idempotency records go when they expire
    # (24 h, gateway.store.idempotency.RETENTION_S).
    retention_jobs_days: float = 30.0  # finished jobs (their document settled, their webhook sent)
    retention_webhooks_days: float = 30.0  # delivered webhook deliveries (failed ones stay)
    retention_attempts_days: float = 90.0  # provider attempts of settled documents
    retention_sweep_every_s: float = 3600.0


# How long after issue the authority still takes a document that could not be sent on time: the
# default deadline follows it, so an outage shorter than this window never fails a document
# (issue 14: a 60 s default failed 817 never-issued documents during a short outage). DIAN: 48 h
# to transmit what was issued while its services were down (Res. 000165/2023, contingency); MH:
# 72 h to transmit DTE issued in contingency. Sources: contracts/dian/README.md, contracts/sv-dte/SOURCE.md.
FISCAL_WINDOW_S: Final[Mapping[str, float]] = {"CO": 48 * 3600.0, "SV": 72 * 3600.0}


class Dispatch(Struct, kw_only=True, forbid_unknown_fields=True):
    """Time settings of dispatch; tests shrink them to milliseconds."""

    # per document: retries and fallbacks stop here, then `failed` if no account can hold it;
    # unset = the authority's window for the document's country (FISCAL_WINDOW_S)
    deadline_s: float | None = None
    max_attempts: int = 4  # per account, per dispatch round
    backoff_base_s: float = 0.5
    backoff_max_s: float = 10.0
    poll_interval_s: float = 5.0  # first status poll of a `pending` document; doubles each time
    poll_max_s: float = 600.0
    # a provider may take this long to list a document, or (DIAN 66) to know it: "not found" is
    # proof of absence only after it
    reconcile_window_s: float = 120.0
    # an `unknown` document nobody can settle ("cannot tell") is flagged for an operator after this
    attention_after_s: float = 900.0
    breaker_threshold: int = 5  # consecutive Unavailable answers that open an account's circuit
    breaker_cooldown_s: float = 30.0
    lease_s: float = 30.0  # how long a worker owns a document before another may take it over
    webhook_timeout_s: float = 15.0
    webhook_max_attempts: int = 10

    def deadline_for(self, country: str) -> float:
        """Seconds from creation to a document's deadline."""
        if self.deadline_s is not None:
            return self.deadline_s
        return FISCAL_WINDOW_S.get(country, min(FISCAL_WINDOW_S.values()))


class Webhook(Struct, kw_only=True, forbid_unknown_fields=True):
    url: str
    secret: str
    events: list[str] = field(default_factory=lambda: sorted(WEBHOOK_EVENTS))
    # During a rotation through the API (Standard Webhooks): the old secret also signs until then,
    # so the receiver can switch without dropping a delivery.
    previous_secret: str | None = None
    previous_until: float | None = None  # UNIX seconds


class Email(Struct, kw_only=True, forbid_unknown_fields=True, rename={"sender": "from"}):
    """`[tenants.email]`: the tenant's SMTP server, which sends the buyer's copy of the documents the
    gateway signs itself (direct DIAN). Delivery is off for tenants that configure nothing."""

    host: str
    port: int = 587
    starttls: bool = True  # STARTTLS on a plain port (587); false with port 465 means TLS from the start
    username: str | None = None
    password: str | None = None  # `${VAR}`: from the environment
    sender: str  # the From address (key `from`)
    enabled: bool = True
    retry_s: list[float] = field(
        default_factory=lambda: [60.0, 300.0, 1800.0, 7200.0, 21600.0]
    )  # waits between tries
    timeout_s: float = 30.0


class PrintoutStyle(Struct, kw_only=True, forbid_unknown_fields=True):
    """`[tenants.printout]`: how the buyer's copy the gateway draws looks for this tenant."""

    logo: str | None = None  # a PNG or JPEG file, drawn at the top left
    layout: str | None = None  # "package.module:function" drawing a gateway.printout.model.Printout


class Tenant(Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str
    issuer: Issuer
    api_keys: list[str] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    numbering: list[NumberingRange] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    webhooks: list[Webhook] = field(default_factory=list)
    dispatch: Dispatch = field(default_factory=Dispatch)
    email: Email | None = None
    printout: PrintoutStyle | None = None

    def account(self, name: str) -> Account | None:
        return next((a for a in self.accounts if a.name == name), None)


class Config(Struct, kw_only=True, forbid_unknown_fields=True):
    server: Server = field(default_factory=Server)
    tenants: list[Tenant] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # filled at load: literal secrets and the like

    def tenant(self, tenant_id: str) -> Tenant | None:
        return next((t for t in self.tenants if t.id == tenant_id), None)


# Keys whose values are secrets: a literal value works (tests, development) but `tenants check` warns.
_SECRET_PATHS: Final = (
    re.compile(r"^server\.secret_key$"),
    re.compile(r"^server\.admin_key$"),
    re.compile(r"^tenants\[\d+\]\.api_keys\[\d+\]$"),
    re.compile(r"^tenants\[\d+\]\.accounts\[\d+\]\.credentials\.[^.]+$"),
    re.compile(r"^tenants\[\d+\]\.webhooks\[\d+\]\.secret$"),
    re.compile(r"^tenants\[\d+\]\.email\.password$"),
)


RETENTION_SETTINGS: Final = (
    "retention_jobs_days",
    "retention_webhooks_days",
    "retention_attempts_days",
    "retention_sweep_every_s",
)


# Environment variables that override `[server]` keys (a deployment sets these per process).
SERVER_ENV: Final[dict[str, tuple[str, type]]] = {
    "PASARELA_DATABASE_URL": ("database", str),
    "PASARELA_SECRET_KEY": ("secret_key", str),
    "PASARELA_ADMIN_KEY": ("admin_key", str),
    "PASARELA_POOL_SIZE": ("pool_size", int),
    "PASARELA_POOL_MAX_OVERFLOW": ("pool_max_overflow", int),
    "PASARELA_POOL_TIMEOUT_S": ("pool_timeout_s", float),
    "PASARELA_LOG_LEVEL": ("log_level", str),
    "PASARELA_RETENTION_JOBS_DAYS": ("retention_jobs_days", float),
    "PASARELA_RETENTION_WEBHOOKS_DAYS": ("retention_webhooks_days", float),
    "PASARELA_RETENTION_ATTEMPTS_DAYS": ("retention_attempts_days", float),
    "PASARELA_RETENTION_SWEEP_EVERY_S": ("retention_sweep_every_s", float),
}


def load_config(source: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Load a tenants file (a path, or TOML text when `source` is a str containing a newline)."""
    text = source if isinstance(source, str) and "\n" in source else Path(source).read_text()
    return parse_config(text, os.environ if env is None else env)


def parse_config(text: str, env: Mapping[str, str]) -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"TOML syntax: {exc}"]) from None
    problems: list[str] = []
    warnings: list[str] = []
    expanded = _expand(raw, "", env, problems, warnings)
    if problems:
        raise ConfigError(problems)
    for variable, (name, kind) in SERVER_ENV.items():
        if variable in env:
            try:
                expanded.setdefault("server", {})[name] = kind(env[variable])
            except ValueError:
                problems.append(f"{variable}: {env[variable]!r} is not a {kind.__name__}")
    if problems:
        raise ConfigError(problems)
    try:
        config = msgspec.convert(expanded, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError([_msgspec_problem(str(exc), expanded)]) from None
    problems.extend(validate_config(config))
    if problems:
        raise ConfigError(problems)
    config.warnings = warnings
    return config


def _expand(value: Any, path: str, env: Mapping[str, str], problems: list[str], warnings: list[str]) -> Any:
    if isinstance(value, dict):
        return {
            k: _expand(v, f"{path}.{k}" if path else k, env, problems, warnings) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_expand(v, f"{path}[{i}]", env, problems, warnings) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    if not ENV_REF.search(value):
        if value and any(p.match(path) for p in _SECRET_PATHS):
            warnings.append(f'{path}: literal secret in the file; use "${{NAME}}" (environment)')
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            problems.append(f"{path}: environment variable {name} is not set")
            return ""
        return env[name]

    return ENV_REF.sub(substitute, value)


def _msgspec_problem(message: str, raw: dict[str, Any]) -> str:
    """msgspec says `... - at `$.tenants[0].issuer.name``; name the tenant by its id instead."""
    text, _, where = message.partition(" - at `$.")
    where = where.rstrip("`")
    return f"{_readable(where, raw)}: {text}" if where else text


def _readable(path: str, raw: dict[str, Any]) -> str:
    match = re.match(r"tenants\[(\d+)\](.*)", path)
    if not match:
        return path
    tenants = raw.get("tenants") or []
    index = int(match.group(1))
    tenant_id = (
        tenants[index].get("id") if index < len(tenants) and isinstance(tenants[index], dict) else None
    )
    return f"tenants[{tenant_id or index}]{match.group(2)}"


def validate_config(config: Config) -> list[str]:
    """Cross-key checks: unique names, the issuer's identity, installed adapters, routes, numbering, webhooks."""
    from canonical.validation import check_party  # the issuer's NIT and DV: a customer's rules

    problems: list[str] = []
    if not config.server.database.startswith(("sqlite", "postgresql")):
        problems.append("server.database: use sqlite:///FILE or postgresql://USER@HOST/DB")
    if config.server.pool_size < 1:
        problems.append("server.pool_size: must be >= 1")
    if config.server.pool_max_overflow < 0:
        problems.append("server.pool_max_overflow: must be >= 0")
    if config.server.pool_timeout_s <= 0:
        problems.append("server.pool_timeout_s: must be > 0")
    for name in RETENTION_SETTINGS:
        if getattr(config.server, name) <= 0:
            problems.append(f"server.{name}: must be > 0")
    seen_tenants: set[str] = set()
    seen_keys: set[str] = set()
    for tenant in config.tenants:
        at = f"tenants[{tenant.id}]"
        if tenant.id in seen_tenants:
            problems.append(f"{at}.id: duplicate tenant id")
        seen_tenants.add(tenant.id)
        for i, key in enumerate(tenant.api_keys):
            if len(key) < 16:
                problems.append(f"{at}.api_keys[{i}]: an API key needs at least 16 characters")
            if key in seen_keys:
                problems.append(f"{at}.api_keys[{i}]: the same API key is used twice")
            seen_keys.add(key)
        problems.extend(
            f"{at}.{e.path}: {e.message} [{e.rule}]"
            for e in check_party(tenant.issuer, tenant.issuer.country, "issuer")
        )
        problems.extend(_check_accounts(tenant, at))
        problems.extend(_check_numbering(tenant, at))
        problems.extend(f"{at}.{p}" for p in validate_routes(tenant.routes, tenant.accounts))
        problems.extend(_check_webhooks(tenant, at))
        problems.extend(_check_email(tenant.email, f"{at}.email"))
        problems.extend(_check_printout(tenant.printout, f"{at}.printout"))
        problems.extend(_check_dispatch(tenant.dispatch, f"{at}.dispatch"))
    return problems


def _check_accounts(tenant: Tenant, at: str) -> list[str]:
    from adapters.base import adapter_class

    problems: list[str] = []
    names: set[str] = set()
    for i, account in enumerate(tenant.accounts):
        where = f"{at}.accounts[{account.name or i}]"
        if account.name in names:
            problems.append(f"{where}.name: duplicate account name")
        names.add(account.name)
        try:
            adapter = adapter_class(account.provider)
        except (KeyError, ImportError) as exc:
            problems.append(f"{where}.provider: adapter {account.provider!r} is not installed ({exc})")
            continue
        if tenant.issuer.country not in adapter.countries:
            problems.append(
                f"{where}.provider: {account.provider} serves {sorted(adapter.countries)}, "
                f"not the issuer's country {tenant.issuer.country}"
            )
        if not account.base_url.startswith(("http://", "https://")):
            problems.append(f"{where}.base_url: must be an http(s) URL")
        problems.extend(f"{where}.range{p}" for p in range_problems(account, adapter.numbering))
    return problems


def range_problems(account: Account, numbering: str) -> list[str]:
    """An account's declared range: only where the provider numbers itself, with a prefix and
    sensible bounds (shared with the administration API)."""
    r = account.range
    if r is None:
        return []
    if numbering != "provider":
        return [f": {account.provider} takes our number; its range is the tenant's numbering ranges"]
    problems = [] if r.prefix else [".prefix: required"]
    if (r.from_ is not None and r.from_ < 0) or (r.from_ is not None and r.to is not None and r.to < r.from_):
        problems.append(f": `from` ({r.from_}) must be >= 0 and <= `to` ({r.to})")
    return problems


def _check_numbering(tenant: Tenant, at: str) -> list[str]:
    problems: list[str] = []
    names: set[str] = set()
    for r in tenant.numbering:
        where = f"{at}.numbering[{r.name}]"
        if r.name in names:
            problems.append(f"{where}.name: duplicate numbering range name")
        names.add(r.name)
        if r.from_ < 0 or r.to < r.from_:
            problems.append(f"{where}: `from` ({r.from_}) must be >= 0 and <= `to` ({r.to})")
        if r.valid_from and r.valid_to and r.valid_to < r.valid_from:
            problems.append(f"{where}.valid_to: before valid_from")
        if not r.kinds:
            problems.append(f"{where}.kinds: name at least one kind")
    return problems


def _check_webhooks(tenant: Tenant, at: str) -> list[str]:
    from gateway.tenants.secrets import signing_key  # the one reading of a secret, also used to sign

    problems: list[str] = []
    for i, hook in enumerate(tenant.webhooks):
        where = f"{at}.webhooks[{i}]"
        if not hook.url.startswith(("http://", "https://")):
            problems.append(f"{where}.url: must be an http(s) URL")
        if not hook.secret:
            problems.append(f"{where}.secret: required (Standard Webhooks signing key)")
        for name, secret in (("secret", hook.secret), ("previous_secret", hook.previous_secret)):
            if not secret:
                continue
            try:
                signing_key(secret)
            except ValueError as exc:  # the message never quotes the secret
                problems.append(f"{where}.{name}: {exc}")
        for event in hook.events:
            if event not in WEBHOOK_EVENTS:
                problems.append(f"{where}.events: unknown event {event!r} (known: {sorted(WEBHOOK_EVENTS)})")
    return problems


_POSITIVE: Final[tuple[str, ...]] = (
    "backoff_max_s",
    "poll_interval_s",
    "poll_max_s",
    "breaker_cooldown_s",
    "lease_s",
    "webhook_timeout_s",
)


_ADDRESS: Final = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def _check_email(email: Email | None, at: str) -> list[str]:
    if email is None:
        return []
    problems = []
    if not email.host.strip():
        problems.append(f"{at}.host: name the SMTP server")
    if not 0 < email.port < 65536:
        problems.append(f"{at}.port: must be 1-65535")
    if not _ADDRESS.match(email.sender):
        problems.append(f"{at}.from: not an e-mail address: {email.sender!r}")
    if (email.username is None) != (email.password is None):
        problems.append(f"{at}: username and password go together")
    if not email.retry_s or any(s < 0 for s in email.retry_s):
        problems.append(f"{at}.retry_s: one or more waits, each >= 0")
    if email.timeout_s <= 0:
        problems.append(f"{at}.timeout_s: must be > 0")
    return problems


def _check_printout(style: PrintoutStyle | None, at: str) -> list[str]:
    if style is None:
        return []
    from gateway.printout import load_layout, load_logo  # reads the file, imports the layout

    problems = []
    for name, load in (("logo", load_logo), ("layout", load_layout)):
        value = getattr(style, name)
        if value is not None:
            try:
                load(value)
            except (OSError, ValueError, ImportError, AttributeError) as exc:
                problems.append(f"{at}.{name}: {exc}")
    return problems


def _check_dispatch(d: Dispatch, at: str) -> list[str]:
    problems = [f"{at}.{name}: must be > 0" for name in _POSITIVE if getattr(d, name) <= 0]
    if d.deadline_s is not None and d.deadline_s <= 0:
        problems.append(f"{at}.deadline_s: must be > 0")
    for name in ("max_attempts", "breaker_threshold", "webhook_max_attempts"):
        if getattr(d, name) < 1:
            problems.append(f"{at}.{name}: must be >= 1")
    for name in ("backoff_base_s", "reconcile_window_s", "attention_after_s"):
        if getattr(d, name) < 0:
            problems.append(f"{at}.{name}: must be >= 0")
    return problems


def database_url(url: str) -> str:
    """The file's short URLs (`sqlite:///x.db`, `postgresql://...`) with their async drivers."""
    for plain, driver in (("sqlite://", "sqlite+aiosqlite://"), ("postgresql://", "postgresql+asyncpg://")):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def secrets_of(config: Config) -> list[str]:
    """Every secret value in the config: the log filter redacts them."""
    values: list[str] = []
    if config.server.secret_key:
        values.append(config.server.secret_key)
    if config.server.admin_key:
        values.append(config.server.admin_key)
    values.extend(t.email.password for t in config.tenants if t.email and t.email.password)
    for tenant in config.tenants:
        values.extend(tenant.api_keys)
        values.extend(h.secret for h in tenant.webhooks)
        values.extend(h.previous_secret for h in tenant.webhooks if h.previous_secret)
        for account in tenant.accounts:
            values.extend(v for v in account.credentials.values() if isinstance(v, str))
    return [v for v in values if len(v) >= 4]
