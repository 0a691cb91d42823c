"""Direct DIAN: the tenant's own certificate and software, no intermediary.

Build the UBL 2.1 document (ubl.py; the DIAN type per kind in profiles.py: invoices and their notes,
the POS equivalent document, the support document and their adjustment notes) with its CUFE, CUDE
or CUDS (canonical/dian.py), sign it XAdES-EPES
(xades.py), zip it and send it in a WS-Security-signed SOAP 1.2 envelope (soap.py, wssecurity.py);
read DIAN's answer (responses.py). DIAN takes our number (`numbering = "ours"`).

Reconciliation (ARCHITECTURE.md): the CUFE is known before sending and the signed document is
deterministic for an emission (signing time = issue time), so after an ambiguous timeout dispatch
asks `find()` / `status()` (GetStatus by CUFE); 66 means DIAN never got it and `emit()` of the same
emission resends the byte-identical document; DIAN answers a duplicate with rule 90, which `emit()`
confirms with GetStatus before calling it accepted.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections import OrderedDict
from typing import Any, ClassVar, Final, Literal

import msgspec

from adapters.base import (
    Account,
    Adapter,
    Ambiguous,
    Emission,
    Health,
    Misconfigured,
    NumberingRange,
    Outcome,
    ProviderRef,
    Rejected,
    Unavailable,
    load_credentials,
)
from adapters.dian import responses
from adapters.dian.attached import build_attached
from adapters.dian.certificates import SigningIdentity, load_identity
from adapters.dian.soap import FILE_PREFIXES, DianService, file_name, package
from adapters.dian.ubl import Software, build_document
from adapters.dian.xades import sign_canonical
from canonical.dian import qr_url

__all__ = ["DianAdapter"]

_GUID: Final = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_KEEP_SIGNED: Final = 256  # recent signed documents kept for fetch_xml / the AttachedDocument


class DianPayload(msgspec.Struct, kw_only=True):
    """What DIAN receives for an emission (also what preview shows)."""

    operation: Literal["SendBillSync", "SendTestSetAsync"]
    file_name: str
    number: str
    fiscal_id: str  # CUFE, CUDE or CUDS
    xml: bytes  # the signed UBL document
    warnings: list[str]


class DianAdapter(Adapter):
    name: ClassVar[str] = "dian"
    countries: ClassVar[frozenset[str]] = frozenset({"CO"})
    kinds: ClassVar[frozenset[str]] = frozenset(
        {"invoice", "credit_note", "debit_note", "pos_invoice", "support_document"}
    )
    numbering: ClassVar[Literal["ours", "provider"]] = "ours"
    health_probe: ClassVar[str] = "numbering_ranges"

    class Credentials(msgspec.Struct, kw_only=True):
        software_id: str
        software_pin: str
        certificate: str  # path to the PKCS#12
        certificate_password: str
        test_set_id: str | None = None  # habilitación: documents go to SendTestSetAsync
        software_provider_nit: str | None = None  # technology provider, when the software is not ours
        software_provider_dv: str | None = None
        # The POS document names the software's maker (FabricanteSoftware); by default the tenant
        # itself, running Pasarela as its own software.
        software_manufacturer: str | None = None  # NombreApellido: the maker's name
        software_manufacturer_company: str | None = None  # RazonSocial
        software_name: str = "Pasarela"

    def __init__(self, account: Account) -> None:
        self.account = account
        self.credentials = load_credentials(type(self), account)
        self._service: DianService | None = None
        self._signed: OrderedDict[str, bytes] = OrderedDict()

    # -- building ----------------------------------------------------------------------------------

    @property
    def identity(self) -> SigningIdentity:
        return load_identity(self.credentials.certificate, self.credentials.certificate_password)

    def _software(self, emission: Emission) -> Software:
        c = self.credentials
        return Software(
            software_id=c.software_id,
            software_pin=c.software_pin,
            provider_nit=c.software_provider_nit or emission.issuer.id_number or "",
            provider_dv=c.software_provider_dv or emission.issuer.check_digit or "",
            manufacturer_name=c.software_manufacturer or emission.issuer.name,
            manufacturer_company=c.software_manufacturer_company or emission.issuer.name,
            software_name=c.software_name,
        )

    def _operation(self) -> Literal["SendBillSync", "SendTestSetAsync"]:
        testing = self.account.environment == "test" and self.credentials.test_set_id
        return "SendTestSetAsync" if testing else "SendBillSync"

    def build_payload(self, emission: Emission) -> bytes:
        """The signed UBL document DIAN receives (preview shows it as text)."""
        return self.prepare(emission).xml

    def prepare(self, emission: Emission) -> DianPayload:
        """The signed document with what the transport needs: operation, file name, CUFE."""
        built = build_document(emission, self._software(emission), self.account.environment)
        xml = sign_canonical(built.canonical, built.nsmap, self.identity, built.issued_at, built.fiscal_id)
        name = file_name(
            emission.document.kind,
            emission.issuer.id_number or "0",
            built.issued_at.year,
            emission.consecutive or 0,
        )
        return DianPayload(
            operation=self._operation(),
            file_name=name,
            number=built.number,
            fiscal_id=built.fiscal_id,
            xml=xml,
            warnings=built.warnings,
        )

    def fiscal_id(self, emission: Emission) -> str:
        """The CUFE/CUDE of an emission, without signing (reconciliation)."""
        return build_document(emission, self._software(emission), self.account.environment).fiscal_id

    @property
    def service(self) -> DianService:
        if self._service is None:
            self._service = DianService(
                self.account.base_url, lambda: self.identity, timeout_s=self.account.timeout_s
            )
        return self._service

    # -- emitting ----------------------------------------------------------------------------------

    async def emit(self, emission: Emission) -> Outcome:
        payload = self.prepare(emission)
        self._remember(payload.fiscal_id, payload.xml)
        content = package({payload.file_name + ".xml": payload.xml})
        kind_prefix = FILE_PREFIXES[emission.document.kind]
        zip_name = "z" + payload.file_name.removeprefix(kind_prefix) + ".zip"  # same name, zip prefix (§5.4)
        params: dict[str, Any] = {"fileName": zip_name, "contentFile": content}
        if payload.operation == "SendTestSetAsync":
            params["testSetId"] = self.credentials.test_set_id
        try:
            result, raw = await self.service.call(payload.operation, emits=True, **params)
        except Ambiguous as exc:
            exc.raw = {"fiscal_id": payload.fiscal_id, "number": payload.number}  # what to reconcile by
            raise
        if payload.operation == "SendTestSetAsync":
            # Habilitación: the batch is validated later; GetStatusZip(ZipKey) tells (§5.5 workflow).
            return Outcome(
                status="pending",
                provider_reference=responses.zip_key(result),
                number=payload.number,
                fiscal_id=payload.fiscal_id,
                warnings=payload.warnings,
                raw=raw,
                xml=payload.xml,
            )
        answer = responses.dian_response(result)
        if responses.is_duplicate(answer):
            return await self._confirm_duplicate(payload, raw)
        if answer.status_code == "99":
            raise responses.rejected(answer, raw=raw)
        outcome = self._outcome(answer, number=payload.number, fiscal_id=payload.fiscal_id, raw=raw)
        outcome.warnings[:0] = payload.warnings
        outcome.xml = payload.xml
        return outcome

    async def _confirm_duplicate(self, payload: DianPayload, raw: str) -> Outcome:
        """Rule 90 on a resend: DIAN holds a document with this CUFE; accepted only if GetStatus says so."""
        result, status_raw = await self.service.call("GetStatus", trackId=payload.fiscal_id)
        answer = responses.dian_response(result)
        if answer.status_code != "00":
            raise Rejected(
                f"DIAN answered rule 90 (processed before) but GetStatus says {answer.status_code}: "
                f"{answer.status_description}",
                code="90",
                errors=answer.rejections,
                raw=raw,
            )
        outcome = self._outcome(answer, number=payload.number, fiscal_id=payload.fiscal_id, raw=status_raw)
        outcome.warnings.insert(
            0, "DIAN already held this document (rule 90 on resend); GetStatus confirmed it"
        )
        outcome.xml = payload.xml
        return outcome

    def _outcome(self, answer: responses.DianResponse, **fields: Any) -> Outcome:
        """The Outcome of a DianResponse, with DIAN's public catalogue page once it is accepted."""
        outcome = responses.outcome(answer, **fields)
        if outcome.status == "accepted" and outcome.fiscal_id:
            outcome.links["dian_catalogue"] = qr_url(outcome.fiscal_id, self.account.environment)
        return outcome

    # -- asking --------------------------------------------------------------------------------------

    async def status(self, ref: ProviderRef) -> Outcome:
        if ref.provider_reference and _GUID.match(ref.provider_reference):
            result, raw = await self.service.call("GetStatusZip", trackId=ref.provider_reference)
            answers = responses.dian_responses(result)
            if not answers:
                return Outcome(
                    status="pending",
                    provider_reference=ref.provider_reference,
                    number=ref.number,
                    fiscal_id=ref.fiscal_id,
                    raw=raw,
                )
            outcome = self._outcome(answers[0], number=ref.number, fiscal_id=ref.fiscal_id, raw=raw)
            outcome.provider_reference = ref.provider_reference
            return outcome
        if not ref.fiscal_id:
            raise Misconfigured("DIAN status needs the CUFE/CUDE or the ZipKey", code="reference")
        result, raw = await self.service.call("GetStatus", trackId=ref.fiscal_id)
        return self._outcome(
            responses.dian_response(result), number=ref.number, fiscal_id=ref.fiscal_id, raw=raw
        )

    async def find(self, emission: Emission) -> ProviderRef | None:
        """Does DIAN hold this emission's CUFE? 66 (never received) → None."""
        fiscal_id = self.fiscal_id(emission)
        outcome = await self.status(ProviderRef(fiscal_id=fiscal_id, number=emission.number))
        if outcome.status == "not_found":
            return None
        return ProviderRef(provider_reference=fiscal_id, fiscal_id=fiscal_id, number=emission.number)

    async def fetch_xml(self, ref: ProviderRef) -> bytes | None:
        """The signed document: from memory when we signed it recently, else GetXmlByDocumentKey."""
        if not ref.fiscal_id:
            return None
        if ref.fiscal_id in self._signed:
            return self._signed[ref.fiscal_id]
        result, _ = await self.service.call("GetXmlByDocumentKey", trackId=ref.fiscal_id)
        fields = {child.tag.rsplit("}", 1)[-1]: child.text for child in result}
        if fields.get("Code") != "100" or not fields.get("XmlBytesBase64"):
            return None
        return base64.b64decode(fields["XmlBytesBase64"])

    async def fetch_attached(self, ref: ProviderRef) -> bytes | None:
        """The AttachedDocument (document + DIAN's ApplicationResponse) for an accepted document."""
        signed = await self.fetch_xml(ref)
        if signed is None or not ref.fiscal_id:
            return None
        result, _ = await self.service.call("GetStatus", trackId=ref.fiscal_id)
        answer = responses.dian_response(result)
        if answer.status_code != "00" or not answer.application_response:
            return None
        try:
            return build_attached(signed, base64.b64decode(answer.application_response), self.identity)
        except ValueError as exc:  # malformed base64 or XML, or a DOCTYPE (XXE): refused, never parsed
            raise Unavailable(f"DIAN's XML cannot be used: {exc}", code="malformed-xml") from None

    async def numbering_ranges(self, issuer_nit: str) -> list[NumberingRange]:
        """The invoice ranges DIAN authorised for the issuer and this software, with technical keys."""
        result, _ = await self.service.call(
            "GetNumberingRange",
            accountCode=issuer_nit,
            accountCodeT=self.credentials.software_provider_nit or issuer_nit,
            softwareCode=self.credentials.software_id,
        )
        return responses.numbering_ranges(result)

    # DIAN keeps no PDF (the graphic representation is the issuer's): fetch_pdf is the base's None

    async def health(self, issuer_nit: str) -> Health:
        """GetNumberingRange: signed with the certificate and asked with the software id, so it
        proves both without emitting anything."""
        ranges = await self.numbering_ranges(issuer_nit)
        return Health(message="DIAN GetNumberingRange answered", detail={"items": len(ranges)})

    def check_offline(self) -> None:
        self.identity  # noqa: B018 -- opening the PKCS#12 with its password is the check

    def certificate_expiry(self) -> dt.datetime | None:
        return self.identity.not_after

    def _remember(self, fiscal_id: str, xml: bytes) -> None:
        self._signed[fiscal_id] = xml
        self._signed.move_to_end(fiscal_id)
        while len(self._signed) > _KEEP_SIGNED:
            self._signed.popitem(last=False)

    async def aclose(self) -> None:
        if self._service is not None:
            await self._service.aclose()
