"""APIDIAN: the self-hosted Laravel "API DIAN" (A2 lineage). It takes our number, prefix and
resolution and our computed totals, builds and signs the UBL, and relays DIAN's SOAP answer as JSON.

Contract: `contracts/apidian/` (request.schema.json, examples/, catalogs/ with APIDIAN's own id
tables, README.md with the assumptions). Codes travel as APIDIAN's internal ids, looked up by the
DIAN/DANE code in those catalogs (NIT 31 -> 6, IVA 01 -> 1, unit 94 -> 70, DANE 11001 -> 149).
"""

from __future__ import annotations

import base64
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Final, Literal

import httpx
import msgspec

from adapters import colombia
from adapters.base import (
    Account,
    Adapter,
    Ambiguous,
    Authority,
    Emission,
    Misconfigured,
    Outcome,
    OutcomeStatus,
    ProviderError,
    ProviderFailure,
    ProviderRef,
    Rejected,
    Unavailable,
    UnsupportedIssue,
    load_credentials,
    money,
    unsupported_if,
)
from adapters.capabilities import declared_refusals, issue
from adapters.http import ProviderHttp, failure_for_status, json_body
from adapters.wire import dian_rule, is_notification, laravel_errors
from canonical import catalogs as cat
from canonical import dian
from canonical.document import Document, Party
from contracts.apidian import ids_by_code


class ApidianCredentials(msgspec.Struct, kw_only=True):
    token: str  # the company's api_token, returned by POST /config/{nit}/{dv}
    test_set_id: str | None = None  # habilitación: invoices go to /invoice/{testSetId} (async, ZipKey)
    software_pin: str | None = None  # the PIN APIDIAN signs notes with: needed to compute a note's CUDE
    # APIDIAN registers the equivalent-documents and support-document software apart (PUT
    # /config/softwareeqdocs, /config/softwaresupportdocument), each with its PIN: the CUDE/CUDS keys.
    software_pin_eqdocs: str | None = None
    software_pin_support_document: str | None = None
    # The POS document's FabricanteSoftware group: by default the tenant, running its own APIDIAN.
    software_manufacturer: str | None = None
    software_manufacturer_company: str | None = None
    software_name: str = "Pasarela"


# -- code tables (canonical -> APIDIAN ids, through APIDIAN's catalogs) ------------------------------


class ApidianDocument(msgspec.Struct, frozen=True):
    """One APIDIAN document type: its type_document_id, endpoint and key names (Cosmox-SAS/
    co-apidian2026 routes/api.php and FormRequests; contracts/apidian/SOURCES.md)."""

    type_document_id: int
    endpoint: str
    lines: str
    totals: str
    fiscal_id: str  # the answer's key: cufe, cude (the POS document answers its CUDE as `cufe`), cuds
    schema: str  # request.schema.json $defs entry


DOCUMENTS: Final[dict[str, ApidianDocument]] = {
    "invoice": ApidianDocument(1, "/invoice", "invoice_lines", "legal_monetary_totals", "cufe", "invoice"),
    "credit_note": ApidianDocument(
        4, "/credit-note", "credit_note_lines", "legal_monetary_totals", "cude", "credit_note"
    ),
    # The debit note names its totals RequestedMonetaryTotal (research/providers.md §1.6).
    "debit_note": ApidianDocument(
        5, "/debit-note", "debit_note_lines", "requested_monetary_totals", "cude", "debit_note"
    ),
    "pos_invoice": ApidianDocument(
        15, "/eqdoc", "invoice_lines", "legal_monetary_totals", "cufe", "pos_invoice"
    ),
    # DIAN 94, the equivalent document's credit adjustment: the credit-note endpoint with is_eqdoc
    "pos_credit_note": ApidianDocument(
        26, "/credit-note", "credit_note_lines", "legal_monetary_totals", "cude", "credit_note"
    ),
    "support_document": ApidianDocument(
        11, "/support-document", "invoice_lines", "legal_monetary_totals", "cuds", "support_document"
    ),
    "support_adjustment_note": ApidianDocument(
        13, "/sd-credit-note", "credit_note_lines", "legal_monetary_totals", "cuds", "support_adjustment_note"
    ),
}
# (canonical kind, kind of the referenced document) -> APIDIAN document; None = no reference kind.
DOCUMENT_OF: Final[dict[tuple[str, str | None], str]] = {
    ("invoice", None): "invoice",
    ("credit_note", None): "credit_note",
    ("credit_note", "invoice"): "credit_note",
    ("credit_note", "pos_invoice"): "pos_credit_note",
    ("credit_note", "support_document"): "support_adjustment_note",
    ("debit_note", None): "debit_note",
    ("debit_note", "invoice"): "debit_note",
    ("pos_invoice", None): "pos_invoice",
    ("support_document", None): "support_document",
}
NOTE_DOCUMENTS: Final = frozenset({"credit_note", "debit_note", "pos_credit_note", "support_adjustment_note"})
POS_DOCUMENT: Final = 15  # billing_reference.type_document_id of a note on a POS document
# The support document's type_operation_id: 23 Residente (DIAN 10), 24 No Residente (11).
SUPPORT_OPERATIONS: Final[dict[bool, int]] = {True: 23, False: 24}
# type_operation_id of a note that references an invoice (DIAN 20 credit / 30 debit).
NOTE_OPERATIONS: Final[dict[str, int]] = {"credit_note": 12, "debit_note": 6}
DISCREPANCY_TABLES: Final[dict[str, str]] = {
    "credit_note": "credit_note_discrepancy_responses",
    "debit_note": "debit_note_discrepancy_responses",
}  # the adjustment notes (credit notes) use the credit-note concepts

ID_TYPE_IDS: Final = ids_by_code("type_document_identifications")
ORGANIZATION_IDS: Final = ids_by_code("type_organizations")
REGIME_IDS: Final = ids_by_code("type_regimes")
LIABILITY_IDS: Final = ids_by_code("type_liabilities")
MUNICIPALITY_IDS: Final = ids_by_code("municipalities", 3)  # DANE/DIVIPOLA code column
COUNTRY_IDS: Final = ids_by_code("countries")
TAX_IDS: Final = ids_by_code("taxes")
UNIT_IDS: Final = ids_by_code("unit_measures")
PAYMENT_FORM_IDS: Final = ids_by_code("payment_forms")
# By DIAN code, never by id: from id 54 on APIDIAN's ids stop matching the codes (75 -> ZZZ).
PAYMENT_METHOD_IDS: Final = ids_by_code("payment_methods")
DISCOUNT_IDS: Final = ids_by_code("discounts")
DISCREPANCY_IDS: Final = {kind: ids_by_code(table) for kind, table in DISCREPANCY_TABLES.items()}

# The canonical party has no IVA regime; APIDIAN defaults everyone to 49 (no responsable). We send
# 48 for companies and 49 for persons, the usual case (README.md, assumptions).
REGIMES: Final[dict[str, str]] = {"company": "48", "person": "49"}
ITEM_IDENTIFICATION: Final = 4  # 999: the seller's own item code (Estándar de adopción del contribuyente)
DOCUMENT_DISCOUNT_CODE: Final = "11"  # DIAN 11 "otro descuento": the canonical reason travels as text
# AllowanceChargeReasonCode by side (Anexo 1.9: 00/01 discounts, 02/03 charges), sent as APIDIAN's
# type_discount_id. Current servers require discount_id or type_discount_id on every item
# (Cosmox-SAS/co-apidian2026 InvoiceRequest) and write type_discount's code first; older ones
# (apidian8.1) require discount_id on a discount and ignore type_discount_id. A tip is a charge too:
# the documented `type_discount_id: 2` predates the 02/03 rows and now means "01 descuento condicionado".
REASON_CODES: Final[dict[bool, str]] = {False: "00", True: "02"}  # charge_indicator -> unconditioned
TYPE_DISCOUNT_IDS: Final = ids_by_code("type_discounts")
UTC_OFFSET: Final = "-05:00"  # APIDIAN writes IssueTime with Colombia's fixed offset

# DIAN StatusCode -> Outcome status; IsValid "true" is accepted whatever the code. 66 = NSU (the
# CUFE) not found by GetStatus; any code not listed (GetStatusZip's empty code while the batch is
# validated, examples/status-zip.200.processing.json) is still pending.
DIAN_STATUSES: Final[dict[str, OutcomeStatus]] = {
    "00": "accepted",
    "99": "rejected",
    "66": "not_found",
    "90": "not_found",
}

# HTTP 200 {"success": false, "message"} business failures, matched on the accent-free lowercase
# message, first match wins. Unlisted messages (e.g. "Problema con el documento ...", raised after the
# SOAP call) are Ambiguous: whether DIAN has it is unknown. Messages: the InvoiceController of
# Cosmox-SAS/co-apidian2026 (contracts/apidian/SOURCES.md).
BUSINESS_FAILURES: Final[list[tuple[str, type[ProviderFailure], str]]] = [
    # examples/invoice.200.already-sent: this number went to DIAN before; confirmed by its cufe
    ("ya fue enviado", Ambiguous, "already-sent"),
    # examples/invoice.200.dian-unavailable: DIAN's health check failed before anything was sent
    ("no esta disponible en este momento", Unavailable, "dian-unavailable"),
    # examples/invoice.200.dian-unavailable-after-send: the SOAP call went out and DIAN answered an
    # error page; the answer carries the document's cufe and DIAN may hold it: reconcile, never fall back
    ("no se encuentra disponible", Ambiguous, "dian-unavailable-after-send"),
    # examples/invoice.200.company-inactive: the company or its plan is switched off
    ("inactiv", Misconfigured, "company-inactive"),
    # examples/invoice.200.plan-limit: the plan's document quota
    ("plan", Unavailable, "plan-limit"),
    ("limite", Unavailable, "plan-limit"),
    # examples/invoice.200.certificate
    ("certificado", Misconfigured, "certificate"),
    ("resolucion", Misconfigured, "resolution"),
]
# Failures that mean "this document was sent before": the answer's cufe is asked at DIAN (GetStatus)
# before anything else, as the direct adapter does on rule 90.
HELD_BEFORE: Final = frozenset({"already-sent"})
DUPLICATE_RULE: Final = "90"  # "Regla: 90, Rechazo: Documento procesado anteriormente."

STATUS_CLASSES: Final[Mapping[int, type[ProviderFailure]]] = {
    401: Misconfigured,  # examples/invoice.401: {"message": "Unauthenticated."}
    422: Rejected,  # examples/invoice.422: Laravel {message, errors}
    429: Unavailable,
    500: Ambiguous,  # examples/invoice.500: Laravel "Server Error", the document may have gone out
}

# Laravel 422 field names -> canonical paths (examples/invoice.422.json).
FIELD_PATHS: Final[dict[str, str]] = {
    "number": "number",
    "prefix": "number",
    "resolution_number": "number",
    "date": "issue_date",
    "time": "issue_time",
    "notes": "notes",
    "customer": "customer",
    "customer.identification_number": "customer.id_number",
    "customer.dv": "customer.check_digit",
    "customer.name": "customer.name",
    "customer.phone": "customer.phone",
    "customer.email": "customer.email",
    "customer.address": "customer.address.line",
    "customer.municipality_id": "customer.address.city_code",
    "customer.country_id": "customer.address.country",
    "customer.type_document_identification_id": "customer.id_type",
    "customer.type_organization_id": "customer.party_type",
    "customer.type_liability_id": "customer.tax_responsibilities",
    "payment_form.payment_form_id": "payment.form",
    "payment_form.payment_method_id": "payment.means",
    "payment_form.payment_due_date": "payment.due_date",
    "payment_form.duration_measure": "payment.due_date",
    "billing_reference.number": "reference.number",
    "billing_reference.uuid": "reference.fiscal_id",
    "billing_reference.issue_date": "reference.issue_date",
    "discrepancyresponsecode": "reason.code",
    "discrepancyresponsedescription": "reason.description",
    "allowance_charges": "discounts",
    "with_holding_tax_total": "withholdings",
    "seller": "supplier",
    "seller.identification_number": "supplier.id_number",
    "seller.dv": "supplier.check_digit",
    "seller.name": "supplier.name",
    "seller.phone": "supplier.phone",
    "seller.email": "supplier.email",
    "seller.address": "supplier.address.line",
    "seller.postal_zone_code": "supplier.address.postal_code",
    "seller.municipality_id": "supplier.address.city_code",
    "seller.type_document_identification_id": "supplier.id_type",
    "cash_information": "point_of_sale",
    "buyer_benefits": "point_of_sale.buyer_benefits",
}
LINE_FIELD_PATHS: Final[dict[str, str]] = {
    "unit_measure_id": "unit",
    "invoiced_quantity": "quantity",
    "base_quantity": "quantity",
    "price_amount": "unit_price",
    "description": "description",
    "code": "code",
    "allowance_charges": "discount",
    "tax_totals": "taxes",
}
_LINE_FIELD: Final = re.compile(r"^(?:invoice|credit_note|debit_note)_lines\.(\d+)(?:\.(\w+))?")
# Base64 copies of the XML, ZIP and SOAP exchange: kept out of Outcome.raw (the signed XML goes
# to Outcome.xml instead).
BLOB_KEYS: Final = frozenset(
    {
        "invoicexml",
        "zipinvoicexml",
        "unsignedinvoicexml",
        "reqfe",
        "rptafe",
        "attacheddocument",
        "reqzip",
        "rptazip",
    }
)


class ApidianAdapter(Adapter):
    name: ClassVar[str] = "apidian"
    countries: ClassVar[frozenset[str]] = frozenset({"CO"})
    kinds: ClassVar[frozenset[str]] = frozenset(kind for kind, _ in DOCUMENT_OF)
    currencies: ClassVar[frozenset[str] | None] = frozenset({"COP"})
    refusals: ClassVar[Mapping[str, str]] = {
        "country": "APIDIAN issues Colombian documents only",
        "kind": "APIDIAN emits invoices, notes, POS and support documents; not this kind of note",
        "currency": "foreign-currency totals (idcurrency, calculationrate) are not mapped: COP only",
    }
    numbering: ClassVar[Literal["ours", "provider"]] = "ours"
    Credentials: ClassVar[type[msgspec.Struct]] = ApidianCredentials

    def __init__(self, account: Account) -> None:
        self.account = account
        self.credentials: ApidianCredentials = load_credentials(type(self), account)
        self.http = ProviderHttp(
            account.base_url,
            timeout_s=account.timeout_s,
            # Without Accept: application/json Laravel answers a validation failure with a redirect.
            headers={"Authorization": f"Bearer {self.credentials.token}", "Accept": "application/json"},
        )

    # -- canonical -> APIDIAN -------------------------------------------------------------------------

    @classmethod
    def emits(cls, document: Document) -> bool:
        """A note is sent as the APIDIAN document of what it corrects (a POS or support note)."""
        return bool(document_of(document))

    def build_payload(self, emission: Emission) -> dict[str, Any]:
        """The body for the document's endpoint: our number and totals, APIDIAN's ids for every code.
        Before a number is assigned (preview) `number` is left out."""
        doc, totals = emission.document, emission.totals
        unsupported_if(_unsupported(doc))
        name = document_of(doc)
        target = DOCUMENTS[name]
        payload: dict[str, Any] = {}
        consecutive = _consecutive(emission)
        if consecutive is not None:
            payload["number"] = consecutive
        payload["type_document_id"] = target.type_document_id
        if doc.issue_date is not None:
            payload["date"] = doc.issue_date.isoformat()
        if doc.issue_time is not None:
            payload["time"] = doc.issue_time.strftime("%H:%M:%S")
        numbering = emission.numbering
        if numbering is not None:
            if numbering.resolution:
                payload["resolution_number"] = numbering.resolution
            payload["prefix"] = numbering.prefix
        if doc.notes:
            payload["notes"] = "\n".join(doc.notes)
        if name in NOTE_DOCUMENTS:
            payload.update(_note_fields(doc, name))
        if doc.is_purchase:
            payload["seller"] = _seller(doc.supplier)
            if name == "support_document":
                seller = doc.supplier.address if doc.supplier else None
                payload["type_operation_id"] = SUPPORT_OPERATIONS[seller is None or seller.country == "CO"]
        else:
            payload["customer"] = _customer(doc.customer)
        if name == "pos_invoice":
            payload.update(self._point_of_sale(emission))
        payload["payment_form"] = _payment_form(doc)
        adjustments = _allowance_charges(doc, totals)
        if adjustments:
            payload["allowance_charges"] = adjustments
        payload[target.totals] = {
            "line_extension_amount": money(totals.line_extension),
            "tax_exclusive_amount": money(totals.tax_exclusive),
            "tax_inclusive_amount": money(totals.tax_inclusive),
            "allowance_total_amount": money(totals.allowances),
            "charge_total_amount": money(totals.charges),
            "payable_amount": money(totals.payable),
        }
        if totals.taxes:
            payload["tax_totals"] = [_tax_total(t) for t in totals.taxes]
        if totals.withholdings:
            payload["with_holding_tax_total"] = [
                _tax_total(w, TAX_IDS[cat.WITHHOLDINGS["CO"][w.tax]]) for w in totals.withholdings
            ]
        payload[target.lines] = [_line(i, line, totals.lines[i]) for i, line in enumerate(doc.lines)]
        return payload

    def _point_of_sale(self, emission: Emission) -> dict[str, Any]:
        """The POS groups (EqDocRequest: software_manufacturer, buyer_benefits, cash_information,
        postal_zone_code). Without a loyalty programme the benefits name the buyer with 0 points."""
        doc, c = emission.document, self.credentials
        pos = doc.point_of_sale
        assert pos is not None  # _unsupported refused a POS document without it
        issuer_address, customer = emission.issuer.address, doc.customer
        postal = issuer_address.postal_code if issuer_address else None
        if not postal:
            raise Misconfigured(
                "APIDIAN's POS document needs the issuer's postal code (postal_zone_code)",
                code="issuer-postal-code",
            )
        benefits = pos.buyer_benefits
        return {
            "postal_zone_code": postal,
            "software_manufacturer": {
                "name": c.software_manufacturer or emission.issuer.name,
                "business_name": c.software_manufacturer_company or emission.issuer.name,
                "software_name": c.software_name,
            },
            "buyer_benefits": {
                "code": benefits.code
                if benefits
                else (customer.id_number if customer and customer.id_number else dian.FINAL_CONSUMER_ID),
                "name": benefits.name if benefits else (customer.name if customer else "CONSUMIDOR FINAL"),
                "points": format(benefits.points, "f") if benefits else "0",
            },
            "cash_information": {
                "plate_number": pos.register_id,
                "location": pos.location,
                "cashier": pos.cashier,
                "cash_type": pos.register_type,
                "sales_code": pos.sale_code,
                "subtotal": money(emission.totals.tax_inclusive),
            },
        }

    def warnings(self, emission: Emission) -> list[str]:
        """Informational content APIDIAN has no field for (listed, never silent)."""
        doc = emission.document
        found = [message for applies, message in _DROPS if applies(doc)]
        found += [
            f"lines[{i}].code: APIDIAN requires an item code; the line position {i + 1} is sent"
            for i, line in enumerate(doc.lines)
            if not line.code
        ]
        return found

    def fiscal_id(self, emission: Emission) -> str | None:
        """The CUFE (invoice: the range's technical key), CUDE (notes, POS: the software PIN) or CUDS
        (support documents: their software's PIN) APIDIAN writes, or None when the key is unknown."""
        doc = emission.document
        name = document_of(doc)
        c = self.credentials
        keys = {
            "invoice": emission.numbering.technical_key if emission.numbering else None,
            "pos_invoice": c.software_pin_eqdocs,
            "pos_credit_note": c.software_pin_eqdocs,
            "support_document": c.software_pin_support_document,
            "support_adjustment_note": c.software_pin_support_document,
        }
        key = keys.get(name, c.software_pin)
        if not key or not emission.number or doc.issue_date is None or doc.issue_time is None:
            return None
        return colombia.fiscal_id(
            emission,
            purchase=doc.is_purchase,
            key=key,
            taxes=colombia.taxes_by_scheme(emission.totals),
            issue_date=doc.issue_date.isoformat(),
            issue_time=doc.issue_time.strftime("%H:%M:%S") + UTC_OFFSET,
            environment=dian.ENVIRONMENTS[emission.environment],
        )

    # -- calls ---------------------------------------------------------------------------------------

    async def emit(self, emission: Emission) -> Outcome:
        kind = document_of(emission.document)
        payload = self.build_payload(emission)
        if "number" not in payload:
            raise Misconfigured("APIDIAN takes our number: the emission has none", code="numbering")
        path = DOCUMENTS[kind].endpoint
        if kind == "invoice" and self.credentials.test_set_id:
            path += f"/{self.credentials.test_set_id}"  # habilitación test set: asynchronous
        response = await self.http.send("POST", path, json=payload, emits=True)
        if response.status_code != 200:
            raise classify_error(response, emits=True)
        body = json_body(response)
        if not isinstance(body, dict):
            raise Ambiguous(
                "APIDIAN answered 200 without a JSON object", http_status=200, raw=response.text[:2000]
            )
        try:
            outcome = parse_response(body, kind=kind, environment=emission.environment)
        except Ambiguous as failure:
            held = _text(body.get(DOCUMENTS[kind].fiscal_id)) or _text(body.get("cufe"))
            if failure.code not in HELD_BEFORE or held is None:
                raise
            return await self._held_before(emission, held, failure.message)
        if is_duplicate(outcome) and outcome.fiscal_id:
            return await self._held_before(emission, outcome.fiscal_id, "DIAN rule 90 on a resend")
        outcome.number = emission.number
        outcome.warnings = self.warnings(emission) + outcome.warnings
        return outcome

    async def _held_before(self, emission: Emission, fiscal_id: str, said: str) -> Outcome:
        """A resend of a document APIDIAN or DIAN already holds ("ya fue enviado" with its cufe, or
        DIAN's rule 90): DIAN's GetStatus by that CUFE/CUDE tells its state. Never a rejection of the
        resend itself, which would hide an issued document."""
        outcome = await self.status(ProviderRef(fiscal_id=fiscal_id, number=emission.number))
        if outcome.status == "not_found":
            raise Ambiguous(
                f"{said}, but DIAN's GetStatus does not know {fiscal_id}",
                code="held-not-found",
                raw=outcome.raw,
            )
        if outcome.status == "accepted":
            outcome.links["qr"] = dian.qr_url(fiscal_id, emission.environment)
        outcome.warnings = [
            *self.warnings(emission),
            f"sent before ({said}); DIAN's GetStatus gave its state",
            *outcome.warnings,
        ]
        return outcome

    async def status(self, ref: ProviderRef) -> Outcome:
        """By ZipKey while a test-set document is pending (`/status/zip`), otherwise by CUFE/CUDE
        (`/status/document`, DIAN GetStatus)."""
        if ref.provider_reference and _is_zip_key(ref.provider_reference):
            path, wanted = f"/status/zip/{ref.provider_reference}", ref.fiscal_id
        elif ref.fiscal_id:
            path, wanted = f"/status/document/{ref.fiscal_id}", ref.fiscal_id
        else:
            raise Ambiguous("APIDIAN status needs the CUFE or the ZipKey", code="no-reference")
        response = await self.http.send("POST", path, json={})
        if response.status_code != 200:
            raise classify_error(response, emits=False)
        body = json_body(response)
        if not isinstance(body, dict):
            raise Unavailable("APIDIAN status answer is not a JSON object", raw=response.text[:2000])
        result = _dian_result(body, wanted)
        if result is None:
            raise Unavailable(
                str(body.get("message") or "APIDIAN status answer without ResponseDian"), raw=_redact(body)
            )
        outcome = _dian_outcome(result, raw=_redact(body))
        outcome.fiscal_id = outcome.fiscal_id or ref.fiscal_id
        outcome.number = ref.number
        if ref.provider_reference and outcome.status == "pending":
            outcome.provider_reference = ref.provider_reference
        else:
            outcome.provider_reference = outcome.fiscal_id
        return outcome

    async def find(self, emission: Emission) -> ProviderRef | None:
        """Reconciliation: we know the number, so compute the CUFE/CUDE and ask DIAN through APIDIAN.
        None only when DIAN says it has no such document."""
        fiscal_id = emission.fiscal_id or self.fiscal_id(emission)
        if fiscal_id is None:
            raise Ambiguous(
                "cannot compute the CUFE/CUDE (technical key, software_pin, number or issue time missing)",
                code="no-fiscal-id",
            )
        outcome = await self.status(ProviderRef(fiscal_id=fiscal_id, number=emission.number))
        if outcome.status == "not_found":
            return None
        return ProviderRef(
            provider_reference=fiscal_id,
            fiscal_id=fiscal_id,
            number=emission.number,
            issue_date=emission.document.issue_date,
        )

    async def fetch_xml(self, ref: ProviderRef) -> bytes | None:
        """DIAN's GetXmlByDocumentKey through `POST /xml/document/{cufe}` (examples/xml-document.200)."""
        if not ref.fiscal_id:
            return None
        response = await self.http.send("POST", f"/xml/document/{ref.fiscal_id}", json={})
        if response.status_code != 200:
            raise classify_error(response, emits=False)
        body = json_body(response)
        result = _dian_result(body, None) if isinstance(body, dict) else None
        encoded = _text(result.get("XmlBytesBase64")) if result else None
        return base64.b64decode(encoded) if encoded else None

    async def aclose(self) -> None:
        await self.http.aclose()


# -- APIDIAN -> Outcome ------------------------------------------------------------------------------


def document_of(doc: Document) -> str:
    """The APIDIAN document a canonical one is sent as (a credit note follows what it corrects)."""
    referenced = doc.reference.kind if doc.reference is not None else None
    return DOCUMENT_OF.get((doc.kind, referenced if doc.kind in cat.NOTE_KINDS else None), "")


def parse_response(body: Mapping[str, Any], *, kind: str, environment: str = "test") -> Outcome:
    """An HTTP 200 answer to an emission (examples/invoice.200.*, invoice-test-set.200*).

    `success: true` only means APIDIAN completed the SOAP call: DIAN's verdict is in
    `ResponseDian...IsValid` / `StatusCode` (examples/invoice.200.rejected). `success: false` is a
    business failure (BUSINESS_FAILURES). The test-set endpoint has no `success` key at all.
    """
    raw = _redact(body)
    if body.get("success") is False:
        raise business_failure(body)
    fiscal_id = _text(body.get(DOCUMENTS[kind].fiscal_id)) or _text(body.get("cufe"))
    result = _dian_result(body, None)
    if result is None:
        raise Ambiguous(str(body.get("message") or "APIDIAN answer without ResponseDian"), raw=raw)
    if "ZipKey" in result or "ErrorMessageList" in result:
        outcome = _test_set_outcome(result, fiscal_id, raw)
    else:
        outcome = _dian_outcome(result, raw=raw)
        outcome.provider_reference = outcome.fiscal_id = outcome.fiscal_id or fiscal_id
    if outcome.fiscal_id:
        outcome.links["qr"] = dian.qr_url(outcome.fiscal_id, environment)
    signed = _text(body.get("invoicexml"))
    if signed:
        outcome.xml = base64.b64decode(signed)
    return outcome


def is_duplicate(outcome: Outcome) -> bool:
    """DIAN's 99 whose only rejection is rule 90: it already holds a document with this CUFE."""
    return outcome.status == "rejected" and [e.code for e in outcome.authority.errors] == [DUPLICATE_RULE]


def business_failure(body: Mapping[str, Any]) -> ProviderFailure:
    """`{"success": false, "message"}` at HTTP 200 -> failure class by the message."""
    message = str(body.get("message") or "APIDIAN answered success: false")
    folded = _fold(message)
    for needle, cls, code in BUSINESS_FAILURES:
        if needle in folded:
            return cls(message, code=code, raw=_redact(body), http_status=200)
    return Ambiguous(message, code="business-failure", raw=_redact(body), http_status=200)


def classify_error(response: httpx.Response, *, emits: bool) -> ProviderFailure:
    """A non-200 answer -> failure class, APIDIAN's (Laravel's) own message kept."""
    body = json_body(response)
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message") or f"APIDIAN answered HTTP {response.status_code}")
    return failure_for_status(
        response,
        message,
        table=STATUS_CLASSES,
        emits=emits,
        code=str(response.status_code),
        errors=laravel_errors(body.get("errors"), canonical_path),
        raw=_redact(body) if body else response.text[:2000],
    )


def canonical_path(field: str) -> str | None:
    """A Laravel error field (`customer.name`, examples/invoice.422) -> its canonical path."""
    if m := _LINE_FIELD.match(field):
        return f"lines[{m[1]}].{LINE_FIELD_PATHS[m[2]]}" if m[2] in LINE_FIELD_PATHS else f"lines[{m[1]}]"
    if field in FIELD_PATHS:
        return FIELD_PATHS[field]
    head = field.split(".", 1)[0]
    return FIELD_PATHS.get(head)


def _dian_result(body: Any, fiscal_id: str | None) -> dict[str, Any] | None:
    """`ResponseDian.Envelope.Body.<Op>Response.<Op>Result`, whatever the operation; for
    GetStatusZip the `DianResponse` inside, which is a list when the ZIP held several documents
    (examples/status-zip.200.several): the one with our CUFE, else the first."""
    try:
        envelope_body = body["ResponseDian"]["Envelope"]["Body"]
        (response,) = envelope_body.values()
        (result,) = response.values()
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if not isinstance(result, dict):
        return None
    if "DianResponse" in result:
        answers = [a for a in _many(result["DianResponse"]) if isinstance(a, dict)]
        mine = [a for a in answers if fiscal_id and _text(a.get("XmlDocumentKey")) == fiscal_id]
        return (mine or answers or [None])[0]
    return result


def _dian_outcome(result: Mapping[str, Any], *, raw: Any) -> Outcome:
    """DIAN's SendBillSync / GetStatus / GetStatusZip result -> Outcome."""
    code = _text(result.get("StatusCode"))
    if _text(result.get("IsValid")) == "true":
        status: OutcomeStatus = "accepted"
    else:
        status = DIAN_STATUSES.get(code or "", "pending")
        if status == "accepted":
            status = "rejected"  # "00" with IsValid false does not occur; never call it accepted
    errors, warnings = [], []
    for entry in _many(result.get("ErrorMessage")):
        for line in _many(entry.get("string")) if isinstance(entry, dict) else [entry]:
            message = _text(line)
            if not message:
                continue
            rule = dian_rule(message)  # examples/invoice.200.rejected
            if is_notification(rule):
                warnings.append(message)
            else:
                errors.append(ProviderError(code=rule["code"] if rule else code or "dian", message=message))
    return Outcome(
        status=status,
        fiscal_id=_text(result.get("XmlDocumentKey")),
        authority=Authority(
            code=code,
            message=_text(result.get("StatusDescription")) or _text(result.get("StatusMessage")),
            errors=errors,
        ),
        warnings=warnings,
        raw=raw,
    )


def _test_set_outcome(result: Mapping[str, Any], fiscal_id: str | None, raw: Any) -> Outcome:
    """SendTestSetAsync: a ZipKey means DIAN took the ZIP (pending, poll /status/zip); none means it
    refused the upload (examples/invoice-test-set.200.refused)."""
    zip_key = _text(result.get("ZipKey"))
    if zip_key:
        return Outcome(status="pending", provider_reference=zip_key, fiscal_id=fiscal_id, raw=raw)
    refusals = [
        ProviderError(code="ZipKey", message=_text(item.get("ProcessedMessage")) or "upload refused")
        for item in _many((_as_dict(result.get("ErrorMessageList"))).get("XmlParamsResponseTrackId"))
        if isinstance(item, dict)
    ]
    message = "; ".join(e.message for e in refusals) or "DIAN refused the test-set upload"
    raise Rejected(message, code="test-set", errors=refusals, raw=raw, http_status=200)


# -- the ResponseDian JSON quirks ---------------------------------------------------------------------
# XML converted to JSON: an empty element is `{}`, xsi:nil is {"_attributes": {"nil": "true"}}, a
# text element with attributes is {"_attributes", "_value"}, and a repeated element is a list while
# a single one is not (examples/invoice.200.accepted-empty, accepted-notification, rejected).


def _text(node: Any) -> str | None:
    if isinstance(node, str):
        return node or None
    if isinstance(node, dict) and isinstance(node.get("_value"), str):
        return node["_value"] or None
    return None


def _many(node: Any) -> list[Any]:
    if node is None or (isinstance(node, dict) and set(node) <= {"_attributes"}):
        return []
    return node if isinstance(node, list) else [node]


def _as_dict(node: Any) -> dict[str, Any]:
    return node if isinstance(node, dict) else {}


def _redact(body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (f"<base64, {len(v)} chars>" if k in BLOB_KEYS and isinstance(v, str) else v)
        for k, v in body.items()
    }


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def _is_zip_key(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


# -- builders ---------------------------------------------------------------------------------------------


def _consecutive(emission: Emission) -> int | None:
    if emission.consecutive is not None:
        return emission.consecutive
    if emission.number and emission.numbering is not None:
        digits = emission.number.removeprefix(emission.numbering.prefix)
        return int(digits) if digits.isdigit() else None
    return None


def _note_fields(doc: Document, name: str) -> dict[str, Any]:
    ref, reason = doc.reference, doc.reason
    fields: dict[str, Any] = {}
    if name != "support_adjustment_note":  # sdCreditNoteRequest has no operation type of its own
        fields["type_operation_id"] = NOTE_OPERATIONS[doc.kind]
    fields["billing_reference"] = {
        "number": ref.number,
        "uuid": ref.fiscal_id,
        "issue_date": ref.issue_date.isoformat(),
    }
    if name == "pos_credit_note":  # CreditNoteRequest: type 26 names the equivalent document's type
        fields["is_eqdoc"] = True
        fields["billing_reference"]["type_document_id"] = POS_DOCUMENT
    fields["discrepancyresponsecode"] = DISCREPANCY_IDS[doc.kind][cat.NOTE_REASONS[doc.kind][reason.code]]
    fields["discrepancyresponsedescription"] = reason.description or reason.code
    return fields


def _customer(party: Party | None) -> dict[str, Any]:
    if party is None:
        # DIAN's final consumer (research/providers.md §1.5)
        return {"identification_number": dian.FINAL_CONSUMER_ID, "name": "CONSUMIDOR FINAL"}
    customer: dict[str, Any] = {"identification_number": party.id_number}
    if party.id_type == "NIT" and party.check_digit:
        customer["dv"] = party.check_digit
    customer["name"] = party.name
    optional = {"phone": party.phone, "email": party.email}
    customer.update({k: v for k, v in optional.items() if v})
    customer["type_document_identification_id"] = ID_TYPE_IDS[cat.ID_TYPES["CO"][party.id_type]]
    customer["type_organization_id"] = ORGANIZATION_IDS[cat.PARTY_TYPES[party.party_type]["CO"]]
    customer["type_regime_id"] = REGIME_IDS[REGIMES[party.party_type]]
    if party.tax_responsibilities:
        customer["type_liability_id"] = LIABILITY_IDS[party.tax_responsibilities[0]]
    address = party.address
    if address is not None:
        if address.line:
            customer["address"] = address.line
        if address.city_code:
            customer["municipality_id"] = MUNICIPALITY_IDS[address.city_code]
        customer["country_id"] = COUNTRY_IDS[address.country]
    return customer


def _seller(party: Party | None) -> dict[str, Any]:
    """The support document's seller (SupportDocumentRequest `seller`): the customer's fields plus
    phone, address and postal_zone_code, which APIDIAN requires of a seller."""
    assert party is not None  # validation requires the supplier of a purchase document
    seller = _customer(party)
    if party.address is not None and party.address.postal_code:
        seller["postal_zone_code"] = party.address.postal_code
    return seller


def _payment_form(doc: Document) -> dict[str, Any]:
    payment = doc.payment
    form, means = (payment.form, payment.means) if payment else ("cash", "cash")
    payment_form: dict[str, Any] = {
        "payment_form_id": PAYMENT_FORM_IDS[cat.PAYMENT_FORMS[form]["CO"]],
        "payment_method_id": PAYMENT_METHOD_IDS[cat.PAYMENT_MEANS[means]["CO"]],
    }
    if payment is not None and payment.due_date is not None:
        payment_form["payment_due_date"] = payment.due_date.isoformat()
        if doc.issue_date is not None:
            payment_form["duration_measure"] = str((payment.due_date - doc.issue_date).days)
    return payment_form


def _allowance_charges(doc: Document, totals: Any) -> list[dict[str, Any]]:
    """Document discounts and charges. An amount-based one is sent as given; the one percent-based
    item a side may have gets the rest of the engine's side total, so the items add up exactly."""
    items = []
    for adjustments, side_total, is_charge in (
        (doc.discounts, totals.allowances, False),
        (doc.charges, totals.charges, True),
    ):
        given = sum((a.amount for a in adjustments if a.amount is not None), Decimal(0))
        for a in adjustments:
            amount = a.amount if a.amount is not None else side_total - given
            item: dict[str, Any] = {"charge_indicator": is_charge}
            if not is_charge:
                item["discount_id"] = DISCOUNT_IDS[DOCUMENT_DISCOUNT_CODE]
            item["type_discount_id"] = TYPE_DISCOUNT_IDS[REASON_CODES[is_charge]]
            item["allowance_charge_reason"] = a.reason
            item["amount"] = money(amount)
            # provider-docs/apidian.txt: a tip's base is the tax-inclusive amount
            base = totals.tax_inclusive if a.kind == "tip" else totals.line_extension
            item["base_amount"] = money(base)
            items.append(item)
    return items


def _tax_total(t: Any, tax_id: int | None = None) -> dict[str, Any]:
    return {
        "tax_id": tax_id if tax_id is not None else TAX_IDS[cat.TAXES["CO"][t.tax]],
        "tax_amount": money(t.amount),
        "percent": f"{t.rate:.2f}",
        "taxable_amount": money(t.taxable),
    }


def _line(index: int, line: Any, figures: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "unit_measure_id": UNIT_IDS[line.unit],
        "invoiced_quantity": money(line.quantity),
        "line_extension_amount": money(figures.net),
        "free_of_charge_indicator": False,
    }
    if figures.discount:
        item["allowance_charges"] = [
            {
                "charge_indicator": False,
                "allowance_charge_reason": "Descuento",
                "amount": money(figures.discount),
                "base_amount": money(figures.gross),
            }
        ]
    if figures.taxes:
        item["tax_totals"] = [_tax_total(t) for t in figures.taxes]
    item["description"] = line.description
    item["code"] = line.code or str(index + 1)
    item["type_item_identification_id"] = ITEM_IDENTIFICATION
    item["price_amount"] = money(figures.unit_price)
    item["base_quantity"] = "1"  # UBL Price/BaseQuantity: price_amount is the price of one unit
    return item


# -- what APIDIAN cannot express ------------------------------------------------------------------------


def _unsupported(doc: Document) -> list[UnsupportedIssue]:
    """Fiscal content APIDIAN (or its catalogs) cannot carry: refused, never dropped."""
    issues = declared_refusals(ApidianAdapter, doc)
    issues += [issue(path, rule, message) for applies, path, rule, message in _REFUSALS if applies(doc)]
    for i, line in enumerate(doc.lines):
        if line.unit not in UNIT_IDS:
            issues.append(
                issue(
                    f"lines[{i}].unit",
                    "apidian-unit",
                    f"unit {line.unit!r} is not in APIDIAN's unit_measures",
                )
            )
        for j, tax in enumerate(line.taxes):
            if cat.TAXES["CO"].get(tax.tax) not in TAX_IDS:
                issues.append(
                    issue(
                        f"lines[{i}].taxes[{j}].tax", "apidian-tax", f"tax {tax.tax!r} has no APIDIAN tax_id"
                    )
                )
    for i, w in enumerate(doc.withholdings):
        if cat.WITHHOLDINGS["CO"].get(w.tax) not in TAX_IDS:
            issues.append(
                issue(
                    f"withholdings[{i}].tax",
                    "apidian-withholding",
                    f"withholding {w.tax!r} has no APIDIAN tax_id",
                )
            )
    for side in ("discounts", "charges"):
        if sum(1 for a in getattr(doc, side) if a.amount is None) > 1:
            issues.append(
                issue(
                    side,
                    "apidian-percent-adjustments",
                    "APIDIAN takes amounts: at most one percent-based item per side",
                )
            )
    party = doc.customer
    if party is not None:
        issues += _customer_issues(party)
    if doc.is_purchase and doc.supplier is not None:
        issues += _seller_issues(doc.supplier)
    if doc.kind == "debit_note" and party is not None and not party.email:
        # current servers: customer.email required_unless the final consumer (DebitNoteRequest)
        issues.append(
            issue(
                "customer.email", "apidian-debit-note-email", "APIDIAN debit notes need the customer's email"
            )
        )
    if doc.kind in cat.NOTE_KINDS:
        ref = doc.reference
        if ref is None or not ref.fiscal_id or ref.issue_date is None:
            issues.append(
                issue(
                    "reference",
                    "apidian-note-reference",
                    "APIDIAN notes need the invoice's number, CUFE and issue date",
                )
            )
        if doc.reason is None or doc.reason.code not in cat.NOTE_REASONS[doc.kind]:
            issues.append(
                issue("reason.code", "apidian-note-reason", "APIDIAN notes need a discrepancy reason")
            )
        elif cat.NOTE_REASONS[doc.kind][doc.reason.code] not in DISCREPANCY_IDS[doc.kind]:
            issues.append(
                issue(
                    "reason.code",
                    "apidian-note-reason",
                    f"no APIDIAN discrepancy code for {doc.reason.code!r}",
                )
            )
    payment = doc.payment
    if payment is not None and payment.form == "credit":
        days = (payment.due_date - doc.issue_date).days if payment.due_date and doc.issue_date else None
        if days is None or not 0 <= days <= 999:
            issues.append(
                issue(
                    "payment.due_date",
                    "apidian-credit-term",
                    "APIDIAN credit needs a due date within 999 days",
                )
            )
    return issues


def _seller_issues(party: Party) -> list[UnsupportedIssue]:
    """SupportDocumentRequest requires the seller's phone, address and postal_zone_code."""
    issues = _customer_issues(party, "supplier")
    address = party.address
    missing = {
        "supplier.phone": party.phone,
        "supplier.address.line": address.line if address else None,
        "supplier.address.postal_code": address.postal_code if address else None,
    }
    issues += [
        issue(path, "apidian-seller-required", f"APIDIAN requires the seller's {path.rsplit('.', 1)[-1]}")
        for path, value in missing.items()
        if not value
    ]
    return issues


def _customer_issues(party: Party, role: str = "customer") -> list[UnsupportedIssue]:
    issues = []
    if party.id_type not in cat.ID_TYPES["CO"] or not party.id_number:
        issues.append(
            issue(f"{role}.id_type", "apidian-customer-id", "APIDIAN needs a Colombian id type and number")
        )
    elif cat.ID_TYPES["CO"][party.id_type] not in ID_TYPE_IDS:
        issues.append(
            issue(f"{role}.id_type", "apidian-customer-id", f"id type {party.id_type!r} has no APIDIAN id")
        )
    unknown = [r for r in party.tax_responsibilities if r not in LIABILITY_IDS]
    if party.tax_responsibilities and party.tax_responsibilities[0] in unknown:
        issues.append(
            issue(
                "customer.tax_responsibilities",
                "apidian-liability",
                f"{unknown[0]!r} is not in APIDIAN's type_liabilities",
            )
        )
    address = party.address
    if address is not None:
        if address.city_code and address.city_code not in MUNICIPALITY_IDS:
            issues.append(
                issue(
                    f"{role}.address.city_code",
                    "apidian-municipality",
                    f"DANE {address.city_code!r} is not in APIDIAN's municipalities",
                )
            )
        if address.country not in COUNTRY_IDS:
            issues.append(
                issue(
                    f"{role}.address.country",
                    "apidian-country",
                    f"{address.country!r} is not in APIDIAN's countries",
                )
            )
    return issues


_REFUSALS: Final[list[tuple[Callable[[Document], bool], str, str, str]]] = [
    (
        lambda d: d.kind == "pos_invoice" and d.point_of_sale is None,
        "point_of_sale",
        "apidian-pos-point-of-sale",
        "APIDIAN's POS document needs the cash register (cash_information) and buyer benefits",
    ),
    (
        lambda d: d.kind == "invoice" and d.customer is None,
        "customer",
        "apidian-customer-required",
        "an invoice needs its customer",
    ),
]

_DROPS: Final[list[tuple[Callable[[Document], bool], str]]] = [
    (
        lambda d: bool(d.customer and len(d.customer.tax_responsibilities) > 1),
        "customer.tax_responsibilities: APIDIAN takes one type_liability_id; only the first is sent",
    ),
    (
        lambda d: bool(d.customer and (d.customer.address is None or not d.customer.address.city_code)),
        "customer.address.city_code: none given; APIDIAN fills its default municipality",
    ),
    (
        lambda d: bool(d.customer and d.customer.address and d.customer.address.postal_code),
        "customer.address.postal_code: APIDIAN's customer has no postal code; not sent",
    ),
    (lambda d: bool(d.metadata), "metadata: APIDIAN has no metadata field; not sent"),
]
