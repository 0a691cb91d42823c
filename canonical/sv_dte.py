"""Canonical document → Hacienda's DTE JSON: factura (fe-fc-v1), crédito fiscal (fe-ccf-v3), and the
notes that correct a CCF: nota de crédito (fe-nc-v3) and nota de débito (fe-nd-v3).

Pure: the figures come from `canonical.totals` (per-line figures summed by treatment, never
re-derived from prices), the tenant's `Issuer` gives the emisor, and the caller passes the
sequence and, on a resend, the codigoGeneracion. The output is checked against the official schemas
in `contracts/sv-dte/` (tests/unit/test_sv_dte.py). It is what the SmartBill simulator builds to
check SmartBill's arithmetic against ours, and the base of a direct-to-Hacienda adapter.

Amounts are Decimal; `dte_json()` writes them as JSON numbers (the schemas want numbers with
`multipleOf` 0.01 / 1e-08, which only an exact decimal satisfies: research/sv.md §3.7).
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any, Final, Literal

import msgspec

from canonical.catalogs import (
    ID_TYPES,
    ITEM_TYPES,
    KINDS,
    MH_OTHER_UNIT,
    PAYMENT_FORMS,
    PAYMENT_MEANS,
    SV_FACTURA_ID_THRESHOLD,
    SV_RETENTION_THRESHOLD,
    TAXES,
    UNITS_MH,
)
from canonical.document import Document, Issuer, Line, Party
from canonical.errors import FieldError, InvalidDocument
from canonical.totals import HUNDRED, ZERO, LineTotals, Totals, round_half_up

# tipoDte → identificacion.version of the schema we emit (legacy package, contracts/sv-dte/SOURCE.md)
SCHEMA_VERSIONS: Final[dict[str, int]] = {"01": 1, "03": 3, "05": 3, "06": 3}
SCHEMA_FILES: Final[dict[str, str]] = {
    "01": "fe-fc-v1.json",
    "03": "fe-ccf-v3.json",
    "05": "fe-nc-v3.json",
    "06": "fe-nd-v3.json",
}
NOTES: Final = frozenset({"05", "06"})
# CAT-005 tipoContingencia without free text: 1 MH unavailable, 2 our system, 3 our internet, 4 power
CONTINGENCY_TYPES: Final = frozenset({1, 2, 3, 4})
ESTABLISHMENT_CODES: Final = frozenset(
    {"codEstableMH", "codEstable", "codPuntoVentaMH", "codPuntoVenta"}
)  # follow CCF arithmetic; fewer resumen fields (research/sv.md §3.4)

# Referenced document kind → documentoRelacionado.tipoDocumento (fe-nc-v3 / fe-nd-v3: 03 CCF, 07 CR)
RELATED_TYPES: Final[dict[str | None, str]] = {None: "03", "tax_credit_invoice": "03"}
ELECTRONIC: Final = 2  # CAT-007 tipoGeneracion: the related DTE is electronic (its codigoGeneracion)

# resumen fields a note does not carry (fe-nc-v3 / fe-nd-v3 against fe-ccf-v3)
NOTE_DROPS: Final[dict[str, tuple[str, ...]]] = {
    "05": (
        "porcentajeDescuento",
        "totalNoGravado",
        "totalPagar",
        "saldoFavor",
        "pagos",
        "numPagoElectronico",
    ),
    "06": ("porcentajeDescuento", "totalNoGravado", "totalPagar", "saldoFavor", "pagos"),
}

# CAT-001 ambiente
AMBIENTES: Final[dict[str, str]] = {"test": "00", "production": "01"}

# First letter of the establishment code → CAT-009 tipoEstablecimiento (research/sv.md §3.2: M casa
# Matriz, S Sucursal, B Bodega, P Predio/patio)
ESTABLISHMENT_TYPES: Final[dict[str, str]] = {"M": "02", "S": "01", "B": "04", "P": "07"}

# CAT-019 actividad económica: the descriptions we know; MH's list (~770 codes) is not in the repo,
# so an unknown code is described by its number (descActividad is free text, 5-150 chars).
ECONOMIC_ACTIVITIES: Final[dict[str, str]] = {
    "47190": "Venta al por menor de otros productos en comercios no especializados",
    "62010": "Programación informática",
    "46900": "Venta al por mayor de otros productos",
    "56101": "Restaurantes",
}

# CAT-015 tributo 20, stated in the CCF resumen (the FE carries IVA only in ivaItem / totalIva)
IVA_TRIBUTO: Final = {"codigo": "20", "descripcion": "Impuesto al Valor Agregado 13%"}

# Retención IVA by a gran contribuyente buyer: 1 % of the taxed net (CT Art. 162), CAT-006 code 22
IVA_RETENTION_RATE: Final = Decimal("1")

# CAT-018 plazo: we state credit terms in days
PLAZO_DAYS: Final = "01"

# The canonical field that feeds each cuerpoDocumento sales column
SALES_COLUMNS: Final[dict[str, str]] = {
    "taxed": "ventaGravada",
    "exempt": "ventaExenta",
    "not_subject": "ventaNoSuj",
}

_ESTABLISHMENT = re.compile(r"^[MBSP][0-9]{3}$")
_POINT_OF_SALE = re.compile(r"^P[0-9]{3}$")
MAX_SEQUENCE: Final = 999_999_999_999_999

_encoder = msgspec.json.Encoder(decimal_format="number")


def numero_control(tipo_dte: str, establishment: str, point_of_sale: str, sequence: int) -> str:
    """`DTE-01-M001P001-000000000000001`: type, establishment + point of sale, 15-digit sequence
    (MH enforces the M/B/S/P### + P### structure since Oct 2025: research/sv.md §3.2)."""
    if not _ESTABLISHMENT.match(establishment):
        raise ValueError(f"establishment {establishment!r} must look like M001 (M, B, S or P + 3 digits)")
    if not _POINT_OF_SALE.match(point_of_sale):
        raise ValueError(f"point of sale {point_of_sale!r} must look like P001")
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise ValueError(f"sequence {sequence} outside 1..{MAX_SEQUENCE}")
    return f"DTE-{tipo_dte}-{establishment}{point_of_sale}-{sequence:015d}"


def codigo_generacion(value: str | None = None) -> str:
    """An upper-case UUID v4 (MH rejects lower case); a given one is checked and upper-cased."""
    code = uuid.UUID(value) if value is not None else uuid.uuid4()
    if code.version != 4:
        raise ValueError(f"codigoGeneracion {value!r} is not a UUID v4")
    return str(code).upper()


# -- totalLetras ----------------------------------------------------------------------------------

_SMALL: Final = (
    "CERO UNO DOS TRES CUATRO CINCO SEIS SIETE OCHO NUEVE DIEZ ONCE DOCE TRECE CATORCE QUINCE "
    "DIECISÉIS DIECISIETE DIECIOCHO DIECINUEVE VEINTE VEINTIUNO VEINTIDÓS VEINTITRÉS VEINTICUATRO "
    "VEINTICINCO VEINTISÉIS VEINTISIETE VEINTIOCHO VEINTINUEVE"
).split()
_TENS: Final = {
    3: "TREINTA",
    4: "CUARENTA",
    5: "CINCUENTA",
    6: "SESENTA",
    7: "SETENTA",
    8: "OCHENTA",
    9: "NOVENTA",
}
_HUNDREDS: Final = {
    1: "CIENTO",
    2: "DOSCIENTOS",
    3: "TRESCIENTOS",
    4: "CUATROCIENTOS",
    5: "QUINIENTOS",
    6: "SEISCIENTOS",
    7: "SETECIENTOS",
    8: "OCHOCIENTOS",
    9: "NOVECIENTOS",
}
# "uno" shortens before a noun: VEINTIÚN MIL, UN MILLÓN, TREINTA Y UN MIL
_APOCOPE: Final = {"UNO": "UN", "VEINTIUNO": "VEINTIÚN"}


def total_letras(amount: Decimal, currency: str = "DÓLARES") -> str:
    """The amount in Spanish words with cents over 100: `VEINTISIETE 00/100 DÓLARES`."""
    amount = round_half_up(amount, 2)
    if amount < 0:
        raise ValueError("totalLetras of a negative amount")
    whole = int(amount)
    cents = int((amount - whole) * 100)
    return f"{spanish_words(whole)} {cents:02d}/100 {currency}"


def spanish_words(n: int) -> str:
    if n == 0:
        return "CERO"
    millions, rest = divmod(n, 1_000_000)
    parts = []
    if millions == 1:
        parts.append("UN MILLÓN")
    elif millions:
        parts.append(f"{_below_million(millions, apocope=True)} MILLONES")
    if rest:
        parts.append(_below_million(rest, apocope=False))
    return " ".join(parts)


def _below_million(n: int, *, apocope: bool) -> str:
    thousands, units = divmod(n, 1000)
    parts = []
    if thousands == 1:
        parts.append("MIL")
    elif thousands:
        parts.append(f"{_below_thousand(thousands, apocope=True)} MIL")
    if units:
        parts.append(_below_thousand(units, apocope=apocope))
    return " ".join(parts)


def _below_thousand(n: int, *, apocope: bool) -> str:
    hundreds, rest = divmod(n, 100)
    parts = []
    if hundreds:
        parts.append("CIEN" if n == 100 else _HUNDREDS[hundreds])
    if rest:
        if rest < 30:
            word = _SMALL[rest]
        else:
            tens, unit = divmod(rest, 10)
            word = _TENS[tens] + (f" Y {_SMALL[unit]}" if unit else "")
        if apocope:
            head, _, last = word.rpartition(" ")
            word = f"{head} {_APOCOPE.get(last, last)}".strip()
        parts.append(word)
    return " ".join(parts)


# -- the DTE --------------------------------------------------------------------------------------


def build_dte(
    doc: Document,
    totals: Totals,
    issuer: Issuer,
    *,
    sequence: int,
    codigo: str | None = None,
    environment: Literal["test", "production"] = "test",
    contingency: int | None = None,
) -> dict[str, Any]:
    """The MH DTE (a dict of str/int/Decimal/None) for an SV invoice (01), tax_credit_invoice (03),
    credit_note (05) or debit_note (06). `contingency` (CAT-005 tipoContingencia, 1-4) issues it in
    MH's contingency model: tipoModelo 2 (diferido), tipoOperacion 2.

    Raises InvalidDocument when the document or the issuer lacks what the schema requires, each
    problem with its path and rule code."""
    tipo = KINDS["SV"].get(doc.kind)
    if doc.country != "SV" or tipo not in SCHEMA_VERSIONS:
        raise InvalidDocument(
            [
                FieldError(
                    path="kind", rule="sv-dte-kind", message=f"no DTE mapping for {doc.country} {doc.kind}"
                )
            ]
        )
    errors = _check(doc, issuer, tipo)
    if errors:
        raise InvalidDocument(errors)
    ccf = tipo != "01"  # CCF arithmetic: tax-exclusive, IVA as tributo 20 (notes too)
    items = [
        _item(i, line, lt, ccf=ccf, prices_include_tax=doc.prices_include_tax)
        for i, (line, lt) in enumerate(zip(doc.lines, totals.lines, strict=True))
    ]
    resumen = _resumen(doc, totals, items, ccf=ccf)
    if tipo in NOTES:
        dte = _note(doc, tipo, items, resumen, issuer, sequence, codigo, environment)
        dte["identificacion"].update(_operation(contingency))
        return dte
    if not ccf and doc.customer is None and resumen["montoTotalOperacion"] >= SV_FACTURA_ID_THRESHOLD:
        raise InvalidDocument(
            [
                FieldError(
                    path="customer",
                    rule="sv-factura-receptor-required",
                    message="a factura of USD 1,095.00 or more must identify the customer",
                )
            ]
        )
    return {
        "identificacion": {
            "version": SCHEMA_VERSIONS[tipo],
            "ambiente": AMBIENTES[environment],
            "tipoDte": tipo,
            "numeroControl": numero_control(
                tipo, issuer.establishment or "", issuer.point_of_sale or "", sequence
            ),
            "codigoGeneracion": codigo_generacion(codigo),
            **_operation(contingency),
            "fecEmi": doc.issue_date.isoformat(),  # type: ignore[union-attr]  # checked in _check
            "horEmi": doc.issue_time.strftime("%H:%M:%S"),  # type: ignore[union-attr]
            "tipoMoneda": "USD",
        },
        "documentoRelacionado": None,
        "emisor": _emisor(issuer),
        "receptor": _receptor_ccf(doc.customer) if ccf else _receptor_fe(doc.customer),  # type: ignore[arg-type]
        "otrosDocumentos": None,
        "ventaTercero": None,
        "cuerpoDocumento": items,
        "resumen": resumen,
        "extension": _extension(doc),
        "apendice": None,
    }


def _note(
    doc: Document,
    tipo: str,
    items: list[dict[str, Any]],
    resumen: dict[str, Any],
    issuer: Issuer,
    sequence: int,
    codigo: str | None,
    environment: Literal["test", "production"],
) -> dict[str, Any]:
    """An NC or ND: the CCF's sections, each item tied to the corrected CCF by its codigoGeneracion,
    without the fields the note schemas leave out (psv, noGravado, pagos, totalPagar...)."""
    ref = doc.reference
    related = ref.fiscal_id.upper()  # type: ignore[union-attr]  # checked in _check
    for item in items:
        item["numeroDocumento"] = related
        del item["psv"], item["noGravado"]
    for name in NOTE_DROPS[tipo]:
        resumen.pop(name, None)
    return {
        "identificacion": {
            "version": SCHEMA_VERSIONS[tipo],
            "ambiente": AMBIENTES[environment],
            "tipoDte": tipo,
            "numeroControl": numero_control(
                tipo, issuer.establishment or "", issuer.point_of_sale or "", sequence
            ),
            "codigoGeneracion": codigo_generacion(codigo),
            "tipoModelo": 1,
            "tipoOperacion": 1,
            "tipoContingencia": None,
            "motivoContin": None,
            "fecEmi": doc.issue_date.isoformat(),  # type: ignore[union-attr]
            "horEmi": doc.issue_time.strftime("%H:%M:%S"),  # type: ignore[union-attr]
            "tipoMoneda": "USD",
        },
        "documentoRelacionado": [
            {
                "tipoDocumento": RELATED_TYPES[ref.kind],  # type: ignore[union-attr, index]
                "tipoGeneracion": ELECTRONIC,
                "numeroDocumento": related,
                "fechaEmision": ref.issue_date.isoformat(),  # type: ignore[union-attr]
            }
        ],
        # the note schemas' emisor has no establishment or point-of-sale codes
        "emisor": {k: v for k, v in _emisor(issuer).items() if k not in ESTABLISHMENT_CODES},
        "receptor": _receptor_ccf(doc.customer),  # type: ignore[arg-type]
        "ventaTercero": None,
        "cuerpoDocumento": items,
        "resumen": resumen,
        "extension": _extension(doc, note=True),
        "apendice": None,
    }


def _operation(contingency: int | None) -> dict[str, Any]:
    """identificacion's model and operation: modelo previo, normal transmission; or, in contingency,
    diferido with its CAT-005 type (5, "otro", would need motivoContin text: not offered)."""
    if contingency is None:
        return {"tipoModelo": 1, "tipoOperacion": 1, "tipoContingencia": None, "motivoContin": None}
    if contingency not in CONTINGENCY_TYPES:
        raise ValueError(f"tipoContingencia {contingency} is not one of {sorted(CONTINGENCY_TYPES)}")
    return {"tipoModelo": 2, "tipoOperacion": 2, "tipoContingencia": contingency, "motivoContin": None}


def dte_json(dte: dict[str, Any]) -> bytes:
    """The DTE as JSON, Decimal amounts as exact JSON numbers."""
    return _encoder.encode(dte)


def iva_retention(doc: Document, totals: Totals) -> Decimal:
    """ivaRete1: the IVA withholding the document declares, or else, when the customer is a gran
    contribuyente and the taxed net reaches USD 100, 1 % of that net (CT Art. 162)."""
    declared = sum((w.amount for w in totals.withholdings if w.tax == "IVA"), ZERO)
    if declared or doc.customer is None or not doc.customer.large_taxpayer:
        return declared
    base = totals.tax_exclusive  # the net of the taxed lines
    if base < SV_RETENTION_THRESHOLD:
        return ZERO
    return round_half_up(base * IVA_RETENTION_RATE / HUNDRED, 2)


def _check(doc: Document, issuer: Issuer, tipo: str) -> list[FieldError]:
    required: list[tuple[str, object]] = [
        ("issue_date", doc.issue_date),
        ("issue_time", doc.issue_time),
        ("issuer.id_number", issuer.id_number),
        ("issuer.nrc", issuer.nrc),
        ("issuer.economic_activity", issuer.economic_activity),
        ("issuer.phone", issuer.phone),
        ("issuer.email", issuer.email),
        ("issuer.establishment", issuer.establishment),
        ("issuer.point_of_sale", issuer.point_of_sale),
        ("issuer.address", _address_complete(issuer.address)),
    ]
    if tipo != "01":
        c = doc.customer
        required += [
            ("customer", c),
            ("customer.id_number", c and c.id_number),
            ("customer.nrc", c and c.nrc),
            ("customer.economic_activity", c and c.economic_activity),
            ("customer.email", c and c.email),
            ("customer.address", c and _address_complete(c.address)),
        ]
    if tipo in NOTES:
        r = doc.reference
        required += [
            ("reference.fiscal_id", r and r.fiscal_id),
            ("reference.issue_date", r and r.issue_date),
        ]
    errors = [
        FieldError(path=path, rule="sv-dte-required", message=f"the DTE needs {path}")
        for path, value in required
        if not value
    ]
    if tipo in NOTES and doc.reference is not None and doc.reference.kind not in RELATED_TYPES:
        errors.append(
            FieldError(
                path="reference.kind",
                rule="sv-note-reference-ccf",
                message="an SV credit or debit note corrects a crédito fiscal (tax_credit_invoice)",
            )
        )
    if doc.currency not in (None, "USD"):
        errors.append(
            FieldError(path="currency", rule="sv-currency-usd", message="El Salvador documents are in USD")
        )
    if doc.discounts or any(c.kind != "tip" for c in doc.charges):
        # Canonical document discounts and charges sit outside the tax base; MH's descuGravada /
        # descuExenta reduce it per treatment. No faithful mapping: refuse rather than guess.
        errors.append(
            FieldError(
                path="discounts" if doc.discounts else "charges",
                rule="sv-dte-document-adjustment",
                message="document discounts and non-tip charges have no DTE mapping; use line discounts",
            )
        )
    if tipo == "03" and doc.payment and doc.payment.form == "credit" and doc.payment.due_date is None:
        # fe-ccf-v3: condicionOperacion 2 requires pagos[].plazo and periodo (optional on a factura)
        errors.append(
            FieldError(
                path="payment.due_date",
                rule="sv-dte-credit-due-date",
                message="a CCF on credit states its term (plazo, periodo): give payment.due_date",
            )
        )
    return errors


def _address_complete(address: Any) -> bool:
    return bool(address and address.department_code and address.city_code and address.line)


def _direccion(party: Party) -> dict[str, str] | None:
    a = party.address
    if not _address_complete(a):
        return None
    return {"departamento": a.department_code, "municipio": a.city_code, "complemento": a.line}  # type: ignore[union-attr]


def _activity(code: str | None) -> str | None:
    if code is None:
        return None
    return ECONOMIC_ACTIVITIES.get(code, f"Actividad económica {code}")


def _emisor(issuer: Issuer) -> dict[str, Any]:
    establishment = issuer.establishment or ""
    return {
        "nit": _digits(issuer.id_number or ""),
        "nrc": _digits(issuer.nrc or ""),
        "nombre": issuer.name,
        "codActividad": issuer.economic_activity,
        "descActividad": _activity(issuer.economic_activity),
        "nombreComercial": issuer.trade_name,
        "tipoEstablecimiento": ESTABLISHMENT_TYPES[establishment[:1]],
        "direccion": _direccion(issuer),
        "telefono": issuer.phone,
        "correo": issuer.email,
        # The MH-assigned codes come with MH registration, which the tenants file does not carry;
        # the schema allows null and the contribuyente's own codes are the numeroControl parts.
        "codEstableMH": None,
        "codEstable": establishment,
        "codPuntoVentaMH": None,
        "codPuntoVenta": issuer.point_of_sale,
    }


def _receptor_fe(customer: Party | None) -> dict[str, Any] | None:
    if customer is None:
        return None  # anonymous consumidor final, allowed below USD 1,095 (checked in build_dte)
    tipo = ID_TYPES["SV"].get(customer.id_type or "") if customer.id_type else None
    return {
        "tipoDocumento": tipo,
        "numDocumento": _id_number(tipo, customer.id_number),
        "nrc": _digits(customer.nrc) if tipo == "36" and customer.nrc else None,  # NRC only with a NIT
        "nombre": customer.name,
        "codActividad": customer.economic_activity,
        "descActividad": _activity(customer.economic_activity),
        "direccion": _direccion(customer),
        "telefono": customer.phone,
        "correo": customer.email,
    }


def _receptor_ccf(customer: Party) -> dict[str, Any]:
    return {
        "nit": _digits(customer.id_number or ""),  # a DUI doubles as NIT: its 9 digits
        "nrc": _digits(customer.nrc or ""),
        "nombre": customer.name,
        "codActividad": customer.economic_activity,
        "descActividad": _activity(customer.economic_activity),
        "nombreComercial": customer.trade_name,
        "direccion": _direccion(customer),
        "telefono": customer.phone,
        "correo": customer.email,
    }


def _id_number(tipo: str | None, number: str | None) -> str | None:
    """NIT without hyphens; DUI as 00000000-0 (the schema patterns for CAT-022 36 and 13)."""
    if number is None:
        return None
    if tipo == "36":
        return _digits(number)
    if tipo == "13":
        digits = _digits(number)
        return f"{digits[:8]}-{digits[8:]}"
    return number


def _digits(value: str) -> str:
    return re.sub(r"[^0-9]", "", value)


def _item(index: int, line: Line, lt: LineTotals, *, ccf: bool, prices_include_tax: bool) -> dict[str, Any]:
    """One cuerpoDocumento item from the engine's line figures.

    Factura: prices, discount and ventaGravada include IVA (ventaGravada = the line's total) and
    ivaItem carries the IVA. CCF: everything tax-exclusive, IVA stated as tributo 20."""
    iva = sum((t.amount for t in lt.taxes if t.tax == "IVA"), ZERO)
    column = SALES_COLUMNS[line.tax_treatment]
    if ccf:
        price, amount = lt.unit_price, lt.net
        discount = lt.discount
    else:
        amount = lt.total
        rate = sum((t.rate for t in lt.taxes), ZERO)
        # With tax-exclusive canonical prices, the factura's IVA-inclusive price is exact in Decimal.
        price = line.unit_price if prices_include_tax else line.unit_price * (HUNDRED + rate) / HUNDRED
        discount = round_half_up(line.quantity * price, 8) - amount
    sales = {col: ZERO for col in SALES_COLUMNS.values()}
    sales[column] = amount
    item = {
        "numItem": index + 1,
        "tipoItem": int(ITEM_TYPES[line.item_type]),
        "numeroDocumento": None,
        "cantidad": _item_amount(line.quantity),
        "codigo": line.code,
        "codTributo": None,
        "uniMedida": int(UNITS_MH.get(line.unit, MH_OTHER_UNIT)),
        "descripcion": line.description,
        "precioUni": _item_amount(price),
        "montoDescu": _item_amount(discount),
        "ventaNoSuj": _item_amount(sales["ventaNoSuj"]),
        "ventaExenta": _item_amount(sales["ventaExenta"]),
        "ventaGravada": _item_amount(sales["ventaGravada"]),
        "tributos": [TAXES["SV"]["IVA"]] if ccf and iva else None,
        "psv": ZERO,
        "noGravado": ZERO,
    }
    if not ccf:
        item["ivaItem"] = _item_amount(iva)
    return item


def sales_totals(doc: Document, totals: Totals, *, ccf: bool = False) -> dict[str, Decimal]:
    """resumen totalNoSuj / totalExenta / totalGravada (keyed by their item column): each column
    rounded by itself, as Hacienda recomputes them from the items (canonical.totals rounds the
    document's total the same way, so the columns add up to it)."""
    sums = {name: ZERO for name in SALES_COLUMNS.values()}
    for line, lt in zip(doc.lines, totals.lines, strict=True):
        sums[SALES_COLUMNS[line.tax_treatment]] += lt.net if ccf else lt.total
    return {name: round_half_up(value, 2) for name, value in sums.items()}


def _resumen(doc: Document, totals: Totals, items: list[dict[str, Any]], *, ccf: bool) -> dict[str, Any]:
    def column(name: str) -> Decimal:
        return round_half_up(sum((item[name] for item in items), ZERO), 2)

    sales = sales_totals(doc, totals, ccf=ccf)
    no_suj, exenta, gravada = sales["ventaNoSuj"], sales["ventaExenta"], sales["ventaGravada"]
    iva = totals.tax_total
    sub_total = no_suj + exenta + gravada
    # FE: sales are IVA-inclusive already; CCF: IVA is added on top (research/sv.md §3.4)
    monto_total = sub_total + iva if ccf else sub_total
    retention = iva_retention(doc, totals)
    renta = sum((w.amount for w in totals.withholdings if w.tax == "Renta"), ZERO)
    no_gravado = totals.tips  # propina: a charge outside the tax base
    total_pagar = monto_total - retention - renta + no_gravado
    form = doc.payment.form if doc.payment else "cash"
    resumen: dict[str, Any] = {
        "totalNoSuj": no_suj,
        "totalExenta": exenta,
        "totalGravada": gravada,
        "subTotalVentas": sub_total,
        "descuNoSuj": _r2(ZERO),
        "descuExenta": _r2(ZERO),
        "descuGravada": _r2(ZERO),
        "porcentajeDescuento": _r2(ZERO),
        "totalDescu": column("montoDescu"),
        "tributos": [{**IVA_TRIBUTO, "valor": iva}] if ccf and iva else None,
        "subTotal": sub_total,
        "ivaRete1": _r2(retention),
        "reteRenta": _r2(renta),
        "montoTotalOperacion": monto_total,
        "totalNoGravado": _r2(no_gravado),
        "totalPagar": total_pagar,
        "totalLetras": total_letras(total_pagar),
        "totalIva": iva,
        "saldoFavor": _r2(ZERO),
        "condicionOperacion": int(PAYMENT_FORMS[form]["SV"]),
        "pagos": _pagos(doc, total_pagar),
        "numPagoElectronico": None,
    }
    if ccf:
        del resumen["totalIva"]
        resumen = {**resumen, "ivaPerci1": _r2(ZERO)}  # we never act as IVA perception agent
    return resumen


def _pagos(doc: Document, amount: Decimal) -> list[dict[str, Any]] | None:
    pay = doc.payment
    if pay is None:
        return None
    credit = pay.form == "credit" and pay.due_date is not None and doc.issue_date is not None
    return [
        {
            "codigo": PAYMENT_MEANS[pay.means]["SV"],
            "montoPago": amount,
            "referencia": None,
            "plazo": PLAZO_DAYS if credit else None,
            "periodo": (pay.due_date - doc.issue_date).days if credit else None,  # type: ignore[operator]
        }
    ]


def _extension(doc: Document, *, note: bool = False) -> dict[str, Any] | None:
    if not doc.notes:
        return None
    extension = {
        "nombEntrega": None,
        "docuEntrega": None,
        "nombRecibe": None,
        "docuRecibe": None,
        "observaciones": "\n".join(doc.notes)[:3000],
        "placaVehiculo": None,
    }
    if note:
        del extension["placaVehiculo"]  # the note schemas have no vehicle plate
    return extension


def _item_amount(value: Decimal) -> Decimal:
    """8 decimals at most, written without exponent or trailing zeros (13, 11.50442478)."""
    value = round_half_up(value, 8)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _r2(value: Decimal) -> Decimal:
    return round_half_up(value, 2)
