"""FacEPro Cloud (CDP Consultores): REST JSON with a Bearer token. FacEPro numbers the document,
builds and signs the UBL, computes the CUFE and sends it to DIAN, answering with the DIAN state.

Contract: `contracts/facepro/` (request.schema.json, examples/, README.md with the assumptions).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Final, Literal
from zoneinfo import ZoneInfo

import httpx
import msgspec

from adapters.base import (
    Account,
    Adapter,
    Ambiguous,
    Authority,
    Emission,
    Health,
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
from adapters.wire import cannot_tell, compared, dian_error, laravel_errors, number, sole_match, text
from canonical import catalogs as cat
from canonical import clock
from canonical.document import Document, Party
from canonical.totals import LineTotals


class FaceProCredentials(msgspec.Struct, kw_only=True):
    token: Annotated[str, msgspec.Meta(min_length=1)]  # "Tokens API" in the portal, "<id>|<secret>"


# -- code tables (canonical -> FacEPro) -------------------------------------------------------------

ENDPOINTS: Final[dict[str, str]] = {
    "invoice": "/documentos",
    "credit_note": "/notas-credito",
    "debit_note": "/notas-debito",
}

# `tipo_documento` in FacEPro's document resource; only "factura" is shown (examples/emit.201.json),
# the note values are assumed (README.md).
DOCUMENT_TYPES: Final[dict[str, str]] = {
    "invoice": "factura",
    "credit_note": "nota_credito",
    "debit_note": "nota_debito",
}

# motivo.codigo with FacEPro's own wording as the default descripcion. FacEPro's credit table is not
# DIAN's order: 5 = Otros, 6 = Devolución total (provider-docs, "Motivo nota crédito").
REASONS: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "credit_note": {
        "partial_return": ("1", "Devolución parcial de bienes y/o no aceptación parcial del servicio"),
        "annulment": ("2", "Anulación de factura electrónica"),
        "discount": ("3", "Rebaja o descuento parcial o total"),
        "price_adjustment": ("4", "Ajuste de precios"),
        "other": ("5", "Otros"),
        "full_return": ("6", "Devolución total de bienes y/o no aceptación total del servicio"),
    },
    "debit_note": {
        "interest": ("1", "Intereses"),
        "expenses": ("2", "Gastos por cobrar"),
        "value_change": ("3", "Cambio del valor"),
        "other": ("4", "Otros"),
    },
}

# estado -> Outcome.status. "fallido" means FacEPro could not get an answer from DIAN: the document
# exists at FacEPro with its number, so it stays pending and /consultar re-asks DIAN (README.md).
STATUSES: Final[dict[str, Literal["accepted", "rejected", "pending"]]] = {
    "aceptado": "accepted",
    "rechazado": "rejected",
    "pendiente": "pending",
    "fallido": "pending",
}

# HTTP status -> failure class (provider-docs, "Códigos de error"), over adapters.http defaults.
STATUS_CLASSES: Final[Mapping[int, type[ProviderFailure]]] = {
    401: Misconfigured,  # token invalid or missing
    403: Misconfigured,  # permiso_no_concedido: this kind is not enabled for the company
    404: Misconfigured,  # documented for unknown tracking ids (handled apart); on a POST: wrong base_url
    422: Rejected,  # datos inválidos, field errors in `errors`
    429: Unavailable,  # quota_excedida for the period
    500: Ambiguous,  # "El cuerpo trae el detalle": after a POST the document may exist
}

DEFAULT_RESPONSIBILITY: Final = "R-99-PN"  # DIAN "no aplica - otros", FacEPro's documented default
BOGOTA: Final = ZoneInfo(cat.TIME_ZONES["CO"])
UTC_OFFSET: Final = "-05:00"  # Colombia has no daylight saving time
COLOMBIA: Final = dt.timezone(dt.timedelta(hours=-5))
SEARCH_PAGE: Final = 100  # per_page maximum (provider-docs, "Listar documentos")
SEARCH_PAGES_MAX: Final = 50
NOT_FOUND: Final = {"codigo": "no_encontrado"}  # examples/consultar.404: the documented "not found"

CUSTOMER_FIELDS: Final[dict[str, str]] = {
    "tipo_persona": "customer.party_type",
    "tipo_documento": "customer.id_type",
    "numero_documento": "customer.id_number",
    "dv": "customer.check_digit",
    "razon_social": "customer.name",
    "responsabilidad_fiscal": "customer.tax_responsibilities",
    "email": "customer.email",
    "direccion": "customer.address.line",
    "codigo_municipio": "customer.address.city_code",
    "codigo_departamento": "customer.address.department_code",
}
LINE_FIELDS: Final[dict[str, str]] = {
    "codigo": "code",
    "descripcion": "description",
    "cantidad": "quantity",
    "unidad": "unit",
    "precio": "unit_price",
    "iva_pct": "taxes",
    "descuento_pct": "discount",
    "descuento_valor": "discount",
}
OTHER_FIELDS: Final[dict[str, str]] = {
    "factura.fecha": "issue_date",
    "factura.hora": "issue_time",
    "factura_referencia.numero": "reference.number",
    "factura_referencia.cufe": "reference.fiscal_id",
    "factura_referencia.fecha": "reference.issue_date",
    "motivo.codigo": "reason.code",
    "motivo.descripcion": "reason.description",
    "adquiriente": "customer",
    "lineas": "lines",
}
_LINE_PATH: Final = re.compile(r"^lineas\.(\d+)\.(\w+)$")

WIRE: Final = msgspec.json.Encoder()


class FaceProAdapter(Adapter):
    name: ClassVar[str] = "facepro"
    countries: ClassVar[frozenset[str]] = frozenset({"CO"})
    kinds: ClassVar[frozenset[str]] = frozenset(ENDPOINTS)
    currencies: ClassVar[frozenset[str] | None] = frozenset({"COP"})
    refusals: ClassVar[Mapping[str, str]] = {
        "country": "FacEPro issues Colombian documents only",
        "kind": "FacEPro emits invoices, credit notes and debit notes",
        "currency": "FacEPro has no currency field: COP only",
    }
    health_probe: ClassVar[str] = "health"
    numbering: ClassVar[Literal["ours", "provider"]] = "provider"
    Credentials: ClassVar[type[msgspec.Struct]] = FaceProCredentials

    def __init__(self, account: Account) -> None:
        self.account = account
        credentials = load_credentials(type(self), account)
        self.http = ProviderHttp(
            account.base_url,
            timeout_s=account.timeout_s,
            headers={"Authorization": f"Bearer {credentials.token}", "Accept": "application/json"},
        )

    # -- canonical -> FacEPro ----------------------------------------------------------------------

    def build_payload(self, emission: Emission) -> dict[str, Any]:
        """The request body for the kind's endpoint; amounts from the totals, as exact numbers."""
        doc, totals = emission.document, emission.totals
        unsupported_if(_unsupported(doc, emission))
        payload: dict[str, Any] = {}
        if doc.issue_date is not None:
            payload["factura"] = {"fecha": doc.issue_date.isoformat()}
            if doc.issue_time is not None:
                payload["factura"]["hora"] = doc.issue_time.strftime("%H:%M:%S") + UTC_OFFSET
        if doc.kind in REASONS:
            ref, reason = doc.reference, doc.reason
            codigo, default_text = REASONS[doc.kind][reason.code]
            payload["factura_referencia"] = {
                "numero": ref.number,
                "cufe": ref.fiscal_id,
                "fecha": ref.issue_date.isoformat(),
            }
            payload["motivo"] = {"codigo": codigo, "descripcion": reason.description or default_text}
        payload["adquiriente"] = _adquiriente(doc.customer)
        payload["lineas"] = [_linea(i, line, totals.lines[i]) for i, line in enumerate(doc.lines)]
        return payload

    def warnings(self, emission: Emission) -> list[str]:
        """Informational content FacEPro has no field for (ARCHITECTURE.md: listed, never silent)."""
        doc = emission.document
        found = [message for applies, message in _DROPS if applies(doc)]
        found += [
            f"lines[{i}].code: FacEPro requires an item code; the line position {i + 1} is sent"
            for i, line in enumerate(doc.lines)
            if not line.code
        ]
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
        if response.status_code not in (200, 201):
            raise classify_error(response, emits=True)
        body = exact_json_body(response)
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise Ambiguous("FacEPro answered without a document", http_status=response.status_code, raw=body)
        outcome = parse_response(body["data"], raw=body)
        outcome.warnings = self.warnings(emission) + outcome.warnings
        return outcome

    async def status(self, ref: ProviderRef) -> Outcome:
        """`GET /documentos/{uuid}/consultar` re-asks DIAN (GetStatusZip) without resending."""
        if not ref.provider_reference:
            # only the tracking_id finds a FacEPro document; reconciliation then asks an operator
            raise NotSearchable("FacEPro status needs the tracking_id")
        response = await self.http.send("GET", f"/documentos/{ref.provider_reference}/consultar")
        if documented_not_found(response, NOT_FOUND):
            return Outcome(
                status="not_found", provider_reference=ref.provider_reference, raw=exact_json_body(response)
            )
        if not response.is_success:  # any 2xx is read by its body (a 201 or 202 where 200 is documented)
            raise classify_error(response, emits=False)
        body = exact_json_body(response)
        if not isinstance(body, dict) or not isinstance(body.get("documento"), dict):
            raise Unavailable("FacEPro status answer without a document", raw=body)
        outcome = parse_response(body["documento"], raw=body)
        dian = body.get("dian")
        if isinstance(dian, dict):
            outcome.authority = Authority(
                code=dian.get("status_code"),
                message=dian.get("status_description"),
                errors=[dian_error(e) for e in dian.get("errors") or []],
            )
        return outcome

    async def find(self, emission: Emission) -> ProviderRef | None:
        """After an ambiguous emission: FacEPro takes no reference of ours, so search the day's
        documents for this kind, customer id, total and issue time. Several matches cannot be told
        apart: Ambiguous (the document stays unknown for an operator)."""
        day = emission.document.issue_date or clock.now(BOGOTA).date()
        matches: list[dict[str, Any]] = []
        for page in range(1, SEARCH_PAGES_MAX + 1):
            params = {
                "desde": day.isoformat(),
                "hasta": day.isoformat(),
                "per_page": str(SEARCH_PAGE),
                "page": str(page),
            }
            response = await self.http.send("GET", "/documentos", params=params)
            if not response.is_success:
                raise classify_error(response, emits=False)
            body = exact_json_body(response)
            items = body.get("data") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise Unavailable("FacEPro list answer without data", raw=body)
            matches += [d for d in items if _same_document(d, emission)]
            if len(items) < SEARCH_PAGE:
                break
        else:
            raise Ambiguous(
                f"more than {SEARCH_PAGE * SEARCH_PAGES_MAX} FacEPro documents on {day}",
                code="search-too-large",
            )
        found = sole_match(matches, provider="FacEPro", id_field="tracking_id")
        if found is None:
            return None
        return ProviderRef(
            provider_reference=found.get("tracking_id"),
            fiscal_id=found.get("cufe"),
            number=found.get("numero_completo"),
            issue_date=day,
        )

    async def fetch_xml(self, ref: ProviderRef) -> bytes | None:
        if not ref.provider_reference:
            return None
        response = await self.http.send("GET", f"/documentos/{ref.provider_reference}/xml")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise classify_error(response, emits=False)
        return response.content

    async def health(self, issuer_nit: str) -> Health:
        """`GET /me`: the token works and names the company it issues for."""
        response = await self.http.send("GET", "/me")
        if response.status_code != 200:
            raise classify_error(response, emits=False)
        body = exact_json_body(response)
        tenant = body.get("tenant") if isinstance(body, dict) else None
        if not isinstance(tenant, dict):
            raise Unavailable("FacEPro /me answer without a tenant", raw=body)
        detail = {"nit": tenant.get("nit"), "name": tenant.get("razon_social"), "state": tenant.get("estado")}
        return Health(message="FacEPro /me answered", detail={k: v for k, v in detail.items() if _scalar(v)})

    async def aclose(self) -> None:
        await self.http.aclose()


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | None)


# -- FacEPro -> Outcome ------------------------------------------------------------------------------


def parse_response(data: Mapping[str, Any], *, raw: Any = None) -> Outcome:
    """A FacEPro document resource (the `data` of POST /documentos, examples/emit.201*.json)."""
    estado = text(data.get("estado"))
    warnings = []
    if estado not in STATUSES:
        warnings.append(f"FacEPro estado {estado!r} is not documented; kept pending")
    elif estado == "fallido":
        warnings.append("FacEPro estado 'fallido': DIAN gave no answer; re-query the status")
    errors = [dian_error(data["ultimo_error"])] if data.get("ultimo_error") else []
    links = data.get("links") if isinstance(data.get("links"), dict) else {}
    return Outcome(
        status=STATUSES.get(estado, "pending"),
        provider_reference=text(data.get("tracking_id")),
        number=text(data.get("numero_completo")),
        fiscal_id=text(data.get("cufe")),
        authority=Authority(
            code=text(data.get("estado_dian_codigo")),
            message=text(data.get("estado_dian_mensaje")),
            errors=errors,
        ),
        links={k: v for k, v in links.items() if isinstance(v, str)},
        warnings=warnings,
        raw=raw,
    )


def classify_error(response: httpx.Response, *, emits: bool) -> ProviderFailure:
    """`{ok: false, error, codigo, errors}` -> failure class, FacEPro's own message kept."""
    body = exact_json_body(response)
    body = body if isinstance(body, dict) else {}
    message = str(body.get("error") or f"FacEPro answered HTTP {response.status_code}")
    if body.get("permiso"):
        message += f" ({body['permiso']})"  # emit.403.json: which permission the company lacks
    failure = failure_for_status(
        response,
        message,
        table=STATUS_CLASSES,
        emits=emits,
        code=body.get("codigo") or str(response.status_code),
        errors=laravel_errors(body.get("errors"), canonical_path),
        raw=body or response.text[:2000],
    )
    if failure.retry_after is None and text(body.get("periodo")) in QUOTA_PERIODS:
        # emit.429.json sends no Retry-After: the quota comes back with the next period
        failure.retry_after = QUOTA_PERIODS[body["periodo"]](clock.now(BOGOTA))
    return failure


def canonical_path(field: str) -> str | None:
    """A Laravel error field (`lineas.0.iva_pct`, emit.422.json) -> its canonical path."""
    if m := _LINE_PATH.match(field):
        return f"lines[{m[1]}].{LINE_FIELDS[m[2]]}" if m[2] in LINE_FIELDS else f"lines[{m[1]}]"
    if field.startswith("adquiriente."):
        return CUSTOMER_FIELDS.get(field.removeprefix("adquiriente."))
    return OTHER_FIELDS.get(field)


def _next_month(now: dt.datetime) -> float:
    start = (now.replace(day=1) + dt.timedelta(days=32)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    return (start - now).total_seconds()


def _next_year(now: dt.datetime) -> float:
    start = now.replace(year=now.year + 1, month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return (start - now).total_seconds()


QUOTA_PERIODS: Final[dict[str, Callable[[dt.datetime], float]]] = {
    "mensual": _next_month,
    "anual": _next_year,
}


# -- helpers -----------------------------------------------------------------------------------------


def _unsupported(doc: Document, emission: Emission) -> list[UnsupportedIssue]:
    """Fiscal content FacEPro cannot carry: refused, never dropped (ARCHITECTURE.md)."""
    issues = declared_refusals(FaceProAdapter, doc)
    issues += [UnsupportedIssue(path=p, rule=r, message=m) for applies, p, r, m in _REFUSALS if applies(doc)]
    if doc.kind in REASONS and doc.reason is not None and doc.reason.code not in REASONS[doc.kind]:
        issues.append(
            UnsupportedIssue(
                path="reason.code",
                rule="facepro-reason",
                message=f"no FacEPro motivo for {doc.reason.code!r}",
            )
        )
    for i, (line, figures) in enumerate(zip(doc.lines, emission.totals.lines, strict=True)):
        taxes = {t.tax for t in line.taxes}
        if taxes != {"IVA"} or len(line.taxes) != 1:
            issues.append(
                UnsupportedIssue(
                    path=f"lines[{i}].taxes",
                    rule="facepro-line-iva-only",
                    message="FacEPro lines carry exactly one IVA rate (iva_pct) and no other tax; "
                    "an IVA-excluded line cannot be expressed (exempt goods are IVA 0)",
                )
            )
        if exclusive_unit_price(line.quantity, figures) is None:
            issues.append(
                UnsupportedIssue(
                    path=f"lines[{i}].unit_price",
                    rule="facepro-price-exclusive",
                    message="FacEPro takes tax-exclusive unit prices; none gives this line's amount",
                )
            )
    return issues


def exclusive_unit_price(quantity: Decimal, figures: LineTotals) -> Decimal | None:
    """The tax-exclusive unit price whose quantity × price is exactly the line's gross amount: the
    canonical price itself, or (prices that include tax) a derived one of up to 6 decimals."""
    return exact_unit_price(quantity, figures.gross, figures.unit_price)


_REFUSALS: Final[list[tuple[Callable[[Document], bool], str, str, str]]] = [
    (
        # Fiscal in Colombia (PaymentMeans/ID 2 and PaymentDueDate make a credit invoice a título
        # valor); FacEPro's factura has no field for either (README.md), so it cannot issue one.
        lambda d: d.payment is not None and (d.payment.form == "credit" or d.payment.due_date is not None),
        "payment.form",
        "facepro-credit-sale",
        "FacEPro has no payment form or due date: a credit sale cannot be issued through it",
    ),
    (
        # the country is part of the address (Country/IdentificationCode): fiscal, never dropped
        lambda d: bool(d.customer and d.customer.address and d.customer.address.country != "CO"),
        "customer.address.country",
        "facepro-foreign-address",
        "FacEPro addresses are Colombian: a foreign address cannot be carried",
    ),
    (
        lambda d: d.customer is None,
        "customer",
        "facepro-customer-required",
        "FacEPro requires the adquiriente",
    ),
    (
        lambda d: (
            d.customer is not None
            and (d.customer.id_type not in cat.ID_TYPES["CO"] or not d.customer.id_number)
        ),
        "customer.id_number",
        "facepro-customer-id",
        "FacEPro requires the customer's id type and number",
    ),
    (
        lambda d: bool(d.discounts),
        "discounts",
        "facepro-document-discounts",
        "FacEPro has no document-level discounts",
    ),
    (
        lambda d: bool(d.charges),
        "charges",
        "facepro-document-charges",
        "FacEPro has no document-level charges or tips",
    ),
    (
        lambda d: bool(d.withholdings),
        "withholdings",
        "facepro-withholdings",
        "FacEPro has no withholdings field",
    ),
    (
        lambda d: (
            d.kind in REASONS
            and (d.reference is None or not d.reference.fiscal_id or d.reference.issue_date is None)
        ),
        "reference",
        "facepro-reference",
        "FacEPro notes need the invoice's number, CUFE and issue date",
    ),
    (
        lambda d: d.kind in REASONS and d.reason is None,
        "reason",
        "facepro-reason",
        "FacEPro notes need a motivo",
    ),
]

_DROPS: Final[list[tuple[Callable[[Document], bool], str]]] = [
    (lambda d: bool(d.notes), "notes: FacEPro has no notes field; not sent"),
    (
        lambda d: d.payment is not None,
        "payment.means: FacEPro has no payment means; not sent (a cash sale is FacEPro's own default)",
    ),
    (lambda d: bool(d.customer and d.customer.phone), "customer.phone: FacEPro has no phone field; not sent"),
    (
        lambda d: bool(d.customer and d.customer.address and d.customer.address.postal_code),
        "customer.address.postal_code: FacEPro has no postal code field; not sent",
    ),
    (
        lambda d: bool(d.customer and not d.customer.tax_responsibilities),
        f"customer.tax_responsibilities: none given; FacEPro's default {DEFAULT_RESPONSIBILITY} is sent",
    ),
    (lambda d: bool(d.metadata), "metadata: FacEPro has no metadata field; not sent"),
]


def _adquiriente(customer: Party) -> dict[str, Any]:
    id_type = cat.ID_TYPES["CO"][customer.id_type]
    adquiriente: dict[str, Any] = {
        "tipo_persona": cat.PARTY_TYPES[customer.party_type]["CO"],
        "tipo_documento": id_type,
        "numero_documento": customer.id_number,
    }
    if id_type == cat.ID_TYPES["CO"]["NIT"] and customer.check_digit:
        adquiriente["dv"] = customer.check_digit  # "solo si tipo_documento = 31"
    adquiriente["razon_social"] = customer.name
    # One string; several DIAN responsibilities are joined with ";" as in the UBL TaxLevelCode.
    adquiriente["responsabilidad_fiscal"] = ";".join(customer.tax_responsibilities) or DEFAULT_RESPONSIBILITY
    if customer.email:
        adquiriente["email"] = customer.email
    address = customer.address
    if address is not None:
        optional = {
            "direccion": address.line,
            "codigo_municipio": address.city_code,
            "codigo_departamento": address.department_code,
        }
        adquiriente.update({k: v for k, v in optional.items() if v})
    return adquiriente


def _linea(index: int, line: Any, figures: LineTotals) -> dict[str, Any]:
    linea: dict[str, Any] = {
        "codigo": line.code or str(index + 1),
        "descripcion": line.description,
        "cantidad": number(line.quantity),
        "unidad": line.unit,
        "precio": number(exclusive_unit_price(line.quantity, figures)),
        "iva_pct": number(line.taxes[0].rate),
    }
    if figures.discount:
        # the computed amount, not the percent: FacEPro then derives exactly our line figures
        linea["descuento_valor"] = number(figures.discount)
    return linea


def _same_document(data: Any, emission: Emission) -> bool:
    """Kind, customer id, total and, where both are known, the issue instant: FacEPro's
    `fecha_emision` is the factura.fecha / hora we sent, so two identical orders of the same day are
    told apart and another document of ours is never adopted by mistake."""
    if not isinstance(data, dict):
        raise cannot_tell("FacEPro listed something that is not a document")
    doc = emission.document
    if data.get("tipo_documento", DOCUMENT_TYPES[doc.kind]) != DOCUMENT_TYPES[doc.kind]:
        return False
    if doc.customer is None or str(compared(data, "adquirente", "documento")) != doc.customer.id_number:
        return False
    try:
        total = Decimal(str(compared(data, "totales", "total")))
    except ArithmeticError:
        raise cannot_tell("a listed FacEPro document has an unreadable total") from None
    if total != emission.totals.payable:
        return False
    sent, issued = _issued_at(doc), _instant(data.get("fecha_emision"))
    return sent is None or issued is None or sent == issued


def _issued_at(doc: Document) -> dt.datetime | None:
    if doc.issue_date is None or doc.issue_time is None:
        return None
    return dt.datetime.combine(doc.issue_date, doc.issue_time.replace(tzinfo=None, microsecond=0), COLOMBIA)


def _instant(value: Any) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=COLOMBIA)
