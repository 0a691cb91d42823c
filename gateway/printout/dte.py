"""El Salvador's versión legible read from the DTE the gateway signed for Hacienda (the stored
`{"dte", "jws"}`): issuer and receptor, numeroControl, codigoGeneracion, the sello de recepción MH
returned, the items and the resumen, and the QR code to MH's public consultation page (the same link
the adapter gives as `links.consulta_publica`). The DTE's amounts are JSON numbers: decoded as
Decimal, never float."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

import msgspec

from adapters.hacienda.dte import public_link
from canonical.sv_dte import AMBIENTES
from gateway.printout.amounts import money, quantity
from gateway.printout.model import Figure, Line, Party, Printout

_decoder = msgspec.json.Decoder(float_hook=Decimal)
ENVIRONMENTS: Final = {code: name for name, code in AMBIENTES.items()}
TITLES: Final = {  # CAT-002 tipoDte
    "01": "Factura",
    "03": "Comprobante de crédito fiscal",
    "05": "Nota de crédito",
    "06": "Nota de débito",
    "11": "Factura de exportación",
    "14": "Factura de sujeto excluido",
}
ID_TYPES: Final = {
    "36": "NIT",
    "13": "DUI",
    "03": "Pasaporte",
    "02": "Carnet de residente",
    "37": "Documento",
}  # CAT-022
CONDITIONS: Final = {1: "Contado", 2: "A crédito", 3: "Otro"}  # CAT-016
PAYMENT_MEANS: Final = {  # CAT-017
    "01": "Billetes y monedas",
    "02": "Tarjeta débito",
    "03": "Tarjeta crédito",
    "04": "Cheque",
    "05": "Transferencia",
    "08": "Dinero electrónico",
    "99": "Otro",
}
MODELS: Final = {1: "Previo", 2: "Diferido"}  # CAT-003
OPERATIONS: Final = {1: "Normal", 2: "Contingencia"}  # CAT-004
# resumen field -> label, in print order; the strong line is totalPagar (montoTotalOperacion on notes)
TOTALS: Final = [
    ("totalNoSuj", "Ventas no sujetas"),
    ("totalExenta", "Ventas exentas"),
    ("totalGravada", "Ventas gravadas"),
    ("totalDescu", "Descuentos"),
    ("subTotal", "Subtotal"),
    ("ivaPerci1", "IVA percibido"),
    ("ivaRete1", "IVA retenido"),
    ("reteRenta", "Retención de renta"),
    ("montoTotalOperacion", "Monto total de la operación"),
    ("totalNoGravado", "Otros montos no afectos"),
    ("totalPagar", "Total a pagar"),
]


def printout(stored: bytes, seal: str | None = None) -> Printout:
    dte: dict[str, Any] = _decoder.decode(stored)["dte"]
    ident = dte["identificacion"]
    resumen = dte.get("resumen") or {}
    strong = "totalPagar" if "totalPagar" in resumen else "montoTotalOperacion"
    receptor = dte.get("receptor") or dte.get("sujetoExcluido")
    return Printout(
        title=TITLES.get(ident["tipoDte"], "Documento tributario electrónico"),
        number=ident["numeroControl"],
        facts=_facts(ident, resumen),
        issuer=_party(dte["emisor"], "Emisor"),
        buyer=_party(receptor, "Receptor") if receptor else None,
        lines=[_line(item) for item in dte.get("cuerpoDocumento") or []],
        taxes=_taxes(resumen),
        withholdings=[],
        totals=[
            Figure(label=label, amount=money(_plain(resumen[key]), "SV"), strong=key == strong)
            for key, label in TOTALS
            if key in resumen and (key in ("subTotal", strong) or resumen[key])
        ],
        fiscal_id_label="Código de generación",
        fiscal_id=ident["codigoGeneracion"],
        qr=public_link(
            ENVIRONMENTS.get(ident["ambiente"], "test"), ident["codigoGeneracion"], ident["fecEmi"]
        ),
        qr_caption="Consulte el documento en el portal del Ministerio de Hacienda",
        reference=_related(dte.get("documentoRelacionado")),
        notes=[f"Son: {resumen['totalLetras']}"] if resumen.get("totalLetras") else [],
        legal=_legal(ident, seal),
        currency=ident.get("tipoMoneda") or "USD",
    )


def _plain(value: Any) -> str:
    return "" if value is None else f"{value:f}" if isinstance(value, Decimal) else str(value)


def _facts(ident: dict[str, Any], resumen: dict[str, Any]) -> list[tuple[str, str]]:
    pagos = resumen.get("pagos") or []
    facts = [
        ("Fecha de emisión", ident.get("fecEmi")),
        ("Hora de emisión", ident.get("horEmi")),
        ("Condición", CONDITIONS.get(resumen.get("condicionOperacion"), "")),
        (
            "Forma de pago",
            ", ".join(PAYMENT_MEANS.get(p.get("codigo"), p.get("codigo") or "") for p in pagos),
        ),
        ("Modelo", MODELS.get(ident.get("tipoModelo"), "")),
        ("Transmisión", OPERATIONS.get(ident.get("tipoOperacion"), "")),
        ("Moneda", ident.get("tipoMoneda")),
    ]
    return [(label, str(value)) for label, value in facts if value]


def _party(party: dict[str, Any], role: str) -> Party:
    lines = []
    if party.get("nit"):
        lines.append(f"NIT {party['nit']}")
    elif party.get("numDocumento"):
        lines.append(f"{ID_TYPES.get(party.get('tipoDocumento') or '', 'Documento')} {party['numDocumento']}")
    if party.get("nrc"):
        lines.append(f"NRC {party['nrc']}")
    if party.get("descActividad"):
        lines.append(f"Actividad: {party['descActividad']}")
    if (party.get("direccion") or {}).get("complemento"):
        lines.append(party["direccion"]["complemento"])
    contact = " · ".join(v for v in (party.get("telefono"), party.get("correo")) if v)
    if contact:
        lines.append(contact)
    name = party.get("nombre") or ""
    if party.get("nombreComercial") and party["nombreComercial"] != name:
        lines.insert(0, party["nombreComercial"])
    return Party(role=role, name=name, lines=lines)


def _line(item: dict[str, Any]) -> Line:
    sales = [
        ("Gravada", item.get("ventaGravada")),
        ("Exenta", item.get("ventaExenta")),
        ("No sujeta", item.get("ventaNoSuj")),
    ]
    kind = [label for label, value in sales if value]
    total = sum((v for _, v in sales if v), Decimal(0))
    taxes = " ".join(kind) or "Gravada"
    if item.get("ivaItem"):
        taxes += f"\nIVA {money(_plain(item['ivaItem']), 'SV')}"
    return Line(
        number=str(item.get("numItem", "")),
        code=item.get("codigo") or "",
        description=item.get("descripcion") or "",
        quantity=quantity(_plain(item.get("cantidad")), "SV"),
        unit_price=money(_plain(item.get("precioUni")), "SV"),
        discount=money(_plain(item["montoDescu"]), "SV") if item.get("montoDescu") else "",
        taxes=taxes,
        total=money(_plain(total), "SV"),
    )


def _taxes(resumen: dict[str, Any]) -> list[Figure]:
    figures = [
        Figure(label=t.get("descripcion") or t.get("codigo", ""), amount=money(_plain(t.get("valor")), "SV"))
        for t in resumen.get("tributos") or []
    ]
    if resumen.get("totalIva"):  # factura: IVA included in the prices, stated for the buyer
        figures.append(
            Figure(label="IVA 13 % incluido en los precios", amount=money(_plain(resumen["totalIva"]), "SV"))
        )
    return figures


def _related(related: list[dict[str, Any]] | None) -> list[str]:
    return [
        f"{TITLES.get(r.get('tipoDocumento'), 'Documento')} {r.get('numeroDocumento')} del {r.get('fechaEmision')}"
        f" ({'electrónico' if r.get('tipoGeneracion') == 2 else 'físico'})"
        for r in related or []
    ]


def _legal(ident: dict[str, Any], seal: str | None) -> list[str]:
    lines = [
        f"Versión legible del documento tributario electrónico ({TITLES.get(ident['tipoDte'], ident['tipoDte'])}, "
        f"tipo {ident['tipoDte']}, versión {ident.get('version')}).",
    ]
    if seal:
        lines.append(f"Sello de recepción: {seal}")
    else:
        lines.append(
            "Sello de recepción: pendiente (emitido en contingencia; el Ministerio de Hacienda aún no lo ha recibido)."
        )
    lines.append(
        f"Número de control: {ident['numeroControl']}. Emitido por Pasarela (software libre, Apache-2.0)."
    )
    return lines
