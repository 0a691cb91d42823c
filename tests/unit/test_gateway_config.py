"""The tenants file: the public example loads unchanged; every mistake names its key."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import gateway_fakes  # noqa: F401  (registers the fake adapters)
import pytest
from gateway_harness import tenants_toml

from adapters.base import Account, NumberingRange
from canonical.document import Issuer
from gateway.tenants.config import ConfigError, Server, database_url, load_config, secrets_of

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tenants.toml"


def example_env() -> dict[str, str]:
    names = re.findall(r"\$\{([A-Z0-9_]+)\}", EXAMPLE.read_text())
    env = {name: f"value-of-{name.lower()}-0123456789" for name in names}
    return {**env, "ACME_WEBHOOK_SECRET": "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}  # base64


def test_example_tenants_file_loads_with_only_its_env_vars():
    env = example_env()
    config = load_config(EXAMPLE, env=env)
    acme = config.tenant("acme-co")
    assert acme is not None
    assert isinstance(acme.issuer, Issuer) and acme.issuer.id_number == "900373115"
    assert all(isinstance(a, Account) for a in acme.accounts)
    assert acme.account("facepro").credentials == {"token": env["ACME_FACEPRO_TOKEN"]}
    setp = acme.numbering[0]
    assert isinstance(setp, NumberingRange)
    assert (setp.prefix, setp.from_, setp.to, str(setp.valid_to)) == (
        "SETP",
        990000000,
        995000000,
        "2030-01-19",
    )
    assert acme.dispatch.deadline_s is None and acme.dispatch.max_attempts == 4
    assert acme.dispatch.deadline_for("CO") == 48 * 3600  # the authority's window (issue 14)
    assert acme.routes[1].chain == ["dian", "apidian"]
    assert config.tenant("tienda-sv").account("smartbill").transmitter_code == "001"  # type: ignore[union-attr]
    assert config.warnings == []  # every secret is an ${ENV} reference


def test_issuer_identity_is_checked_like_a_customers():
    """A wrong DV in the tenants file would only surface as DIAN rejections: refuse it at load."""
    text = EXAMPLE.read_text().replace('check_digit = "3"', 'check_digit = "4"')
    text = text.replace('id_number = "06142803901121"', 'id_number = "06142803901122"')
    with pytest.raises(ConfigError) as info:
        load_config(text, env=example_env())
    issuer_problems = [p for p in info.value.problems if ".issuer." in p]
    assert issuer_problems == [
        "tenants[acme-co].issuer.check_digit: NIT 900373115 has check digit 3, not 4 (DIAN mod-11) [co-nit-check-digit]",
        "tenants[tienda-sv].issuer.id_number: NIT check digit does not match [sv-nit-check-digit]",
    ]


def test_missing_environment_variable_names_the_key_and_the_variable():
    env = example_env()
    del env["ACME_FACEPRO_TOKEN"]
    with pytest.raises(ConfigError) as err:
        load_config(EXAMPLE, env=env)
    assert (
        "tenants[0].accounts[0].credentials.token: environment variable ACME_FACEPRO_TOKEN is not set"
        in err.value.problems
    )


def test_environment_overrides_database_and_secret_key():
    env = {**example_env(), "PASARELA_DATABASE_URL": "postgresql://u@127.0.0.1/x"}
    config = load_config(EXAMPLE, env=env)
    assert config.server.database == "postgresql://u@127.0.0.1/x"
    assert database_url(config.server.database) == "postgresql+asyncpg://u@127.0.0.1/x"
    assert database_url("sqlite:///pasarela.db") == "sqlite+aiosqlite:///pasarela.db"


def test_literal_secrets_are_accepted_with_warnings():
    config = load_config(tenants_toml(), env={})
    assert any("api_keys[0]: literal secret" in w for w in config.warnings)
    assert any("credentials.token: literal secret" in w for w in config.warnings)
    assert "unit-key-0123456789abcdef" in secrets_of(config)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ('provider = "fake"', 'provider = "nosuch"', 1),
            "accounts[primary].provider: adapter 'nosuch' is not installed",
        ),
        (
            ('chain = ["primary", "backup"]', 'chain = ["primary", "ghost"]', 1),
            "routes[0].chain[1]: no account named 'ghost'",
        ),
        (('name = "Tenant One"', "name = 5", 1), "tenants[t1].name: Expected `str`, got `int`"),
        (("deadline_s = 5", "deadline_s = 0", 1), "tenants[t1].dispatch.deadline_s: must be > 0"),
        (
            ("from = 990000000", "from = 999999999", 1),
            "numbering[setp]: `from` (999999999) must be >= 0 and <= `to`",
        ),
        (('id = "t2"', 'id = "t1"', 1), "tenants[t1].id: duplicate tenant id"),
        (("deadline_s = 5", "deadline_s = 5\ntypo_s = 1", 1), "Object contains unknown field `typo_s`"),
    ],
)
def test_mistakes_name_their_key(edit, expected):
    old, new, count = edit
    text = tenants_toml().replace(old, new, count)
    with pytest.raises(ConfigError) as err:
        load_config(text, env={})
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_routes_refuse_mixed_numbering_unless_allowed_and_missing_kinds():
    mixed = tenants_toml([("a", "fake"), ("b", "fakeours")])
    with pytest.raises(ConfigError, match="allow_mixed_numbering"):
        load_config(mixed, env={})
    allowed = mixed.replace('chain = ["a", "b"]', 'chain = ["a", "b"]\nallow_mixed_numbering = true')
    assert load_config(allowed, env={}).tenants[0].routes[0].allow_mixed_numbering
    kinds = tenants_toml().replace(
        'chain = ["primary", "backup"]', 'match = { kinds = ["export_invoice"] }\nchain = ["primary"]'
    )
    with pytest.raises(ConfigError, match=r"cannot emit \['export_invoice'\]"):
        load_config(kinds, env={})


def test_webhook_events_are_checked():
    text = tenants_toml(
        extra='[[tenants.webhooks]]\nurl = "http://127.0.0.1:9/h"\nsecret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="\n'
        'events = ["document.exploded"]',
    )
    with pytest.raises(ConfigError, match=r"unknown event 'document\.exploded'"):
        load_config(text, env={})


def test_route_amounts_are_decimals():
    text = tenants_toml().replace(
        'chain = ["primary", "backup"]', 'match = { min_amount = "100.50" }\nchain = ["primary"]'
    )
    assert load_config(text, env={}).tenants[0].routes[0].match.min_amount == Decimal("100.50")


def test_the_store_pool_is_configured_in_the_file_or_the_environment():
    toml = "[server]\npool_size = 3\npool_max_overflow = 1\npool_timeout_s = 0.5\n" + tenants_toml()
    server = load_config(toml, env={}).server
    assert (server.pool_size, server.pool_max_overflow, server.pool_timeout_s) == (3, 1, 0.5)
    env = {"PASARELA_POOL_SIZE": "7", "PASARELA_POOL_MAX_OVERFLOW": "0", "PASARELA_POOL_TIMEOUT_S": "2.5"}
    server = load_config(toml, env=env).server
    assert (server.pool_size, server.pool_max_overflow, server.pool_timeout_s) == (7, 0, 2.5)
    with pytest.raises(ConfigError) as bad:
        load_config(toml, env={"PASARELA_POOL_SIZE": "many"})
    assert "PASARELA_POOL_SIZE" in str(bad.value)
    with pytest.raises(ConfigError) as bad:
        load_config(toml.replace("pool_size = 3", "pool_size = 0"), env={})
    assert "server.pool_size" in str(bad.value)


def test_the_default_pool_lets_six_processes_share_postgresqls_default_connections():
    # PostgreSQL's default max_connections is 100, a few kept for superusers and tools
    server = Server()
    assert 6 * (server.pool_size + server.pool_max_overflow) <= 90


def test_store_errors_that_mean_try_again_are_told_apart_from_bugs():
    import sqlite3

    import sqlalchemy as sa

    from gateway.store.engine import unavailable

    class Orig(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    def wrapped(orig: Exception) -> sa.exc.DBAPIError:
        return sa.exc.DBAPIError.instance("SELECT 1", {}, orig, Exception)

    assert unavailable(sa.exc.TimeoutError("QueuePool limit reached"))
    assert unavailable(wrapped(Orig("53300")))  # too many connections
    assert unavailable(wrapped(Orig("57P03")))  # the server is starting or shutting down
    assert unavailable(wrapped(sqlite3.OperationalError("database is locked")))
    assert not unavailable(wrapped(Orig("23505")))  # a unique violation is a bug, not a busy store
    assert not unavailable(wrapped(sqlite3.OperationalError("no such column: x")))
    assert not unavailable(ValueError("x"))


def test_tenant_email_is_checked_and_its_password_comes_from_the_environment():
    good = '[tenants.email]\nhost = "smtp.acme.example"\nport = 587\nusername = "facturas"\npassword = "${SMTP_PASSWORD}"\nfrom = "facturas@acme.example"\n'
    config = load_config(tenants_toml(extra=good), env={"SMTP_PASSWORD": "s3cret-from-env"})
    email = config.tenant("t1").email
    assert (email.host, email.port, email.starttls, email.sender, email.password, email.enabled) == (
        "smtp.acme.example",
        587,
        True,
        "facturas@acme.example",
        "s3cret-from-env",
        True,
    )
    assert config.tenant("t2").email is None  # delivery is off where nothing is configured
    with pytest.raises(ConfigError, match="environment variable SMTP_PASSWORD is not set"):
        load_config(tenants_toml(extra=good), env={})
    bad = '[tenants.email]\nhost = "smtp.acme.example"\nport = 70000\nusername = "facturas"\nfrom = "facturas"\n'
    with pytest.raises(ConfigError) as err:
        load_config(tenants_toml(extra=bad), env={})
    problems = err.value.problems
    assert "tenants[t1].email.port: must be 1-65535" in problems
    assert "tenants[t1].email.from: not an e-mail address: 'facturas'" in problems
    assert "tenants[t1].email: username and password go together" in problems


def test_tenant_printout_logo_and_layout_are_checked(tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    good = f'[tenants.printout]\nlogo = "{logo}"\nlayout = "gateway.printout.layout:render"\n'
    assert load_config(tenants_toml(extra=good), env={}).tenant("t1").printout.logo == str(logo)
    (tmp_path / "notes.txt").write_text("not an image")
    bad = f'[tenants.printout]\nlogo = "{tmp_path / "notes.txt"}"\nlayout = "nowhere"\n'
    with pytest.raises(ConfigError) as err:
        load_config(tenants_toml(extra=bad), env={})
    assert any(
        p.startswith("tenants[t1].printout.logo:") and "not a PNG or JPEG" in p for p in err.value.problems
    )
    assert "tenants[t1].printout.layout: 'nowhere': write it as package.module:function" in err.value.problems
