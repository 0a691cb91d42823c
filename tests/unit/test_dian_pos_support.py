"""Direct DIAN's POS equivalent document (20, its adjustment note 94) and support document (05, its
adjustment note 95): XSD validity, DIAN's type codes and profiles, the POS groups, the support
document's roles, and the CUDE/CUDS as the simulator recomputes them, checked against DIAN's own
worked examples (research/dian.md §1.6)."""

from __future__ import annotations

from decimal import Decimal

import dian_support as ds
import msgspec
import pytest
from dian_support import dian_identity_fixture, dian_pki_fixture  # noqa: F401  (fixtures)
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from adapters.base import Unsupported
from adapters.dian.ubl import NS, build_document
from adapters.dian.xades import sign
from simulators.dian import xsd_errors
from simulators.dian.documents import recompute_cuds, recompute_cufe

MAKERS = {
    "pos_invoice": lambda: ds.document("co-pos-invoice"),
    "pos_credit_note": ds.pos_credit_note,
    "support_document": lambda: ds.document("co-support-document"),
    "support_adjustment_note": ds.support_adjustment_note,
}


def _text(root, path: str) -> str:
    return root.findtext(path, namespaces=NS)


@pytest.fixture(scope="module")
def signed(dian_identity):
    out = {}
    for name, make in MAKERS.items():
        built = build_document(ds.emission(make()), ds.software(), "test")
        out[name] = (
            built,
            etree.fromstring(sign(built.root, dian_identity, built.issued_at, built.fiscal_id)),
        )
    return out


@pytest.mark.parametrize("name", list(MAKERS))
def test_signed_documents_validate_against_the_ubl_xsd(signed, name: str) -> None:
    assert xsd_errors(signed[name][1]) == []


@pytest.mark.parametrize(
    ("name", "type_path", "code", "scheme"),
    [
        ("pos_invoice", "cbc:InvoiceTypeCode", "20", "CUDE-SHA384"),
        ("pos_credit_note", "cbc:CreditNoteTypeCode", "94", "CUDE-SHA384"),
        ("support_document", "cbc:InvoiceTypeCode", "05", "CUDS-SHA384"),
        ("support_adjustment_note", "cbc:CreditNoteTypeCode", "95", "CUDS-SHA384"),
    ],
)
def test_type_codes_and_hash_names(signed, name, type_path, code, scheme) -> None:
    _, root = signed[name]
    assert _text(root, type_path) == code
    assert root.find("cbc:UUID", NS).get("schemeName") == scheme


def test_pos_document_carries_its_groups_its_range_and_the_final_consumer(signed) -> None:
    built, root = signed["pos_invoice"]
    assert _text(root, "cbc:ProfileID") == "DIAN 2.1: Documento Equivalente POS"
    contents = root.findall("ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent", NS)
    groups = [etree.QName(c[0]).localname for c in contents if len(c)]
    # APIDIAN's order: the three POS groups, DianExtensions, then the signature
    assert groups == [
        "FabricanteSoftware",
        "BeneficiosComprador",
        "PuntoVenta",
        "DianExtensions",
        "Signature",
    ]
    pairs = contents[2].find("{*}PuntoVenta/{*}InformacionCajaVenta")
    values = dict(zip((e.text for e in pairs[::2]), (e.text for e in pairs[1::2]), strict=True))
    assert values["PlacaCaja"] == "CAJA-001" and values["Cajero"] == "Laura Gómez"
    assert values["SubTotal"] == "52872.00"  # the engine's tax-inclusive total
    assert _text(root, ".//sts:InvoiceControl/sts:AuthorizedInvoices/sts:Prefix") == "EPOS"
    customer = "cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"
    assert _text(root, customer) == "222222222222"
    # the CUDE uses the software PIN; the simulator reads it back from the XML
    assert recompute_cufe(root, "Invoice", ds.SOFTWARE_PIN, "2") == built.fiscal_id


def test_pos_benefits_without_a_programme_name_the_buyer_with_no_points() -> None:
    doc = ds.document("co-pos-invoice")
    pos = msgspec.structs.replace(doc.point_of_sale, buyer_benefits=None)
    built = build_document(
        ds.emission(msgspec.structs.replace(doc, point_of_sale=pos)), ds.software(), "test"
    )
    info = built.root.find(".//{*}InformacionBeneficiosComprador")
    assert [e.text for e in info] == [
        "Codigo",
        "222222222222",
        "NombresApellidos",
        "Consumidor final",
        "Puntos",
        "0",
    ]


def test_support_document_roles_are_seller_then_tenant_and_its_cuds_is_dians(signed) -> None:
    built, root = signed["support_document"]
    supplier = "cac:AccountingSupplierParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"
    customer = "cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"
    assert _text(root, supplier) == "1020304050"  # the seller, not obliged to invoice
    assert _text(root, customer) == ds.ISSUER.id_number  # the tenant buys and issues
    assert _text(root, "cbc:CustomizationID") == "10"  # a resident seller
    assert _text(root, ".//sts:InvoiceControl/sts:AuthorizedInvoices/sts:Prefix") == "DSP"
    assert root.find("cac:WithholdingTaxTotal", NS) is not None  # ReteFuente, informational
    assert recompute_cuds(root, ds.SOFTWARE_PIN, "2") == built.fiscal_id


def test_a_foreign_seller_makes_it_a_non_resident_support_document() -> None:
    doc = ds.document("co-support-document")
    raw = msgspec.to_builtins(doc)
    raw["supplier"]["address"] = {"line": "5th Avenue 100", "country": "US"}
    raw["supplier"]["id_type"] = "FOREIGN_ID"
    built = build_document(ds.emission(msgspec.convert(raw, type(doc))), ds.software(), "test")
    assert _text(built.root, "cbc:CustomizationID") == "11"


@pytest.mark.parametrize(
    ("name", "scheme"), [("pos_credit_note", "CUDE"), ("support_adjustment_note", "CUDS")]
)
def test_adjustment_notes_reference_their_document_by_its_hash(signed, name, scheme) -> None:
    built, root = signed[name]
    assert root.find(".//sts:InvoiceControl", NS) is None
    reference = root.find("cac:BillingReference/cac:InvoiceDocumentReference/cbc:UUID", NS)
    assert reference.get("schemeName") == f"{scheme}-SHA384"
    if scheme == "CUDS":
        assert recompute_cuds(root, ds.SOFTWARE_PIN, "2") == built.fiscal_id
    else:
        assert recompute_cufe(root, "CreditNote", ds.SOFTWARE_PIN, "2") == built.fiscal_id


def _skeleton(number, date, time, line_extension, taxes, payable, seller, buyer) -> etree._Element:
    """The fields DIAN's hash reads, in a bare Invoice: enough for the simulator's recomputation."""
    cbc, cac = NS["cbc"], NS["cac"]
    root = etree.Element("{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice", nsmap=NS)
    for tag, value in (("ID", number), ("IssueDate", date), ("IssueTime", time)):
        etree.SubElement(root, f"{{{cbc}}}{tag}").text = value
    for role, company in (("AccountingSupplierParty", seller), ("AccountingCustomerParty", buyer)):
        scheme = etree.SubElement(
            etree.SubElement(etree.SubElement(root, f"{{{cac}}}{role}"), f"{{{cac}}}Party"),
            f"{{{cac}}}PartyTaxScheme",
        )
        etree.SubElement(scheme, f"{{{cbc}}}CompanyID").text = company
    for code, amount in taxes:
        total = etree.SubElement(root, f"{{{cac}}}TaxTotal")
        etree.SubElement(total, f"{{{cbc}}}TaxAmount").text = amount
        sub = etree.SubElement(etree.SubElement(total, f"{{{cac}}}TaxSubtotal"), f"{{{cac}}}TaxCategory")
        etree.SubElement(etree.SubElement(sub, f"{{{cac}}}TaxScheme"), f"{{{cbc}}}ID").text = code
    monetary = etree.SubElement(root, f"{{{cac}}}LegalMonetaryTotal")
    etree.SubElement(monetary, f"{{{cbc}}}LineExtensionAmount").text = line_extension
    etree.SubElement(monetary, f"{{{cbc}}}PayableAmount").text = payable
    return root


def test_the_simulators_cuds_matches_dians_own_worked_example() -> None:
    """DIAN's TestValidateCuds.cs vector V6 (research/dian.md §1.6), read from XML by the simulator."""
    root = _skeleton(
        "0000000001",
        "2020-10-24",
        "14:04:35-05:00",
        "15000.00",
        [("01", "19.00")],
        "16350.00",
        "900373076",
        "8355990",
    )
    expected = (
        "bf4bb6920d5054ac065ddb7e6df0398e63e3ba2ff29cb341edd7d46ee8f2ea1802f84aaca91a19a24623e5e3baff3a71"
    )
    assert recompute_cuds(root, "12345", "1") == expected


def test_the_simulators_equivalent_document_cude_matches_dians_own_worked_example() -> None:
    """DIAN's TestValidateCude.cs vector V8 (an equivalent document, research/dian.md §1.6)."""
    root = _skeleton(
        "DBV01",
        "2022-03-14",
        "15:05:40-05:00",
        "20753.80",
        [("01", "19.00")],
        "24697.02",
        "800197268",
        "856987456",
    )
    expected = (
        "6b0ea6e48a74ce59faeed218f96b5e1af55101bcfdc60db549f77d5a4e0046a03d36b0189dfef671aef1904f6baf4a3b"
    )
    assert recompute_cufe(root, "Invoice", "12345", "2") == expected


def test_what_direct_dian_cannot_write_is_refused() -> None:
    doc = ds.document("co-pos-invoice")
    with pytest.raises(Unsupported) as info:
        build_document(ds.emission(msgspec.structs.replace(doc, point_of_sale=None)), ds.software(), "test")
    assert [i.rule for i in info.value.issues] == ["dian-pos-point-of-sale"]
    note = ds.pos_credit_note()
    debit = msgspec.structs.replace(
        note, kind="debit_note", reason=msgspec.convert({"code": "interest"}, type(note.reason))
    )
    with pytest.raises(Unsupported) as info:
        build_document(ds.emission(debit), ds.software(), "test")
    assert [i.rule for i in info.value.issues] == ["dian-kind"]


@given(
    lines=st.lists(
        st.tuples(
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999"), places=2),
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999"), places=3),
            st.sampled_from([("IVA", "19"), ("IVA", "5"), ("INC", "8"), None]),
        ),
        min_size=1,
        max_size=5,
    ),
    example=st.sampled_from(["co-support-document", "co-pos-invoice"]),
)
@settings(max_examples=30, deadline=None)
def test_the_simulator_recomputes_our_cuds_and_cude_whatever_the_amounts(lines, example) -> None:
    """Truncation, INC left out of the CUDS, the final consumer in the POS CUDE: the simulator's
    reading of the XML always gives back the hash we wrote."""
    base = ds.document(example)
    raw = msgspec.to_builtins(base)
    raw["lines"] = [
        {
            "description": f"Item {i}",
            "quantity": str(quantity),
            "unit_price": str(price),
            "taxes": [{"tax": tax[0], "rate": tax[1]}] if tax else [],
        }
        for i, (quantity, price, tax) in enumerate(lines)
    ]
    built = build_document(ds.emission(msgspec.convert(raw, type(base))), ds.software(), "test")
    if example == "co-support-document":
        assert recompute_cuds(built.root, ds.SOFTWARE_PIN, "2") == built.fiscal_id
    else:
        assert recompute_cufe(built.root, "Invoice", ds.SOFTWARE_PIN, "2") == built.fiscal_id


def test_a_pos_credit_note_to_the_final_consumer(signed) -> None:
    """The POS sale had no identified buyer: its adjustment note names the final consumer too."""
    note = msgspec.structs.replace(ds.pos_credit_note(), customer=None)
    built = build_document(ds.emission(note), ds.software(), "test")
    customer = "cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID"
    assert _text(built.root, customer) == "222222222222"
    assert recompute_cufe(built.root, "CreditNote", ds.SOFTWARE_PIN, "2") == built.fiscal_id
