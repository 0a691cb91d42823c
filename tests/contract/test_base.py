"""The adapter contract (adapters/base.py): every installed adapter derives from the base, its
optional capabilities are the methods it implements, and the declared refusals (country, kind,
currency) are built in one place with each provider's rule codes."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, ClassVar

import msgspec
import pytest

from adapters.base import (
    GROUP,
    Account,
    Adapter,
    Emission,
    NotOffered,
    Outcome,
    ProviderRef,
    Rejected,
    adapter_classes,
)
from adapters.capabilities import declared_refusals

# What each provider offers beyond the required methods (a change here is a change of contract).
CAPABILITIES = {
    "apidian": {"fetch_xml"},
    "dian": {"fetch_xml", "fetch_attached", "numbering_ranges"},
    "facepro": {"fetch_xml"},
    "hacienda": {"fetch_xml", "invalidate"},
    "koywe": {"fetch_xml", "fetch_pdf"},
    "smartapp": {"fetch_xml", "fetch_pdf"},
    "smartbill": {"fetch_xml", "invalidate"},
}


def test_every_installed_adapter_derives_from_the_base_and_declares_its_capabilities():
    """A new provider adds its line to CAPABILITIES (README.md, "Adding a provider")."""
    installed = {ep.name for ep in entry_points(group=GROUP)}
    assert installed == set(CAPABILITIES)
    for name, cls in adapter_classes().items():
        if name not in installed:
            continue  # a test's fake, registered at run time
        assert issubclass(cls, Adapter), name
        assert cls.capabilities == CAPABILITIES[name], name


@pytest.mark.parametrize("name", ["apidian", "facepro", "koywe", "smartapp"])
def test_declared_refusals_keep_each_providers_rule_codes(name, make_emission):
    cls = adapter_classes()[name]
    assert declared_refusals(cls, make_emission("co-invoice").document) == []
    euro = make_emission("co-invoice", edit=lambda raw: raw.update(currency="EUR")).document
    refused = declared_refusals(cls, euro)
    assert [(i.path, i.rule) for i in refused] == [("currency", f"{name}-currency")]
    assert refused[0].message == cls.refusals["currency"]  # the provider's own words, unchanged


def test_a_kind_outside_the_declaration_is_refused_with_the_generic_wording_when_none_is_given(make_emission):
    class Minimal(_Minimal):
        kinds: ClassVar[frozenset[str]] = frozenset({"credit_note"})

    (issue,) = declared_refusals(Minimal, make_emission("co-invoice").document)
    assert (issue.rule, issue.message) == ("minimal-kind", "minimal does not emit invoice")


class _Credentials(msgspec.Struct):
    pass


class _Minimal(Adapter):
    """Only what the contract requires: every optional capability comes from the base."""

    name: ClassVar[str] = "minimal"
    countries: ClassVar[frozenset[str]] = frozenset({"CO"})
    kinds: ClassVar[frozenset[str]] = frozenset({"invoice"})
    numbering = "provider"
    Credentials: ClassVar[type[msgspec.Struct]] = _Credentials

    def build_payload(self, emission: Emission) -> Any:
        return {}

    async def emit(self, emission: Emission) -> Outcome:
        return Outcome(status="accepted")

    async def status(self, ref: ProviderRef) -> Outcome:
        raise Rejected("no such document", http_status=404)

    async def find(self, emission: Emission) -> ProviderRef | None:
        return None


async def test_the_defaults_say_not_offered_without_hasattr(make_emission):
    adapter = _Minimal(Account(name="m", provider="minimal", base_url="http://127.0.0.1:9"))
    ref = ProviderRef(fiscal_id="x")
    assert _Minimal.capabilities == frozenset()
    assert adapter.warnings(make_emission("co-invoice")) == []
    assert await adapter.fetch_xml(ref) is None
    assert await adapter.fetch_pdf(ref) is None
    assert await adapter.fetch_attached(ref) is None
    assert adapter.certificate_expiry() is None
    with pytest.raises(NotOffered):
        await adapter.invalidate(ref, "error")
    with pytest.raises(NotOffered):
        await adapter.numbering_ranges("900373115")
    # the default probe: a refusal of the unknown reference still proves the credentials were taken
    assert "refused the probe reference" in (await adapter.health("900373115")).message
    assert adapter.health_probe == "status"
    await adapter.aclose()
