"""SmartApp (emision.smartapp.com.co): REST JSON with a Bearer API key. SmartApp numbers the
invoice, signs it with the tenant's certificate and sends it to DIAN, answering with the CUFE, the
DIAN state and links to the XML and PDF.

Contract: `contracts/smartapp/` (request.schema.json, examples/, README.md). The documentation is
thin (a quickstart and one reference page): every mapping it does not show is an assumption,
commented where taken and listed in the contract README.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Final, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import msgspec
from lxml import etree

from adapters.base import (
    Account,
    Adapter,
    Ambiguous,
    Authority,
    Emission,
    Misconfigured,
    NotSearchable,
    Outcome,
    ProviderFailure,
    ProviderRef,
    Rejected,
    Unavailable,
    UnsupportedIssue,
    load_credentials,
    unsupported_if,
)
from adapters.capabilities import declared_refusals
from adapters.colombia import exact_unit_price
from adapters.http import ProviderHttp, documented_not_found, exact_json_body, failure_for_status
from adapters.wire import dian_error, laravel_errors, number, text
from canonical import catalogs as cat
from canonical import clock
from canonical.document import Document, Party
from canonical.totals import LineTotals


class SmartAppCredentials(msgspec.Struct, kw_only=True):
    api_key: Annotated[str, msgspec.Meta(min_length=1)]  # admin.smartapp.com.co → Settings, "sk_..."


# -- code tables (canonical -> SmartApp) ------------------------------------------------------------

ENDPOINTS: Final[dict[str, str]] = {"invoice": "/api/v1/service/invoice"}
# Quirk: the status path has no /api prefix (quickstart: GET /v1/billing/status/{processId}), which
# is why the account's base_url is the host root.
STATUS_PATH: Final = "/v1/billing/status/{process_id}"
NOT_FOUND: Final = {"message": "Process not found"}  # examples/status.404: the documented "not found"

# tax -> taxes[].{code, name}: DIAN tax scheme ids, as the quickstart's {"code": "01", "name": "IVA"}
TAXES: Final[dict[str, tuple[str, str]]] = {tax: (code, tax) for tax, code in cat.TAXES["CO"].items()}

# status / dian_response.status -> Outcome.status. Only "accepted" is documented (emit.200.json);
# "rejected" and "pending" are assumed (emit.200.rejected.json, emit.200.pending.json).
STATUSES: Final[dict[str, Literal["accepted", "rejected", "pending"]]] = {
    "accepted": "accepted",
    "rejected": "rejected",
    "pending": "pending",
    "processing": "pending",
}

# No error statuses are documented: the HTTP defaults of adapters.http apply (401/403 credentials,
# 400/422 data, 429 quota, 500 after a POST ambiguous); listed here so the choice is visible.
STATUS_CLASSES: Final[Mapping[int, type[ProviderFailure]]] = {
    401: Misconfigured,
    403: Misconfigured,
    404: Misconfigured,  # unknown processIds are handled apart; on a POST: wrong base_url
    400: Rejected,
    422: Rejected,
    429: Unavailable,
    500: Ambiguous,
}

# The quickstart line has no unit: SmartApp's default is taken to be DIAN 94 (unit).
DEFAULT_UNIT: Final = "94"
LINK_TIMEOUT_S: Final = 5.0
BOGOTA: Final = ZoneInfo(cat.TIME_ZONES["CO"])
_LINE_PATH: Final = re.compile(r"^lines\.(\d+)\.(\w+)")
LINE_FIELDS: Final[dict[str, str]] = {
    "code": "code",
    "name": "description",
    "quantity": "quantity",
    "unit_price": "unit_price",
    "taxes": "taxes",
}
OTHER_FIELDS: Final[dict[str, str]] = {
    "customer.document_type": "customer.id_type",
    "customer.document_number": "customer.id_number",
    "customer.name": "customer.name",
    "customer.email": "customer.email",
    "payment.method_code": "payment.means",
    "payment.due_date": "payment.due_date",
    "customer": "customer",
    "lines": "lines",
    "payment": "payment",
}
_UBL_ID: Final = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}ID"

WIRE: Final = msgspec.json.Encoder()


class SmartAppAdapter(Adapter):
    name: ClassVar[str] = "smartapp"
    countries: ClassVar[frozenset[str]] = frozenset({"CO"})
    kinds: ClassVar[frozenset[str]] = frozenset(ENDPOINTS)  # notes and POS emission are undocumented
    currencies: ClassVar[frozenset[str] | None] = frozenset({"COP"})
    refusals: ClassVar[Mapping[str, str]] = {
        "country": "SmartApp issues Colombian documents only",
        "kind": "SmartApp documents only invoice emission",
        "currency": "SmartApp has no currency field: COP only",
    }
    numbering: ClassVar[Literal["ours", "provider"]] = "provider"
    Credentials: ClassVar[type[msgspec.Struct]] = SmartAppCredentials

    def __init__(self, account: Account) -> None:
        self.account = account
        credentials = load_credentials(type(self), account)
        self.http = ProviderHttp(
            account.base_url,
            timeout_s=account.timeout_s,
            headers={"Authorization": f"Bearer {credentials.api_key}", "Accept": "application/json"},
        )
        # xml_url / pdf_url may live on another host: fetched without the API key, and briefly, so
        # that reading the number after an emission stays within dispatch's time for the call
        self.links = ProviderHttp("", timeout_s=min(account.timeout_s, LINK_TIMEOUT_S))

    # -- canonical -> SmartApp ---------------------------------------------------------------------

    def build_payload(self, emission: Emission) -> dict[str, Any]:
        """The quickstart body; amounts from the totals, as exact numbers."""
        doc, totals = emission.document, emission.totals
        unsupported_if(_unsupported(doc, emission))
        payment = doc.payment
        means = payment.means if payment else "cash"
        # A cash sale is due on its issue date; the quickstart always shows a due_date.
        due = (payment.due_date if payment else None) or doc.issue_date or clock.now(BOGOTA).date()
        return {
            "customer": _customer(doc.customer),
            "lines": [_line(i, line, totals.lines[i]) for i, line in enumerate(doc.lines)],
            "payment": {"method_code": cat.PAYMENT_MEANS[means]["CO"], "due_date": due.isoformat()},
        }

    def warnings(self, emission: Emission) -> list[str]:
        """Informational content SmartApp has no field for (ARCHITECTURE.md: listed, never silent)."""
        doc = emission.document
        found = [message for applies, message in _DROPS if applies(doc)]
        for i, (line, figures) in enumerate(zip(doc.lines, emission.totals.lines, strict=True)):
            if figures.discount:
                found.append(
                    f"lines[{i}].discount: SmartApp has no line discount; the net unit price is sent"
                )
            if line.unit != DEFAULT_UNIT:
                found.append(f"lines[{i}].unit: SmartApp lines have no unit; {line.unit!r} not sent")
            if not line.code:
                found.append(
                    f"lines[{i}].code: SmartApp requires an item code; the line position {i + 1} is sent"
                )
        return found

    # -- calls -------------------------------------------------------------------------------------

    async def emit(self, emission: Emission) -> Outcome:
        payload = self.build_payload(emission)
        response = await self.http.send(
            "POST",
            ENDPOINTS[emission.document.kind],
            content=WIRE.encode(payload),
            headers={"Content-Type": "application/json"},
            emits=True,
        )
        if not response.is_success:
            raise classify_error(response, emits=True)
        body = exact_json_body(response)
        if not isinstance(body, dict):
            raise Ambiguous(
                "SmartApp answered without a JSON body", http_status=response.status_code, raw=body
            )
        outcome = parse_response(body, emits=True)
        outcome.warnings = self.warnings(emission) + outcome.warnings
        if outcome.number is None and "xml" in outcome.links:
            await self._number_from_xml(outcome)
        return outcome

    async def status(self, ref: ProviderRef) -> Outcome:
        process_id = ref.provider_reference or ref.fiscal_id
        if not process_id:
            raise NotSearchable("SmartApp status needs the processId (the CUFE)")
        response = await self.http.send("GET", STATUS_PATH.format(process_id=process_id))
        if documented_not_found(response, NOT_FOUND):
            return Outcome(status="not_found", provider_reference=process_id, raw=exact_json_body(response))
        if not response.is_success:
            raise classify_error(response, emits=False)
        body = exact_json_body(response)
        if not isinstance(body, dict):
            raise Unavailable("SmartApp status answer without a JSON body", raw=body)
        outcome = parse_response(body, emits=False)
        outcome.number = outcome.number or ref.number
        return outcome

    async def find(self, emission: Emission) -> ProviderRef | None:
        """SmartApp documents no list or search endpoint and takes no reference of ours, so an
        ambiguous emission cannot be found again: NotSearchable tells reconciliation that an
        operator must resolve it (gateway/dispatch/reconcile.py)."""
        raise NotSearchable("SmartApp offers no document search")

    async def fetch_xml(self, ref: ProviderRef) -> bytes | None:
        return await self._fetch_link(ref, "xml")

    async def fetch_pdf(self, ref: ProviderRef) -> bytes | None:
        return await self._fetch_link(ref, "pdf")

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.links.aclose()

    async def _fetch_link(self, ref: ProviderRef, link: str) -> bytes | None:
        """The status answer carries xml_url / pdf_url; the file is fetched from there."""
        outcome = await self.status(ref)
        url = outcome.links.get(link)
        if outcome.status == "not_found" or not _is_url(url):
            return None
        response = await self.links.send("GET", url)
        if response.status_code == 404:
            return None
        if not response.is_success:
            raise classify_error(response, emits=False)
        return response.content

    async def _number_from_xml(self, outcome: Outcome) -> None:
        """The documented answer has no invoice number; the signed UBL's cbc:ID is the number
        SmartApp assigned. The invoice is already issued, so a failure here is only a warning."""
        url = outcome.links["xml"]
        if not _is_url(url):
            return
        try:
            response = await self.links.send("GET", url)
            if response.is_success:
                root = etree.fromstring(
                    response.content, parser=etree.XMLParser(resolve_entities=False, no_network=True)
                )
                number = root.findtext(_UBL_ID)
                outcome.number = number.strip() if number else None
        except (ProviderFailure, etree.XMLSyntaxError, httpx.InvalidURL, ValueError):
            pass
        if outcome.number is None:
            outcome.warnings.append("number: SmartApp's answer has none and its XML could not be read")


# -- SmartApp -> Outcome -----------------------------------------------------------------------------


def parse_response(body: Mapping[str, Any], *, emits: bool) -> Outcome:
    """`{success, cufe, xml_url, pdf_url, status, dian_response{track_id, status, status_message}}`
    (examples/emit.200.json). The status call is assumed to answer the same shape."""
    dian = body.get("dian_response") if isinstance(body.get("dian_response"), dict) else {}
    state = body.get("status") or dian.get("status")
    state = state if isinstance(state, str) else None  # a malformed answer: no documented state
    if state is None and body.get("success") is False:
        # success: false without a DIAN state: SmartApp refused the data before DIAN (assumed)
        message = str(body.get("message") or body.get("error") or "SmartApp refused the invoice")
        raise Rejected(
            message, code="success-false", errors=laravel_errors(body.get("errors"), canonical_path), raw=body
        )
    if not text(body.get("cufe")):
        cls = Ambiguous if emits else Unavailable
        raise cls("SmartApp answered without a CUFE", raw=body)
    warnings = [] if state in STATUSES else [f"SmartApp status {state!r} is not documented; kept pending"]
    message = dian.get("status_message")
    errors = [dian_error(message)] if STATUSES.get(state) == "rejected" and message else []
    links = {"xml": body.get("xml_url"), "pdf": body.get("pdf_url")}
    return Outcome(
        status=STATUSES.get(state, "pending"),
        # Quirk: the quickstart says "use the processId returned" but the documented answer has
        # none; its status example uses the CUFE ("abc123..."), so the CUFE is the processId.
        provider_reference=text(body.get("processId")) or text(body.get("cufe")),
        number=text(body.get("number")),
        fiscal_id=text(body.get("cufe")),
        authority=Authority(message=text(message), errors=errors),  # track_id stays in raw
        links={k: v for k, v in links.items() if isinstance(v, str)},
        warnings=warnings,
        raw=body,
    )


def classify_error(response: httpx.Response, *, emits: bool) -> ProviderFailure:
    """An error status -> failure class; the body shape `{success: false, message, errors}` is
    assumed (examples/emit.4xx.json), its text kept whatever it is."""
    body = exact_json_body(response)
    body = body if isinstance(body, dict) else {}
    message = str(
        body.get("message") or body.get("error") or f"SmartApp answered HTTP {response.status_code}"
    )
    return failure_for_status(
        response,
        message,
        table=STATUS_CLASSES,
        emits=emits,
        code=str(body.get("code") or response.status_code),
        errors=laravel_errors(body.get("errors"), canonical_path),
        raw=body or response.text[:2000],
    )


def canonical_path(field: str) -> str | None:
    """An error field (`lines.0.unit_price`, emit.422.json) -> its canonical path."""
    if m := _LINE_PATH.match(field):
        return f"lines[{m[1]}].{LINE_FIELDS[m[2]]}" if m[2] in LINE_FIELDS else f"lines[{m[1]}]"
    return OTHER_FIELDS.get(field)


# -- helpers -----------------------------------------------------------------------------------------


def _unsupported(doc: Document, emission: Emission) -> list[UnsupportedIssue]:
    """Fiscal content SmartApp cannot carry: refused, never dropped (ARCHITECTURE.md)."""
    issues = declared_refusals(SmartAppAdapter, doc)
    issues += [UnsupportedIssue(path=p, rule=r, message=m) for applies, p, r, m in _REFUSALS if applies(doc)]
    today = clock.now(BOGOTA).date()
    if doc.issue_date is not None and doc.issue_date != today:
        # the issue date is in the CUFE and in DIAN's FAD09e: SmartApp would write another one
        issues.append(
            UnsupportedIssue(
                path="issue_date",
                rule="smartapp-issue-date",
                message=f"SmartApp stamps the day it receives the invoice ({today}), not {doc.issue_date}",
            )
        )
    for i, (line, figures) in enumerate(zip(doc.lines, emission.totals.lines, strict=True)):
        unknown = sorted({t.tax for t in line.taxes} - set(TAXES))
        if unknown:
            issues.append(
                UnsupportedIssue(
                    path=f"lines[{i}].taxes",
                    rule="smartapp-line-tax",
                    message=f"SmartApp has no tax code for {unknown}",
                )
            )
        if net_unit_price(line.quantity, figures) is None:
            issues.append(
                UnsupportedIssue(
                    path=f"lines[{i}].unit_price",
                    rule="smartapp-net-unit-price",
                    message="SmartApp has no line discount and no unit price gives this line's net exactly",
                )
            )
    return issues


def net_unit_price(quantity: Decimal, figures: LineTotals) -> Decimal | None:
    """The tax-exclusive unit price whose quantity × price is exactly the line's net amount: SmartApp
    has no line discount. None when no price of up to 6 decimals does it."""
    return exact_unit_price(quantity, figures.net, None if figures.discount else figures.unit_price)


_REFUSALS: Final[list[tuple[Callable[[Document], bool], str, str, str]]] = [
    (
        # Fiscal in Colombia (PaymentMeans/ID 1 or 2): the quickstart's payment has a due date but no
        # form, and nothing public says SmartApp derives "credit" from it (README.md)
        lambda d: d.payment is not None and d.payment.form == "credit",
        "payment.form",
        "smartapp-credit-sale",
        "SmartApp's payment has no form (cash/credit): a credit sale cannot be issued through it",
    ),
    (
        # address codes are fiscal (ARCHITECTURE.md, "Fiscal content, per country"); the quickstart's
        # customer has no address
        lambda d: bool(
            d.customer
            and d.customer.address
            and (d.customer.address.city_code or d.customer.address.department_code)
        ),
        "customer.address",
        "smartapp-customer-address",
        "SmartApp's customer has no address: its DANE codes cannot be carried",
    ),
    (
        lambda d: d.customer is None,
        "customer",
        "smartapp-customer-required",
        "SmartApp requires the customer",
    ),
    (
        lambda d: (
            d.customer is not None
            and (d.customer.id_type not in cat.ID_TYPES["CO"] or not d.customer.id_number)
        ),
        "customer.id_number",
        "smartapp-customer-id",
        "SmartApp requires the customer's id type and number",
    ),
    (
        lambda d: bool(d.discounts),
        "discounts",
        "smartapp-document-discounts",
        "SmartApp has no document-level discounts",
    ),
    (
        lambda d: bool(d.charges),
        "charges",
        "smartapp-document-charges",
        "SmartApp has no document-level charges or tips",
    ),
    (
        lambda d: bool(d.withholdings),
        "withholdings",
        "smartapp-withholdings",
        "SmartApp has no withholdings field",
    ),
]

_DROPS: Final[list[tuple[Callable[[Document], bool], str]]] = [
    (lambda d: bool(d.notes), "notes: SmartApp has no notes field; not sent"),
    (
        lambda d: bool(d.customer and d.customer.phone),
        "customer.phone: SmartApp has no phone field; not sent",
    ),
    (
        lambda d: bool(d.customer and d.customer.tax_responsibilities),
        "customer.tax_responsibilities: SmartApp's customer has no responsibilities field; not sent",
    ),
    (
        lambda d: bool(d.customer and d.customer.check_digit),
        "customer.check_digit: SmartApp's customer has no DV field (DIAN derives it from the NIT); not sent",
    ),
    (
        lambda d: d.customer is not None,
        "customer.party_type: SmartApp's customer has no person/company field; not sent",
    ),
    (lambda d: bool(d.metadata), "metadata: SmartApp has no metadata field; not sent"),
]


def _customer(customer: Party) -> dict[str, Any]:
    result = {
        "document_type": cat.ID_TYPES["CO"][customer.id_type],
        "document_number": customer.id_number,
        "name": customer.name,
    }
    if customer.email:
        result["email"] = customer.email
    return result


def _line(index: int, line: Any, figures: LineTotals) -> dict[str, Any]:
    return {
        "code": line.code or str(index + 1),
        "name": line.description,
        "quantity": number(line.quantity),
        "unit_price": number(net_unit_price(line.quantity, figures)),
        "taxes": [
            {"code": TAXES[t.tax][0], "name": TAXES[t.tax][1], "rate": number(t.rate)} for t in figures.taxes
        ],
    }


def _is_url(value: Any) -> bool:
    return (
        isinstance(value, str)
        and urlsplit(value).scheme in ("http", "https")
        and bool(urlsplit(value).netloc)
    )
