"""SmartApp simulator: the quickstart's emission and status endpoints, answering from
`contracts/smartapp/` (request schema, example responses) and enforcing exactly what the
documentation shows.

SmartApp numbers invoices itself (SETP from 990000001 per API key, assumed); the number appears only
in the signed XML, as in the documented answer, which has none. xml_url / pdf_url are served without
the API key (pre-signed style, assumed).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any, Final

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath

from contracts import example, request_errors
from simulators.control import LedgerEntry, SimState, control_handlers

PROVIDER: Final = "smartapp"
QUOTA_BODY: Final = example(PROVIDER, "emit.429")["body"]  # what the quota fault answers
PREFIX: Final = "SETP"
FIRST_NUMBER: Final = 990000001
_WIRE: Final = msgspec.json.Encoder(decimal_format="number")


def _json(body: Any, status: int = 200) -> Response:
    return Response(content=_WIRE.encode(body), status_code=status, media_type="application/json")


def _documented(name: str) -> Response:
    """A documented (or assumed, see README.md) response from contracts/smartapp/examples/."""
    sample = example(PROVIDER, name)
    return Response(
        content=_WIRE.encode(sample["body"]),
        status_code=sample["status"],
        media_type="application/json",
        headers=sample["headers"],
    )


def _api_key(request: Request) -> str | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return key.strip() or None


def create_app(state: SimState) -> Litestar:
    invoices: dict[str, dict[str, Any]] = {}  # cufe -> {"key", "number", "answer"}
    next_number: dict[str, int] = {}

    def issue(request: Request, key: str, body: dict[str, Any]) -> dict[str, Any]:
        declared = state.take_number(key)  # the account's own DIAN range, where it declared one
        if declared is not None:
            numero = f"{declared[0]}{declared[1]}"
        else:
            number = next_number.get(key, FIRST_NUMBER)
            next_number[key] = number + 1
            numero = f"{PREFIX}{number}"
        track_id = uuid.uuid4().hex
        cufe = hashlib.sha384(f"{numero}{track_id}{key}".encode()).hexdigest()
        files = f"{str(request.base_url).rstrip('/')}/files/{cufe}"
        answer = {
            "success": True,
            "cufe": cufe,
            "xml_url": f"{files}.xml",
            "pdf_url": f"{files}.pdf",
            "status": "accepted",
            "dian_response": {
                "track_id": track_id,
                "status": "accepted",
                "status_message": "Documento validado correctamente",
            },
        }
        invoices[cufe] = {"key": key, "number": numero, "answer": answer}
        state.issue(LedgerEntry(reference=cufe, number=numero, fiscal_id=cufe, kind="invoice", payload=body))
        return answer

    @post("/api/v1/service/invoice")
    async def emit_invoice(request: Request) -> Response:
        key = _api_key(request)
        if key is None:
            return _documented("emit.401")
        mode = state.next_fault(request)
        if refused := state.refusal(mode, QUOTA_BODY):
            return refused
        if mode == "reject":
            return _documented("emit.422")
        try:
            body = json.loads(await request.body(), parse_float=Decimal)
        except ValueError:
            return _json(
                {"success": False, "message": "Validation failed", "errors": {"": ["Invalid JSON."]}}, 422
            )
        errors = request_errors(PROVIDER, "invoice", body)
        if errors:
            return _json({"success": False, "message": "Validation failed", "errors": errors}, 422)
        answer = issue(request, key, body)
        await state.after_issue(mode)
        return _json(answer)

    @get("/v1/billing/status/{process_id:str}", sync_to_thread=False)
    def billing_status(request: Request, process_id: FromPath[str]) -> Response:
        key = _api_key(request)
        if key is None:
            return _documented("emit.401")
        invoice = invoices.get(process_id)
        if invoice is None or invoice["key"] != key:
            return _documented("status.404")
        return _json(invoice["answer"])

    @get("/files/{filename:str}", sync_to_thread=False)
    def download(filename: FromPath[str]) -> Response:
        cufe, _, extension = filename.partition(".")
        invoice = invoices.get(cufe)
        if invoice is None or extension not in ("xml", "pdf"):
            return _documented("status.404")
        if extension == "pdf":
            return Response(content=_pdf(invoice["number"]), media_type="application/pdf")
        return Response(content=_ubl(invoice["number"], cufe), media_type="application/xml")

    return Litestar(route_handlers=[emit_invoice, billing_status, download, *control_handlers(state)])


def _ubl(number: str, cufe: str) -> bytes:
    """A stand-in for the signed UBL: number and CUFE where DIAN's Invoice has them."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"'
        ' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        f'<cbc:ID>{number}</cbc:ID><cbc:UUID schemeName="CUFE-SHA384">{cufe}</cbc:UUID></Invoice>'
    ).encode()


def _pdf(number: str) -> bytes:
    return f"%PDF-1.4\n% SmartApp simulator: factura {number}\n%%EOF\n".encode()
