"""docs/onboarding-hacienda.md keeps its promises: the tenants block it shows is what the config
loader and `tenants check` accept, its production switch names MH's documented hosts, and the
README and the deployment notes link it. Offline: the certificate is a local test one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adapters.hacienda.certificate import write_test_certificate
from gateway.tenants.account_check import account_problems
from gateway.tenants.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "onboarding-hacienda.md"
NIT = "06142803901121"
PRODUCTION_HOST = "https://api.dtes.mh.gob.sv"
TEST_HOST = "https://apitest.dtes.mh.gob.sv"


def toml_blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    certificate = write_test_certificate(NIT, "clave-privada-de-prueba", tmp_path)
    return {
        "TIENDA_SV_API_KEY": "tienda-sv-doc-key-0123456789",
        "TIENDA_MH_USER": NIT,
        "TIENDA_MH_API_PASSWORD": "Api-Password-13+",
        "TIENDA_MH_CERTIFICATE": str(certificate),
        "TIENDA_MH_CERTIFICATE_PASSWORD": "clave-privada-de-prueba",
        "TIENDA_MH_RESPONSIBLE_NAME": "Responsable de Prueba",
        "TIENDA_MH_RESPONSIBLE_DUI": "01234567-8",
    }


def test_the_documented_tenant_loads_and_its_certificate_opens(env):
    tenant_block = next(block for block in toml_blocks() if "[[tenants]]" in block)
    config = parse_config(tenant_block, env)
    (tenant,) = config.tenants
    account = tenant.account("hacienda")
    assert account is not None
    assert (account.provider, account.environment, account.base_url) == ("hacienda", "test", TEST_HOST)
    assert account.credentials["user"] == tenant.issuer.id_number == NIT
    assert {kind for r in tenant.numbering for kind in r.kinds} == {
        "invoice",
        "tax_credit_invoice",
        "credit_note",
        "debit_note",
    }
    assert config.warnings == []  # every secret comes from the environment
    assert account_problems(config) == []


def test_a_wrong_private_key_password_fails_the_documented_check(env):
    tenant_block = next(block for block in toml_blocks() if "[[tenants]]" in block)
    config = parse_config(tenant_block, {**env, "TIENDA_MH_CERTIFICATE_PASSWORD": "otra-clave"})
    assert account_problems(config) == [
        "tenants[tienda-sv].accounts[hacienda]: certificate: the private-key password does not match the certificate"
    ]


def test_the_production_switch_applies_to_the_documented_tenant(env):
    blocks = toml_blocks()
    tenant_block = next(block for block in blocks if "[[tenants]]" in block)
    switch = next(block for block in blocks if 'environment = "production"' in block)
    lines = dict(line.split("#")[0].strip().split(" = ", 1) for line in switch.splitlines() if " = " in line)
    assert lines == {"environment": '"production"', "base_url": f'"{PRODUCTION_HOST}"'}
    production = tenant_block.replace('environment = "test"', f"environment = {lines['environment']}")
    production = production.replace(f'base_url = "{TEST_HOST}"', f"base_url = {lines['base_url']}")
    account = parse_config(production, env).tenants[0].account("hacienda")
    assert account is not None
    assert (account.environment, account.base_url) == ("production", PRODUCTION_HOST)
    # the hosts are the ones the Hacienda contract documents
    contract = (ROOT / "contracts" / "hacienda" / "README.md").read_text()
    assert f"test `{TEST_HOST}`" in contract and f"production `{PRODUCTION_HOST}`" in contract


def test_the_readme_and_the_deployment_notes_link_it_and_its_links_resolve():
    assert "](docs/onboarding-hacienda.md)" in (ROOT / "README.md").read_text()
    assert "docs/onboarding-hacienda.md" in (ROOT / "docs" / "deploy.md").read_text()
    links = set(re.findall(r"\]\(([^)#:]+)\)", DOC.read_text()))
    assert links and [link for link in links if not (DOC.parent / link).exists()] == []
