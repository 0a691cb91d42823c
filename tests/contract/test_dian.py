"""Direct DIAN against its contract (contracts/dian/): the UBL matches the golden files; every
documented answer (examples/*.xml) maps to the right Outcome or failure class (respx); and the
adapter works against the DIAN simulator over real loopback HTTP: invoice, credit and debit notes,
rejections with rule codes, the async test set with GetStatusZip, the ambiguous timeout reconciled
with GetStatus (66 → resend the same document → rule 90 confirmed), tampered XML and envelope."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import zipfile
from pathlib import Path

import dian_support as ds
import httpx
import msgspec
import pytest
import respx
from dian_support import dian_identity_fixture, dian_pki_fixture  # noqa: F401  (fixtures)
from lxml import etree
from signxml import XMLVerifier

from adapters.base import Account, Ambiguous, Misconfigured, ProviderRef, Rejected, Unavailable, adapter_class
from adapters.dian import DianAdapter, responses
from adapters.dian.soap import package
from adapters.dian.ubl import NS, build_document
from canonical import clock
from contracts import read_bytes
from simulators.control import SimSettings
from simulators.dian import xsd_errors
from simulators.pki import generate
from simulators.runner import SimulatorThread

URL = "http://127.0.0.1:9/WcfDianCustomerServices.svc"  # respx answers; never reached
GOLDEN = Path(__file__).resolve().parent / "golden" / "dian"
HANG_S = 0.6


def account(pki, url: str = URL, **changes) -> Account:
    credentials = {
        "software_id": ds.SOFTWARE_ID,
        "software_pin": ds.SOFTWARE_PIN,
        "certificate": str(pki.p12),
        "certificate_password": pki.password,
    }
    credentials.update(changes.pop("credentials", {}))
    return Account(
        name="dian",
        provider="dian",
        base_url=url,
        environment="test",
        credentials=credentials,
        timeout_s=changes.pop("timeout_s", 5.0),
        **changes,
    )


def reply(name: str, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status,
        content=read_bytes("dian", "examples", f"{name}.xml"),
        headers={"content-type": "application/soap+xml; charset=utf-8"},
    )


def operation_of(request: httpx.Request) -> str:
    body = etree.fromstring(request.content).find("{http://www.w3.org/2003/05/soap-envelope}Body")
    return etree.QName(body[0]).localname


def fixed(doc):
    return ds.dated(doc, dt.date(2026, 11, 24), dt.time(10, 30))


# -- golden UBL and registry -------------------------------------------------------------------------------


MAKERS = {
    "invoice": lambda: ds.document("co-invoice"),
    "credit_note": lambda: ds.document("co-credit-note"),
    "debit_note": ds.debit_note,
    "pos_invoice": lambda: ds.document("co-pos-invoice"),
    "pos_credit_note": ds.pos_credit_note,
    "support_document": lambda: ds.document("co-support-document"),
    "support_adjustment_note": ds.support_adjustment_note,
}


@pytest.mark.parametrize("kind", list(MAKERS))
def test_unsigned_ubl_matches_golden(kind: str, request: pytest.FixtureRequest) -> None:
    doc = MAKERS[kind]()
    emission = ds.emission(fixed(doc), consecutive=ds.RANGES[doc.kind].from_)
    built = build_document(emission, ds.software(), "test")
    text = etree.tostring(built.root, pretty_print=True, encoding="unicode")
    path = GOLDEN / f"{kind}.xml"
    update = request.config.getoption("--update-golden", default=False)
    if update or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if not update:
            pytest.fail(f"golden file {path} was missing and has been written; review it and re-run")
    assert text == path.read_text(encoding="utf-8"), f"UBL differs from {path} (pytest --update-golden)"


def test_registered_under_its_entry_point() -> None:
    assert adapter_class("dian") is DianAdapter
    assert DianAdapter.numbering == "ours"
    assert DianAdapter.kinds == {"invoice", "credit_note", "debit_note", "pos_invoice", "support_document"}


def test_missing_credentials_are_misconfigured() -> None:
    with pytest.raises(Misconfigured):
        DianAdapter(Account(name="dian", provider="dian", base_url=URL, credentials={"software_id": "x"}))


async def test_wrong_certificate_password_is_misconfigured_without_the_password(dian_pki) -> None:
    adapter = DianAdapter(account(dian_pki, credentials={"certificate_password": "not-the-password"}))
    with pytest.raises(Misconfigured) as exc:
        await adapter.emit(ds.emission(ds.document("co-invoice")))
    assert "not-the-password" not in str(exc.value)


# -- documented answers (respx) -----------------------------------------------------------------------------


@pytest.fixture
def dian_api():
    with respx.mock(using="httpx", assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def adapter(dian_pki):
    instance = DianAdapter(account(dian_pki))
    yield instance
    await instance.aclose()


async def test_send_bill_sync_request_is_a_signed_envelope_with_one_valid_document(
    adapter, dian_api, dian_identity
) -> None:
    route = dian_api.post(URL).mock(return_value=reply("send-bill-sync.00"))
    await adapter.emit(ds.emission(ds.document("co-invoice")))
    request = route.calls.last.request
    assert (
        'action="http://wcf.dian.colombia/IWcfDianCustomerServices/SendBillSync"'
        in request.headers["content-type"]
    )
    assert request.headers["content-type"].startswith("application/soap+xml")
    assert operation_of(request) == "SendBillSync"
    XMLVerifier().verify(
        request.content, x509_cert=dian_identity.certificate, validate_schema=False, expect_references=2
    )
    envelope = etree.fromstring(request.content)
    assert envelope.findtext(".//{http://www.w3.org/2005/08/addressing}To") == URL
    content = envelope.findtext(".//{http://wcf.dian.colombia}contentFile")
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(content)))
    (name,) = archive.namelist()
    assert name.startswith("fv0900373115000") and name.endswith(".xml")
    assert xsd_errors(etree.fromstring(archive.read(name))) == []


async def test_accepted_answer(adapter, dian_api) -> None:
    dian_api.post(URL).mock(return_value=reply("send-bill-sync.00"))
    outcome = await adapter.emit(ds.emission(ds.document("co-invoice")))
    assert outcome.status == "accepted"
    assert outcome.authority.code == "00"
    assert "autorizada" in outcome.authority.message
    assert outcome.warnings == [
        "DIAN FAJ43b: Nombre informado No corresponde al registrado en el RUT con respecto al Nit "
        "suminstrado."
    ]
    assert outcome.xml is not None and outcome.xml.startswith(b"<?xml")
    assert outcome.links["dian_catalogue"] == (
        "https://catalogo-vpfe-hab.dian.gov.co/document/searchqr?documentkey=" + outcome.fiscal_id
    )


async def test_rejection_keeps_dians_rule_codes_and_leaves_notifications_out(adapter, dian_api) -> None:
    dian_api.post(URL).mock(return_value=reply("send-bill-sync.99"))
    with pytest.raises(Rejected) as exc:
        await adapter.emit(ds.emission(ds.document("co-invoice")))
    assert [e.code for e in exc.value.errors] == ["FAD06", "FAB27b"]
    assert exc.value.errors[0].message == "Valor del CUFE no está calculado correctamente."


async def test_rule_90_is_accepted_only_when_get_status_confirms(adapter, dian_api) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return reply(
            "send-bill-sync.99.rule-90" if operation_of(request) == "SendBillSync" else "get-status.00"
        )

    dian_api.post(URL).mock(side_effect=answer)
    outcome = await adapter.emit(ds.emission(ds.document("co-invoice")))
    assert outcome.status == "accepted"
    assert "rule 90" in outcome.warnings[0]


async def test_rule_90_without_confirmation_is_rejected(adapter, dian_api) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return reply(
            "send-bill-sync.99.rule-90" if operation_of(request) == "SendBillSync" else "get-status.66"
        )

    dian_api.post(URL).mock(side_effect=answer)
    with pytest.raises(Rejected) as exc:
        await adapter.emit(ds.emission(ds.document("co-invoice")))
    assert exc.value.code == "90"


@pytest.mark.parametrize(
    ("response", "failure"),
    [
        (reply("send-bill-sync.89"), Misconfigured),
        (reply("fault.invalid-security", 500), Misconfigured),
        (httpx.Response(503, text="Service Unavailable"), Unavailable),
        (httpx.Response(429, headers={"Retry-After": "7"}), Unavailable),
        (httpx.Response(500, text="<html>oops</html>"), Ambiguous),
    ],
)
async def test_failure_classes(adapter, dian_api, response, failure) -> None:
    dian_api.post(URL).mock(return_value=response)
    with pytest.raises(failure) as exc:
        await adapter.emit(ds.emission(ds.document("co-invoice")))
    if response.status_code == 429:
        assert exc.value.retry_after == 7


async def test_timeout_after_sending_is_ambiguous_and_names_the_cufe(adapter, dian_api) -> None:
    dian_api.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    emission = ds.emission(ds.document("co-invoice"))
    with pytest.raises(Ambiguous) as exc:
        await adapter.emit(emission)
    assert exc.value.raw["fiscal_id"] == adapter.fiscal_id(emission)


async def test_connection_refused_is_unavailable(adapter, dian_api) -> None:
    dian_api.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(Unavailable):
        await adapter.emit(ds.emission(ds.document("co-invoice")))


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("get-status.00", "accepted"),
        ("get-status.66", "not_found"),
        ("get-status.98", "pending"),
        ("get-status.99", "rejected"),
    ],
)
async def test_get_status_answers(adapter, dian_api, name, status) -> None:
    route = dian_api.post(URL).mock(return_value=reply(name))
    outcome = await adapter.status(ProviderRef(fiscal_id="a" * 96))
    assert outcome.status == status
    assert operation_of(route.calls.last.request) == "GetStatus"
    if status == "rejected":
        assert outcome.authority.errors[0].code == "FAD06"


async def test_test_set_is_async_then_polled_with_get_status_zip(dian_pki, dian_api) -> None:
    adapter = DianAdapter(account(dian_pki, credentials={"test_set_id": ds.TEST_SET_ID}))
    route = dian_api.post(URL).mock(return_value=reply("send-test-set-async"))
    outcome = await adapter.emit(ds.emission(ds.document("co-invoice")))
    assert outcome.status == "pending"
    assert outcome.provider_reference == "0d6c1d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"
    assert (
        etree.fromstring(route.calls.last.request.content).findtext(".//{http://wcf.dian.colombia}testSetId")
        == ds.TEST_SET_ID
    )
    for name, status in (("get-status-zip.98", "pending"), ("get-status-zip.00", "accepted")):
        route.mock(return_value=reply(name))
        polled = await adapter.status(outcome.ref)
        assert polled.status == status
        assert operation_of(route.calls.last.request) == "GetStatusZip"
    await adapter.aclose()


async def test_fetch_xml_reads_get_xml_by_document_key(adapter, dian_api) -> None:
    dian_api.post(URL).mock(return_value=reply("get-xml-by-document-key"))
    xml = await adapter.fetch_xml(ProviderRef(fiscal_id="b" * 96))
    assert xml.startswith(b"<?xml") and b"ApplicationResponse" in xml
    assert await adapter.fetch_pdf(ProviderRef(fiscal_id="b" * 96)) is None


async def test_get_numbering_range_gives_the_technical_key(adapter, dian_api) -> None:
    route = dian_api.post(URL).mock(return_value=reply("get-numbering-range"))
    (rng,) = await adapter.numbering_ranges("900373115")
    assert (rng.prefix, rng.from_, rng.to, rng.resolution) == ("SETP", 990000000, 995000000, "18760000001")
    assert rng.technical_key == "fc8eac422eba16e22ffd8c6f94b3f40a6e38162c"
    assert rng.valid_to == dt.date(2030, 1, 19)
    sent = etree.fromstring(route.calls.last.request.content)
    assert sent.findtext(".//{http://wcf.dian.colombia}softwareCode") == ds.SOFTWARE_ID


# -- against the simulator over loopback --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim():
    settings = SimSettings(dian_software=f"{ds.SOFTWARE_ID}:{ds.SOFTWARE_PIN}", slow_s=0.05, hang_s=HANG_S)
    with SimulatorThread(["dian"], settings=settings) as thread:
        yield thread


@pytest.fixture
def state(sim):
    state = sim.states["dian"]
    state.set_fault("ok")
    return state


@pytest.fixture
async def live(sim, dian_pki):
    instance = DianAdapter(account(dian_pki, url=sim.url("dian") + "/WcfDianCustomerServices.svc"))
    yield instance
    await instance.aclose()


@pytest.mark.parametrize("kind", list(MAKERS))
async def test_simulator_accepts_each_kind_and_answers_status(live, state, kind) -> None:
    emission = ds.emission(MAKERS[kind]())
    outcome = await live.emit(emission)
    assert outcome.status == "accepted", outcome.authority
    assert outcome.fiscal_id == live.fiscal_id(emission)
    entry = state.issued(outcome.fiscal_id)
    assert entry is not None and entry.number == emission.number
    assert (await live.status(outcome.ref)).status == "accepted"
    assert await live.find(emission) is not None
    assert await live.fetch_xml(ProviderRef(fiscal_id=outcome.fiscal_id)) == outcome.xml


async def test_simulator_accepts_every_optional_block(live, state) -> None:
    """INC and ICA in the CUFE, discounts, a tip, withholdings: DIAN's recomputation agrees."""
    outcome = await live.emit(ds.emission(ds.rich_invoice()))
    assert outcome.status == "accepted", outcome.authority


@pytest.mark.parametrize(("kind", "sender"), [("invoice", "900373115"), ("support_document", "900373115")])
async def test_simulator_fetches_xml_and_attached_document(sim, live, state, dian_pki, kind, sender) -> None:
    """The container's sender is the issuer: the supplier of an invoice, the buyer of a support
    document (its AccountingCustomerParty); the receiver is the other party."""
    outcome = await live.emit(ds.emission(MAKERS[kind]()))
    fresh = DianAdapter(account(dian_pki, url=sim.url("dian") + "/WcfDianCustomerServices.svc"))
    assert await fresh.fetch_xml(outcome.ref) == outcome.xml  # GetXmlByDocumentKey, not memory
    attached = etree.fromstring(await fresh.fetch_attached(outcome.ref))
    assert xsd_errors(attached) == []
    assert attached.findtext(".//cac:ResultOfVerification/cbc:ValidationResultCode", namespaces=NS) == "02"
    assert attached.findtext("cac:SenderParty/cac:PartyTaxScheme/cbc:CompanyID", namespaces=NS) == sender
    receiver = attached.findtext("cac:ReceiverParty/cac:PartyTaxScheme/cbc:CompanyID", namespaces=NS)
    assert receiver == ("900123456" if kind == "invoice" else "1020304050")
    await fresh.aclose()


async def test_simulator_rejects_a_wrong_pin_with_rule_codes(sim, state, dian_pki) -> None:
    wrong = DianAdapter(
        account(
            dian_pki,
            url=sim.url("dian") + "/WcfDianCustomerServices.svc",
            credentials={"software_pin": "99999"},
        )
    )
    with pytest.raises(Rejected) as exc:
        await wrong.emit(ds.emission(ds.document("co-credit-note")))
    assert {e.code for e in exc.value.errors} == {"CAB27b", "CAD06"}  # security code and CUDE
    await wrong.aclose()


async def test_simulator_rejects_a_wrong_technical_key_and_unknown_software(
    sim, live, state, dian_pki
) -> None:
    emission = ds.emission(ds.document("co-invoice"))
    emission = msgspec.structs.replace(
        emission, numbering=msgspec.structs.replace(emission.numbering, technical_key="0" * 40)
    )
    with pytest.raises(Rejected) as exc:
        await live.emit(emission)
    assert [e.code for e in exc.value.errors] == ["FAD06"]
    unknown = DianAdapter(
        account(
            dian_pki,
            url=sim.url("dian") + "/WcfDianCustomerServices.svc",
            credentials={"software_id": "99999999-0000-0000-0000-000000000000"},
        )
    )
    with pytest.raises(Rejected) as exc:
        await unknown.emit(ds.emission(ds.document("co-invoice")))
    assert [e.code for e in exc.value.errors] == ["FAB24b"]
    await unknown.aclose()


async def test_simulator_rejects_a_number_outside_the_range_and_an_old_date(live, state) -> None:
    with pytest.raises(Rejected) as exc:
        await live.emit(ds.emission(ds.document("co-invoice"), consecutive=996000000))
    assert [e.code for e in exc.value.errors] == ["FAD05c"]  # the FAD05 family, not a FAB rule
    today = clock.now(ds.BOGOTA).date()
    old = ds.document("co-invoice", issue_date=today - dt.timedelta(days=30))
    with pytest.raises(Rejected) as exc:
        await live.emit(ds.emission(old))
    assert [e.code for e in exc.value.errors] == ["FAD09e"]  # signed that day too: only the window


# -- every rule the simulator enforces, broken one at a time (Anexo 1.9) ---------------------------------

_SUPPLIER = "cac:AccountingSupplierParty/cac:Party/"
_CUSTOMER = "cac:AccountingCustomerParty/cac:Party/"
_ADDRESS = "cac:PhysicalLocation/cac:Address/"
_REGISTRATION = "cac:PartyTaxScheme/cac:RegistrationAddress/"


def _set(path: str, value: str):
    def edit(root):
        root.find(path, NS).text = value

    return edit


def _drop(path: str):
    def edit(root):
        element = root.find(path, NS)
        element.getparent().remove(element)

    return edit


def _attribute(path: str, name: str, value: str):
    def edit(root):
        root.find(path, NS).set(name, value)

    return edit


async def _send_broken(live, emission, edit, signing_time=None) -> tuple[list[str], responses.DianResponse]:
    """Build and sign the emission with `edit` applied to its UBL first; send it as it is."""
    from adapters.dian.xades import sign

    built = build_document(emission, ds.software(), "test")
    root = built.root
    edit(root)
    xml = sign(root, live.identity, signing_time or built.issued_at, built.fiscal_id)
    result, _ = await live.service.call(
        "SendBillSync", emits=True, fileName="z.zip", contentFile=package({"fv.xml": xml})
    )
    answer = responses.dian_response(result)
    return [e.code for e in answer.rejections], answer


def _with_adjustments(doc):
    raw = msgspec.to_builtins(doc)
    raw["discounts"] = [{"reason": "Pronto pago", "percent": "2"}]
    raw["charges"] = [{"reason": "Propina", "amount": "10000", "kind": "tip"}]
    return msgspec.convert(raw, type(doc))


_ALLOWANCE = "cac:AllowanceCharge/"
_POS_GROUP = "ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/{{*}}{}"


@pytest.mark.parametrize(
    ("make", "edit", "rule"),
    [
        # issuer Address (FAJ08) and RegistrationAddress (FAJ28): names from DIAN's lists, every part
        ("invoice", _set(_SUPPLIER + _ADDRESS + "cbc:ID", "99999"), "FAJ08"),
        ("invoice", _set(_SUPPLIER + _ADDRESS + "cbc:CountrySubentityCode", "05"), "FAJ08"),
        ("invoice", _drop(_SUPPLIER + _ADDRESS + "cac:AddressLine"), "FAJ08"),
        ("invoice", _drop(_SUPPLIER + _ADDRESS + "cac:Country/cbc:Name"), "FAJ08"),
        ("invoice", _attribute(_SUPPLIER + _ADDRESS + "cac:Country/cbc:Name", "languageID", "en"), "FAJ08"),
        ("invoice", _set(_SUPPLIER + _ADDRESS + "cac:Country/cbc:IdentificationCode", "XX"), "FAJ08"),
        ("invoice", _drop(_SUPPLIER + "cac:PhysicalLocation"), "FAJ08"),
        ("invoice", _set(_SUPPLIER + _REGISTRATION + "cbc:ID", "11002"), "FAJ28"),
        ("invoice", _drop(_SUPPLIER + "cac:PartyTaxScheme/cac:RegistrationAddress"), "FAJ28"),
        # the customer's mirror rules
        ("invoice", _set(_CUSTOMER + _ADDRESS + "cbc:ID", "05001"), "FAK08"),
        ("invoice", _set(_CUSTOMER + _REGISTRATION + "cbc:CountrySubentityCode", "99"), "FAK28"),
        # PartyLegalEntity, the issuer's and the customer's
        ("invoice", _drop(_SUPPLIER + "cac:PartyLegalEntity"), "FAJ40"),
        ("invoice", _drop(_CUSTOMER + "cac:PartyLegalEntity"), "FAK40"),
        ("credit_note", _drop(_CUSTOMER + "cac:PartyLegalEntity"), "CAK40"),
        ("debit_note", _set(_SUPPLIER + _ADDRESS + "cbc:CountrySubentityCode", "76"), "DAJ08"),
        # numbering range and resolution
        ("invoice", _set(".//sts:InvoiceControl/sts:InvoiceAuthorization", "18760000009"), "FAB05b"),
        ("invoice", _set("cbc:ID", "PRUE990000001"), "FAD05a"),
        # document-level discounts and charges
        ("adjusted", _set(_ALLOWANCE + "cbc:AllowanceChargeReasonCode", "03"), "FAQ03"),
        ("adjusted", _drop(_ALLOWANCE + "cbc:MultiplierFactorNumeric"), "FAQ05"),
        ("adjusted", _set(_ALLOWANCE + "cbc:MultiplierFactorNumeric", "20.00"), "FAQ05"),
        # note concepts: credit 1-6, debit 1-4
        ("credit_note", _set("cac:DiscrepancyResponse/cbc:ResponseCode", "7"), "CBE03"),
        ("debit_note", _set("cac:DiscrepancyResponse/cbc:ResponseCode", "5"), "DBE03"),
        # the POS document: its groups, its CUDE, its own range (a resolution numbers one kind)
        ("pos_invoice", _drop(_POS_GROUP.format("PuntoVenta")), "DEAX01"),
        ("pos_invoice", _drop(_POS_GROUP.format("FabricanteSoftware")), "DEAX01"),
        ("pos_invoice", _set("cac:LegalMonetaryTotal/cbc:PayableAmount", "52873.00"), "DEAD06"),
        ("pos_invoice", _set(".//sts:InvoiceControl/sts:AuthorizedInvoices/sts:Prefix", "SETP"), "DEAB05b"),
        ("pos_invoice", _set("cbc:ProfileID", "DIAN 2.1: Factura Electrónica de Venta"), "DEAB03"),
        ("pos_credit_note", _set("cac:LegalMonetaryTotal/cbc:PayableAmount", "1.00"), "NAAD06"),
        # the support document: CUDS over the seller then the buyer, IVA only; its operation type
        ("support_document", _set(_SUPPLIER + "cac:PartyTaxScheme/cbc:CompanyID", "1020304051"), "DSAD06"),
        ("support_document", _set("cbc:CustomizationID", "20"), "DSAD02"),
        ("support_document", _set("cbc:UUID", "0" * 96), "DSAD06"),
        ("support_adjustment_note", _set("cac:LegalMonetaryTotal/cbc:LineExtensionAmount", "1.00"), "NSAD06"),
    ],
)
async def test_simulator_rejects_each_broken_rule(live, state, make, edit, rule) -> None:
    doc = {**MAKERS, "adjusted": lambda: _with_adjustments(ds.document("co-invoice"))}[make]()
    codes, answer = await _send_broken(live, ds.emission(doc), edit)
    assert rule in codes, answer.rejections
    assert answer.status_code == "99"


@pytest.mark.parametrize(
    ("path", "name", "rule"),
    [
        (_SUPPLIER + _ADDRESS + "cbc:CityName", "Medellín", "FAJ10"),
        (_SUPPLIER + _ADDRESS + "cbc:CountrySubentity", "Antioquia", "FAJ10"),
        (_SUPPLIER + _REGISTRATION + "cbc:CityName", "Cali", "FAJ30"),
        (_CUSTOMER + _ADDRESS + "cbc:CityName", "Tunja", "FAK10"),
    ],
)
async def test_a_name_other_than_dians_is_only_a_notification(live, state, path, name, rule) -> None:
    """DIAN answers a city or department name off its list with a notification (FAJ10 is "N"), and
    production documents carry "MEDELLÍN" or "Bogotá D.C.": the document is still accepted."""
    codes, answer = await _send_broken(live, ds.emission(ds.document("co-invoice")), _set(path, name))
    assert codes == [] and answer.status_code == "00"
    assert rule in {n.code for n in answer.notifications}, answer.notifications
    case, _ = await _send_broken(
        live,
        ds.emission(ds.document("co-invoice")),
        _set(_SUPPLIER + _ADDRESS + "cbc:CityName", "BOGOTÁ, D.C."),
    )
    assert case == []


async def test_simulator_rejects_an_issue_date_other_than_the_signing_date(live, state) -> None:
    """FAD09e compares IssueDate with the signature's SigningTime, not only with today."""
    emission = ds.emission(ds.document("co-invoice"))
    built = build_document(emission, ds.software(), "test")
    codes, _ = await _send_broken(live, emission, lambda root: None, built.issued_at - dt.timedelta(days=1))
    assert codes == ["FAD09e"]


async def test_simulator_accepts_the_documents_as_built(live, state) -> None:
    """The unbroken twins of the cases above pass: the rules reject only what breaks them."""
    anonymous = ds.document("co-credit-note", customer=None)  # the final consumer: its PartyLegalEntity too
    for doc in (_with_adjustments(ds.document("co-invoice")), anonymous, ds.debit_note()):
        codes, answer = await _send_broken(live, ds.emission(doc), lambda root: None)
        assert codes == [] and answer.status_code == "00", answer.rejections


async def test_simulator_answers_a_duplicate_as_dian_does(live, state) -> None:
    """Rule 90 in DIAN's shape (Odoo's l10n_co_dian reads exactly this): IsValid false, 99, the
    usual description, rule 90 as the only message, the CUFE in XmlDocumentKey."""
    payload = live.prepare(ds.emission(ds.document("co-invoice")))
    sent = {"fileName": "z.zip", "contentFile": package({payload.file_name + ".xml": payload.xml})}
    first, _ = await live.service.call("SendBillSync", emits=True, **sent)
    assert responses.dian_response(first).status_code == "00"
    again, _ = await live.service.call("SendBillSync", emits=True, **sent)
    fields = {etree.QName(child).localname: child.text for child in again}
    assert (fields["IsValid"], fields["StatusCode"]) == ("false", "99")
    assert fields["StatusDescription"] == "Validación contiene errores en campos mandatorios."
    assert [c.text for c in again.iter("{*}string")] == [
        "Regla: 90, Rechazo: Documento procesado anteriormente."
    ]
    assert fields["XmlDocumentKey"] == payload.fiscal_id
    assert len([e for e in state.entries() if e.fiscal_id == payload.fiscal_id]) == 1


async def test_async_test_set_then_get_status_zip(sim, state, dian_pki) -> None:
    adapter = DianAdapter(
        account(
            dian_pki,
            url=sim.url("dian") + "/WcfDianCustomerServices.svc",
            credentials={"test_set_id": ds.TEST_SET_ID},
        )
    )
    outcome = await adapter.emit(ds.emission(ds.document("co-invoice")))
    assert outcome.status == "pending"
    assert (await adapter.status(outcome.ref)).status == "pending"  # 98: batch being validated
    polled = await adapter.status(outcome.ref)
    assert polled.status == "accepted" and polled.fiscal_id == outcome.fiscal_id
    assert state.issued(outcome.fiscal_id) is not None
    await adapter.aclose()


async def test_ambiguous_timeout_then_66_then_resend_answered_by_rule_90(sim, state, dian_pki) -> None:
    hurried = DianAdapter(
        account(dian_pki, url=sim.url("dian") + "/WcfDianCustomerServices.svc", timeout_s=0.2)
    )
    emission = ds.emission(ds.document("co-invoice"))
    state.set_fault("hang", 1)
    with pytest.raises(Ambiguous) as exc:
        await hurried.emit(emission)
    fiscal_id = exc.value.raw["fiscal_id"]
    # GetStatus by CUFE: DIAN has no validation result yet (66), so dispatch resends the same document.
    assert (await hurried.status(ProviderRef(fiscal_id=fiscal_id))).status == "not_found"
    assert await hurried.find(emission) is None
    await asyncio.sleep(HANG_S + 0.2)  # meanwhile DIAN finishes validating the first send
    outcome = await hurried.emit(emission)
    assert outcome.status == "accepted" and outcome.fiscal_id == fiscal_id
    assert "rule 90" in outcome.warnings[0]
    assert [e.reference for e in state.entries()].count(fiscal_id) == 1
    await hurried.aclose()


async def test_resend_before_dian_finished_is_issued_once(sim, state, dian_pki) -> None:
    hurried = DianAdapter(
        account(dian_pki, url=sim.url("dian") + "/WcfDianCustomerServices.svc", timeout_s=0.2)
    )
    emission = ds.emission(ds.document("co-credit-note"))
    state.set_fault("hang", 1)
    with pytest.raises(Ambiguous):
        await hurried.emit(emission)
    outcome = await hurried.emit(emission)  # the same signed bytes, validated at once
    assert outcome.status == "accepted"
    await asyncio.sleep(HANG_S + 0.2)  # the first send's late result must not issue it again
    assert [e.reference for e in state.entries()].count(outcome.fiscal_id) == 1
    await hurried.aclose()


@pytest.mark.parametrize(
    ("mode", "failure"), [("down", Unavailable), ("quota", Unavailable), ("reject", Rejected)]
)
async def test_simulator_fault_modes(live, state, mode, failure) -> None:
    before = len(state.entries())
    state.set_fault(mode, 1)
    with pytest.raises(failure) as exc:
        await live.emit(ds.emission(ds.document("co-invoice")))
    assert len(state.entries()) == before
    if mode == "quota":
        assert exc.value.retry_after is not None
    if mode == "reject":
        assert exc.value.errors[0].code == "FAD06"


async def test_slow_answer_still_accepted(live, state) -> None:
    state.set_fault("slow", 1)
    assert (await live.emit(ds.emission(ds.document("co-invoice")))).status == "accepted"


async def test_tampered_xml_is_rejected_by_its_signature(live, state) -> None:
    payload = live.prepare(ds.emission(ds.document("co-invoice")))
    tampered = payload.xml.replace(b">358050.00</cbc:PayableAmount>", b">358051.00</cbc:PayableAmount>")
    assert tampered != payload.xml
    result, _ = await live.service.call(
        "SendBillSync",
        emits=True,
        fileName="z.zip",
        contentFile=package({payload.file_name + ".xml": tampered}),
    )
    codes = [c.text.split(",")[0] for c in result.iter("{*}string")]
    assert "Regla: ZE02" in codes
    assert state.issued(payload.fiscal_id) is None


async def test_expired_signing_certificate_is_rule_zd07(live, state, tmp_path) -> None:
    import base64 as b64
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

    from adapters.dian.certificates import SigningIdentity
    from adapters.dian.xades import sign

    expired = generate(tmp_path / "expired", days=0)
    key, cert, _ = pkcs12.load_key_and_certificates(expired.p12.read_bytes(), expired.password.encode())
    der = cert.public_bytes(Encoding.DER)
    identity = SigningIdentity(  # built by hand: load_identity refuses an expired certificate
        key=key,
        certificate=cert,
        certificate_b64=b64.b64encode(der).decode(),
        certificate_sha256_b64=b64.b64encode(hashlib.sha256(der).digest()).decode(),
        issuer_name=cert.issuer.rfc4514_string(),
        serial_number=str(cert.serial_number),
        not_after=cert.not_valid_after_utc,
    )
    built = build_document(ds.emission(ds.document("co-invoice")), ds.software(), "test")
    xml = sign(built.root, identity, built.issued_at, built.fiscal_id)
    result, _ = await live.service.call(
        "SendBillSync", emits=True, fileName="z.zip", contentFile=package({"fv.xml": xml})
    )
    assert [e.code for e in responses.dian_response(result).rejections] == ["ZD07"]


async def test_tampered_envelope_is_refused_with_a_soap_fault(live, state) -> None:
    body, headers = live.service.envelope("GetStatus", trackId="c" * 96)
    for tampered in (
        body.replace(b"<ns0:trackId>", b"<ns0:trackId>x").replace(
            b"/WcfDianCustomerServices.svc<", b"/Other.svc<"
        ),
        body.replace(b"<wsu:Created>20", b"<wsu:Created>19"),
    ):
        assert tampered != body
        async with httpx.AsyncClient() as client:
            response = await client.post(live.service.url, content=tampered, headers=headers)
        assert response.status_code == 500
        assert b"InvalidSecurity" in response.content


async def test_async_batch_that_is_not_a_zip_has_no_zip_key(sim, state, dian_pki) -> None:
    adapter = DianAdapter(
        account(
            dian_pki,
            url=sim.url("dian") + "/WcfDianCustomerServices.svc",
            credentials={"test_set_id": ds.TEST_SET_ID},
        )
    )
    result, _ = await adapter.service.call(
        "SendTestSetAsync", emits=True, fileName="z.zip", contentFile=b"not a zip", testSetId=ds.TEST_SET_ID
    )
    with pytest.raises(Misconfigured) as exc:
        responses.zip_key(result)
    assert "MIMEType" in exc.value.message
    await adapter.aclose()


async def test_bad_zip_is_status_89(live, state) -> None:
    result, _ = await live.service.call(
        "SendBillSync", emits=True, fileName="z.zip", contentFile=b"not a zip"
    )
    answer = responses.dian_response(result)
    assert answer.status_code == "89" and "MIMEType" in (answer.status_description or "")
    with pytest.raises(Misconfigured) as exc:
        responses.outcome(answer, number=None, fiscal_id=None, raw="")
    assert exc.value.code == "89"


async def test_strict_trust_refuses_a_certificate_from_another_ca(dian_pki, tmp_path) -> None:
    other = generate(tmp_path / "other-ca")
    settings = SimSettings(dian_software=f"{ds.SOFTWARE_ID}:{ds.SOFTWARE_PIN}", trust=str(other.ca_pem))
    with SimulatorThread(["dian"], settings=settings) as strict:
        adapter = DianAdapter(account(dian_pki, url=strict.url("dian") + "/WcfDianCustomerServices.svc"))
        with pytest.raises(Misconfigured):
            await adapter.emit(ds.emission(ds.document("co-invoice")))
        trusted = DianAdapter(account(other, url=strict.url("dian") + "/WcfDianCustomerServices.svc"))
        outcome = await trusted.emit(ds.emission(ds.document("co-invoice")))
        assert outcome.status == "accepted"
        await adapter.aclose()
        await trusted.aclose()


# -- package, schema and signature rules, one broken document each -----------------------------------------


async def _send_xml(live, files: dict[str, bytes]) -> responses.DianResponse:
    result, _ = await live.service.call(
        "SendBillSync", emits=True, fileName="z.zip", contentFile=package(files)
    )
    return responses.dian_response(result)


async def test_schema_rule_zb01(live, state) -> None:
    """ZB01: not well-formed, not a document DIAN takes, or not valid against the UBL 2.1 XSD."""
    assert [e.code for e in (await _send_xml(live, {"fv.xml": b"<Invoice"})).rejections] == ["ZB01"]
    assert [e.code for e in (await _send_xml(live, {"fv.xml": b"<Order/>"})).rejections] == ["ZB01"]
    payload = live.prepare(ds.emission(ds.document("co-invoice")))
    out_of_order = payload.xml.replace(b"<cbc:UBLVersionID>UBL 2.1</cbc:UBLVersionID>", b"", 1).replace(
        b"</Invoice>", b"<cbc:UBLVersionID>UBL 2.1</cbc:UBLVersionID></Invoice>"
    )
    assert "ZB01" in {e.code for e in (await _send_xml(live, {"fv.xml": out_of_order})).rejections}


async def test_signature_without_certificate_is_zd06(live, state) -> None:
    payload = live.prepare(ds.emission(ds.document("co-invoice")))
    root = etree.fromstring(payload.xml)
    ds_ns = "{http://www.w3.org/2000/09/xmldsig#}"
    certificate = root.find(f".//{ds_ns}X509Data/{ds_ns}X509Certificate")
    certificate.tag, certificate.text = (
        f"{ds_ns}X509SubjectName",
        "CN=Facturador",
    )  # schema-valid, no certificate
    answer = await _send_xml(live, {"fv.xml": etree.tostring(root)})
    assert [e.code for e in answer.rejections] == ["ZD06"]


async def test_a_signature_from_an_untrusted_ca_is_zd05(dian_pki, tmp_path) -> None:
    """Strict trust: the envelope's certificate chains to the trusted CA, the document's does not."""
    from adapters.dian.certificates import load_identity
    from adapters.dian.xades import sign

    other = generate(tmp_path / "other-ca")
    settings = SimSettings(dian_software=f"{ds.SOFTWARE_ID}:{ds.SOFTWARE_PIN}", trust=str(dian_pki.ca_pem))
    with SimulatorThread(["dian"], settings=settings) as strict:
        adapter = DianAdapter(account(dian_pki, url=strict.url("dian") + "/WcfDianCustomerServices.svc"))
        built = build_document(ds.emission(ds.document("co-invoice")), ds.software(), "test")
        xml = sign(
            built.root, load_identity(str(other.p12), other.password), built.issued_at, built.fiscal_id
        )
        answer = await _send_xml(adapter, {"fv.xml": xml})
        assert [e.code for e in answer.rejections] == ["ZD05"]
        await adapter.aclose()


async def test_package_rules_are_status_89(live, state) -> None:
    """A zip DIAN will not open for SendBillSync: other files than XML, or more than one document."""
    answer = await _send_xml(live, {"fv.xml": b"<x/>", "notes.txt": b"hola"})
    assert answer.status_code == "89" and "solo documentos XML" in (answer.status_description or "")
    answer = await _send_xml(live, {"a.xml": b"<x/>", "b.xml": b"<x/>"})
    assert answer.status_code == "89" and "un documento" in (answer.status_description or "")
