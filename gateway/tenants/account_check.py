"""`pasarela tenants check`, beyond the file's shape: can each account actually be used?

Every account's credentials are decoded by its adapter, and an adapter that signs with the
tenant's own certificate (`check_offline`, as direct DIAN and Hacienda do) opens it with its password:
a missing P12 or .crt, or a wrong password, must show up here, not as `misconfigured` on the first invoice.
Offline: nothing is sent to any provider (`pasarela tenants accounts test` calls them)."""

from __future__ import annotations

from adapters.base import ProviderFailure, adapter_class
from gateway.tenants.config import Config


def account_problems(config: Config) -> list[str]:
    """One line per unusable account, naming the account and the reason (never a secret)."""
    return [f"tenants[{t}].accounts[{a}]: {why}" for t, a, why in unusable_accounts(config)]


def unusable_accounts(config: Config) -> list[tuple[str, str, str]]:
    """(tenant id, account name, reason) of each account its adapter cannot use as configured."""
    problems: list[tuple[str, str, str]] = []
    for tenant in config.tenants:
        for account in tenant.accounts:
            try:
                adapter_class(account.provider)(account).check_offline()
            except ProviderFailure as exc:
                problems.append((tenant.id, account.name, exc.message))
    return problems
