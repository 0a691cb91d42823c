"""The DIAN fast paths against the slow ones they replace (bench/dian_pipeline.py).

The UBL builder writes its text already in inclusive C14N form and the signer digests those bytes
without parsing them, filling per-certificate text templates of the signature; these tests hold
that the bytes are exactly C14N(parse(bytes)), whatever the user's strings hold, and that the
signed document equals what the element-by-element signer writes. The SOAP envelope is a template
zeep renders once per operation: it must equal what zeep and sign_envelope write per message.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid

import dian_support as ds
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256
from dian_support import dian_identity_fixture, dian_pki_fixture  # noqa: F401  (fixtures)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml import XMLVerifier

from adapters.dian import xades, zeep_private
from adapters.dian.soap import DianService
from adapters.dian.ubl import NS, build_document
from adapters.dian.xades import sign, sign_canonical
from canonical import clock

URL = "http://127.0.0.1:8106/WcfDianCustomerServices.svc"
# Everything C14N escapes or normalises: markup characters, quotes, CR/LF/TAB (text and attributes),
# "]]>", non-ASCII, astral characters, NEL and LINE SEPARATOR (not line ends in XML 1.0).
AWKWARD = "A \"q\" 'a' <b> & c\r\n\td ]]> ñ € 𝄞 \x85 \u2028 end \r"
XML_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="".join(chr(c) for c in range(0x20) if c not in (9, 10, 13)) + "\ufffe\uffff",
)


def _awkward_invoice(text: str):
    doc = ds.document("co-invoice")
    customer = msgspec.structs.replace(
        doc.customer, name=text, email=text, phone=text, check_digit=text, id_type="NIT"
    )
    lines = [msgspec.structs.replace(line, description=text, code=text, unit=text) for line in doc.lines]
    return msgspec.structs.replace(doc, customer=customer, lines=lines, notes=[text, "", text])


def _documents():
    return [
        ds.document("co-invoice"),
        ds.document("co-credit-note"),
        ds.debit_note(),
        ds.rich_invoice(),
        ds.document("co-credit-note", customer=None),
        _awkward_invoice(AWKWARD),
        ds.document("co-pos-invoice"),
        _awkward_pos(AWKWARD),
        ds.pos_credit_note(),
        ds.document("co-support-document"),
        ds.support_adjustment_note(),
    ]


def _awkward_pos(text: str):
    """The POS groups are written from user strings too (cashier, location, buyer's name)."""
    doc = ds.document("co-pos-invoice")
    benefits = msgspec.structs.replace(doc.point_of_sale.buyer_benefits, name=text, code=text)
    pos = msgspec.structs.replace(
        doc.point_of_sale, cashier=text, location=text, register_id=text, buyer_benefits=benefits
    )
    return msgspec.structs.replace(doc, point_of_sale=pos)


def _is_canonical(data: bytes) -> bool:
    return etree.tostring(etree.fromstring(data), method="c14n") == data


@pytest.mark.parametrize("index", range(len(_documents())))
def test_written_text_is_its_own_c14n_and_the_tree_says_the_same(index: int) -> None:
    built = build_document(ds.emission(_documents()[index]), ds.software(), "test")
    assert _is_canonical(built.canonical)
    assert etree.tostring(built.root, method="c14n") == built.canonical
    assert built.root.nsmap == built.nsmap


def test_user_strings_survive_with_xml_attribute_normalisation() -> None:
    built = build_document(ds.emission(_awkward_invoice(AWKWARD)), ds.software(), "test")
    root = built.root
    assert root.findtext("cbc:Note", namespaces=NS) == AWKWARD  # text: kept as is, CR included
    unit = root.find("cac:InvoiceLine/cbc:InvoicedQuantity", NS).get("unitCode")
    assert unit == AWKWARD.replace("\n", " ").replace("\t", " ")  # a parser's CDATA normalisation
    assert b"&#xD;" in built.canonical and b"&#13;" not in built.canonical


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _reference_sign(root, identity, signing_time, seed: str) -> bytes:
    """The element-by-element signer the templates replace: C14N of the whole tree and of each
    filled part, lxml's serialisation of the filled signature."""
    canonical = etree.tostring(root, method="c14n")
    sig_id = f"xmldsig-{uuid.uuid5(xades._ID_NAMESPACE, seed)}"
    signature = xades._skeleton(identity, root.nsmap)
    signed_info, signature_value, key_info, obj = signature
    qualifying = obj[0]
    signed_props = qualifying[0]
    ref_document, ref_key_info, ref_props = signed_info[2], signed_info[3], signed_info[4]
    signature.set("Id", sig_id)
    signature_value.set("Id", f"{sig_id}-sigvalue")
    key_info.set("Id", f"{sig_id}-keyinfo")
    qualifying.set("Target", f"#{sig_id}")
    signed_props.set("Id", f"{sig_id}-signedprops")
    signed_props[0][0].text = signing_time.isoformat(timespec="milliseconds")
    ref_document.set("Id", f"{sig_id}-ref0")
    ref_document[-1].text = _sha256_b64(canonical)
    ref_key_info.set("URI", f"#{sig_id}-keyinfo")
    ref_key_info[-1].text = _sha256_b64(etree.tostring(key_info, method="c14n"))
    ref_props.set("URI", f"#{sig_id}-signedprops")
    ref_props[-1].text = _sha256_b64(etree.tostring(signed_props, method="c14n"))
    value = identity.key.sign(etree.tostring(signed_info, method="c14n"), PKCS1v15(), SHA256())
    signature_value.text = base64.b64encode(value).decode()
    head, _, tail = canonical.rpartition(b"<ext:ExtensionContent></ext:ExtensionContent>")
    return b"".join(
        (
            b'<?xml version="1.0" encoding="UTF-8"?>\n',
            head,
            b"<ext:ExtensionContent>",
            etree.tostring(signature),
            b"</ext:ExtensionContent>",
            tail,
        )
    )


def test_signing_the_bytes_equals_the_element_by_element_signer(dian_identity) -> None:
    for doc in _documents():
        built = build_document(ds.emission(doc), ds.software(), "test")
        reference = _reference_sign(built.root, dian_identity, built.issued_at, built.fiscal_id)
        fast = sign_canonical(built.canonical, built.nsmap, dian_identity, built.issued_at, built.fiscal_id)
        assert fast == reference
        assert sign(built.root, dian_identity, built.issued_at, built.fiscal_id) == reference


@pytest.mark.parametrize("bad", ["a\x00b", "a\x0bb", "a\ufffeb", "a\ud800b"])
def test_text_that_is_not_xml_is_refused_by_the_parser_as_before(bad: str) -> None:
    doc = msgspec.structs.replace(ds.document("co-invoice"), notes=[bad])
    with pytest.raises(etree.XMLSyntaxError):
        build_document(ds.emission(doc), ds.software(), "test")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(XML_CHARS, max_size=40))
def test_any_xml_string_in_any_field_stays_canonical(text: str) -> None:
    built = build_document(ds.emission(_awkward_invoice(text)), ds.software(), "test")
    assert _is_canonical(built.canonical)


# -- the SOAP envelope ---------------------------------------------------------------------------------


@pytest.fixture
def deterministic(monkeypatch):
    """Fixed clock and a replayable uuid4, for both the template and zeep + sign_envelope."""
    with clock.set_to(dt.datetime(2026, 11, 24, 15, 4, 5, 678901, tzinfo=dt.UTC), tick=False):

        def replay() -> None:
            numbers = iter(range(1, 1000))
            monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(numbers) * 0x1234567890ABCDEF))

        yield replay


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("SendBillSync", {"fileName": "z0900373115000260000001.zip", "contentFile": b"PK\x03\x04\x00zip"}),
        ("SendTestSetAsync", {"fileName": "z.zip", "contentFile": b"\xff" * 300, "testSetId": "a-b-c"}),
        ("GetStatus", {"trackId": "c" * 96}),
        ("GetStatus", {"trackId": "a&b <c>"}),  # needs escaping: zeep renders it
        ("GetStatus", {"trackId": ""}),
        ("GetStatus", {"trackId": "ñ'\"{x}"}),
        ("GetNumberingRange", {"accountCode": "900373115", "accountCodeT": "1", "softwareCode": "x"}),
    ],
)
@pytest.mark.parametrize("shortcut", [True, False], ids=["zeep-private", "zeep-public"])
def test_envelope_template_writes_what_zeep_and_sign_envelope_write(
    dian_pki, dian_identity, deterministic, monkeypatch, operation: str, params: dict, shortcut: bool
) -> None:
    """Templates made through either of zeep's paths (zeep_private) equal zeep's public API."""
    monkeypatch.setattr(zeep_private, "SHORTCUT", shortcut)
    service = DianService(URL, lambda: dian_identity, timeout_s=5)
    service.envelope(operation, **params)  # the template is made on the first message
    templated = "&" not in params.get("trackId", "")
    assert [entry is not None for entry in service._templates.values()] == ([True] if templated else [])
    deterministic()
    fast, fast_headers = service.envelope(operation, **params)
    deterministic()
    monkeypatch.setattr(zeep_private, "SHORTCUT", False)  # the reference: zeep's public API
    envelope, headers = service.zeep.render(operation, params)
    assert fast == etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    assert fast_headers == {k: v for k, v in headers.items() if k.lower() != "soapaction"}
    results = XMLVerifier().verify(
        fast, x509_cert=dian_identity.certificate, validate_schema=False, expect_references=2
    )
    assert {etree.QName(r.signed_xml).localname for r in results} == {"To", "Timestamp"}


@pytest.mark.parametrize("signed", [True, False])
def test_zeep_private_and_public_paths_render_the_same_message(
    dian_identity, deterministic, monkeypatch, signed: bool
) -> None:
    renderer = DianService(URL, lambda: dian_identity, timeout_s=5).zeep
    params = {"fileName": "z.zip", "contentFile": b"PK\x03\x04", "testSetId": "a&b"}
    rendered = []
    for shortcut in (True, False):
        monkeypatch.setattr(zeep_private, "SHORTCUT", shortcut)
        deterministic()
        envelope, headers = renderer.render("SendTestSetAsync", params, signed=signed)
        rendered.append((etree.tostring(envelope), headers))
    assert rendered[0] == rendered[1]
    assert b"a&amp;b" in rendered[0][0] and (b"BinarySecurityToken" in rendered[0][0]) == signed
    assert (
        'action="http://wcf.dian.colombia/IWcfDianCustomerServices/SendTestSetAsync"'
        in rendered[0][1]["Content-Type"]
    )


def test_each_message_has_its_own_ids_and_signature(dian_identity) -> None:
    service = DianService(URL, lambda: dian_identity, timeout_s=5)
    first, _ = service.envelope("GetStatus", trackId="abc")
    second, _ = service.envelope("GetStatus", trackId="abd")
    assert first != second and b"abd" in second
    for data in (first, second):
        XMLVerifier().verify(
            data, x509_cert=dian_identity.certificate, validate_schema=False, expect_references=2
        )
