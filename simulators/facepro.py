"""FacEPro Cloud simulator: the documented `/api/v1` endpoints, answering from
`contracts/facepro/` (request schema, example responses).

Each Bearer token is one company: documents issued with one token are invisible to another (404,
"no pertenece a tu empresa"). FacEPro numbers documents itself: SETP from 990000001 for invoices,
NC / ND from 1 for notes (assumed prefixes), one counter per company and kind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec
from litestar import Litestar, Request, Response, Router, get, post
from litestar.params import FromPath

from canonical import clock
from contracts import example, request_errors
from simulators.control import LedgerEntry, SimState, control_handlers

PROVIDER: Final = "facepro"
QUOTA_BODY: Final = example(PROVIDER, "emit.429")["body"]  # what the quota fault answers
BOGOTA: Final = ZoneInfo("America/Bogota")
DAYS_BACK: Final = 10  # ARCHITECTURE.md: issue dates from 10 days back to today
_WIRE: Final = msgspec.json.Encoder(decimal_format="number")
CENT: Final = Decimal("0.01")

# endpoint -> (tipo_documento, prefix, first consecutive)
ENDPOINTS: Final[dict[str, tuple[str, str, int]]] = {
    "documentos": ("factura", "SETP", 990000001),
    "notas-credito": ("nota_credito", "NC", 1),
    "notas-debito": ("nota_debito", "ND", 1),
}


def _json(body: Any, status: int = 200) -> Response:
    return Response(content=_WIRE.encode(body), status_code=status, media_type="application/json")


def _documented(name: str) -> Response:
    """A documented response, exactly as in contracts/facepro/examples/<name>.json."""
    sample = example(PROVIDER, name)
    return _json(sample["body"], sample["status"])


def _token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _r2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class Company:
    """One token's documents and counters."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.next_number = {name: first for name, (_, _, first) in ENDPOINTS.items()}


def _totals(lineas: list[dict[str, Any]]) -> dict[str, Decimal]:
    subtotal = iva = Decimal(0)
    for linea in lineas:
        gross = _r2(Decimal(linea["cantidad"]) * Decimal(linea["precio"]))
        if "descuento_valor" in linea:
            discount = _r2(Decimal(linea["descuento_valor"]))
        else:
            discount = _r2(gross * Decimal(linea.get("descuento_pct", 0)) / 100)
        net = gross - discount
        subtotal += net
        iva += _r2(net * Decimal(linea["iva_pct"]) / 100)
    return {"subtotal": subtotal, "iva": iva, "total": subtotal + iva}


def _date_errors(body: dict[str, Any]) -> dict[str, list[str]]:
    fecha = (body.get("factura") or {}).get("fecha")
    if not fecha:
        return {}
    today = clock.now(BOGOTA).date()
    if not today - dt.timedelta(days=DAYS_BACK) <= dt.date.fromisoformat(fecha) <= today:
        return {"factura.fecha": [f"La fecha de emisión debe estar entre {DAYS_BACK} días atrás y hoy."]}
    return {}


def create_app(state: SimState) -> Litestar:
    companies: dict[str, Company] = {}

    def company(request: Request) -> Company | None:
        token = _token(request)
        return companies.setdefault(token, Company()) if token else None

    def issue(request: Request, endpoint: str, who: Company, body: dict[str, Any]) -> dict[str, Any]:
        tipo, prefix, _ = ENDPOINTS[endpoint]
        declared = state.take_number(_token(request) or "") if endpoint == "documentos" else None
        if declared is not None:  # the account's own DIAN range (its portal setting)
            prefix, consecutivo = declared
        else:
            consecutivo = who.next_number[endpoint]
            who.next_number[endpoint] += 1
        tracking_id = str(uuid.uuid4())
        numero = f"{prefix}{consecutivo}"
        factura = body.get("factura") or {}
        now = clock.now(BOGOTA)
        fecha = factura.get("fecha") or now.date().isoformat()
        hora = factura.get("hora") or now.strftime("%H:%M:%S-05:00")
        totales = _totals(body["lineas"])
        cufe = hashlib.sha384(f"{numero}{fecha}{hora}{totales['total']}{tracking_id}".encode()).hexdigest()
        self_url = f"{str(request.base_url).rstrip('/')}/api/v1/documentos/{tracking_id}"
        resource = {
            "tracking_id": tracking_id,
            "numero_completo": numero,
            "tipo_documento": tipo,
            "prefijo": prefix,
            "consecutivo": consecutivo,
            "fecha_emision": f"{fecha}T{hora}",
            "adquirente": {
                "documento": body["adquiriente"]["numero_documento"],
                "razon_social": body["adquiriente"]["razon_social"],
            },
            "totales": totales,
            "cufe": cufe,
            "zip_key": hashlib.sha1(tracking_id.encode()).hexdigest(),
            "estado": "aceptado",
            "estado_dian_codigo": "00",
            "estado_dian_mensaje": "Procesado correctamente",
            "links": {"self": self_url, "consultar": f"{self_url}/consultar", "xml": f"{self_url}/xml"},
        }
        who.documents[tracking_id] = resource
        state.issue(
            LedgerEntry(reference=tracking_id, number=numero, fiscal_id=cufe, kind=tipo, payload=body)
        )
        return resource

    def emission(endpoint: str):
        @post(f"/{endpoint}", name=f"facepro-{endpoint}")
        async def handler(request: Request) -> Response:
            who = company(request)
            if who is None:
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
                    {"ok": False, "error": "Datos invalidos", "errors": {"": ["JSON inválido."]}}, 422
                )
            errors = request_errors(PROVIDER, endpoint, body) or _date_errors(body)
            if errors:
                return _json({"ok": False, "error": "Datos invalidos", "errors": errors}, 422)
            resource = issue(request, endpoint, who, body)
            await state.after_issue(mode)
            return _json({"ok": True, "data": resource}, 201)

        return handler

    @get("/health", sync_to_thread=False)
    def health() -> Response:
        return _documented("health.200")

    @get("/me", sync_to_thread=False)
    def me(request: Request) -> Response:
        return _documented("me.200") if company(request) else _documented("me.401")

    @get("/documentos", sync_to_thread=False)
    def list_documents(request: Request) -> Response:
        who = company(request)
        if who is None:
            return _documented("emit.401")
        q = request.query_params
        try:
            per_page = min(max(int(q.get("per_page", 20)), 1), 100)
            page = max(int(q.get("page", 1)), 1)
        except ValueError:
            return _json(
                {"ok": False, "error": "Datos invalidos", "errors": {"page": ["Debe ser un entero."]}}, 422
            )
        found = [
            d
            for d in who.documents.values()
            if (not q.get("estado") or d["estado"] == q["estado"])
            and (not q.get("desde") or d["fecha_emision"][:10] >= q["desde"])
            and (not q.get("hasta") or d["fecha_emision"][:10] <= q["hasta"])
        ]
        items = found[(page - 1) * per_page : page * per_page]
        last_page = max(1, -(-len(found) // per_page))
        meta = {"current_page": page, "per_page": per_page, "total": len(found), "last_page": last_page}
        return _json({"ok": True, "data": items, "meta": meta})

    def owned(request: Request, tracking_id: str) -> tuple[Response | None, dict[str, Any] | None]:
        who = company(request)
        if who is None:
            return _documented("emit.401"), None
        if tracking_id not in who.documents:
            return _documented("consultar.404"), None
        return None, who.documents[tracking_id]

    @get("/documentos/{tracking_id:str}", sync_to_thread=False)
    def document(request: Request, tracking_id: FromPath[str]) -> Response:
        # The detail is the bare resource: the docs' examples read `doc.estado` (documento.200.json).
        error, resource = owned(request, tracking_id)
        return error or _json(resource)

    @get("/documentos/{tracking_id:str}/consultar", sync_to_thread=False)
    def consultar(request: Request, tracking_id: FromPath[str]) -> Response:
        error, resource = owned(request, tracking_id)
        if error:
            return error
        dian = {
            "is_valid": True,
            "status_code": "00",
            "status_description": "Procesado correctamente",
            "errors": [],
        }
        return _json({"ok": True, "documento": resource, "dian": dian})

    @get("/documentos/{tracking_id:str}/xml", sync_to_thread=False)
    def xml(request: Request, tracking_id: FromPath[str]) -> Response:
        error, resource = owned(request, tracking_id)
        if error:
            return error
        return Response(content=_ubl(resource), media_type="application/xml")

    api = Router(
        path="/api/v1",
        route_handlers=[
            health,
            me,
            list_documents,
            document,
            consultar,
            xml,
            *(emission(endpoint) for endpoint in ENDPOINTS),
        ],
    )
    return Litestar(route_handlers=[api, *control_handlers(state)])


_ROOTS: Final = {"factura": "Invoice", "nota_credito": "CreditNote", "nota_debito": "DebitNote"}


def _ubl(resource: dict[str, Any]) -> bytes:
    """A stand-in for the signed UBL: the root element, number, CUFE and issue date."""
    root = _ROOTS[resource["tipo_documento"]]
    fecha, hora = resource["fecha_emision"].split("T")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<{root} xmlns="urn:oasis:names:specification:ubl:schema:xsd:{root}-2"'
        f' xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        f"<cbc:ID>{resource['numero_completo']}</cbc:ID>"
        f'<cbc:UUID schemeName="CUFE-SHA384">{resource["cufe"]}</cbc:UUID>'
        f"<cbc:IssueDate>{fecha}</cbc:IssueDate><cbc:IssueTime>{hora}</cbc:IssueTime>"
        f"</{root}>"
    ).encode()
