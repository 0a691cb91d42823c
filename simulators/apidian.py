"""APIDIAN simulator: the documented `/api/ubl2.1` endpoints of one configured company, answering
from `contracts/apidian/` (request schema, catalogs, example responses).

What it checks, as APIDIAN and DIAN would: the Bearer token, the request schema (Laravel 422), the
catalog ids, the resolution and range of each numbered type (invoice, POS, support document), the
issue date, our totals against what it recomputes
from the lines (to the cent: DIAN rejects with rule codes inside an HTTP 200 `success: true`), and a
number sent twice. It computes the CUFE/CUDE/CUDS with `canonical.dian`, as the gateway does when it
reconciles, and answers GetStatus by that CUFE.

The company is fixed (COMPANY below, the NIT of examples/tenants.toml with DIAN's public test
resolution); any non-empty token is that company's.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec
from litestar import Litestar, Request, Response, Router, post
from litestar.params import FromPath

from canonical import clock, dian
from contracts import example, request_validator
from contracts.apidian import codes_by_id
from simulators.control import FaultMode, LedgerEntry, SimState, control_handlers

PROVIDER: Final = "apidian"
QUOTA_BODY: Final = example(PROVIDER, "invoice.429")["body"]  # what the quota fault answers
BOGOTA: Final = ZoneInfo("America/Bogota")
DAYS_BACK: Final = 10  # ARCHITECTURE.md: issue dates from 10 days back to today
CENT: Final = Decimal("0.01")
_WIRE: Final = msgspec.json.Encoder(decimal_format="number")


class Resolution(msgspec.Struct, frozen=True):
    prefix: str
    first: int
    last: int
    technical_key: str


class Company(msgspec.Struct, frozen=True):
    nit: str
    software_pin: str  # invoices and notes
    eqdocs_pin: str  # the equivalent-documents software (PUT /config/softwareeqdocs)
    support_pin: str  # the support-document software (PUT /config/softwaresupportdocument)
    resolutions: dict[int, dict[str, Resolution]]  # type_document_id -> resolution number -> range


# DIAN's public habilitación resolution, one range per numbered type (examples/tenants.toml: setp,
# epos, dsp); the POS and support documents hash with their software's PIN, not a technical key.
COMPANY: Final = Company(
    nit="900373115",
    software_pin="75315",
    eqdocs_pin="86420",
    support_pin="97531",
    resolutions={
        1: {
            "18760000001": Resolution(
                prefix="SETP",
                first=990000000,
                last=995000000,
                technical_key="fc8eac422eba16e22ffd8c6f94b3f40a6e38162c",
            )
        },
        15: {"18760000001": Resolution(prefix="EPOS", first=1, last=1000000, technical_key="")},
        11: {"18760000001": Resolution(prefix="DSP", first=1, last=1000000, technical_key="")},
    },
)


class Endpoint(msgspec.Struct, frozen=True):
    kind: str  # the ledger's kind and the request schema's $defs entry
    lines: str
    totals: str
    fiscal_id: str  # the answer's key
    file_prefix: str
    answer: str  # the documented answer it is shaped after


ENDPOINTS: Final[dict[str, Endpoint]] = {
    "invoice": Endpoint(
        "invoice", "invoice_lines", "legal_monetary_totals", "cufe", "FES", "invoice.200.accepted"
    ),
    "credit-note": Endpoint(
        "credit_note", "credit_note_lines", "legal_monetary_totals", "cude", "NCS", "credit-note.200.accepted"
    ),
    "debit-note": Endpoint(
        "debit_note",
        "debit_note_lines",
        "requested_monetary_totals",
        "cude",
        "NDS",
        "debit-note.200.accepted",
    ),
    # EqDocController answers the POS document's CUDE as `cufe`
    "eqdoc": Endpoint(
        "pos_invoice", "invoice_lines", "legal_monetary_totals", "cufe", "POSS", "eqdoc.200.accepted"
    ),
    "support-document": Endpoint(
        "support_document",
        "invoice_lines",
        "legal_monetary_totals",
        "cuds",
        "DSS",
        "support-document.200.accepted",
    ),
    "sd-credit-note": Endpoint(
        "support_adjustment_note",
        "credit_note_lines",
        "legal_monetary_totals",
        "cuds",
        "NDSS",
        "sd-credit-note.200.accepted",
    ),
}
PURCHASES: Final = frozenset({"support_document", "support_adjustment_note"})  # the seller, not a customer
# Foreign keys checked against APIDIAN's catalogs: request field -> catalog.
_PARTY_KEYS: Final[dict[str, str]] = {
    "type_document_identification_id": "type_document_identifications",
    "type_organization_id": "type_organizations",
    "type_regime_id": "type_regimes",
    "type_liability_id": "type_liabilities",
    "municipality_id": "municipalities",
    "country_id": "countries",
}
FOREIGN_KEYS: Final[dict[str, str]] = {
    **{f"{party}.{key}": table for party in ("customer", "seller") for key, table in _PARTY_KEYS.items()},
    "payment_form.payment_method_id": "payment_methods",
    "payment_form.payment_form_id": "payment_forms",
}
LINE_FOREIGN_KEYS: Final[dict[str, str]] = {"unit_measure_id": "unit_measures"}
TAX_CODES: Final = codes_by_id("taxes")  # APIDIAN tax_id -> DIAN code ("01" IVA ...)
# allowance_charges.*: field -> catalog (request.schema.json requires one of the two on every item).
ADJUSTMENT_KEYS: Final[dict[str, str]] = {"discount_id": "discounts", "type_discount_id": "type_discounts"}
KNOWN_IDS: Final = {
    table: frozenset(codes_by_id(table))
    for table in {*FOREIGN_KEYS.values(), *LINE_FOREIGN_KEYS.values(), *ADJUSTMENT_KEYS.values(), "taxes"}
}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=_WIRE.encode(body), status_code=status, media_type="application/json", headers=headers
    )


def _documented(name: str) -> Response:
    sample = example(PROVIDER, name)
    return _json(sample["body"], sample["status"])


def _r2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _laravel_422(errors: dict[str, list[str]]) -> Response:
    return _json({"message": "The given data was invalid.", "errors": errors}, 422)


def _schema_errors(kind: str, body: Any) -> dict[str, list[str]]:
    """Schema violations keyed the way Laravel names fields: a missing key by its own dotted path."""
    errors: dict[str, list[str]] = {}
    for error in request_validator(PROVIDER, kind).iter_errors(body):
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance:
                    field = f"{path}.{name}" if path else name
                    errors.setdefault(field, []).append(f"El campo {field} es obligatorio.")
        else:
            errors.setdefault(path, []).append(error.message)
    return errors


def _dig(body: dict[str, Any], dotted: str) -> Any:
    node: Any = body
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _catalog_errors(body: dict[str, Any], lines_key: str) -> dict[str, list[str]]:
    """Laravel `exists:` rules: every id must be a row of APIDIAN's catalog."""
    errors: dict[str, list[str]] = {}
    checks = [(field, table, _dig(body, field)) for field, table in FOREIGN_KEYS.items()]
    for i, line in enumerate(body[lines_key]):
        checks += [(f"{lines_key}.{i}.{f}", t, line.get(f)) for f, t in LINE_FOREIGN_KEYS.items()]
        checks += [
            (f"{lines_key}.{i}.tax_totals.{j}.tax_id", "taxes", t["tax_id"])
            for j, t in enumerate(line.get("tax_totals", []))
        ]
    checks += [
        (f"tax_totals.{j}.tax_id", "taxes", t["tax_id"]) for j, t in enumerate(body.get("tax_totals", []))
    ]
    for j, item in enumerate(body.get("allowance_charges", [])):
        checks += [(f"allowance_charges.{j}.{k}", t, item.get(k)) for k, t in ADJUSTMENT_KEYS.items()]
    for field, table, value in checks:
        if value is not None and value not in KNOWN_IDS[table]:
            errors[field] = [f"El campo {field} seleccionado es inválido."]
    return errors


def _resolution_errors(body: dict[str, Any], kind: str) -> dict[str, list[str]]:
    """Invoices, POS and support documents need a resolution configured for their type; the number
    must lie inside its range."""
    resolutions = COMPANY.resolutions.get(body["type_document_id"])
    if resolutions is None:
        return {}
    resolution = resolutions.get(str(body.get("resolution_number")))
    if resolution is None or body.get("prefix", resolution.prefix) != resolution.prefix:
        return {"resolution_number": ["La resolución no está configurada."]}
    if not resolution.first <= body["number"] <= resolution.last:
        return {"number": [f"El número debe estar entre {resolution.first} y {resolution.last}."]}
    return {}


def dian_rule_errors(body: dict[str, Any], lines_key: str, totals_key: str) -> list[str]:
    """What DIAN's validator rejects, recomputed from the lines to the cent (rule texts after the
    Anexo Técnico: FAU totals, FAX line taxes, FAS document taxes, FAD09e issue date)."""
    rules: list[str] = []
    totals = {k: Decimal(v) for k, v in body[totals_key].items()}
    line_extension = taxed = Decimal(0)
    groups: dict[tuple[int, Decimal], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for i, line in enumerate(body[lines_key]):
        net = Decimal(line["line_extension_amount"])
        line_extension += net
        if line.get("tax_totals"):
            taxed += net
        for t in line.get("tax_totals", []):
            taxable, amount, rate = (
                Decimal(t["taxable_amount"]),
                Decimal(t["tax_amount"]),
                Decimal(t.get("percent", 0)),
            )
            if taxable != net:
                rules.append(
                    f"Regla: FAX03, Rechazo: Línea {i + 1}: la base del tributo no es el valor de la línea."
                )
            if amount != _r2(taxable * rate / 100):
                rules.append(
                    f"Regla: FAX05, Rechazo: Línea {i + 1}: valor del tributo no corresponde"
                    " a la base por la tarifa."
                )
            groups[(t["tax_id"], rate)][0] += taxable
            groups[(t["tax_id"], rate)][1] += amount
    sent = {
        (t["tax_id"], Decimal(t.get("percent", 0))): (Decimal(t["taxable_amount"]), Decimal(t["tax_amount"]))
        for t in body.get("tax_totals", [])
    }
    if sent != {key: (acc[0], acc[1]) for key, acc in groups.items()}:
        rules.append(
            "Regla: FAS07, Rechazo: Los totales de tributos no corresponden a la suma de las líneas."
        )
    tax_total = sum((acc[1] for acc in groups.values()), Decimal(0))
    adjustments = body.get("allowance_charges", [])
    allowances = sum((Decimal(a["amount"]) for a in adjustments if not a["charge_indicator"]), Decimal(0))
    charges = sum((Decimal(a["amount"]) for a in adjustments if a["charge_indicator"]), Decimal(0))
    expected = {
        "line_extension_amount": ("FAU02", line_extension),
        "tax_exclusive_amount": ("FAU04", taxed),
        "tax_inclusive_amount": ("FAU06", line_extension + tax_total),
        "allowance_total_amount": ("FAU08", allowances),
        "charge_total_amount": ("FAU10", charges),
        "payable_amount": ("FAU14", line_extension + tax_total - allowances + charges),
    }
    for field, (rule, value) in expected.items():
        if totals.get(field, Decimal(0)) != value:
            rules.append(f"Regla: {rule}, Rechazo: {field} {totals.get(field)} no corresponde a {value}.")
    return rules


def _date_rules(body: dict[str, Any]) -> list[str]:
    today = clock.now(BOGOTA).date()
    issued = dt.date.fromisoformat(body["date"]) if body.get("date") else today
    if not today - dt.timedelta(days=DAYS_BACK) <= issued <= today:
        return ["Regla: FAD09e, Rechazo: La fecha de emisión no está dentro del rango permitido."]
    return []


def _fiscal_id(body: dict[str, Any], kind: str, totals_key: str) -> str:
    """DIAN's CUFE (invoice: technical key), CUDE (notes: software PIN; POS and its note: the
    equivalent-documents PIN) or CUDS (support document and its note: seller then buyer, IVA only)."""
    now = clock.now(BOGOTA)
    taxes: dict[str, Decimal] = defaultdict(Decimal)
    for t in body.get("tax_totals", []):
        taxes[TAX_CODES[t["tax_id"]]] += Decimal(t["tax_amount"])
    totals = body[totals_key]
    fields = {
        "number": f"{body.get('prefix', '')}{body['number']}",
        "issue_date": body.get("date") or now.date().isoformat(),
        "issue_time": (body.get("time") or now.strftime("%H:%M:%S")) + "-05:00",
        "line_extension": totals["line_extension_amount"],
        "payable": totals["payable_amount"],
        "environment": dian.ENVIRONMENTS["test"],
    }
    if kind in PURCHASES:
        return dian.cuds(
            **fields,
            iva=taxes.get("01", Decimal(0)),
            seller_id=str(body["seller"]["identification_number"]),
            buyer_id=COMPANY.nit,
            software_pin=COMPANY.support_pin,
        )
    if kind == "invoice":
        key = COMPANY.resolutions[1][body["resolution_number"]].technical_key
    elif kind == "pos_invoice" or body.get("is_eqdoc"):
        key = COMPANY.eqdocs_pin
    else:
        key = COMPANY.software_pin
    return dian.cufe(
        **fields,
        taxes=taxes,
        supplier_id=COMPANY.nit,
        customer_id=str(body["customer"]["identification_number"]),
        key=key,
    )


def _sync_answer(
    name: str, number: str, fiscal_id: str, fiscal_key: str, file_prefix: str, rules: list[str] | None
) -> dict[str, Any]:
    """A documented sync answer with this document's number and CUFE; with `rules`, DIAN's 99."""
    body = example(PROVIDER, name if rules is None else "invoice.200.rejected")["body"]
    body.pop("cufe", None)
    body[fiscal_key] = fiscal_id
    body["message"] = f"AttachedDocument #{number} generada con éxito"
    body["urlinvoicexml"], body["urlinvoicepdf"] = (
        f"{file_prefix}-{number}.xml",
        f"{file_prefix}-{number}.pdf",
    )
    body["QRStr"] = f"NumFac: {number}\nCUFE: {fiscal_id}\n{dian.qr_url(fiscal_id, 'test')}"
    body["invoicexml"] = base64.b64encode(_ubl(number, fiscal_id)).decode()
    result = body["ResponseDian"]["Envelope"]["Body"]["SendBillSyncResponse"]["SendBillSyncResult"]
    result["XmlDocumentKey"] = fiscal_id
    if rules is not None:
        # one rule arrives as a string, several as a list (the XML-to-JSON quirk)
        result["ErrorMessage"] = {"string": rules[0] if len(rules) == 1 else rules}
    return body


def _ubl(number: str, fiscal_id: str) -> bytes:
    """A stand-in for the signed UBL: the number and the CUFE."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"'
        ' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        f'<cbc:ID>{number}</cbc:ID><cbc:UUID schemeName="CUFE-SHA384">{fiscal_id}</cbc:UUID></Invoice>'
    ).encode()


def create_app(state: SimState) -> Litestar:
    issued: dict[str, dict[str, Any]] = {}  # CUFE/CUDE -> {"number", "kind"}
    numbers: dict[tuple[str, str], str] = {}  # (kind, prefix+number) -> CUFE/CUDE
    zip_keys: dict[str, str] = {}  # ZipKey -> CUFE

    async def emit(request: Request, endpoint: str, test_set_id: str | None) -> Response:
        if _token(request) is None:
            return _documented("invoice.401")
        mode: FaultMode = state.next_fault(request)
        if refused := state.refusal(mode, QUOTA_BODY):
            return refused
        target = ENDPOINTS[endpoint]
        kind, lines_key, totals_key = target.kind, target.lines, target.totals
        fiscal_key, file_prefix = target.fiscal_id, target.file_prefix
        try:
            body = json.loads(await request.body(), parse_float=Decimal)
        except ValueError:
            return _laravel_422({"": ["JSON inválido."]})
        errors = _schema_errors(kind, body)
        if not errors:
            errors = _catalog_errors(body, lines_key) or _resolution_errors(body, kind)
        if errors:
            if "application/json" not in request.headers.get("accept", ""):
                # Laravel answers a failed FormRequest with a redirect unless the client asks for JSON
                return Response(content=b"", status_code=302, headers={"Location": str(request.base_url)})
            return _laravel_422(errors)
        number = f"{body.get('prefix', '')}{body['number']}"
        fiscal_id = _fiscal_id(body, kind, totals_key)
        if (kind, number) in numbers:
            answer = example(PROVIDER, "invoice.200.already-sent")["body"]
            answer["cufe"] = numbers[(kind, number)]
            return _json(answer)
        rules = _date_rules(body) + dian_rule_errors(body, lines_key, totals_key)
        if mode == "reject" and not rules:
            rules = [
                "Regla: FAD06, Rechazo: Valor del tributo no corresponde al producto"
                " de la base por la tarifa."
            ]
        if rules:
            # DIAN rejected: APIDIAN still says success: true (examples/invoice.200.rejected)
            return _json(_sync_answer(target.answer, number, fiscal_id, fiscal_key, file_prefix, rules))
        numbers[(kind, number)] = fiscal_id
        issued[fiscal_id] = {"number": number, "kind": kind}
        ledger_kind = "credit_note" if kind == "support_adjustment_note" else kind
        state.issue(
            LedgerEntry(
                reference=fiscal_id, number=number, fiscal_id=fiscal_id, kind=ledger_kind, payload=body
            )
        )
        if test_set_id is not None:
            zip_key = str(uuid.uuid4())
            zip_keys[zip_key] = fiscal_id
            answer = example(PROVIDER, "invoice-test-set.200")["body"]
            answer["cufe"] = fiscal_id
            answer["ResponseDian"]["Envelope"]["Body"]["SendTestSetAsyncResponse"]["SendTestSetAsyncResult"][
                "ZipKey"
            ] = zip_key
        else:
            answer = _sync_answer(target.answer, number, fiscal_id, fiscal_key, file_prefix, None)
        await state.after_issue(mode)
        return _json(answer)

    def emission(endpoint: str) -> list[Any]:
        @post(f"/{endpoint}", name=f"apidian-{endpoint}", status_code=200)
        async def sync(request: Request) -> Response:
            return await emit(request, endpoint, None)

        handlers = [sync]
        if endpoint == "invoice":

            @post("/invoice/{test_set_id:str}", name="apidian-invoice-test-set", status_code=200)
            async def test_set(request: Request, test_set_id: FromPath[str]) -> Response:
                return await emit(request, endpoint, test_set_id)

            handlers.append(test_set)
        return handlers

    def status_answer(name: str, path: tuple[str, ...], fiscal_id: str | None, not_found: str) -> Response:
        if fiscal_id not in issued:
            return _documented(not_found)
        body = example(PROVIDER, name)["body"]
        node = body["ResponseDian"]["Envelope"]["Body"]
        for key in path:
            node = node[key]
        node["XmlDocumentKey"] = fiscal_id
        return _json(body)

    @post("/status/document/{fiscal_id:str}", status_code=200)
    async def status_document(request: Request, fiscal_id: FromPath[str]) -> Response:
        if _token(request) is None:
            return _documented("invoice.401")
        path = ("GetStatusResponse", "GetStatusResult")
        return status_answer("status-document.200.accepted", path, fiscal_id, "status-document.200.not-found")

    @post("/status/zip/{zip_key:str}", status_code=200)
    async def status_zip(request: Request, zip_key: FromPath[str]) -> Response:
        if _token(request) is None:
            return _documented("invoice.401")
        path = ("GetStatusZipResponse", "GetStatusZipResult", "DianResponse")
        return status_answer(
            "status-zip.200.accepted", path, zip_keys.get(zip_key), "status-zip.200.not-found"
        )

    @post("/xml/document/{fiscal_id:str}", status_code=200)
    async def xml_document(request: Request, fiscal_id: FromPath[str]) -> Response:
        if _token(request) is None:
            return _documented("invoice.401")
        if fiscal_id not in issued:
            return _documented("xml-document.200.not-found")
        body = example(PROVIDER, "xml-document.200")["body"]
        result = body["ResponseDian"]["Envelope"]["Body"]["GetXmlByDocumentKeyResponse"][
            "GetXmlByDocumentKeyResult"
        ]
        result["XmlBytesBase64"] = base64.b64encode(_ubl(issued[fiscal_id]["number"], fiscal_id)).decode()
        return _json(body)

    api = Router(
        path="/api/ubl2.1",
        route_handlers=[
            status_document,
            status_zip,
            xml_document,
            *(handler for endpoint in ENDPOINTS for handler in emission(endpoint)),
        ],
    )
    return Litestar(route_handlers=[api, *control_handlers(state)])
