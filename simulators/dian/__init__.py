"""A local stand-in for DIAN's WcfDianCustomerServices (SOAP 1.2) that checks what DIAN checks.

Per message: the WS-Security header (Timestamp window, X.509 token, signature over wsa:To and the
Timestamp with exclusive C14N); per zip: its structure (one XML for SendBillSync, ≤ 50 for the
async operations); per document: UBL 2.1 XSD validity, the XAdES-EPES signature (signxml's verifier,
an implementation independent of our signer), DIAN's policy digest, the CUFE/CUDE recomputed with
the habilitación technical key or the software PIN, the SoftwareSecurityCode, the number inside
its authorised range, the issue date against the signing time and its window, the parties' addresses
and legal entities, document-level discounts and charges, note concepts, duplicates (rule 90). Answers are DIAN-shaped, built
from the envelopes in contracts/dian/examples/, and carry an ApplicationResponse signed (XAdES, with
signxml) by a throwaway key the simulator makes at start, as DIAN signs its own.

Trust: in the default test mode the signing certificate is taken as the one embedded in the
signature (self-signed and unknown-CA certificates pass; the signature itself is always verified).
The live DIAN rejects such certificates: with `SimSettings.trust` (`--trust CA.pem`) the
simulator is strict and requires a chain to that CA, for the XAdES and the WS-Security certificate.

Registered software: `SimSettings.dian_software` or `PASARELA_SIM_DIAN_SOFTWARE="ID:PIN,ID:PIN"`.

Faults (simulators/control.py) on the sending operations: down → 503; quota → 429 with
Retry-After; reject → a 99 with DIAN rule codes (contracts/dian/examples/send-bill-sync.99.xml);
slow → validate and publish, answer after `slow_s`; hang → DIAN received the document but its
validation result is published only `hang_s` later, and the answer never comes within the client's
timeout: meanwhile GetStatus says 66 ("no validation result yet", research/dian.md §5.5), a resend
is validated normally, and once published a resend gets rule 90.

Rule codes: FAD06/CAD06/DAD06, FAB24b, FAB05b, ZE02, ZD05, ZD07, FAD09e, FAJ08, FAJ28 and 90 are
DIAN's (research/dian.md, contracts/dian/SOURCES.md); the others (ZB01, FAB27b, the letters of FAD05a/
FAD05c, the customer's FAK08/FAK28, FAJ40/FAK40, FAQ03/FAQ05, CBE03/DBE03) are this simulator's choice
where the sources name no code (contracts/dian/README.md).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import functools
import threading
import uuid

from cryptography import x509
from litestar import Litestar, Request, Response, post
from lxml import etree

from simulators.control import LedgerEntry, SimState, control_handlers
from simulators.dian.answers import (
    UPLOAD,
    AnswerSigning,
    answer_envelope,
    application_response,
    dian_reply,
    fault,
    fill,
    reply,
    upload_refused,
)
from simulators.dian.documents import (
    DUPLICATE_ERROR,
    MAX_BATCH,
    OK_DESCRIPTION,
    REJECTED_DESCRIPTION,
    REJECTED_MESSAGE,
    ROOTS,
    Result,
    Stored,
    certificate_nit,
    content_errors,
    display_number,
    document_type,
    registered_software,
    signature_errors,
    unzip,
    xsd_errors,
)
from simulators.dian.names import NS, PATH
from simulators.dian.wssecurity import SecurityError, check_security

__all__ = ["DianSimulator", "create_app", "xsd_errors"]


class DianSimulator:
    """State beyond the shared ledger: validation results by CUFE, batches by ZipKey."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.trust: list[x509.Certificate] = []
        if state.settings.trust:
            with open(state.settings.trust, "rb") as f:
                self.trust = x509.load_pem_x509_certificates(f.read())
        self.lock = threading.Lock()
        self.answers = AnswerSigning()
        self.published: dict[str, Stored] = {}  # CUFE → validated document (accepted or rejected)
        self.batches: dict[str, list[str]] = {}  # ZipKey → CUFEs
        self.polled: set[str] = set()

    @property
    def software(self) -> dict[str, str]:
        """Read on each use, so a test or the demo can register software on a running simulator."""
        return registered_software(self.state.settings.dian_software)

    def validate(self, name: str, data: bytes, caller: x509.Certificate) -> tuple[Result, Stored | None]:
        """DIAN's checks on one document; the Stored document when it was judged (accepted or 99)."""
        base = name.rsplit("/", 1)[-1].removesuffix(".xml")
        try:
            root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as exc:
            return Result(
                status_code="99",
                description=REJECTED_DESCRIPTION,
                message=REJECTED_MESSAGE,
                errors=[f"Regla: ZB01, Rechazo: XML mal formado: {exc}"],
                file_name=base,
            ), None
        root_name = etree.QName(root).localname
        dian_type = document_type(root) if root_name in ROOTS else None
        if dian_type is None:
            return Result(
                status_code="99",
                description=REJECTED_DESCRIPTION,
                message=REJECTED_MESSAGE,
                errors=[f"Regla: ZB01, Rechazo: Tipo de documento {root_name} no soportado"],
                file_name=base,
            ), None
        text = functools.partial(root.findtext, namespaces=NS)
        number = text("cbc:ID") or ""
        key = (text("cbc:UUID") or "").lower()
        # The issuer: the supplier party, or the customer party of a support document (the tenant buys).
        issuer_party = "AccountingCustomerParty" if dian_type.purchase else "AccountingSupplierParty"
        supplier = text(f"cac:{issuer_party}/cac:Party/cac:PartyTaxScheme/cbc:CompanyID") or ""
        caller_nit = certificate_nit(caller)
        provider = text(".//sts:SoftwareProvider/sts:ProviderID") or ""
        if caller_nit and caller_nit not in (supplier, provider):
            return Result(
                status_code="89",
                description=f"NIT {caller_nit} no autorizado a enviar documentos "
                f"para emisor con NIT {supplier}.",
            ), None
        with self.lock:
            previous = self.published.get(key)
        if previous is not None and previous.result.status_code == "00":
            # DIAN's shape, as Odoo's production l10n_co_dian reads it (_document_already_processed,
            # test_send_bill_sync_duplicated): IsValid false, 99, the usual description, this rule as
            # the only ErrorMessage, and the CUFE in XmlDocumentKey.
            return Result(
                status_code="99",
                description=REJECTED_DESCRIPTION,
                message=REJECTED_MESSAGE,
                errors=[DUPLICATE_ERROR],
                document_key=key,
                file_name=base,
            ), None

        errors = [f"Regla: ZB01, Rechazo: {e}" for e in xsd_errors(root)[:5]]
        if not errors:
            errors += signature_errors(data, self.state.settings.trust)
        errors += content_errors(root, dian_type, number, key, self.software)
        kind_name = dian_type.name
        shown = display_number(root, number)
        if any(", Rechazo:" in e for e in errors):
            result = Result(
                status_code="99",
                description=REJECTED_DESCRIPTION,
                message=REJECTED_MESSAGE,
                errors=errors,
                document_key=key,
                file_name=base,
            )
        else:
            result = Result(
                status_code="00",
                description=OK_DESCRIPTION,
                message=f"La {kind_name} {shown}, ha sido autorizada.",
                errors=errors,
                document_key=key,
                file_name=base,
            )
        result.application_response = self.answers.sign(application_response(root, key, result))
        return result, Stored(xml=data, result=result, number=number, kind=dian_type.kind)

    def publish(self, stored: Stored, *, payload: dict) -> None:
        """Make a judged document visible to GetStatus; accepted ones enter the ledger."""
        key = stored.result.document_key or ""
        with self.lock:
            previous = self.published.get(key)
            if previous is not None and previous.result.status_code == "00":
                return  # already accepted (a resend won the race): never issued twice
            self.published[key] = stored
        if stored.result.status_code == "00":
            self.state.issue(
                LedgerEntry(
                    reference=key, number=stored.number, fiscal_id=key, kind=stored.kind, payload=payload
                )
            )


def create_app(state: SimState) -> Litestar:
    sim = DianSimulator(state)

    def params(operation_el: etree._Element) -> dict[str, str]:
        return {etree.QName(child).localname: (child.text or "") for child in operation_el}

    def decode_content(value: str) -> bytes:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return b""

    async def send(
        request: Request, operation: str, args: dict[str, str], caller: x509.Certificate
    ) -> Response:
        mode = state.next_fault(request)
        if refused := state.refusal(mode):
            return refused
        sync = operation == "SendBillSync"
        if mode == "reject" and sync:  # DIAN's documented rejection (the example), nothing issued
            return reply(answer_envelope("send-bill-sync.99")[0])
        unpacked = unzip(decode_content(args.get("contentFile", "")), limit=1 if sync else MAX_BATCH)
        if isinstance(unpacked, Result):
            return dian_reply("send-bill-sync.89", unpacked) if sync else upload_refused(unpacked)
        judged = [sim.validate(name, data, caller) for name, data in unpacked]
        publish = [s for _, s in judged if s is not None]

        def publish_all() -> None:
            for stored in publish:
                sim.publish(
                    stored,
                    payload={
                        "operation": operation,
                        "file_name": args.get("fileName"),
                        "xml": stored.xml.decode("utf-8", "replace"),
                    },
                )

        if mode == "hang":
            # Received; the validation result appears only later, and the answer never in time.
            asyncio.get_running_loop().call_later(state.settings.hang_s, publish_all)
            await state.after_issue("hang")
        else:
            publish_all()
            if mode == "slow":
                await state.after_issue("slow")
        if sync:
            result = judged[0][0]
            template = {"00": "send-bill-sync.00", "89": "send-bill-sync.89"}.get(
                result.status_code, "send-bill-sync.99"
            )
            return dian_reply(template, result)
        zip_key = str(uuid.uuid4())
        with sim.lock:
            sim.batches[zip_key] = [r.document_key or "" for r, _ in judged]
        envelope, element = answer_envelope("send-test-set-async")
        element.find(UPLOAD + "ZipKey").text = zip_key
        return reply(envelope)

    def get_status(track_id: str) -> Response:
        with sim.lock:
            stored = sim.published.get(track_id.lower())
        if stored is None:
            return dian_reply("get-status.66", Result(status_code="66", description="TrackId no encontrado."))
        template = {"00": "get-status.00"}.get(stored.result.status_code, "get-status.99")
        return dian_reply(template, stored.result)

    def get_status_zip(track_id: str) -> Response:
        with sim.lock:
            keys = sim.batches.get(track_id)
            first_poll = track_id not in sim.polled
            sim.polled.add(track_id)
            stored = [sim.published.get(k) for k in keys or ()]
        envelope, element = answer_envelope(
            "get-status-zip.98" if first_poll or keys is None else "get-status-zip.00"
        )
        item = element[0]
        if keys is None:
            fill(item, Result(status_code="66", description="TrackId no encontrado."))
            return reply(envelope)
        if first_poll:  # the batch is validated in the background: the first poll finds it running
            fill(item, Result(status_code="98", description="Batch en proceso de validación."))
            return reply(envelope)
        element.remove(item)
        for doc in stored:
            clone = copy.deepcopy(item)
            fill(clone, doc.result if doc else Result(status_code="98", description="En Proceso"))
            element.append(clone)
        return reply(envelope)

    def get_xml(track_id: str) -> Response:
        with sim.lock:
            stored = sim.published.get(track_id.lower())
        envelope, element = answer_envelope("get-xml-by-document-key")
        fields = {etree.QName(c).localname: c for c in element}
        if stored is None or stored.result.status_code != "00":
            fields["Code"].text, fields["Message"].text, fields["XmlBytesBase64"].text = (
                "404",
                "No encontrado",
                None,
            )
        else:
            fields["XmlBytesBase64"].text = base64.b64encode(stored.xml).decode()
        return reply(envelope)

    @post([PATH, PATH + "/"], status_code=200)
    async def soap(request: Request) -> Response:
        """One SOAP 1.2 operation of WcfDianCustomerServices."""
        try:
            envelope = etree.fromstring(
                await request.body(),
                parser=etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False),
            )
            body = envelope.find("s:Body", NS)
            operation_el = body[0]
        except (etree.XMLSyntaxError, TypeError, IndexError):
            return fault("The message is not a SOAP 1.2 envelope.")
        try:
            caller = check_security(envelope, sim.trust)
        except SecurityError as exc:
            return fault(str(exc))
        operation = etree.QName(operation_el).localname
        args = params(operation_el)
        if operation in ("SendBillSync", "SendTestSetAsync", "SendBillAsync"):
            return await send(request, operation, args, caller)
        if operation == "GetStatus":
            return get_status(args.get("trackId", ""))
        if operation == "GetStatusZip":
            return get_status_zip(args.get("trackId", ""))
        if operation == "GetXmlByDocumentKey":
            return get_xml(args.get("trackId", ""))
        if operation == "GetNumberingRange":
            envelope, _ = answer_envelope("get-numbering-range")
            return reply(envelope)
        return fault(f"Unknown operation {operation}.")

    return Litestar(route_handlers=[soap, *control_handlers(state)], debug=False)
