"""SmartBill (El Salvador): REST JSON authenticated by a public/private key pair. SmartBill numbers
the DTE (codigoGeneracion, numeroControl), builds, signs and transmits it to Hacienda, and answers
with Hacienda's verdict (selloRecibido), or issues it in contingency when Hacienda is down.

Contract: `contracts/smartbill/` (request.schema.json, examples/, README.md with the readings taken
where SmartBill's pages are silent, notably the response shape).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Final, Literal
from zoneinfo import ZoneInfo

import httpx
import msgspec

from adapters.base import (
    Account,
    Adapter,
    Ambiguous,
    Authority,
    Emission,
    Misconfigured,
    NotSearchable,
    Outcome,
    ProviderError,
    ProviderFailure,
    ProviderRef,
    Rejected,
    Unavailable,
    UnsupportedIssue,
    load_credentials,
    unsupported_if,
)
from adapters.capabilities import declared_refusals
from adapters.http import ProviderHttp, documented_not_found, exact_json_body, failure_for_status
from canonical import clock
from canonical.catalogs import MH_OTHER_UNIT, SV_RETENTION_THRESHOLD, TIME_ZONES, UNITS_MH
from canonical.document import Document, Line, Party
from canonical.totals import LineTotals, Totals, round_half_up


class SmartBillCredentials(msgspec.Struct, kw_only=True):
    public_key: str  # X-Smartbill-Public-Key
    private_key: str  # X-Smartbill-Private-Key: shown once by SmartBill; never logged or returned


# -- code tables (canonical -> SmartBill) -----------------------------------------------------------

ENDPOINTS: Final[dict[str, str]] = {
    "invoice": "/dte/factura",
    "credit_note": "/dte/credit-note",
}
INVALIDATE: Final = "/dte/invalidate"
GET_JSON: Final = "/dte/get-json"
# examples/get-json.404: the documented "not found"
NOT_FOUND: Final = {"estado": "ERROR", "descripcionMsg": "Documento no encontrado"}

# receptor.documentType (MH CAT-022 36, 13, 03, 02, 37). An NRC alone has no SmartBill type.
DOCUMENT_TYPES: Final[dict[str, str]] = {
    "NIT": "nit",
    "DUI": "dui",
    "PASSPORT": "pasaporte",
    "RESIDENT_CARD": "carnetResidente",
    "OTHER": "otro",
}
SELL_TYPES: Final[dict[str, str]] = {"taxed": "gravada", "exempt": "exenta", "not_subject": "nosuj"}
ITEM_TYPES: Final[dict[str, str]] = {"good": "bien", "service": "servicio", "both": "ambos"}
PAYMENT_TYPES: Final[dict[str, str]] = {"cash": "contado", "credit": "credito"}
TAXPAYER_TYPES: Final[dict[bool, str]] = {True: "grande", False: "otros"}

# credit-note `description` when the document gives none
CREDIT_REASONS: Final[dict[str, str]] = {
    "partial_return": "Devolución parcial",
    "annulment": "Anulación de la operación",
    "discount": "Descuento o rebaja",
    "price_adjustment": "Ajuste de precio",
    "full_return": "Devolución total",
    "other": "Otros",
}

# The retentions SmartBill computes itself, at fixed rates (provider-docs: taxPayerType "grande" →
# 1 % IVA; retainsRenta / hasRenta → 10 % renta). The document must declare the same.
IVA_RETENTION_RATE: Final = Decimal("1")
RENTA_RATE: Final = Decimal("10")

# estado (our reading of the response, README.md) -> Outcome.status
STATUSES: Final[dict[str, Literal["accepted", "pending", "rejected"]]] = {
    "PROCESADO": "accepted",
    "CONTINGENCIA": "pending",  # issued by SmartBill in contingency; Hacienda's sello comes later
    "RECHAZADO": "rejected",
    "INVALIDADO": "accepted",  # voided after acceptance: authority.code says so
}

STATUS_CLASSES: Final[Mapping[int, type[ProviderFailure]]] = {
    400: Rejected,  # SmartBill's validation (estado ERROR) or Hacienda's rejection (RECHAZADO)
    401: Misconfigured,  # keys unknown or revoked
    403: Misconfigured,  # the key's role may not do this (invalidate needs a manager key)
    404: Rejected,
    429: Unavailable,
    500: Ambiguous,  # after a POST the document may exist
    503: Unavailable,
}

# First segment of an MH observación path "[receptor.numDocumento] ..." -> canonical path
OBSERVATION_PATHS: Final[dict[str, str]] = {"receptor": "customer", "cuerpoDocumento": "lines"}
_OBSERVATION: Final = re.compile(r"^\[([A-Za-z0-9_.]+)\]\s*(.*)$")
ITEM_DECIMALS: Final = 8  # the DTE items' decimals (fe-fc-v1 multipleOf 1e-08)

EL_SALVADOR: Final = ZoneInfo(TIME_ZONES["SV"])

WIRE: Final = msgspec.json.Encoder(decimal_format="number")  # documented as JSON numbers; exact


class SmartBillAdapter(Adapter):
    name: ClassVar[str] = "smartbill"
    countries: ClassVar[frozenset[str]] = frozenset({"SV"})
    kinds: ClassVar[frozenset[str]] = frozenset(ENDPOINTS)
    refusals: ClassVar[Mapping[str, str]] = {"kind": "SmartBill's API emits facturas and credit notes only"}
    numbering: ClassVar[Literal["ours", "provider"]] = "provider"
    Credentials: ClassVar[type[msgspec.Struct]] = SmartBillCredentials

    def __init__(self, account: Account) -> None:
        self.account = account
        credentials = load_credentials(type(self), account)
        self._secrets = tuple(k for k in (credentials.public_key, credentials.private_key) if k)
        self.http = ProviderHttp(
            account.base_url,
            timeout_s=account.timeout_s,
            headers={
                "X-Smartbill-Public-Key": credentials.public_key,
                "X-Smartbill-Private-Key": credentials.private_key,
                "Accept": "application/json",
            },
        )

    # -- payload ------------------------------------------------------------------------------------

    def build_payload(self, emission: Emission) -> dict[str, Any]:
        """The request body for the kind's route; amounts are exact Decimals from the totals."""
        doc, totals = emission.document, emission.totals
        unsupported_if(_unsupported(doc, totals))
        if doc.kind == "credit_note":
            return {"dteJson": _credit_note(doc, totals)}
        dte: dict[str, Any] = {
            "receptor": _receptor(doc),
            "products": [
                _product(line, figures, renta=_renta(doc))
                for line, figures in zip(doc.lines, totals.lines, strict=True)
            ],
        }
        if doc.payment is not None:
            dte["payment"] = _payment(doc)
        if totals.tips:
            dte["propina"] = totals.tips
        if self.account.transmitter_code:
            # Documented as a number: "001" travels as 1 and SmartBill pads it to P001.
            dte["transmitterCode"] = int(self.account.transmitter_code)
        return {"dteJson": dte}

    def warnings(self, emission: Emission) -> list[str]:
        """Informational content SmartBill has no field for (ARCHITECTURE.md: listed, never silent)."""
        doc = emission.document
        found = [message for applies, message in _DROPS if applies(doc)]
        if doc.kind == "invoice":
            found += [
                f"lines[{i}].code: SmartBill products carry no item code; not sent"
                for i, line in enumerate(doc.lines)
                if line.code
            ]
        return found

    # -- requests -----------------------------------------------------------------------------------

    async def emit(self, emission: Emission) -> Outcome:
        payload = self.build_payload(emission)
        response = await self._post(ENDPOINTS[emission.document.kind], payload, emits=True)
        if response.status_code != 200:
            raise self.classify(response, emits=True)
        body = exact_json_body(response)
        if not isinstance(body, dict) or not _text(body.get("codigoGeneracion")):
            raise Ambiguous(
                "SmartBill answered without a codigoGeneracion", http_status=200, raw=self._redact(body)
            )
        outcome = parse_response(body, raw=self._redact(body))
        outcome.warnings = self.warnings(emission) + outcome.warnings
        return outcome

    async def status(self, ref: ProviderRef) -> Outcome:
        """`POST /dte/get-json` by codigoGeneracion answers with the document's current estado."""
        code = _codigo(ref)
        response = await self._post(GET_JSON, {"body": {"document": code}}, emits=False)
        if documented_not_found(response, NOT_FOUND):
            return Outcome(
                status="not_found",
                provider_reference=code,
                fiscal_id=code,
                raw=self._redact(exact_json_body(response)),
            )
        if not response.is_success:  # any 2xx is read by its body (a 201 or 202 where 200 is documented)
            raise self.classify(response, emits=False)
        body = exact_json_body(response)
        if not isinstance(body, dict):
            raise Unavailable("SmartBill get-json answer is not a JSON object", raw=response.text[:2000])
        return parse_response(body, raw=self._redact({k: v for k, v in body.items() if k != "json"}))

    async def find(self, emission: Emission) -> ProviderRef | None:
        """SmartBill has no list or search route and the request carries no reference of ours, so a
        lost answer cannot be searched (README.md): NotSearchable is the gateway's "cannot be
        searched", and an operator settles the document."""
        raise NotSearchable("SmartBill has no search route")

    async def fetch_xml(self, ref: ProviderRef) -> bytes | None:
        """El Salvador's fiscal document is JSON: the DTE SmartBill stored (`get-json`)."""
        response = await self._post(GET_JSON, {"body": {"document": _codigo(ref)}}, emits=False)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self.classify(response, emits=False)
        body = exact_json_body(response)
        dte = body.get("json") if isinstance(body, dict) else None
        return WIRE.encode(dte) if isinstance(dte, dict) else None

    async def invalidate(self, ref: ProviderRef, reason: str | None = None) -> Outcome:
        """`POST /dte/invalidate` (manager keys only; Hacienda's time limits apply). SmartBill's
        route takes only the document, so the reason is kept in our records, not sent."""
        response = await self._post(INVALIDATE, {"body": {"document": _codigo(ref)}}, emits=True)
        if response.status_code != 200:
            raise self.classify(response, emits=True)
        body = exact_json_body(response)
        if not isinstance(body, dict):
            raise Ambiguous("SmartBill invalidate answer is not a JSON object", raw=response.text[:2000])
        outcome = parse_response(body, raw=self._redact(body))
        if reason:
            outcome.warnings.append("reason: SmartBill's invalidate route takes no reason; not sent")
        return outcome

    async def aclose(self) -> None:
        await self.http.aclose()

    def classify(self, response: httpx.Response, *, emits: bool) -> ProviderFailure:
        failure = classify_error(response, emits=emits)
        failure.raw = self._redact(failure.raw)
        return failure

    async def _post(self, path: str, payload: Any, *, emits: bool) -> httpx.Response:
        return await self.http.send(
            "POST",
            path,
            content=WIRE.encode(payload),
            headers={"Content-Type": "application/json"},
            emits=emits,
        )

    def _redact(self, value: Any) -> Any:
        """The keys never leave in Outcome.raw or errors, even if a body echoed them."""
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, "[redacted]")
            return value
        if isinstance(value, dict):
            return {k: self._redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._redact(v) for v in value]
        return value


# -- response mapping -------------------------------------------------------------------------------


def parse_response(body: Mapping[str, Any], *, raw: Any = None) -> Outcome:
    """SmartBill's answer -> Outcome. The response shape is not documented; this is our one reading
    (contracts/smartbill/README.md): Hacienda's reception answer relayed, the same keys for every
    route and status (examples/factura.200*.json, get-json.200.json, invalidate.200.json)."""
    estado = _text(body.get("estado"))
    seal = _text(body.get("selloRecibido"))
    status = STATUSES.get(estado, "pending")
    observations = [str(o) for o in _observations(body)]
    warnings = []
    if estado not in STATUSES:
        warnings.append(f"SmartBill estado {estado!r} is not known; kept pending")
    elif status == "accepted" and not seal:
        status = "pending"  # no sello, no acceptance (research/sv.md §1.4)
        warnings.append("SmartBill answered without Hacienda's selloRecibido; kept pending")
    if status != "rejected":
        warnings += [f"Hacienda observación: {o}" for o in observations]  # factura.200.observaciones
    return Outcome(
        status=status,
        provider_reference=_text(body.get("codigoGeneracion")),
        number=_text(body.get("numeroControl")),
        fiscal_id=_text(body.get("codigoGeneracion")),
        authority=Authority(
            code=estado,
            message=_text(body.get("descripcionMsg")),
            seal=seal,
            errors=[observation_error(o) for o in observations] if status == "rejected" else [],
        ),
        links={k: v for k, v in _mapping(body.get("urls")).items() if isinstance(v, str)},
        warnings=warnings,
        raw=raw,
    )


def classify_error(response: httpx.Response, *, emits: bool) -> ProviderFailure:
    """A non-200 answer -> failure class, SmartBill's (or Hacienda's) own words kept."""
    body = exact_json_body(response)
    body = body if isinstance(body, dict) else {}
    message = str(body.get("descripcionMsg") or f"SmartBill answered HTTP {response.status_code}")
    return failure_for_status(
        response,
        message,
        table=STATUS_CLASSES,
        emits=emits,
        code=str(body.get("estado") or response.status_code),
        errors=[observation_error(str(o)) for o in _observations(body)],
        raw=body or response.text[:2000],
    )


def _text(value: Any) -> str | None:
    """A string field of the answer; any other type (a malformed answer) counts as absent."""
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _observations(body: Mapping[str, Any]) -> list[Any]:
    """MH's `observaciones` list; anything else (a malformed answer) is no observation."""
    value = body.get("observaciones")
    return value if isinstance(value, list) else []


def observation_error(text: str) -> ProviderError:
    """`[resumen.totalIva] CALCULO INCORRECTO` -> code = the DTE field, path = the canonical one."""
    match = _OBSERVATION.match(text)
    if not match:
        return ProviderError(code="observacion", message=text)
    field = match[1]
    return ProviderError(code=field, message=text, path=OBSERVATION_PATHS.get(field.split(".")[0]))


# -- payload parts ----------------------------------------------------------------------------------


def _receptor(doc: Document) -> str | dict[str, Any]:
    customer = doc.customer
    if customer is None:
        return "Others"  # SmartBill's generic consumidor final (provider-docs, Receptor)
    renta = _renta(doc)
    return {
        "documentType": DOCUMENT_TYPES[customer.id_type],  # type: ignore[index]  # checked in _unsupported
        "identification": _identification(customer),
        "name": customer.name,
        "email": customer.email,
        "address": _address(customer),
        "phone": customer.phone,
        "retainsRenta": renta,
        "taxPayerType": TAXPAYER_TYPES[_retains_iva(doc)],
    }


def _identification(customer: Party) -> str:
    """NIT as digits (MH CAT-022 36); a DUI keeps its hyphen (00000000-0)."""
    number = customer.id_number or ""
    return re.sub(r"[^0-9]", "", number) if customer.id_type == "NIT" else number


def _address(customer: Party) -> dict[str, str] | None:
    a = customer.address
    if not (a and a.department_code and a.city_code and a.line):
        return None
    return {"departament": a.department_code, "town": a.city_code, "details": a.line}  # sic: "departament"


def _product(line: Line, figures: LineTotals, *, renta: bool) -> dict[str, Any]:
    """The canonical price as priced (IVA included on taxed lines: _unsupported refuses others); the
    discount is the line's as priced too, i.e. what the engine's line total leaves out."""
    discount = round_half_up(line.quantity * line.unit_price, ITEM_DECIMALS) - figures.total
    return {
        "description": line.description,
        "sellType": SELL_TYPES[line.tax_treatment],
        "itemType": ITEM_TYPES[line.item_type],
        "unitPrice": line.unit_price,
        "quantity": line.quantity,
        "unit": int(UNITS_MH.get(line.unit, MH_OTHER_UNIT)),
        "tributes": None,  # README.md: sellType gravada already means IVA 13 %
        "hasRenta": renta,
        "descuAmount": discount if discount else None,
    }


def _payment(doc: Document) -> dict[str, Any]:
    pay = doc.payment
    payment: dict[str, Any] = {"type": PAYMENT_TYPES[pay.form]}  # type: ignore[union-attr]
    days = (pay.due_date - doc.issue_date).days if pay.due_date and doc.issue_date else 0  # type: ignore[union-attr]
    if pay.form == "credit" and days > 0:  # type: ignore[union-attr]
        payment |= {"timeFormat": "day", "duration": days}  # the term in whole days
    return payment


def _credit_note(doc: Document, totals: Totals) -> dict[str, Any]:
    reason = doc.reason
    description = reason.description or CREDIT_REASONS[reason.code]  # type: ignore[union-attr]  # validation
    return {
        "documentRelated": doc.reference.fiscal_id,  # type: ignore[union-attr]  # checked in _unsupported
        "description": description,
        "amount": totals.tax_inclusive,
    }


def _renta(doc: Document) -> bool:
    return any(w.tax == "Renta" for w in doc.withholdings)


def _retains_iva(doc: Document) -> bool:
    customer = doc.customer
    return any(w.tax == "IVA" for w in doc.withholdings) or bool(customer and customer.large_taxpayer)


def _codigo(ref: ProviderRef) -> str:
    code = ref.fiscal_id or ref.provider_reference
    if not code:
        # Every SmartBill route is keyed by codigoGeneracion: without it nothing can be asked.
        raise NotSearchable("SmartBill is queried by codigoGeneracion; none is known for this document")
    return code


# -- what SmartBill cannot express ------------------------------------------------------------------


def _unsupported(doc: Document, totals: Totals) -> list[UnsupportedIssue]:
    """Fiscal content SmartBill cannot carry faithfully: refused, never dropped (ARCHITECTURE.md)."""
    issues = declared_refusals(SmartBillAdapter, doc)
    issues += [UnsupportedIssue(path=p, rule=r, message=m) for applies, p, r, m in _REFUSALS if applies(doc)]
    today = clock.now(EL_SALVADOR).date()
    if doc.issue_date is not None and doc.issue_date != today:
        # fecEmi is the DTE's date (MH, modelo previo): SmartBill would write another one
        issues.append(
            UnsupportedIssue(
                path="issue_date",
                rule="smartbill-issue-date",
                message=f"SmartBill dates the DTE when it receives it ({today}), not {doc.issue_date}",
            )
        )
    for i, w in enumerate(doc.withholdings):
        expected = {"IVA": IVA_RETENTION_RATE, "Renta": RENTA_RATE}.get(w.tax)
        if w.rate != expected:
            issues.append(
                UnsupportedIssue(
                    path=f"withholdings[{i}].rate",
                    rule="smartbill-retention-rate",
                    message=f"SmartBill retains {w.tax} at its own fixed rate ({expected} %), not {w.rate} %",
                )
            )
    declared_iva = any(w.tax == "IVA" for w in doc.withholdings)
    if (
        doc.kind == "invoice"
        and _retains_iva(doc)
        and (totals.tax_exclusive >= SV_RETENTION_THRESHOLD) != declared_iva
    ):
        # SmartBill retains 1 % from a gran contribuyente exactly when the taxed net reaches USD 100
        # (CT Art. 162); our totals must say the same, or the issued total would differ from ours.
        issues.append(
            UnsupportedIssue(
                path="withholdings",
                rule="smartbill-iva-retention",
                message="a gran contribuyente retains 1 % IVA exactly when the taxed net reaches USD 100: "
                "declare withholdings [{tax: IVA, rate: 1}] then, and only then",
            )
        )
    return issues


def _bad_receptor_id(doc: Document) -> bool:
    c = doc.customer
    return doc.kind == "invoice" and c is not None and (c.id_type not in DOCUMENT_TYPES or not c.id_number)


def _bad_reference(doc: Document) -> bool:
    return doc.kind == "credit_note" and (doc.reference is None or not doc.reference.fiscal_id)


def _reference_not_ccf(doc: Document) -> bool:
    return (
        doc.kind == "credit_note"
        and doc.reference is not None
        and doc.reference.kind not in (None, "tax_credit_invoice")
    )


def _retention_without_receptor(doc: Document) -> bool:
    return doc.customer is None and bool(doc.withholdings)


def _credit_note_adjusted(doc: Document) -> bool:
    return doc.kind == "credit_note" and bool(doc.withholdings or doc.charges)


def _taxed_lines_priced_without_iva(doc: Document) -> bool:
    return doc.kind == "invoice" and not doc.prices_include_tax and any(line.taxes for line in doc.lines)


_REFUSALS: Final[list[tuple[Callable[[Document], bool], str, str, str]]] = [
    (
        # a party id (README.md, "What a provider cannot express"): the MH factura's receptor has an
        # nrc, SmartBill's receptor none
        lambda d: d.customer is not None and d.customer.nrc is not None and d.kind == "invoice",
        "customer.nrc",
        "smartbill-receptor-nrc",
        "SmartBill's receptor has no NRC: a factura to an NRC holder cannot carry it",
    ),
    (
        # address codes are fiscal: SmartBill takes department, municipio and street only together
        lambda d: (
            d.customer is not None
            and d.kind == "invoice"
            and d.customer.address is not None
            and bool(d.customer.address.department_code or d.customer.address.city_code)
            and _address(d.customer) is None
        ),
        "customer.address",
        "smartbill-receptor-address",
        "SmartBill needs department, municipio and street together: these address codes cannot be carried",
    ),
    (
        lambda d: bool(d.discounts),
        "discounts",
        "smartbill-document-discount",
        "SmartBill has no document discount; use line discounts",
    ),
    (
        lambda d: any(c.kind != "tip" for c in d.charges),
        "charges",
        "smartbill-document-charge",
        "SmartBill's only document charge is the propina (kind tip)",
    ),
    (
        # SmartBill takes IVA-inclusive prices and computes IVA as 13/113 of them. From tax-exclusive
        # prices that path can round a cent away from our totals (found by the property test in
        # tests/contract/test_smartbill.py: 4 × 0.01 less 1 %), so the factura must be priced as sold.
        _taxed_lines_priced_without_iva,
        "prices_include_tax",
        "smartbill-prices-include-iva",
        "SmartBill takes IVA-inclusive unit prices: send the factura with prices_include_tax = true",
    ),
    (
        _bad_receptor_id,
        "customer.id_type",
        "smartbill-receptor-id",
        "SmartBill identifies a receptor by NIT, DUI, passport, resident card or other, with its number",
    ),
    (
        _retention_without_receptor,
        "withholdings",
        "smartbill-retention-receptor",
        "SmartBill's retentions belong to an identified receptor, not the generic consumer",
    ),
    (
        _bad_reference,
        "reference.fiscal_id",
        "smartbill-credit-note-reference",
        "a SmartBill credit note needs the codigoGeneracion of the CCF it corrects",
    ),
    (
        _reference_not_ccf,
        "reference.kind",
        "smartbill-credit-note-ccf",
        "SmartBill credit notes correct a crédito fiscal (tax_credit_invoice) only",
    ),
    (
        _credit_note_adjusted,
        "withholdings",
        "smartbill-credit-note-amount",
        "a SmartBill credit note is one amount: retentions and charges cannot be stated",
    ),
]

# Informational content SmartBill has no field for: sent nowhere, listed in warnings.
_DROPS: Final[list[tuple[Callable[[Document], bool], str]]] = [
    (lambda d: bool(d.notes), "notes: SmartBill has no observaciones field; not sent"),
    (
        lambda d: d.payment is not None and d.payment.means != "cash",
        "payment.means: SmartBill takes no payment means; not sent",
    ),
    (
        lambda d: d.customer is not None and d.customer.economic_activity is not None,
        "customer.economic_activity: SmartBill's receptor has no activity field; not sent",
    ),
    (
        lambda d: d.customer is not None and d.customer.trade_name is not None,
        "customer.trade_name: SmartBill's receptor has no trade name; not sent",
    ),
    (
        lambda d: (
            d.customer is not None
            and d.customer.address is not None
            and _address(d.customer) is None
            and not (d.customer.address.department_code or d.customer.address.city_code)
        ),
        "customer.address: SmartBill needs department, municipio and street together; the street alone is not sent",
    ),
    (
        lambda d: d.kind == "credit_note",
        "lines: a SmartBill credit note is one amount with a description; the lines are not sent",
    ),
    (
        lambda d: d.kind == "credit_note" and d.customer is not None,
        "customer: a SmartBill credit note takes its receptor from the CCF; not sent",
    ),
]
