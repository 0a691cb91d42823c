"""Koywe billing API (also sold as "Facto"), Colombia: REST JSON behind an OAuth-style password grant.
Koywe numbers the document, builds and signs the UBL and sends it to DIAN; `GET /documents/{id}`
tells DIAN's verdict (`taxbureau_validation_status`).

Contract: `contracts/koywe/` (request.schema.json, examples/, openapi.json, README.md with the
assumptions). Only what the material documents for Colombia is supported: IVA (tax_type_id 388),
unit UN (DIAN 94), NIT receivers (`CO-NIT`, "NIT-DV"), COP; the rest is refused, never guessed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import csv
import io
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Final, Literal
from zoneinfo import ZoneInfo

import httpx
import msgspec
from lxml import etree
from stdnum.co import nit as co_nit

from adapters.base import (
    Account,
    Adapter,
    Ambiguous,
    Authority,
    Emission,
    Health,
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
    unsupported_if,
)
from adapters.capabilities import declared_refusals, issue
from adapters.http import ProviderHttp, documented_not_found, exact_json_body, failure_for_status
from adapters.wire import cannot_tell, compared, sole_match
from canonical import catalogs as cat
from canonical import clock
from canonical.document import Address, Document, Party
from canonical.totals import round_half_up
from contracts import read_bytes


class KoyweCredentials(msgspec.Struct, kw_only=True):
    """The names of Koywe's `POST /auth` body (openapi.json, AuthRequest)."""

    client_id: str
    client_secret: str
    username: str  # API username, not the web login
    password: str  # API password, not the web login
    account_id: str | None = None  # Koywe account of the issuer (`header.account_id`), where it has several
    # DANE municipality code -> Koywe county_id. Colombian receivers are identified by Koywe's own
    # county code (openapi.json: receiver_county_id "replaces receiver_city and receiver_district"),
    # whose table is not public: each account lists the municipalities it bills, as Koywe gives them.
    county_ids: dict[str, str] = {}


# -- code tables (canonical -> Koywe) -----------------------------------------------------------------

DOCUMENT_TYPES: Final[dict[str, str]] = {
    "invoice": "82",
    "credit_note": "83",
    "debit_note": "84",
    "pos_invoice": "87",
}
# A credit note on a POS document is its own type (provider-docs/koywe.txt, "POS equivalent credit note").
NOTES_ON_POS: Final[dict[str, str]] = {"credit_note": "88"}
# `reference_code`: 1 cancel, 3 correct amount (provider-docs/koywe.txt: 1 for the cancelling credit
# note, 3 for the value-change debit note; the list is Chile's, 2 = correct text only).
REFERENCE_CODES: Final[dict[str, dict[str, int]]] = {
    "credit_note": {
        "partial_return": 3,
        "annulment": 1,
        "discount": 3,
        "price_adjustment": 3,
        "full_return": 1,
        "other": 3,
    },
    "debit_note": {"interest": 3, "expenses": 3, "value_change": 3, "other": 3},
}
TAX_TYPES: Final[dict[str, str]] = {"IVA": "388"}  # the only Colombian tax id in the material
# unit; every current Colombian example (api-billing-postman) sends "UN" (older docs: "70")
UNITS: Final[dict[str, str]] = {"94": "UN"}
ID_TYPES: Final[dict[str, str]] = {"NIT": "CO-NIT"}  # sent as "NIT-DV"
COUNTRIES: Final[dict[str, str]] = {"CO": "66", "US": "89", "MX": "80", "PE": "83", "CL": "253"}
CURRENCIES: Final[dict[str, int]] = {"COP": 28}  # every Colombian example sends 28

# taxbureau_validation_status (openapi.json, GET /documents filters) -> Outcome status
VALIDATION_STATUSES: Final[dict[int, OutcomeStatus]] = {
    0: "pending",
    1: "pending",
    2: "rejected",  # sending rejected by DIAN
    3: "accepted",
    4: "accepted",  # with warnings: taxbureau_validation_comments
    5: "rejected",  # content rejected: taxbureau_validation_comments
}

STATUS_CLASSES: Final[Mapping[int, type[ProviderFailure]]] = {
    400: Rejected,  # examples/documents.400: {"error": "Invalid document type ID"}
    401: Misconfigured,  # examples/documents.401, after one token refresh
    429: Unavailable,  # over ~5 documents/second without IP whitelisting
    500: Ambiguous,  # examples/documents.500: the document may exist
}

TOKEN_MARGIN_S: Final = 60.0  # refresh this long before the token's expires_in runs out
SEARCH_PAGE: Final = 100
SEARCH_PAGES_MAX: Final = 20
NOT_FOUND: Final = {"error": "Document not found"}  # examples/document.404: the documented "not found"
BOGOTA: Final = ZoneInfo(cat.TIME_ZONES["CO"])
CBC: Final = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
WIRE: Final = msgspec.json.Encoder(decimal_format="number")  # documented as JSON numbers; exact
_XML: Final = etree.XMLParser(resolve_entities=False, no_network=True)


def _names(table: str, code_column: int, name_column: int) -> dict[str, str]:
    text = read_bytes("koywe", "catalogs", f"{table}.csv").decode("utf-8")
    return {
        row[code_column].strip(): row[name_column].strip()
        for row in csv.reader(io.StringIO(text), delimiter="\t")
    }


# DANE/DIVIPOLA codes -> names: Koywe's Colombian header takes city and district as text.
CITY_NAMES: Final = _names("municipalities", 3, 2)
DEPARTMENT_NAMES: Final = _names("departments", 3, 2)


class KoyweAdapter(Adapter):
    name: ClassVar[str] = "koywe"
    countries: ClassVar[frozenset[str]] = frozenset({"CO"})
    kinds: ClassVar[frozenset[str]] = frozenset(DOCUMENT_TYPES)
    currencies: ClassVar[frozenset[str] | None] = frozenset(CURRENCIES)
    refusals: ClassVar[Mapping[str, str]] = {
        "country": "this adapter issues Colombian documents only",
        "kind": "Koywe emits invoices, notes and POS documents here",
        "currency": "Koywe's Colombian examples are COP only",
    }
    health_probe: ClassVar[str] = "token"
    numbering: ClassVar[Literal["ours", "provider"]] = "provider"
    Credentials: ClassVar[type[msgspec.Struct]] = KoyweCredentials
    clock: ClassVar[Callable[[], float]] = staticmethod(time.monotonic)

    def __init__(self, account: Account) -> None:
        self.account = account
        self.credentials: KoyweCredentials = load_credentials(type(self), account)
        self.http = ProviderHttp(account.base_url, timeout_s=account.timeout_s, headers={"Accept": "*/*"})
        self._token: str | None = None
        self._expires_at = 0.0
        self._token_lock = asyncio.Lock()

    # -- canonical -> Koywe ---------------------------------------------------------------------------

    def build_payload(self, emission: Emission) -> dict[str, Any]:
        """`POST /documents` body: header, details, references, totals; exact Decimal amounts,
        line prices before tax, line and document totals including it."""
        doc, totals = emission.document, emission.totals
        unsupported_if(_unsupported(doc, emission, self.credentials.county_ids))
        payload: dict[str, Any] = {"header": self._header(emission)}
        payload["details"] = [_detail(line, totals.lines[i]) for i, line in enumerate(doc.lines)]
        if doc.reference is not None:
            payload["references"] = [_reference(doc)]
        payload["totals"] = {
            "net_amount": totals.line_extension,
            "taxes_amount": totals.tax_total,
            "total_amount": totals.tax_inclusive,
        }
        return payload

    def warnings(self, emission: Emission) -> list[str]:
        """Informational content Koywe has no field for (listed, never silent)."""
        return [message for applies, message in _DROPS if applies(emission.document)]

    def _header(self, emission: Emission) -> dict[str, Any]:
        doc, issuer, customer = emission.document, emission.issuer, emission.document.customer
        header: dict[str, Any] = {}
        if self.credentials.account_id:
            header["account_id"] = int(self.credentials.account_id)
        header["document_type_id"] = _document_type(doc)
        header["received_issued_flag"] = 0  # as every Colombian example (0 = issued in the CO pages)
        header["issue_date"] = (doc.issue_date or clock.now(BOGOTA).date()).isoformat()
        header.update(_party("issuer", issuer))
        header.update(_receiver(customer, self.credentials.county_ids))
        if customer.email:
            header["receiver_email"] = customer.email
        if doc.kind == "pos_invoice" and customer.address and customer.address.postal_code:
            header["postal_code"] = customer.address.postal_code
        header["payment_conditions"] = _payment_conditions(doc)
        header["currency_id"] = CURRENCIES[doc.currency or "COP"]
        if doc.notes:
            header["observations"] = "\n".join(doc.notes)
        return header

    # -- calls ---------------------------------------------------------------------------------------

    async def emit(self, emission: Emission) -> Outcome:
        payload = self.build_payload(emission)
        response = await self._call("POST", "/documents", content=WIRE.encode(payload), emits=True)
        if response.status_code not in (200, 201):
            raise classify_error(response, emits=True)
        body = exact_json_body(response)
        if not _is_document(body):
            raise Ambiguous("Koywe answered without a document", http_status=response.status_code, raw=body)
        outcome = parse_response(body)
        outcome.warnings = self.warnings(emission) + outcome.warnings
        return outcome

    async def status(self, ref: ProviderRef) -> Outcome:
        if not ref.provider_reference:
            raise Ambiguous("Koywe status needs the document_id; search with find()", code="no-reference")
        response = await self._call("GET", f"/documents/{ref.provider_reference}")
        if documented_not_found(response, NOT_FOUND):
            return Outcome(
                status="not_found", provider_reference=ref.provider_reference, raw=exact_json_body(response)
            )
        if not response.is_success:  # any 2xx is read by its body (a 201 or 202 where 200 is documented)
            raise classify_error(response, emits=False)
        body = exact_json_body(response)
        if not _is_document(body):
            raise Unavailable("Koywe status answer is not a document", raw=body)
        return parse_response(body)

    async def find(self, emission: Emission) -> ProviderRef | None:
        """After an ambiguous emission: Koywe takes no reference of ours, so list the day's documents
        of this type for this receiver and total. Several matches cannot be told apart: Ambiguous."""
        doc = emission.document
        day = (doc.issue_date or clock.now(BOGOTA).date()).isoformat()
        total = str(emission.totals.tax_inclusive)
        params = {
            "issue_date_from": day,
            "issue_date_to": day,
            "document_type_id": _document_type(doc),
            "receiver_tax_id_code": _tax_id_code(doc.customer),
            "min_total_amount": total,
            "max_total_amount": total,
            "per_page": str(SEARCH_PAGE),
        }
        matches: list[dict[str, Any]] = []
        listed: set[str] = set()
        for page in range(1, SEARCH_PAGES_MAX + 1):
            response = await self._call("GET", "/documents", params={**params, "page": str(page)})
            if not response.is_success:
                raise classify_error(response, emits=False)
            body = exact_json_body(response)
            items = body.get("documents") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise Unavailable("Koywe list answer without documents", raw=body)
            for item in items:
                listed.add(str(compared(item, "document_id")))
                if _same_document(item, params, emission.totals.tax_inclusive):
                    matches.append(item)
            page_count = body.get("page_count")
            if type(page_count) is not int:  # without it the listing's end is a guess
                raise cannot_tell("Koywe listing without page_count")
            if page >= page_count:
                break
        else:
            raise Ambiguous(
                f"more than {SEARCH_PAGE * SEARCH_PAGES_MAX} Koywe documents on {day}",
                code="search-too-large",
            )
        expected = body.get("total_items")
        if type(expected) is int and len(listed) < expected:  # short pages: part of the window unseen
            raise cannot_tell(f"Koywe listed {len(listed)} of {expected} documents")
        found = sole_match(matches, provider="Koywe", id_field="document_id")
        if found is None:
            return None
        return ProviderRef(
            provider_reference=str(found["document_id"]),
            number=str(found["document_number"]) if found.get("document_number") else None,
            issue_date=doc.issue_date,
        )

    async def fetch_xml(self, ref: ProviderRef) -> bytes | None:
        return await self._electronic_document(ref, "document_xml")

    async def fetch_pdf(self, ref: ProviderRef) -> bytes | None:
        return await self._electronic_document(ref, "document_pdf")  # POS documents have none

    async def health(self, issuer_nit: str) -> Health:
        """A fresh login (`POST /auth`): the cheapest call that proves the credentials, since a
        cached token would prove only that they worked an hour ago."""
        await self.token(refused=self._token)
        return Health(message="Koywe /auth issued a token for these credentials")

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- the bearer token --------------------------------------------------------------------------------

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call with a valid token. A 401 means Koywe refused the token before doing anything:
        refresh it once and send again; a second 401 is for the caller to classify."""
        token = await self.token()
        response = await self._send(method, path, token, **kwargs)
        if response.status_code == 401:
            response = await self._send(method, path, await self.token(refused=token), **kwargs)
        return response

    async def _send(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        return await self.http.send(method, path, headers=headers, **kwargs)

    async def token(self, *, refused: str | None = None) -> str:
        """The cached JWT (3600 s), fetched again TOKEN_MARGIN_S before it expires or when Koywe
        refused it (`refused`; concurrent calls refused the same token share one new login)."""
        async with self._token_lock:
            stale = self._token is None or self._token == refused
            if stale or self.clock() >= self._expires_at - TOKEN_MARGIN_S:
                self._token, self._expires_at = await self._authenticate()
            return self._token

    async def _authenticate(self) -> tuple[str, float]:
        started = self.clock()
        body = {"grant_type": "password", **msgspec.to_builtins(self.credentials)}
        for setting in ("account_id", "county_ids"):  # ours, not AuthRequest's
            body.pop(setting, None)
        response = await self.http.send("POST", "/auth", json=body)
        answer = exact_json_body(response)
        if response.status_code != 200:
            failure = classify_error(response, emits=False)
            if isinstance(failure, Rejected):  # a refused login is a configuration problem, not the data's
                failure = Misconfigured(failure.message, code="auth", http_status=response.status_code)
            raise failure
        if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
            raise Unavailable("Koywe /auth answered without an access_token", code="auth")
        return answer["access_token"], started + float(answer.get("expires_in") or 0)

    async def _electronic_document(self, ref: ProviderRef, field: str) -> bytes | None:
        if not ref.provider_reference:
            return None
        response = await self._call("GET", f"/documents/{ref.provider_reference}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise classify_error(response, emits=False)
        body = exact_json_body(response)
        files = body.get("electronic_document") if isinstance(body, dict) else None
        return _b64(files.get(field)) if isinstance(files, dict) else None


# -- Koywe -> Outcome ------------------------------------------------------------------------------------


def _is_document(body: Any) -> bool:
    """A Koywe `Document` at least names itself: a JSON object with its `document_id`."""
    return (
        isinstance(body, dict)
        and isinstance(body.get("document_id"), (int, str))
        and body["document_id"] != ""
    )


def parse_response(document: Mapping[str, Any]) -> Outcome:
    """A Koywe `Document` (POST /documents 201, GET /documents/{id} 200): DIAN's verdict is
    `header.taxbureau_validation_status` with its comments; the CUFE is the signed XML's cbc:UUID."""
    header = document.get("header") if isinstance(document.get("header"), dict) else {}
    validation = _int(header.get("taxbureau_validation_status"))
    status = VALIDATION_STATUSES.get(validation, "pending")
    comments = str(header.get("taxbureau_validation_comments") or "")
    warnings = []
    if validation not in VALIDATION_STATUSES:
        warnings.append(f"Koywe taxbureau_validation_status {validation!r} is not documented; kept pending")
    errors = []
    if comments and status == "rejected":
        errors = [
            ProviderError(code=str(validation), message=line)
            for line in comments.splitlines()
            if line.strip()
        ]
    elif comments:
        warnings += [line for line in comments.splitlines() if line.strip()]
    result = document.get("result") if isinstance(document.get("result"), dict) else {}
    if result.get("error_message"):
        warnings.append(f"Koywe result: {result['error_message']}")
    files = (
        document.get("electronic_document") if isinstance(document.get("electronic_document"), dict) else {}
    )
    xml = _b64(files.get("document_xml"))
    links = document.get("_links") if isinstance(document.get("_links"), dict) else {}
    number = header.get("document_number")
    return Outcome(
        status=status,
        provider_reference=str(document["document_id"]),
        number=str(number) if number not in (None, "") else None,
        fiscal_id=_cufe(xml),
        authority=Authority(
            code=str(validation) if validation is not None else None, message=comments or None, errors=errors
        ),
        links={"self": links["self"]["href"]}
        if isinstance(links.get("self"), dict) and links["self"].get("href")
        else {},
        warnings=warnings,
        raw=_redact(document),
        xml=xml,
    )


def classify_error(response: httpx.Response, *, emits: bool) -> ProviderFailure:
    """`{"error": "..."}` with 400/401/429/500 -> failure class, Koywe's own message kept."""
    body = exact_json_body(response)
    body = body if isinstance(body, dict) else {}
    message = str(body.get("error") or f"Koywe answered HTTP {response.status_code}")
    return failure_for_status(
        response,
        message,
        table=STATUS_CLASSES,
        emits=emits,
        code=str(response.status_code),
        raw=body or response.text[:2000],
    )


def _cufe(xml: bytes | None) -> str | None:
    if not xml:
        return None
    try:
        root = etree.fromstring(xml, _XML)
    except etree.XMLSyntaxError:
        return None
    uuid = root.find(f"{{{CBC}}}UUID")
    return uuid.text.strip() if uuid is not None and uuid.text else None


def _redact(document: Mapping[str, Any]) -> dict[str, Any]:
    """The stored answer without the base64 files (the XML goes to Outcome.xml)."""
    raw = dict(document)
    files = raw.get("electronic_document")
    if isinstance(files, dict):
        raw["electronic_document"] = {
            k: f"<base64, {len(v)} chars>" if isinstance(v, str) and v else v for k, v in files.items()
        }
    return raw


def _b64(value: Any) -> bytes | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _int(value: Any) -> int | None:
    """Koywe mixes numbers and numeric strings in the same fields (examples/documents-list.200)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _same_document(item: Any, params: Mapping[str, str], total: Decimal) -> bool:
    """The fields the search filtered on, checked again on each listed item (a provider may ignore
    a filter); an item lacking one is "cannot tell", never "a different document"."""
    if str(compared(item, "document_type_id")) != params["document_type_id"]:
        return False
    if (
        params["receiver_tax_id_code"]
        and compared(item, "receiver_tax_id_code") != params["receiver_tax_id_code"]
    ):
        return False
    try:
        return Decimal(str(compared(item, "total_amount"))) == total
    except ArithmeticError:
        raise cannot_tell("a listed Koywe document has an unreadable total_amount") from None


# -- builders --------------------------------------------------------------------------------------------


def _document_type(doc: Document) -> str:
    if doc.reference is not None and doc.reference.kind == "pos_invoice" and doc.kind in NOTES_ON_POS:
        return NOTES_ON_POS[doc.kind]
    return DOCUMENT_TYPES[doc.kind]


def _tax_id_code(party: Party | None) -> str:
    """NIT with its check digit after a hyphen: "860517022-2"."""
    if party is None or not party.id_number:
        return ""
    check_digit = party.check_digit or co_nit.calc_check_digit(party.id_number)
    return f"{party.id_number}-{check_digit}"


def _party(role: str, party: Party) -> dict[str, Any]:
    address = party.address or Address()
    return {
        f"{role}_tax_id_code": _tax_id_code(party),
        f"{role}_tax_id_type": ID_TYPES[party.id_type],
        f"{role}_legal_name": party.name,
        f"{role}_address": address.line or "",
        f"{role}_district": DEPARTMENT_NAMES.get(
            address.department_code or (address.city_code or "")[:2], ""
        ),
        f"{role}_city": CITY_NAMES.get(address.city_code or "", ""),
        f"{role}_country_id": COUNTRIES[address.country],
        f"{role}_phone": party.phone or "",
        f"{role}_activity": party.economic_activity or "",
    }


def _receiver(party: Party, county_ids: Mapping[str, str]) -> dict[str, Any]:
    """The issuer's fields for the receiver, with Koywe's county code in place of city and district
    for a Colombian one (api-billing-postman, Colombian examples; openapi.json)."""
    receiver = _party("receiver", party)
    del receiver["receiver_district"], receiver["receiver_city"]
    address = party.address or Address()
    if address.country == "CO":
        receiver["receiver_county_id"] = county_ids[address.city_code or ""]
    return receiver


def _payment_conditions(doc: Document) -> str:
    """Days after issue, comma-separated: "0" cash; one credit term is its number of days."""
    payment = doc.payment
    if payment is None or payment.form == "cash" or payment.due_date is None or doc.issue_date is None:
        return "0"
    return str((payment.due_date - doc.issue_date).days)


def _reference(doc: Document) -> dict[str, Any]:
    ref, reason = doc.reference, doc.reason
    reference: dict[str, Any] = {
        "document_type_id": DOCUMENT_TYPES.get(ref.kind or "invoice", DOCUMENT_TYPES["invoice"]),
        "reference_number": ref.number,
        "reference_code": REFERENCE_CODES[doc.kind][reason.code],
        "description": reason.description or reason.code,
    }
    if ref.issue_date is not None:
        reference["reference_date"] = ref.issue_date.isoformat()
    return reference


def _detail(line: Any, figures: Any) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "quantity": line.quantity,
        "line_description": line.description[:100],
        "unit_measure": UNITS[line.unit],
        "unit_price": figures.unit_price,
    }
    if line.code:
        detail["sku"] = line.code
    if len(line.description) > 100:
        detail["long_description"] = line.description  # line_description is at most 100 characters
    if figures.discount:
        detail["modifier_amount"] = -figures.discount  # a discount is a negative modifier
    detail["total_taxes"] = sum((t.amount for t in figures.taxes), Decimal(0))
    detail["total_amount_line"] = figures.total
    detail["taxes"] = [
        {"tax_type_id": TAX_TYPES[t.tax], "tax_percentage": t.rate, "tax_amount": t.amount}
        for t in figures.taxes
    ]
    return detail


# -- what Koywe cannot express -------------------------------------------------------------------------------


def _unsupported(doc: Document, emission: Emission, county_ids: Mapping[str, str]) -> list[UnsupportedIssue]:
    """Fiscal content the Koywe material (or the account's county table) gives no code for:
    refused, never dropped."""
    issues = declared_refusals(KoyweAdapter, doc)
    issues += [issue(path, rule, message) for applies, path, rule, message in _REFUSALS if applies(doc)]
    issuer = emission.issuer
    if issuer.id_type not in ID_TYPES:
        issues.append(
            issue("issuer.id_type", "koywe-issuer-id", "Koywe's Colombian issuer is a NIT (CO-NIT)")
        )
    party = doc.customer
    if party is not None:
        if party.id_type not in ID_TYPES or not party.id_number:
            issues.append(
                issue(
                    "customer.id_type",
                    "koywe-receiver-id",
                    "the Koywe material documents only NIT receivers (CO-NIT)",
                )
            )
        address = party.address or Address()
        if address.country == "CO" and address.city_code not in county_ids:
            issues.append(
                issue(
                    "customer.address.city_code",
                    "koywe-county",
                    f"no Koywe county_id for DANE {address.city_code!r}: list it in this account's"
                    " credentials.county_ids (Koywe's county table is not public)"
                    if address.city_code
                    else "Koywe identifies a Colombian receiver by its municipality (receiver_county_id)",
                )
            )
        if party.address is not None and party.address.country not in COUNTRIES:
            issues.append(
                issue(
                    "customer.address.country",
                    "koywe-country",
                    f"no Koywe country id for {party.address.country!r}",
                )
            )
    for i, (line, figures) in enumerate(zip(doc.lines, emission.totals.lines, strict=True)):
        if line.unit not in UNITS:
            issues.append(
                issue(
                    f"lines[{i}].unit", "koywe-unit", "the Koywe material documents only unit UN (DIAN 94)"
                )
            )
        for j, tax in enumerate(line.taxes):
            if tax.tax not in TAX_TYPES:
                issues.append(
                    issue(
                        f"lines[{i}].taxes[{j}].tax",
                        "koywe-tax",
                        f"no Koywe tax_type_id for {tax.tax!r} (only IVA, 388)",
                    )
                )
        if round_half_up(line.quantity * figures.unit_price, 2) != figures.gross:
            issues.append(
                issue(
                    f"lines[{i}].unit_price",
                    "koywe-price-exclusive",
                    "Koywe takes unit prices before tax; this price does not give the same line amount",
                )
            )
    if doc.kind in REFERENCE_CODES:
        if doc.reference is None or doc.reason is None or doc.reason.code not in REFERENCE_CODES[doc.kind]:
            issues.append(
                issue(
                    "reference",
                    "koywe-note-reference",
                    "Koywe notes need the referenced document and a reason",
                )
            )
        elif doc.reference.kind == "pos_invoice" and doc.kind not in NOTES_ON_POS:
            issues.append(
                issue("reference.kind", "koywe-pos-debit", "Koywe documents no debit note on a POS document")
            )
    if doc.payment is not None and doc.payment.form == "credit" and doc.payment.due_date is None:
        issues.append(
            issue("payment.due_date", "koywe-credit-term", "Koywe's payment_conditions need the due date")
        )
    return issues


_REFUSALS: Final[list[tuple[Callable[[Document], bool], str, str, str]]] = [
    (
        lambda d: d.customer is None,
        "customer",
        "koywe-receiver-required",
        "Koywe's Colombian documents carry the receiver",
    ),
    (
        lambda d: bool(d.discounts),
        "discounts",
        "koywe-document-discounts",
        "Koywe's global discounts change the tax base (Chile's DA/DE); not ours",
    ),
    (
        lambda d: bool(d.charges),
        "charges",
        "koywe-document-charges",
        "Koywe has no charge or tip outside the tax base",
    ),
    (
        lambda d: bool(d.withholdings),
        "withholdings",
        "koywe-withholdings",
        "no Colombian withholding tax_type_id in the Koywe material",
    ),
]

_DROPS: Final[list[tuple[Callable[[Document], bool], str]]] = [
    (
        lambda d: d.payment is not None and d.payment.means != "cash",
        "payment.means: no Colombian field in the Koywe material; not sent",
    ),
    (
        lambda d: bool(d.customer and d.customer.tax_responsibilities),
        "customer.tax_responsibilities: Koywe takes them from its own customer data; not sent",
    ),
    (lambda d: bool(d.metadata), "metadata: Koywe has no metadata field; not sent"),
    (
        lambda d: (
            d.kind != "pos_invoice"
            and bool(d.customer and d.customer.address and d.customer.address.postal_code)
        ),
        "customer.address.postal_code: not sent"
        " (Koywe's receiver_postalcode format is undocumented for Colombia)",
    ),
]
