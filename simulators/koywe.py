"""Koywe billing API simulator (Colombia): `/V1/auth`, `/V1/documents` (create, list) and
`/V1/documents/{id}`, answering from `contracts/koywe/` (request schema, example responses).

It checks what Koywe would: the password grant, the Bearer JWT and its expiry, the request schema,
the document type, the issue date and the line and document amounts (Koywe recomputes them: prices
before tax, totals including it). Koywe numbers each document type from its own sequence; DIAN's
validation is synchronous for Colombia, so a created document comes back accepted (status 3).
Any non-empty API credentials are accepted; an empty one is refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec
from litestar import Litestar, Request, Response, Router, get, post
from litestar.params import FromPath

from canonical import clock
from contracts import example, request_errors
from simulators.control import LedgerEntry, SimState, control_handlers

PROVIDER: Final = "koywe"
QUOTA_BODY: Final = example(PROVIDER, "documents.429")["body"]  # what the quota fault answers
BOGOTA: Final = ZoneInfo("America/Bogota")
DAYS_BACK: Final = 10  # ARCHITECTURE.md: issue dates from 10 days back to today
TOKEN_TTL_S: Final = 3600
CENT: Final = Decimal("0.01")
_WIRE: Final = msgspec.json.Encoder(decimal_format="number")

# document_type_id -> (schema definition, DIAN type code echoed as document_type_taxbureau, first number)
DOCUMENT_TYPES: Final[dict[str, tuple[str, str, int]]] = {
    "82": ("invoice", "01", 1040109),
    "83": ("credit_note", "91", 2001),
    "84": ("debit_note", "92", 3001),
    "87": ("pos_invoice", "20", 218),
    "88": ("pos_credit_note", "94", 101),
}


def _json(body: Any, status: int = 200) -> Response:
    return Response(content=_WIRE.encode(body), status_code=status, media_type="application/json")


def _documented(name: str) -> Response:
    sample = example(PROVIDER, name)
    return _json(sample["body"], sample["status"])


def _error(message: str, status: int = 400) -> Response:
    return _json({"error": message}, status)


def _r2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def amount_errors(body: dict[str, Any]) -> list[str]:
    """Koywe's arithmetic: net = quantity × unit_price + modifier, taxes on the net rounded per line,
    line total = net + taxes; totals are the sums."""
    problems: list[str] = []
    net_total = tax_total = Decimal(0)
    for i, detail in enumerate(body["details"]):
        gross = _r2(Decimal(detail["quantity"]) * Decimal(detail["unit_price"]))
        modifier = Decimal(detail.get("modifier_amount", 0))
        if detail.get("modifier_percentage"):
            modifier = _r2(gross * Decimal(detail["modifier_percentage"]) / 100)
        net = gross + modifier
        taxes = Decimal(0)
        for tax in detail.get("taxes", []):
            expected = _r2(net * Decimal(tax["tax_percentage"]) / 100)
            if Decimal(tax["tax_amount"]) != expected:
                problems.append(f"details[{i}].taxes: tax_amount {tax['tax_amount']} should be {expected}")
            taxes += Decimal(tax["tax_amount"])
        if "total_taxes" in detail and Decimal(detail["total_taxes"]) != taxes:
            problems.append(f"details[{i}].total_taxes should be {taxes}")
        if Decimal(detail["total_amount_line"]) != net + taxes:
            problems.append(f"details[{i}].total_amount_line should be {net + taxes}")
        net_total += net
        tax_total += taxes
    totals = body["totals"]
    if Decimal(totals["net_amount"]) != net_total:
        problems.append(f"totals.net_amount should be {net_total}")
    if Decimal(totals.get("taxes_amount", 0)) != tax_total:
        problems.append(f"totals.taxes_amount should be {tax_total}")
    if Decimal(totals["total_amount"]) != net_total + tax_total:
        problems.append(f"totals.total_amount should be {net_total + tax_total}")
    return problems


def _date_error(issue_date: str) -> str | None:
    today = clock.now(BOGOTA).date()
    if not today - dt.timedelta(days=DAYS_BACK) <= dt.date.fromisoformat(issue_date) <= today:
        return f"issue_date must be between {DAYS_BACK} days ago and today"
    return None


def _ubl(document_type: str, number: int, cufe: str, issue_date: str) -> bytes:
    """A stand-in for the signed UBL Koywe returns: root, number, CUFE, date."""
    root = (
        "CreditNote" if document_type in ("83", "88") else "DebitNote" if document_type == "84" else "Invoice"
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<{root} xmlns="urn:oasis:names:specification:ubl:schema:xsd:{root}-2"'
        ' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        f'<cbc:ID>{number}</cbc:ID><cbc:UUID schemeName="CUFE-SHA384">{cufe}</cbc:UUID>'
        f"<cbc:IssueDate>{issue_date}</cbc:IssueDate></{root}>"
    ).encode()


def _simplified(document: dict[str, Any]) -> dict[str, Any]:
    """The list form (openapi.json SimplifiedDocument): numbers as strings."""
    header, totals = document["header"], document["totals"]
    return {
        "document_id": str(document["document_id"]),
        "account_id": header.get("account_id"),
        "taxbureau_sending_status": str(header["taxbureau_send_status"]),
        "taxbureau_validation_status": str(header["taxbureau_validation_status"]),
        "issue_date": header["issue_date"],
        "document_number": str(header["document_number"]),
        "document_type_id": str(header["document_type_id"]),
        "issuer_tax_id_code": header.get("issuer_tax_id_code"),
        "issuer_tax_id_type": header.get("issuer_tax_id_type"),
        "receiver_legal_name": header.get("receiver_legal_name"),
        "receiver_tax_id_code": header.get("receiver_tax_id_code"),
        "receiver_tax_id_type": header.get("receiver_tax_id_type"),
        "document_status": header["document_status"],
        "currency_id": header.get("currency_id"),
        "received_issued_flag": 1,
        "net_amount": totals["net_amount"],
        "taxes_amount": totals["taxes_amount"],
        "total_amount": totals["total_amount"],
        "document_type_taxbureau": header["document_type_taxbureau"],
    }


def create_app(state: SimState) -> Litestar:
    tokens: dict[str, float] = {}  # access token -> expiry (monotonic)
    documents: dict[int, dict[str, Any]] = {}
    sequences = {type_id: first for type_id, (_, _, first) in DOCUMENT_TYPES.items()}
    next_id = [4839211]

    def authorised(request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and tokens.get(token.strip(), 0.0) > time.monotonic()

    @post("/auth", status_code=200)
    async def auth(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error("Invalid JSON body")
        if request_errors(PROVIDER, "auth", body):
            return _documented("auth.401")
        issued_at = int(time.time())
        claims = {
            "sub": body["username"],
            "client_id": body["client_id"],
            "iat": issued_at,
            "exp": issued_at + TOKEN_TTL_S,
        }
        token = f"{_b64url({'alg': 'HS256', 'typ': 'JWT'})}.{_b64url(claims)}.{secrets.token_urlsafe(24)}"
        tokens[token] = time.monotonic() + TOKEN_TTL_S
        answer = example(PROVIDER, "auth.200")["body"]
        answer.update(access_token=token, expires_in=TOKEN_TTL_S, refresh_token=secrets.token_hex(16))
        return _json(answer)

    @post("/documents", status_code=201)
    async def create(request: Request) -> Response:
        if not authorised(request):
            return _documented("documents.401")
        mode = state.next_fault(request)
        if refused := state.refusal(mode, QUOTA_BODY):
            return refused
        if mode == "reject":
            return _documented("documents.400")
        try:
            body = json.loads(await request.body(), parse_float=Decimal)
        except ValueError:
            return _error("Invalid JSON body")
        type_id = (
            str((body.get("header") or {}).get("document_type_id", "")) if isinstance(body, dict) else ""
        )
        if type_id not in DOCUMENT_TYPES:
            return _documented("documents.400")  # "Invalid document type ID"
        definition, taxbureau, _ = DOCUMENT_TYPES[type_id]
        errors = request_errors(PROVIDER, definition, body)
        if errors:
            path, messages = next(iter(errors.items()))
            return _error(f"{path or 'body'}: {messages[0]}")
        problem = _date_error(body["header"]["issue_date"]) or next(iter(amount_errors(body)), None)
        if problem:
            return _error(problem)
        document = issue(request, body, type_id, taxbureau)
        await state.after_issue(mode)
        return _json(document, 201)

    def issue(request: Request, body: dict[str, Any], type_id: str, taxbureau: str) -> dict[str, Any]:
        header = body["header"]
        document_id = next_id[0]
        next_id[0] += 1
        # invoices: the account's own DIAN range where it declared one (Koywe's document_number
        # is the consecutive without its prefix)
        declared = state.take_number(str(header.get("account_id") or "")) if type_id == "82" else None
        if declared is not None:
            number = declared[1]
        else:
            number = sequences[type_id]
            sequences[type_id] += 1
        cufe = hashlib.sha384(
            f"{type_id}{number}{header['issue_date']}{body['totals']['total_amount']}{document_id}".encode()
        ).hexdigest()
        xml = base64.b64encode(_ubl(type_id, number, cufe, header["issue_date"])).decode()
        answer = example(PROVIDER, "documents.201")["body"]
        answer["document_id"] = document_id
        answer["header"] = {
            **header,
            "document_type_id": int(type_id),
            "document_type_taxbureau": taxbureau,
            "document_number": number,
            "received_issued_flag": 1,
            "taxbureau_validation_status": 3,
            "taxbureau_validation_comments": "",
            "taxbureau_send_status": 1,
            "taxbureau_send_date": clock.now(BOGOTA).strftime("%Y-%m-%d %H:%M:%S"),
            "document_status": 1,
        }
        # Koywe echoes the details with numbers as strings (examples/documents.201)
        answer["details"] = [
            {k: str(v) if isinstance(v, (int, Decimal)) else v for k, v in d.items()} for d in body["details"]
        ]
        answer["references"] = body.get("references", [])
        answer["totals"] = body["totals"]
        pdf = (
            "" if type_id in ("87", "88") else base64.b64encode(b"%PDF-1.4 simulated\n").decode()
        )  # POS: XML only
        answer["electronic_document"] = {"document_xml": xml, "document_pdf": pdf, "stamp_img": ""}
        answer["_links"] = {
            "self": {"href": f"{str(request.base_url).rstrip('/')}/V1/documents/{document_id}"}
        }
        documents[document_id] = answer
        state.issue(
            LedgerEntry(
                reference=str(document_id),
                number=str(number),
                fiscal_id=cufe,
                kind=DOCUMENT_TYPES[type_id][0],
                payload=body,
            )
        )
        return answer

    @get("/documents/{document_id:int}", sync_to_thread=False)
    def read(request: Request, document_id: FromPath[int]) -> Response:
        if not authorised(request):
            return _documented("documents.401")
        if document_id not in documents:
            return _documented("document.404")
        return _json(documents[document_id])

    @get("/documents", sync_to_thread=False)
    def search(request: Request) -> Response:
        if not authorised(request):
            return _documented("documents.401")
        q = request.query_params
        found = [
            _simplified(d)
            for d in documents.values()
            if (not q.get("issue_date_from") or d["header"]["issue_date"] >= q["issue_date_from"])
            and (not q.get("issue_date_to") or d["header"]["issue_date"] <= q["issue_date_to"])
            and (
                not q.get("document_type_id") or str(d["header"]["document_type_id"]) == q["document_type_id"]
            )
            and (
                not q.get("receiver_tax_id_code")
                or d["header"].get("receiver_tax_id_code") == q["receiver_tax_id_code"]
            )
            and (
                not q.get("min_total_amount")
                or Decimal(d["totals"]["total_amount"]) >= Decimal(q["min_total_amount"])
            )
            and (
                not q.get("max_total_amount")
                or Decimal(d["totals"]["total_amount"]) <= Decimal(q["max_total_amount"])
            )
        ]
        per_page, page = max(int(q.get("per_page", 10)), 1), max(int(q.get("page", 1)), 1)
        self_url = str(request.url)
        return _json(
            {
                "_links": {"self": self_url, "first": self_url, "last": self_url, "next": ""},
                "documents": found[(page - 1) * per_page : page * per_page],
                "page_count": -(-len(found) // per_page),
                "page_size": per_page,
                "total_items": len(found),
                "page": page,
            }
        )

    api = Router(path="/V1", route_handlers=[auth, create, read, search])
    return Litestar(route_handlers=[api, *control_handlers(state)])
