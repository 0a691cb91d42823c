"""Pieces of the e2e tenants files, so that each test module composes its file from the same issuer,
numbering, dispatch and account blocks and writes out only what is its own (ids, keys, routes).

Each fragment is TOML text ending in a newline; join them with `"\n".join(...)` after a `tenant()`
header. `{sims.<name>}` and `${NAME}` stay placeholders for `gateway_for` (conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

CO_ISSUER: Final = """
[tenants.issuer]
country = "CO"
party_type = "company"
id_type = "NIT"
id_number = "900373115"
check_digit = "3"
name = "ACME Colombia SAS"
economic_activity = "6201"
tax_responsibilities = ["O-13"]
phone = "6015550100"
address = { line = "Carrera 7 # 71-21", city_code = "11001", department_code = "11", country = "CO" }
"""

SV_ISSUER: Final = """
[tenants.issuer]
country = "SV"
party_type = "company"
id_type = "NIT"
id_number = "06142803901121"
nrc = "2345678"
name = "Tienda El Salvador S.A. de C.V."
economic_activity = "47190"
establishment = "M001"
point_of_sale = "P001"
email = "dte@tienda.example"
phone = "22223333"
address = { line = "Colonia Escalón 123", department_code = "06", city_code = "14", country = "SV" }
"""

# Where each simulator serves the provider's API (the paths its documentation gives).
BASE_URLS: Final[dict[str, str]] = {
    "facepro": "{sims.facepro}/api/v1",
    "smartapp": "{sims.smartapp}",
    "apidian": "{sims.apidian}/api/ubl2.1",
    "koywe": "{sims.koywe}/V1",
    "smartbill": "{sims.smartbill}/v1",
    "dian": "{sims.dian}/WcfDianCustomerServices.svc",
    "hacienda": "{sims.hacienda}",
}

KOYWE_CREDENTIALS: Final = {
    "client_id": "e2e-client",
    "client_secret": "e2e-secret",
    "username": "e2e-user",
    "password": "e2e-password",
    # DANE -> Koywe county_id (per account: Koywe's table is not public); "496" is its examples' code
    "county_ids": {"11001": "496"},
}
DIAN_TECHNICAL_KEY: Final = "fc8eac422eba16e22ffd8c6f94b3f40a6e38162c"  # DIAN's public test range


def tenant(tenant_id: str, name: str, *, key_env: str) -> str:
    """The `[[tenants]]` header with one API key read from `${key_env}`."""
    return f'\n[[tenants]]\nid = "{tenant_id}"\nname = {json.dumps(name)}\napi_keys = ["${{{key_env}}}"]\n'


def dispatch(deadline_s: float = 10) -> str:
    """Dispatch timings shrunk to milliseconds (the tests wait for outcomes, not for backoff)."""
    return f"""
[tenants.dispatch]
deadline_s = {deadline_s}
max_attempts = 2
backoff_base_s = 0.001
backoff_max_s = 0.01
poll_interval_s = 0.02
reconcile_window_s = 0.1
breaker_cooldown_s = 0.2
lease_s = 2
"""


def dian_numbering(first: int, *, notes: str) -> str:
    """A slice of DIAN's public test range from `first` (the simulator refuses a number twice, so every
    suite takes its own slice) and note ranges prefixed `NC<notes>` and `ND<notes>`."""
    return f"""
[[tenants.numbering]]
name = "setp"
kinds = ["invoice"]
prefix = "SETP"
resolution = "18760000001"
from = {first}
to = {first + 99_999}
valid_from = 2019-01-19
valid_to = 2030-01-19
technical_key = "{DIAN_TECHNICAL_KEY}"

[[tenants.numbering]]
name = "nc"
kinds = ["credit_note"]
prefix = "NC{notes}"
from = 1
to = 99999999

[[tenants.numbering]]
name = "nd"
kinds = ["debit_note"]
prefix = "ND{notes}"
from = 1
to = 99999999
"""


def pos_and_support_numbering(first: int) -> str:
    """The POS and support-document ranges (their own resolution each, DIAN's test prefixes) from
    `first`: the simulator knows EPOS and DSP 1..1000000 under resolution 18760000001."""
    return "".join(
        f"""
[[tenants.numbering]]
name = "{name}"
kinds = ["{kind}"]
prefix = "{prefix}"
resolution = "18760000001"
from = {first}
to = {first + 9_999}
valid_from = 2019-01-19
valid_to = 2030-01-19
"""
        for name, kind, prefix in (("epos", "pos_invoice", "EPOS"), ("dsp", "support_document", "DSP"))
    )


def account(
    name: str,
    provider: str,
    credentials: Mapping[str, Any],
    *,
    base_url: str | None = None,
    timeout_s: float | None = 0.5,
    own_range: tuple[str, int] | None = None,
    **fields: str | float,
) -> str:
    """One `[[tenants.accounts]]` block pointing at the provider's simulator (or at `base_url`). The
    simulators answer within milliseconds, so a hang fault times out after `timeout_s` (None: the
    gateway's default). `own_range` (prefix, first consecutive): the DIAN range a self-numbering
    provider numbers this account from."""
    if timeout_s is not None:
        fields["timeout_s"] = timeout_s
    lines = [
        "[[tenants.accounts]]",
        f'name = "{name}"',
        f'provider = "{provider}"',
        f'base_url = "{base_url or BASE_URLS[provider]}"',
        *(f"{key} = {json.dumps(value)}" for key, value in fields.items()),
        *([f'range = {{ prefix = "{own_range[0]}", from = {own_range[1]} }}'] if own_range else []),
        f"credentials = {_inline_table(credentials)}",
    ]
    return "\n" + "\n".join(lines) + "\n"


def _inline_table(table: Mapping[str, Any]) -> str:
    """A TOML inline table; a nested mapping (Koywe's county_ids) becomes one too."""
    cells = (
        f"{json.dumps(k)} = {_inline_table(v) if isinstance(v, Mapping) else json.dumps(v)}"
        for k, v in table.items()
    )
    return "{ " + ", ".join(cells) + " }"


def dian_account(name: str, *, env: str, timeout_s: float = 0.5, **credentials: str) -> str:
    """A direct-DIAN account whose software and certificate come from `${<env>_SOFTWARE_ID}`,
    `${<env>_SOFTWARE_PIN}`, `${<env>_P12}` and `${<env>_P12_PASSWORD}`."""
    secrets = {
        "software_id": f"${{{env}_SOFTWARE_ID}}",
        "software_pin": f"${{{env}_SOFTWARE_PIN}}",
        "certificate": f"${{{env}_P12}}",
        "certificate_password": f"${{{env}_P12_PASSWORD}}",
    }
    return account(name, "dian", {**secrets, **credentials}, environment="test", timeout_s=timeout_s)
