"""The UBL builder: XSD validity of invoice, credit and debit note; DIAN fields and their CUFE/CUDE."""

from __future__ import annotations

from decimal import Decimal

import dian_support as ds
import msgspec
import pytest
from dian_support import dian_identity_fixture, dian_pki_fixture  # noqa: F401  (fixtures)
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from adapters.base import Misconfigured, Unsupported
from adapters.dian.ubl import NS, build_document
from adapters.dian.xades import sign
from canonical.dian import cufe, software_security_code
from simulators.dian import xsd_errors


def _text(root, path: str) -> str:
    return root.findtext(path, namespaces=NS)


@pytest.fixture(scope="module")
def signed(dian_identity):
    """Each kind built and signed once: the XSD needs the signature in the second UBLExtension."""
    out = {}
    for doc in (ds.document("co-invoice"), ds.document("co-credit-note"), ds.debit_note()):
        built = build_document(ds.emission(doc), ds.software(), "test")
        out[doc.kind] = (
            built,
            etree.fromstring(sign(built.root, dian_identity, built.issued_at, built.fiscal_id)),
        )
    return out


@pytest.mark.parametrize("kind", ["invoice", "credit_note", "debit_note"])
def test_signed_documents_validate_against_the_ubl_xsd(signed, kind: str) -> None:
    _, root = signed[kind]
    assert xsd_errors(root) == []


def test_the_xsd_check_catches_an_out_of_order_element(signed) -> None:
    _, root = signed["invoice"]
    broken = etree.fromstring(etree.tostring(root))
    currency = broken.find("cbc:DocumentCurrencyCode", NS)
    broken.remove(currency)
    broken.append(currency)
    assert xsd_errors(broken)


def test_invoice_carries_the_totals_and_a_cufe_recomputable_from_its_own_fields(signed) -> None:
    built, root = signed["invoice"]
    assert _text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "358050.00"
    assert _text(root, "cac:LegalMonetaryTotal/cbc:LineExtensionAmount") == "321000.00"
    assert _text(root, "cac:TaxTotal/cbc:TaxAmount") == "37050.00"
    assert _text(root, "cbc:InvoiceTypeCode") == "01"
    assert _text(root, "cbc:CustomizationID") == "10"
    assert _text(root, "cbc:ProfileExecutionID") == "2"
    expected = cufe(
        number=_text(root, "cbc:ID"),
        issue_date=_text(root, "cbc:IssueDate"),
        issue_time=_text(root, "cbc:IssueTime"),
        line_extension=_text(root, "cac:LegalMonetaryTotal/cbc:LineExtensionAmount"),
        taxes={"01": _text(root, "cac:TaxTotal/cbc:TaxAmount")},
        payable=_text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount"),
        supplier_id=_text(root, "cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"),
        customer_id=_text(root, "cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"),
        key=ds.RANGES["invoice"].technical_key,
        environment="2",
    )
    assert _text(root, "cbc:UUID") == expected == built.fiscal_id
    dian = "ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/sts:DianExtensions/"
    assert _text(root, dian + "sts:InvoiceControl/sts:InvoiceAuthorization") == "18760000001"
    assert _text(root, dian + "sts:SoftwareSecurityCode") == software_security_code(
        ds.SOFTWARE_ID, ds.SOFTWARE_PIN, built.number
    )
    assert _text(root, dian + "sts:QRCode").endswith(built.fiscal_id)
    assert _text(root, "cbc:IssueTime").endswith("-05:00")


def test_credit_note_references_the_invoice_and_uses_the_pin_for_its_cude(signed) -> None:
    built, root = signed["credit_note"]
    doc = ds.document("co-credit-note")
    assert _text(root, "cbc:CreditNoteTypeCode") == "91"
    assert _text(root, "cbc:CustomizationID") == "20"
    assert root.find(".//sts:InvoiceControl", NS) is None  # notes carry no InvoiceControl
    assert (
        _text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:UUID") == doc.reference.fiscal_id
    )
    assert _text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == doc.reference.number
    assert _text(root, "cac:DiscrepancyResponse/cbc:ResponseCode") == "4"  # price_adjustment
    assert root.find("cbc:UUID", NS).get("schemeName") == "CUDE-SHA384"
    expected = cufe(
        number=built.number,
        issue_date=_text(root, "cbc:IssueDate"),
        issue_time=_text(root, "cbc:IssueTime"),
        line_extension="20000.00",
        taxes={"01": "3800.00"},
        payable="23800.00",
        supplier_id="900373115",
        customer_id="900123456",
        key=ds.SOFTWARE_PIN,
        environment="2",
    )
    assert built.fiscal_id == expected


def test_debit_note_uses_requested_monetary_total(signed) -> None:
    _, root = signed["debit_note"]
    assert root.find("cac:LegalMonetaryTotal", NS) is None
    assert _text(root, "cac:RequestedMonetaryTotal/cbc:PayableAmount") == "23800.00"
    assert _text(root, "cbc:CustomizationID") == "30"
    assert _text(root, "cac:DiscrepancyResponse/cbc:ResponseCode") == "1"  # interest


def test_amounts_never_pass_through_float() -> None:
    doc = ds.document("co-invoice")
    line = msgspec.structs.replace(doc.lines[0], unit_price=Decimal("0.10"), quantity=Decimal("3"))
    built = build_document(ds.emission(msgspec.structs.replace(doc, lines=[line])), ds.software(), "test")
    assert _text(built.root, "cac:InvoiceLine/cbc:LineExtensionAmount") == "0.30"


def test_production_environment_changes_profile_execution_and_qr() -> None:
    built = build_document(
        ds.emission(ds.document("co-invoice"), environment="production"), ds.software(), "production"
    )
    assert _text(built.root, "cbc:ProfileExecutionID") == "1"
    assert "catalogo-vpfe.dian.gov.co" in built.root.findtext(".//sts:QRCode", namespaces=NS)


def test_missing_customer_and_other_kinds_are_refused() -> None:
    with pytest.raises(Unsupported) as exc:
        build_document(ds.emission(ds.document("co-invoice", customer=None)), ds.software(), "test")
    assert exc.value.issues[0].rule == "co-invoice-customer-required"


def test_invoice_range_without_technical_key_is_misconfigured() -> None:
    emission = ds.emission(ds.document("co-invoice"))
    emission = msgspec.structs.replace(
        emission, numbering=msgspec.structs.replace(emission.numbering, technical_key=None)
    )
    with pytest.raises(Misconfigured):
        build_document(emission, ds.software(), "test")


def test_rich_invoice_is_valid_and_its_cufe_counts_inc_and_ica(dian_identity) -> None:
    emission = ds.emission(ds.rich_invoice())
    built = build_document(emission, ds.software(), "test")
    root = etree.fromstring(sign(built.root, dian_identity, built.issued_at, built.fiscal_id))
    assert xsd_errors(root) == []
    totals = emission.totals
    assert _text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == str(totals.payable)
    assert _text(root, "cac:LegalMonetaryTotal/cbc:AllowanceTotalAmount") == "1000.00"
    assert _text(root, "cac:LegalMonetaryTotal/cbc:ChargeTotalAmount") == "2000.00"
    schemes = {
        t.findtext("cac:TaxSubtotal/cac:TaxCategory/cac:TaxScheme/cbc:ID", namespaces=NS): t.findtext(
            "cbc:TaxAmount", namespaces=NS
        )
        for t in root.findall("cac:TaxTotal", NS)
    }
    assert set(schemes) == {"01", "04", "03"}
    percents = {p.text for p in root.iterfind("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent", NS)}
    assert percents == {"19.00", "0.00", "8.00", "0.966"}  # ICA per mil kept exact
    withheld = [
        w.findtext(".//cac:TaxScheme/cbc:ID", namespaces=NS)
        for w in root.findall("cac:WithholdingTaxTotal", NS)
    ]
    assert withheld == ["06", "05"]
    expected = cufe(
        number=built.number,
        issue_date=_text(root, "cbc:IssueDate"),
        issue_time=_text(root, "cbc:IssueTime"),
        line_extension=str(totals.line_extension),
        taxes=schemes,
        payable=str(totals.payable),
        supplier_id="900373115",
        customer_id="900123456",
        key=ds.RANGES["invoice"].technical_key,
        environment="2",
    )
    assert built.fiscal_id == expected


def test_notes_drop_withholdings_with_a_warning() -> None:
    doc = msgspec.structs.replace(ds.document("co-credit-note"), withholdings=ds.rich_invoice().withholdings)
    built = build_document(ds.emission(doc), ds.software(), "test")
    assert built.root.find("cac:WithholdingTaxTotal", NS) is None
    assert built.warnings and "withholdings" in built.warnings[0]


def test_text_is_escaped() -> None:
    doc = ds.document("co-invoice", notes=['Entrega "urgente" <hoy> & mañana'])
    built = build_document(ds.emission(doc), ds.software(), "test")
    assert _text(built.root, "cbc:Note") == 'Entrega "urgente" <hoy> & mañana'


def test_foreign_currency_is_refused() -> None:
    with pytest.raises(Unsupported) as exc:
        build_document(ds.emission(ds.document("co-invoice", currency="USD")), ds.software(), "test")
    assert exc.value.issues[0].rule == "dian-currency-cop"


@given(
    lines=st.lists(
        st.tuples(
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999"), places=2),
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999"), places=3),
            st.sampled_from(
                [("IVA", "19"), ("IVA", "5"), ("IVA", "0"), ("INC", "8"), ("ICA", "0.966"), None]
            ),
            st.one_of(st.none(), st.decimals(min_value=Decimal("0"), max_value=Decimal("50"), places=1)),
        ),
        min_size=1,
        max_size=6,
    ),
    kind=st.sampled_from(["invoice", "credit_note"]),
)
@settings(max_examples=40, deadline=None)
def test_dian_recomputes_the_same_cufe_from_any_document_we_write(lines, kind) -> None:
    """Whatever the amounts, the CUFE/CUDE DIAN recomputes from the written XML (the simulator's
    reading of §1.1, truncation included) is the one we wrote, and the document is valid UBL."""
    from simulators.dian.documents import recompute_cufe

    base = ds.document("co-invoice" if kind == "invoice" else "co-credit-note")
    raw = msgspec.to_builtins(base)
    raw["lines"] = [
        {
            "description": f"Item {i}",
            "quantity": str(quantity),
            "unit_price": str(price),
            "taxes": [{"tax": tax[0], "rate": tax[1]}] if tax else [],
            **({"discount": {"percent": str(discount)}} if discount is not None else {}),
        }
        for i, (quantity, price, tax, discount) in enumerate(lines)
    ]
    doc = msgspec.convert(raw, type(base))
    built = build_document(ds.emission(doc), ds.software(), "test")
    root_name = etree.QName(built.root).localname
    key = ds.RANGES["invoice"].technical_key if kind == "invoice" else ds.SOFTWARE_PIN
    assert recompute_cufe(built.root, root_name, key, "2") == built.fiscal_id
    errors = xsd_errors(built.root)
    assert all("ExtensionContent" in e for e in errors), errors  # only the empty signature slot


def test_a_party_not_responsible_for_iva_says_so() -> None:
    doc = ds.document("co-invoice")
    customer = msgspec.structs.replace(doc.customer, tax_responsibilities=["R-99-PN"])
    built = build_document(
        ds.emission(msgspec.structs.replace(doc, customer=customer)), ds.software(), "test"
    )
    scheme = built.root.find("cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme", NS)
    assert scheme.find("cbc:TaxLevelCode", NS).get("listName") == "49"
    assert scheme.findtext("cac:TaxScheme/cbc:ID", namespaces=NS) == "ZZ"
    supplier = built.root.find("cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme", NS)
    assert supplier.findtext("cac:TaxScheme/cbc:ID", namespaces=NS) == "01"  # O-13: responsible


# -- Anexo 1.9: complete addresses, legal entities, adjustments, note concepts -----------------------

_ADDRESS_FIELDS = [
    "cbc:ID",
    "cbc:CityName",
    "cbc:CountrySubentity",
    "cbc:CountrySubentityCode",
    "cac:AddressLine/cbc:Line",
    "cac:Country/cbc:IdentificationCode",
    "cac:Country/cbc:Name",
]


def _address(root, party: str, where: str) -> dict[str, str | None]:
    address = root.find(f"cac:{party}/cac:Party/{where}", NS)
    assert address is not None, (party, where)
    values = {path: address.findtext(path, namespaces=NS) for path in _ADDRESS_FIELDS}
    values["languageID"] = address.find("cac:Country/cbc:Name", NS).get("languageID")
    values["cbc:PostalZone"] = address.findtext("cbc:PostalZone", namespaces=NS)
    return values


@pytest.mark.parametrize("kind", ["invoice", "credit_note", "debit_note"])
@pytest.mark.parametrize(
    "where", ["cac:PhysicalLocation/cac:Address", "cac:PartyTaxScheme/cac:RegistrationAddress"]
)
def test_supplier_addresses_are_complete_with_names_from_the_codes(signed, kind, where) -> None:
    _, root = signed[kind]
    assert _address(root, "AccountingSupplierParty", where) == {
        "cbc:ID": "11001",
        "cbc:CityName": "Bogotá, D.c.",  # DIAN's Municipio-2.1 spelling
        "cbc:CountrySubentity": "Bogotá",
        "cbc:CountrySubentityCode": "11",
        "cac:AddressLine/cbc:Line": "Carrera 7 # 71-21",
        "cac:Country/cbc:IdentificationCode": "CO",
        "cac:Country/cbc:Name": "Colombia",
        "languageID": "es",
        "cbc:PostalZone": None,  # not known: not written
    }


def test_customer_address_follows_the_same_rules_and_carries_a_known_postal_zone() -> None:
    doc = ds.document("co-invoice")
    address = msgspec.structs.replace(
        doc.customer.address, city_code="05001", department_code=None, postal_code="050021"
    )
    customer = msgspec.structs.replace(doc.customer, address=address)
    root = build_document(
        ds.emission(msgspec.structs.replace(doc, customer=customer)), ds.software(), "test"
    ).root
    for where in ("cac:PhysicalLocation/cac:Address", "cac:PartyTaxScheme/cac:RegistrationAddress"):
        got = _address(root, "AccountingCustomerParty", where)
        assert got["cbc:ID"] == "05001" and got["cbc:CityName"] == "Medellín"
        assert got["cbc:CountrySubentityCode"] == "05" and got["cbc:CountrySubentity"] == "Antioquia"
        assert got["cbc:PostalZone"] == "050021"
        assert got["cac:Country/cbc:Name"] == "Colombia" and got["languageID"] == "es"


def test_a_foreign_customer_address_names_its_country() -> None:
    doc = ds.document("co-invoice")
    address = msgspec.convert({"line": "5th Avenue 1", "country": "US"}, type(doc.customer.address))
    customer = msgspec.structs.replace(doc.customer, address=address)
    root = build_document(
        ds.emission(msgspec.structs.replace(doc, customer=customer)), ds.software(), "test"
    ).root
    got = _address(root, "AccountingCustomerParty", "cac:PhysicalLocation/cac:Address")
    assert got["cac:Country/cbc:IdentificationCode"] == "US"
    assert got["cac:Country/cbc:Name"] == "Estados Unidos" and got["cbc:ID"] is None


def test_addresses_outside_divipola_never_reach_the_xml() -> None:
    doc = ds.document("co-invoice")
    address = msgspec.structs.replace(doc.customer.address, city_code="05001", department_code="11")
    customer = msgspec.structs.replace(doc.customer, address=address)
    with pytest.raises(Unsupported) as caught:
        build_document(ds.emission(msgspec.structs.replace(doc, customer=customer)), ds.software(), "test")
    assert [(i.path, i.rule) for i in caught.value.issues] == [
        ("customer.address.city_code", "dian-address-city")
    ]
    no_line = msgspec.structs.replace(
        doc.customer, address=msgspec.structs.replace(doc.customer.address, line=None)
    )
    with pytest.raises(Unsupported) as caught:
        build_document(ds.emission(msgspec.structs.replace(doc, customer=no_line)), ds.software(), "test")
    assert [(i.path, i.rule) for i in caught.value.issues] == [("customer.address.line", "dian-address-line")]
    issuer = msgspec.structs.replace(ds.ISSUER, address=None)
    emission = msgspec.structs.replace(ds.emission(ds.document("co-invoice")), issuer=issuer)
    with pytest.raises(Misconfigured):
        build_document(emission, ds.software(), "test")


def test_the_anonymous_final_consumer_has_a_legal_entity(dian_identity) -> None:
    doc = ds.document("co-credit-note", customer=None)
    built = build_document(ds.emission(doc), ds.software(), "test")
    entity = built.root.find("cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity", NS)
    assert entity is not None
    assert entity.findtext("cbc:RegistrationName", namespaces=NS) == "Consumidor final"
    assert entity.findtext("cbc:CompanyID", namespaces=NS) == "222222222222"
    assert entity.find("cbc:CompanyID", NS).get("schemeName") == "13"
    signed = etree.fromstring(sign(built.root, dian_identity, built.issued_at, built.fiscal_id))
    assert xsd_errors(signed) == []


def test_document_discounts_and_charges_carry_reason_code_and_percentage(dian_identity) -> None:
    doc = ds.document("co-invoice")
    raw = msgspec.to_builtins(doc)
    raw["discounts"] = [{"reason": "Pronto pago", "percent": "2"}]
    raw["charges"] = [{"reason": "Propina", "amount": "10000", "kind": "tip"}]
    doc = msgspec.convert(raw, type(doc))
    built = build_document(ds.emission(doc), ds.software(), "test")
    found = {
        ac.findtext("cbc:ChargeIndicator", namespaces=NS): (
            ac.findtext("cbc:AllowanceChargeReasonCode", namespaces=NS),
            ac.findtext("cbc:MultiplierFactorNumeric", namespaces=NS),
            ac.findtext("cbc:Amount", namespaces=NS),
            ac.findtext("cbc:BaseAmount", namespaces=NS),
        )
        for ac in built.root.iterfind("cac:AllowanceCharge", NS)
    }
    # 2 % of 321000.00; 10000.00 of 321000.00 is 3.115265 %
    assert found == {
        "false": ("01", "2.00", "6420.00", "321000.00"),
        "true": ("03", "3.115265", "10000.00", "321000.00"),
    }
    signed = etree.fromstring(sign(built.root, dian_identity, built.issued_at, built.fiscal_id))
    assert xsd_errors(signed) == []


def test_a_line_discount_by_amount_states_its_percentage() -> None:
    doc = ds.document("co-invoice")
    raw = msgspec.to_builtins(doc)
    raw["lines"][1]["discount"] = {"amount": "5000"}  # of 2 × 25000
    built = build_document(ds.emission(msgspec.convert(raw, type(doc))), ds.software(), "test")
    line = built.root.findall("cac:InvoiceLine", NS)[1]
    assert line.findtext("cac:AllowanceCharge/cbc:MultiplierFactorNumeric", namespaces=NS) == "10.00"


@pytest.mark.parametrize(
    ("kind", "reason", "code"),
    [
        ("credit_note", "partial_return", "1"),
        ("credit_note", "annulment", "2"),
        ("credit_note", "discount", "3"),
        ("credit_note", "price_adjustment", "4"),
        ("debit_note", "interest", "1"),
        ("debit_note", "expenses", "2"),
        ("debit_note", "value_change", "3"),
        ("debit_note", "other", "4"),
    ],
)
def test_note_concepts_follow_anexo_1_9(kind, reason, code) -> None:
    doc = ds.document("co-credit-note") if kind == "credit_note" else ds.debit_note()
    doc = msgspec.structs.replace(doc, reason=msgspec.structs.replace(doc.reason, code=reason))
    built = build_document(ds.emission(doc), ds.software(), "test")
    assert built.root.findtext("cac:DiscrepancyResponse/cbc:ResponseCode", namespaces=NS) == code


def test_a_generic_credit_reason_has_no_dian_concept_since_anexo_1_9() -> None:
    doc = ds.document("co-credit-note")
    doc = msgspec.structs.replace(doc, reason=msgspec.structs.replace(doc.reason, code="other"))
    with pytest.raises(Unsupported) as caught:
        build_document(ds.emission(doc), ds.software(), "test")
    assert [(i.path, i.rule) for i in caught.value.issues] == [("reason.code", "dian-note-reason")]
