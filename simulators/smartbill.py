"""SmartBill simulator: the documented routes under /v1, answering with our reading of the response
shape (contracts/smartbill/README.md), and doing what SmartBill does with a factura: it builds the
MH DTE with `canonical.sv_dte` from the simplified request (IVA-inclusive prices, its own 1 % and
10 % retentions), checks it against Hacienda's official schema (contracts/sv-dte/), numbers and
seals it. The issued DTE (ledger, get-json) is what the contract tests compare with our totals.

Never imports `adapters`: the request is read here independently of how the adapter writes it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import secrets
from decimal import Decimal
from functools import cache
from typing import Any, Final
from zoneinfo import ZoneInfo

import jsonschema
import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath

import contracts
from canonical import clock
from canonical.catalogs import TIME_ZONES, UNITS_MH
from canonical.document import (
    Address,
    Adjustment,
    Document,
    Issuer,
    Line,
    LineDiscount,
    Party,
    Payment,
    TaxRate,
    Withholding,
)
from canonical.errors import InvalidDocument
from canonical.sv_dte import SCHEMA_FILES, build_dte, codigo_generacion, dte_json, numero_control
from canonical.totals import compute_totals
from simulators.control import FaultMode, LedgerEntry, SimState, control_handlers

PROVIDER: Final = "smartbill"
EL_SALVADOR: Final = ZoneInfo(TIME_ZONES["SV"])

# The business behind the simulator's keys (SmartBill holds the emisor data; a key = one location).
BUSINESS: Final = Issuer(
    country="SV",
    party_type="company",
    id_type="NIT",
    id_number="06142803901121",
    nrc="2345678",
    name="Negocio de Prueba SmartBill S.A. de C.V.",
    trade_name="Negocio de Prueba",
    economic_activity="47190",
    establishment="M001",
    point_of_sale="P000",
    email="dte@negocio.example",
    phone="22001100",
    address=Address(
        line="Calle de Prueba 1, San Salvador", department_code="06", city_code="14", country="SV"
    ),
)
DEFAULT_POINT_OF_SALE: Final = "P000"  # provider-docs: transmitterCode replaces P000

# SmartBill's vocabulary -> canonical, read from the provider's pages (not from the adapter)
ID_TYPES: Final = {
    "nit": "NIT",
    "dui": "DUI",
    "pasaporte": "PASSPORT",
    "carnetResidente": "RESIDENT_CARD",
    "otro": "OTHER",
}
TREATMENTS: Final = {"gravada": "taxed", "exenta": "exempt", "nosuj": "not_subject"}
ITEM_TYPES: Final = {"bien": "good", "servicio": "service", "ambos": "both"}
PAYMENT_FORMS: Final = {"contado": "cash", "credito": "credit"}
DAYS_PER: Final = {"day": 1, "month": 30, "year": 365}  # MH plazo in days; months and years approximated
UNECE_BY_MH: Final = {mh: unece for unece, mh in reversed(UNITS_MH.items())}  # 59 -> 94 (unit)
OTHER_UNIT: Final = "ZZ"  # UN/ECE "mutually defined": MH 99
IVA: Final = TaxRate(tax="IVA", rate=Decimal(13))
IVA_RETENTION_BY: Final = "grande"
RENTA_RATE: Final = Decimal(10)  # provider-docs: retainsRenta withholds 10 %

TRANSMITTER_PREFIX: Final = "transmitter"  # simulator convention: such a public key has that role

TIPO_FACTURA: Final = "01"
TIPO_CCF: Final = "03"
TIPO_NC: Final = "05"

_wire = msgspec.json.Encoder(decimal_format="number")


def create_app(state: SimState) -> Litestar:
    sequences = {tipo: itertools.count(1) for tipo in (TIPO_FACTURA, TIPO_NC)}

    def refusal(mode: FaultMode) -> Response | None:
        """down and quota answer with SmartBill's documented 503 and 429 (state.refusal's generic
        bodies would not be SmartBill's), before the DTE is taken."""
        if mode == "down":
            return _example("factura.503")
        if mode == "quota":
            return _example("factura.429", retry_after=state.settings.retry_after_s)
        return None

    async def processed(
        request: Request,
        mode: FaultMode,
        tipo: str,
        code: str,
        numero: str,
        body: Any,
        *,
        dte: Any,
        total: Any,
    ) -> Response:
        """A DTE Hacienda sealed: in the ledger, then SmartBill's 200 PROCESADO answer (after the
        slow/hang fault, so that the document exists whatever the client sees)."""
        seal = _seal()
        payload = {"request": body, "dte": dte, "estado": "PROCESADO", "sello": seal, "total": total}
        state.issue(LedgerEntry(reference=code, number=numero, fiscal_id=code, kind=tipo, payload=payload))
        await state.after_issue(mode)
        return _answer(
            200,
            "PROCESADO",
            code=code,
            numero=numero,
            seal=seal,
            message="RECIBIDO",
            urls=_urls(request, code),
        )

    @post("/v1/dte/factura", status_code=200)
    async def factura(request: Request) -> Response:
        if denied := _auth(request):
            return denied
        mode = state.next_fault(request)
        if refused := refusal(mode):
            return refused
        body, invalid = await _request(request, "factura")
        if invalid:
            return invalid
        dte_request = body["dteJson"]
        point_of_sale = _point_of_sale(dte_request.get("transmitterCode"))
        sequence = next(sequences[TIPO_FACTURA])
        code = codigo_generacion()
        numero = numero_control(TIPO_FACTURA, BUSINESS.establishment, point_of_sale, sequence)
        if mode == "reject":
            return _rejected(code, numero, _example_body("factura.400.rechazado")["observaciones"])
        try:
            doc = _document(dte_request)
            issuer = msgspec.structs.replace(BUSINESS, point_of_sale=point_of_sale)
            dte = build_dte(doc, compute_totals(doc), issuer, sequence=sequence, codigo=code)
        except InvalidDocument as exc:
            return _rejected(code, numero, [f"[{e.path}] {e.message}" for e in exc.errors])
        if problems := dte_schema_errors(dte):
            return _rejected(code, numero, problems)  # what Hacienda's reception would refuse
        return await processed(
            request, mode, TIPO_FACTURA, code, numero, body, dte=dte, total=dte["resumen"]["totalPagar"]
        )

    @post("/v1/dte/credit-note", status_code=200)
    async def credit_note(request: Request) -> Response:
        if denied := _auth(request):
            return denied
        mode = state.next_fault(request)
        if refused := refusal(mode):
            return refused
        body, invalid = await _request(request, "credit-note")
        if invalid:
            return invalid
        note = body["dteJson"]
        related = state.issued(note["documentRelated"])
        # provider-docs: documentRelated is a *processed CCF*, and amount at most its total
        if related is None or related.kind != TIPO_CCF or related.payload.get("estado") != "PROCESADO":
            return _example(
                "credit-note.400", observaciones=[f"dteJson.documentRelated: {note['documentRelated']}"]
            )
        if note["amount"] > Decimal(str(related.payload["total"])):
            return _answer(
                400,
                "ERROR",
                message="El monto excede el total del Comprobante de Crédito Fiscal",
                observaciones=[f"dteJson.amount: {note['amount']} > {related.payload['total']}"],
            )
        if mode == "reject":
            return _rejected(None, None, _example_body("factura.400.rechazado")["observaciones"])
        code = codigo_generacion()
        numero = numero_control(
            TIPO_NC, BUSINESS.establishment, DEFAULT_POINT_OF_SALE, next(sequences[TIPO_NC])
        )
        # No canonical NC mapping yet: the simulator keeps the request, not a DTE, for notes.
        return await processed(request, mode, TIPO_NC, code, numero, body, dte=None, total=note["amount"])

    @post("/v1/dte/invalidate", status_code=200)
    async def invalidate(request: Request) -> Response:
        if denied := _auth(request):
            return denied
        if request.headers.get("x-smartbill-public-key", "").startswith(TRANSMITTER_PREFIX):
            return _example("invalidate.403")
        body, invalid = await _request(request, "invalidate")
        if invalid:
            return invalid
        entry = state.issued(body["body"]["document"])
        if entry is None:
            return _example("get-json.404")
        if entry.payload["estado"] == "INVALIDADO":
            return _answer(
                400,
                "RECHAZADO",
                code=entry.reference,
                numero=entry.number,
                message="RECHAZADO POR HACIENDA",
                observaciones=_example_body("invalidate.400")["observaciones"],
            )
        entry.payload["estado"] = "INVALIDADO"
        return _answer(
            200,
            "INVALIDADO",
            code=entry.reference,
            numero=entry.number,
            seal=_seal(),
            message="Invalidación Recibida y Procesada",
        )

    @post("/v1/dte/get-json", status_code=200)
    async def get_json(request: Request) -> Response:
        if denied := _auth(request):
            return denied
        body, invalid = await _request(request, "get-json")
        if invalid:
            return invalid
        entry = state.issued(body["body"]["document"])
        if entry is None:
            return _example("get-json.404")
        return _stored(entry)

    @get("/v1/public/dte/{code:str}/json")
    async def public_json(code: FromPath[str]) -> Response:
        entry = state.issued(code)
        if entry is None or entry.payload.get("dte") is None:
            return _example("get-json.404")
        return Response(content=dte_json(entry.payload["dte"]), media_type="application/json")

    return Litestar(
        route_handlers=[*control_handlers(state), factura, credit_note, invalidate, get_json, public_json],
        debug=False,
    )


# -- reading the request ----------------------------------------------------------------------------


def _document(dte_request: dict[str, Any]) -> Document:
    """SmartBill's simplified factura -> the canonical document it stands for: prices include IVA,
    a "grande" receptor has the 1 % IVA retained, `retainsRenta` 10 % renta, `propina` a tip."""
    now = clock.now(EL_SALVADOR)
    receptor = dte_request["receptor"]
    customer = None if receptor == "Others" else _party(receptor)
    payment = dte_request.get("payment")
    return Document(
        country="SV",
        kind="invoice",
        lines=[_line(p) for p in dte_request["products"]],
        issue_date=now.date(),
        issue_time=now.time().replace(microsecond=0),
        currency="USD",
        prices_include_tax=True,
        customer=customer,
        charges=[Adjustment(reason="Propina", amount=_dec(dte_request["propina"]), kind="tip")]
        if dte_request.get("propina")
        else [],
        withholdings=[Withholding(tax="Renta", rate=RENTA_RATE)]
        if isinstance(receptor, dict) and receptor.get("retainsRenta")
        else [],
        payment=_payment(payment, now.date()) if payment else None,
    )


def _party(receptor: dict[str, Any]) -> Party:
    address = receptor.get("address")
    return Party(
        name=receptor["name"],
        party_type="person" if receptor["documentType"] == "dui" else "company",
        id_type=ID_TYPES[receptor["documentType"]],
        id_number=receptor["identification"],
        email=receptor.get("email"),
        phone=receptor.get("phone"),
        large_taxpayer=receptor.get("taxPayerType") == IVA_RETENTION_BY,
        address=Address(
            line=address["details"],
            department_code=address["departament"],
            city_code=address["town"],
            country="SV",
        )
        if address
        else None,
    )


def _line(product: dict[str, Any]) -> Line:
    unit = product.get("unit")
    discount = product.get("descuAmount")
    treatment = TREATMENTS[product["sellType"]]
    return Line(
        description=product["description"],
        quantity=_dec(product["quantity"]),
        unit_price=_dec(product["unitPrice"]),
        unit=UNECE_BY_MH.get(f"{unit:02d}", OTHER_UNIT) if unit is not None else "94",
        discount=LineDiscount(amount=_dec(discount)) if discount else None,
        taxes=[IVA] if treatment == "taxed" else [],
        tax_treatment=treatment,
        item_type=ITEM_TYPES[product["itemType"]],
    )


def _payment(payment: dict[str, Any], today: dt.date) -> Payment:
    form = PAYMENT_FORMS.get(payment.get("type", "contado"), "cash")
    due = None
    if form == "credit" and payment.get("duration"):
        due = today + dt.timedelta(days=payment["duration"] * DAYS_PER[payment.get("timeFormat", "day")])
    return Payment(form=form, due_date=due)


def _point_of_sale(transmitter_code: int | None) -> str:
    return DEFAULT_POINT_OF_SALE if transmitter_code is None else f"P{transmitter_code:03d}"


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


@cache
def _dte_validator(tipo: str) -> jsonschema.Draft7Validator:
    schema = contracts.load_json("sv-dte", SCHEMA_FILES[tipo])
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def dte_schema_errors(dte: dict[str, Any]) -> list[str]:
    """Hacienda's schema check, on the DTE as it would travel (numbers parsed as Decimal)."""
    instance = json.loads(dte_json(dte), parse_float=Decimal)
    validator = _dte_validator(instance["identificacion"]["tipoDte"])
    return [f"[{'.'.join(map(str, e.absolute_path))}] {e.message}" for e in validator.iter_errors(instance)]


async def _request(request: Request, name: str) -> tuple[Any, Response | None]:
    """The parsed body, or SmartBill's validation error (examples/factura.400.validacion.json)."""
    try:
        body = json.loads(await request.body(), parse_float=Decimal)
    except ValueError:
        return None, _validation(["body: not valid JSON"])
    errors = contracts.request_errors(PROVIDER, name, body)
    if errors:
        return None, _validation(
            [f"{path or 'body'}: {m}" for path, messages in errors.items() for m in messages]
        )
    return body, None


# -- answering --------------------------------------------------------------------------------------


def _auth(request: Request) -> Response | None:
    if request.headers.get("x-smartbill-public-key") and request.headers.get("x-smartbill-private-key"):
        return None
    return _example("factura.401")


def _answer(
    status: int,
    estado: str,
    *,
    code: str | None = None,
    numero: str | None = None,
    seal: str | None = None,
    message: str,
    observaciones: list[str] | None = None,
    urls: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Every answer has the same keys (README.md: success and error share one structure)."""
    body = {
        "estado": estado,
        "codigoGeneracion": code,
        "numeroControl": numero,
        "selloRecibido": seal,
        "fhProcesamiento": clock.now(EL_SALVADOR).strftime("%d/%m/%Y %H:%M:%S") if code else None,
        "descripcionMsg": message,
        "observaciones": observaciones or [],
        "urls": urls,
        **extra,
    }
    return Response(content=_wire.encode(body), status_code=status, media_type="application/json")


def _rejected(code: str | None, numero: str | None, observaciones: list[str]) -> Response:
    return _answer(
        400,
        "RECHAZADO",
        code=code,
        numero=numero,
        message="RECHAZADO POR HACIENDA",
        observaciones=observaciones,
    )


def _validation(observaciones: list[str]) -> Response:
    return _answer(
        400,
        "ERROR",
        message=_example_body("factura.400.validacion")["descripcionMsg"],
        observaciones=observaciones,
    )


def _stored(entry: LedgerEntry) -> Response:
    p = entry.payload
    return _answer(
        200,
        p["estado"],
        code=entry.reference,
        numero=entry.number,
        seal=p["sello"],
        message="RECIBIDO",
        json=p.get("dte"),
    )


def _example(name: str, *, retry_after: int | None = None, **changes: Any) -> Response:
    """A documented answer from contracts/smartbill/examples/, as recorded."""
    recorded = contracts.example(PROVIDER, name)
    headers = dict(recorded.get("headers") or {})
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Response(
        content=_wire.encode({**recorded["body"], **changes}),
        status_code=recorded["status"],
        headers=headers,
        media_type="application/json",
    )


def _example_body(name: str) -> dict[str, Any]:
    return contracts.example(PROVIDER, name)["body"]


def _urls(request: Request, code: str) -> dict[str, str]:
    return {"json": f"{str(request.base_url).rstrip('/')}/v1/public/dte/{code}/json"}


def _seal() -> str:
    """selloRecibido: 40 upper-case alphanumerics starting with the year (research/sv.md §4.3)."""
    return f"{clock.now(EL_SALVADOR).year}{secrets.token_hex(18).upper()}"
