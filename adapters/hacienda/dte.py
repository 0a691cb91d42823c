"""What we say to Hacienda: the DTE for an emission, the reception and invalidation bodies, and MH's
answers read back as Outcomes and failure classes. Pure (no I/O); the transport is `__init__.py`.

Contract: `contracts/hacienda/` (README.md: the readings taken where the manual is silent).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final, Literal

import msgspec

from adapters.base import (
    Ambiguous,
    Authority,
    Emission,
    Misconfigured,
    Outcome,
    ProviderError,
    ProviderFailure,
    Rejected,
    Unavailable,
    Unsupported,
    UnsupportedIssue,
)
from canonical.catalogs import ID_TYPES, KINDS
from canonical.errors import InvalidDocument
from canonical.sv_dte import AMBIENTES, build_dte
from canonical.totals import ZERO

# -- code tables ------------------------------------------------------------------------------------

# canonical kind -> tipoDte this adapter emits (CAT-002)
TIPOS: Final[dict[str, str]] = {
    kind: KINDS["SV"][kind] for kind in ("invoice", "tax_credit_invoice", "credit_note", "debit_note")
}

# estado of a reception or consultadte answer -> Outcome.status
STATUSES: Final[dict[str, Literal["accepted", "rejected"]]] = {
    "PROCESADO": "accepted",
    "RECHAZADO": "rejected",
    "INVALIDADO": "accepted",  # voided after acceptance: authority.code says so (research/sv.md §3.9)
}

# /seguridad/auth codes (research/sv.md §4.2) -> failure class. Bad or expired credentials cannot
# heal by retrying: Misconfigured (fall back, alert). Token trouble heals with a new token.
AUTH_CODES: Final[dict[str, type[ProviderFailure]]] = {
    "100": Misconfigured,  # usuario no válido
    "101": Misconfigured,  # contacte a soporte
    "102": Unavailable,  # no se pudo autenticar
    "103": Misconfigured,  # contraseña vencida
    "104": Misconfigured,  # error al actualizar la contraseña
    "105": Misconfigured,  # las contraseñas nuevas no coinciden
    "106": Misconfigured,  # credenciales no válidas
    "107": Unavailable,  # token no válido: authenticate again
    "108": Unavailable,  # token requerido
    "109": Unavailable,  # error al generar el token
    "110": Misconfigured,  # tipo no válido
    "111": Misconfigured,  # parámetro no válido
}

# HTTP status -> class for the reception and event routes (examples/recepciondte.*)
STATUS_CLASSES: Final[Mapping[int, type[ProviderFailure]]] = {
    400: Rejected,  # RECHAZADO (read from the body: a duplicate is no rejection)
    401: Unavailable,  # token expired or revoked: dropped, the next attempt authenticates again
    403: Misconfigured,  # the user may not transmit for this NIT
    404: Rejected,
    429: Unavailable,
    500: Ambiguous,  # after the POST the DTE may have been received
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}

# "[identificacion.codigoGeneracion] YA EXISTE UN REGISTRO CON ESE VALOR" (research/sv.md §4.3)
DUPLICATE: Final = "YA EXISTE UN REGISTRO"
DUPLICATE_FIELD: Final = "codigoGeneracion"

# CAT-024 tipoAnulacion: the void endpoint rescinds the operation, with no replacement DTE
# (tipo 2 requires codigoGeneracionR = null: anulacion-schema-v2 allOf)
RESCISSION: Final = 2
INVALIDATION_VERSION: Final = 2  # anulacion-schema-v2.json
CONTINGENCY_VERSION: Final = 3  # contingencia-schema-v3.json
CONTINGENCY_OPERATION: Final = 2  # CAT-004 tipoOperacion 2: transmission in contingency
MH_UNAVAILABLE: Final = 1  # CAT-005 tipoContingencia 1: MH's system not available
CONTINGENCY_WINDOW: Final = dt.timedelta(hours=72)  # the DTE reaches MH within 72 h of the event

_NUMERO_CONTROL: Final = re.compile(r"^DTE-(\d{2})-([MBSP]\d{3})(P\d{3})-(\d{15})$")
_POINT: Final = re.compile(r"^([MBSP]\d{3})(P\d{3})$")
_OBSERVATION: Final = re.compile(r"^\[([A-Za-z0-9_.]+)\]\s*(.*)$")
OBSERVATION_PATHS: Final[dict[str, str]] = {"receptor": "customer", "cuerpoDocumento": "lines"}
CONSULTA_PUBLICA: Final = "https://admin.factura.gob.sv/consultaPublica"


# -- identity and numbering -------------------------------------------------------------------------


def codigo_generacion(nit: str, reference: str) -> str:
    """Our codigoGeneracion for a document: an upper-case UUID v4 derived from the issuer's NIT and
    our stable reference, so every retry and every resend carries the same code and a lost answer
    is found again exactly by consultadte (no state to persist)."""
    digest = bytearray(hashlib.sha256(f"pasarela:{nit}:{reference}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x40  # version 4
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return str(uuid.UUID(bytes=bytes(digest))).upper()


def point_of_sale(emission: Emission) -> tuple[str, str]:
    """Establishment and point of sale of the numbering range (its prefix, e.g. `M001P001`), else
    the issuer's: numeroControl's sequence runs per establishment and point of sale."""
    prefix = emission.numbering.prefix if emission.numbering else ""
    match = _POINT.match(prefix)
    if match:
        return match[1], match[2]
    return emission.issuer.establishment or "", emission.issuer.point_of_sale or ""


def tipo_of(numero_control: str | None) -> str | None:
    """tipoDte from a numeroControl (`DTE-03-...` -> 03): consultadte asks by type too."""
    match = _NUMERO_CONTROL.match(numero_control or "")
    return match[1] if match else None


# -- what we send -----------------------------------------------------------------------------------


def build(emission: Emission, *, contingency: int | None = None) -> dict[str, Any]:
    """The DTE for an emission (in MH's contingency model with a CAT-005 type); content MH cannot
    take is refused as Unsupported, field by field."""
    if emission.consecutive is None:
        raise Unsupported(
            [
                UnsupportedIssue(
                    path="number", rule="hacienda-numbering", message="no numbering range assigned"
                )
            ]
        )
    establishment, pos = point_of_sale(emission)
    issuer = msgspec.structs.replace(emission.issuer, establishment=establishment, point_of_sale=pos)
    code = emission.fiscal_id or codigo_generacion(issuer.id_number or "", emission.reference)
    try:
        return build_dte(
            emission.document,
            emission.totals,
            issuer,
            sequence=emission.consecutive,
            codigo=code,
            environment=emission.environment,
            contingency=contingency,
        )
    except InvalidDocument as exc:
        raise Unsupported(
            [UnsupportedIssue(path=e.path, rule=e.rule, message=e.message) for e in exc.errors]
        ) from None
    except ValueError as exc:  # a numeroControl part that is not M001/P001-shaped
        raise Unsupported(
            [UnsupportedIssue(path="numbering.prefix", rule="hacienda-numero-control", message=str(exc))]
        ) from None


def reception(dte: Mapping[str, Any], jws: str, id_envio: int) -> dict[str, Any]:
    """`POST /fesv/recepciondte` body (research/sv.md §4.3)."""
    ident = dte["identificacion"]
    return {
        "ambiente": ident["ambiente"],
        "idEnvio": id_envio,
        "version": ident["version"],
        "tipoDte": ident["tipoDte"],
        "documento": jws,
        "codigoGeneracion": ident["codigoGeneracion"],
    }


def consulta(nit: str, tipo: str, codigo: str) -> dict[str, str]:
    """`POST /fesv/recepcion/consultadte/` body."""
    return {"nitEmisor": nit, "tdte": tipo, "codigoGeneracion": codigo}


class Responsible(msgspec.Struct, kw_only=True):
    """Who answers for an invalidation (motivo.nombreResponsable / tipDoc / numDoc): the account's."""

    name: str
    id_type: str  # canonical SV id type (DUI, NIT, ...)
    id_number: str


def invalidation(
    dte: Mapping[str, Any],
    seal: str,
    reason: str,
    responsible: Responsible,
    *,
    codigo: str,
    fecha: str,
    hora: str,
) -> dict[str, Any]:
    """The invalidación event (anulacion-schema-v2) for a sealed DTE, restating what the DTE says:
    rescission (tipo 2) with no replacement, requested by the account's responsible person."""
    ident, emisor = dte["identificacion"], dte["emisor"]
    receptor = dte.get("receptor")
    if not receptor:
        raise Rejected(
            "MH's invalidation event names the receptor; a factura to an anonymous consumer has none",
            code="hacienda-invalidation-receptor",
        )
    tipo_doc, num_doc = _receptor_id(receptor)
    responsible_type = ID_TYPES["SV"].get(responsible.id_type, "37")
    return {
        "identificacion": {
            "version": INVALIDATION_VERSION,
            "ambiente": ident["ambiente"],
            "codigoGeneracion": codigo,
            "fecAnula": fecha,
            "horAnula": hora,
        },
        "emisor": {
            "nit": emisor["nit"],
            "nombre": emisor["nombre"],
            "tipoEstablecimiento": emisor.get("tipoEstablecimiento") or "02",
            "nomEstablecimiento": emisor.get("nombreComercial"),
            "codEstableMH": emisor.get("codEstableMH"),
            "codEstable": emisor.get("codEstable") or _numero_part(ident["numeroControl"], 2),
            "codPuntoVentaMH": emisor.get("codPuntoVentaMH"),
            "codPuntoVenta": emisor.get("codPuntoVenta") or _numero_part(ident["numeroControl"], 3),
            "telefono": emisor.get("telefono"),
            "correo": emisor["correo"],
        },
        "documento": {
            "tipoDte": ident["tipoDte"],
            "codigoGeneracion": ident["codigoGeneracion"],
            "selloRecibido": seal,
            "numeroControl": ident["numeroControl"],
            "fecEmi": ident["fecEmi"],
            "montoIva": iva_of(dte),
            "codigoGeneracionR": None,
            "tipoDocumento": tipo_doc,
            "numDocumento": num_doc,
            "nombre": receptor["nombre"],
            "telefono": receptor.get("telefono"),
            "correo": receptor.get("correo"),
        },
        "motivo": {
            "tipoAnulacion": RESCISSION,
            "motivoAnulacion": reason,
            "nombreResponsable": responsible.name,
            "tipDocResponsable": responsible_type,
            "numDocResponsable": responsible.id_number,
            "nombreSolicita": responsible.name,
            "tipDocSolicita": responsible_type,
            "numDocSolicita": responsible.id_number,
        },
    }


def contingency_event(
    dte: Mapping[str, Any],
    responsible: Responsible,
    *,
    codigo: str,
    until: dt.datetime,
) -> dict[str, Any]:
    """The contingency event (contingencia-schema-v3) reporting one DTE issued in contingency: from
    its issue time until MH answered again."""
    ident, emisor = dte["identificacion"], dte["emisor"]
    return {
        "identificacion": {
            "version": CONTINGENCY_VERSION,
            "ambiente": ident["ambiente"],
            "codigoGeneracion": codigo,
            "fTransmision": until.date().isoformat(),
            "hTransmision": until.strftime("%H:%M:%S"),
        },
        "emisor": {
            "nit": emisor["nit"],
            "nombre": emisor["nombre"],
            "nombreResponsable": responsible.name,
            "tipoDocResponsable": ID_TYPES["SV"].get(responsible.id_type, "37"),
            "numeroDocResponsable": responsible.id_number,
            "tipoEstablecimiento": emisor.get("tipoEstablecimiento") or "02",
            "codEstableMH": emisor.get("codEstableMH"),
            "codPuntoVenta": emisor.get("codPuntoVenta") or _numero_part(ident["numeroControl"], 3),
            "telefono": emisor.get("telefono") or "",
            "correo": emisor["correo"],
        },
        "detalleDTE": [
            {"noItem": 1, "codigoGeneracion": ident["codigoGeneracion"], "tipoDoc": ident["tipoDte"]}
        ],
        "motivo": {
            "fInicio": ident["fecEmi"],
            "fFin": until.date().isoformat(),
            "hInicio": ident["horEmi"],
            "hFin": until.strftime("%H:%M:%S"),
            "tipoContingencia": ident["tipoContingencia"],
            "motivoContingencia": None,
        },
    }


def in_contingency(dte: Mapping[str, Any]) -> bool:
    return dte.get("identificacion", {}).get("tipoOperacion") == CONTINGENCY_OPERATION


def iva_of(dte: Mapping[str, Any]) -> Decimal:
    """montoIva: the factura's totalIva, else the resumen's tributo 20."""
    resumen = dte["resumen"]
    if "totalIva" in resumen:
        return resumen["totalIva"]
    return sum((t["valor"] for t in resumen.get("tributos") or [] if t["codigo"] == "20"), ZERO)


def _receptor_id(receptor: Mapping[str, Any]) -> tuple[str, str]:
    if "nit" in receptor:  # CCF and notes identify the receptor by NIT
        return "36", receptor["nit"]
    if not receptor.get("tipoDocumento") or not receptor.get("numDocumento"):
        raise Rejected(
            "MH's invalidation event needs the receptor's identification document",
            code="hacienda-invalidation-receptor",
        )
    return receptor["tipoDocumento"], receptor["numDocumento"]


def _numero_part(numero: str, group: int) -> str | None:
    match = _NUMERO_CONTROL.match(numero)
    return match[group] if match else None


def public_link(environment: str, codigo: str, fecha: str) -> str:
    """The public consultation link every printed DTE carries (research/sv.md §4.4)."""
    return f"{CONSULTA_PUBLICA}?ambiente={AMBIENTES[environment]}&codGen={codigo}&fechaEmi={fecha}"


# -- what MH answers --------------------------------------------------------------------------------


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def observations(body: Mapping[str, Any]) -> list[str]:
    value = body.get("observaciones")
    return [str(o) for o in value] if isinstance(value, list) else []


def observation_error(observation: str) -> ProviderError:
    """`[resumen.totalIva] CALCULO INCORRECTO` -> code = the DTE field, path = the canonical one."""
    match = _OBSERVATION.match(observation)
    if not match:
        return ProviderError(code="observacion", message=observation)
    field = match[1]
    return ProviderError(code=field, message=observation, path=OBSERVATION_PATHS.get(field.split(".")[0]))


def is_duplicate(body: Mapping[str, Any]) -> bool:
    """MH refuses a second DTE with a codigoGeneracion it holds: for us, that it has ours. (The same
    words about another field, e.g. a numeroControl already used, are a plain rejection.)"""
    texts = [text(body.get("descripcionMsg")) or "", text(body.get("mensaje")) or "", *observations(body)]
    return any(DUPLICATE in t.upper() and DUPLICATE_FIELD in t for t in texts)


def errors_of(body: Mapping[str, Any]) -> list[ProviderError]:
    """MH's message (codigoMsg, descripcionMsg) and each observación, MH's words kept."""
    found = []
    if text(body.get("descripcionMsg")):
        found.append(
            ProviderError(code=str(body.get("codigoMsg") or "RECHAZADO"), message=body["descripcionMsg"])
        )
    return found + [observation_error(o) for o in observations(body)]


def outcome(body: Mapping[str, Any], *, raw: Any = None) -> Outcome:
    """A PROCESADO (or INVALIDADO) answer -> accepted with MH's seal; observaciones are warnings."""
    estado = text(body.get("estado"))
    seal = text(body.get("selloRecibido"))
    warnings = [f"Hacienda observación: {o}" for o in observations(body)]
    if estado not in STATUSES or STATUSES[estado] != "accepted" or not seal:
        # no sello, no acceptance: an answer we cannot read is not a verdict
        raise Ambiguous(
            f"Hacienda answered estado {estado!r} without a selloRecibido", code="estado", raw=raw
        )
    code = text(body.get("codigoGeneracion"))
    return Outcome(
        status="accepted",
        provider_reference=code,
        fiscal_id=code,
        authority=Authority(
            code=estado if estado != "PROCESADO" else text(body.get("codigoMsg")) or estado,
            message=text(body.get("descripcionMsg")),
            seal=seal,
        ),
        warnings=warnings,
        raw=raw,
    )


def rejection(body: Mapping[str, Any], *, raw: Any = None, http_status: int | None = None) -> Rejected:
    return Rejected(
        text(body.get("descripcionMsg")) or "Hacienda rejected the DTE",
        code=str(body.get("codigoMsg") or "RECHAZADO"),
        errors=errors_of(body),
        raw=raw,
        http_status=http_status,
    )


def auth_failure(body: Any, http_status: int) -> ProviderFailure:
    """A refused `/seguridad/auth`: the code (where MH gives one) picks the class, else the status."""
    body = body if isinstance(body, dict) else {}
    inner = body.get("body") if isinstance(body.get("body"), dict) else {}
    code = str(inner.get("codigo") or body.get("codigo") or "")
    message = str(
        body.get("message") or inner.get("mensaje") or body.get("error") or f"auth answered {http_status}"
    )
    cls = AUTH_CODES.get(code)
    if cls is None:
        cls = Misconfigured if http_status in (400, 401, 403) else Unavailable
    return cls(f"Hacienda /seguridad/auth: {message}", code=code or str(http_status), http_status=http_status)
