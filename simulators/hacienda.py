"""Hacienda (MH) simulator: the transmission API as MH's Manual Tecnológico describes it
(research/sv.md §4; contracts/hacienda/), checking what MH is known to check.

- `POST /seguridad/auth` (form `user`, `pwd`): a Bearer token valid 48 h (the test environment's).
  Users: `SimSettings.hacienda_users` / `PASARELA_SIM_HACIENDA_USERS` ("NIT:password,..."); when
  neither is set, any NIT whose certificate the simulator holds, with any password (a first run).
- Certificates: the public key of each `<NIT>.crt` in `SimSettings.hacienda_certificates` /
  `PASARELA_SIM_HACIENDA_CERTS`, the key MH keeps for the NIT when it issues the certificate.
- `POST /fesv/recepciondte`: verifies the JWS (RS512) with the NIT's public key, validates the DTE
  against the official schema for its tipoDte and version (contracts/sv-dte/), then MH's checks:
  numeroControl structure, unique codigoGeneracion and numeroControl, totals within 0.01, fecEmi
  from 10 days back to today (ARCHITECTURE.md; read through `canonical.clock`). PROCESADO with a
  40-character sello, or HTTP 400 RECHAZADO.
- `POST /fesv/recepcion/consultadte/`, `POST /fesv/anulardte` (invalidation windows: a factura
  within 3 months of its sello, any other DTE until the end of the day after it).
- `POST /fesv/contingencia`: the contingency event (contingencia-schema-v3); a DTE issued in
  contingency (tipoOperacion 2) is received only when an event lists it, within 72 h of its sello.
- `/_sim` control API (simulators/control.py).

Written from the manual and the schemas: never imports `adapters`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import threading
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any, Final
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import jsonschema
import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from litestar import Litestar, Request, Response, post

import contracts
from canonical import clock
from canonical.catalogs import TIME_ZONES
from simulators.control import LedgerEntry, SimState, control_handlers

PROVIDER: Final = "hacienda"
EL_SALVADOR: Final = ZoneInfo(TIME_ZONES["SV"])
TOKEN_LIFETIME: Final = dt.timedelta(hours=48)  # test environment (research/sv.md §4.2)
TOLERANCE: Final = Decimal("0.01")  # MH's tolerance on computed totals (research/sv.md §3.7)
IVA_RATE: Final = Decimal("0.13")
ISSUE_WINDOW_DAYS: Final = 10

# tipoDte -> {version: schema file} (the legacy package in contracts/sv-dte/)
DTE_SCHEMAS: Final[dict[str, dict[int, str]]] = {
    "01": {1: "fe-fc-v1.json"},
    "03": {3: "fe-ccf-v3.json"},
    "04": {3: "fe-nr-v3.json"},
    "05": {3: "fe-nc-v3.json"},
    "06": {3: "fe-nd-v3.json"},
    "07": {1: "fe-cr-v1.json"},
    "11": {1: "fe-fex-v1.json"},
    "14": {1: "fe-fse-v1.json"},
}
INVALIDATION_SCHEMA: Final = "anulacion-schema-v2.json"
CONTINGENCY_SCHEMA: Final = "contingencia-schema-v3.json"
CONTINGENCY_WINDOW: Final = dt.timedelta(hours=72)
IN_CONTINGENCY: Final = 2  # CAT-004 tipoOperacion
FACTURA: Final = "01"
_DUPLICATE: Final = "[identificacion.codigoGeneracion] YA EXISTE UN REGISTRO CON ESE VALOR"

_wire = msgspec.json.Encoder(decimal_format="number")


class Received(msgspec.Struct, kw_only=True):
    """A DTE MH sealed."""

    nit: str
    tipo: str
    numero: str
    dte: dict[str, Any]
    seal: str
    sealed_at: dt.datetime
    invalidated_by: str | None = None  # the invalidation event's codigoGeneracion


class Hacienda:
    """The simulator's records: tokens, sealed DTE, invalidation events."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.lock = threading.Lock()
        self.tokens: dict[str, tuple[str, dt.datetime]] = {}
        self.received: dict[str, Received] = {}
        self.numbers: set[tuple[str, str]] = set()
        self.events: set[str] = set()
        self.reported: dict[str, dt.datetime] = {}  # DTE codigo -> sealed time of its contingency event

    # -- accreditation -------------------------------------------------------------------------------

    def certificates_dir(self) -> Path | None:
        value = self.state.settings.hacienda_certificates or os.environ.get("PASARELA_SIM_HACIENDA_CERTS")
        return Path(value) if value else None

    def public_key(self, nit: str) -> RSAPublicKey | None:
        folder = self.certificates_dir()
        path = folder / f"{nit}.crt" if folder and nit.isdigit() else None
        if path is None or not path.is_file():
            return None
        return _public_key(str(path), path.stat().st_mtime_ns)

    def user_allowed(self, nit: str, password: str) -> bool:
        value = self.state.settings.hacienda_users
        if value is None:
            value = os.environ.get("PASARELA_SIM_HACIENDA_USERS")
        if not value:
            return self.public_key(nit) is not None
        users = dict(pair.split(":", 1) for pair in value.split(",") if ":" in pair)
        return users.get(nit) == password

    def token_user(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        with self.lock:
            found = self.tokens.get(header)
        if found is None or clock.now(dt.UTC) >= found[1]:
            return None
        return found[0]


def create_app(state: SimState) -> Litestar:
    mh = Hacienda(state)

    @post("/seguridad/auth", status_code=200)
    async def auth(request: Request) -> Response:
        form = await request.form()
        user, password = str(form.get("user") or ""), str(form.get("pwd") or "")
        if not mh.user_allowed(user, password):
            return _example("auth.401")
        token = "Bearer " + secrets.token_urlsafe(48)
        with mh.lock:
            mh.tokens[token] = (user, clock.now(dt.UTC) + TOKEN_LIFETIME)
        body = contracts.example(PROVIDER, "auth.200")["body"]
        return _json(200, {**body, "body": {**body["body"], "user": user, "token": token}})

    @post("/fesv/recepciondte", status_code=200)
    async def recepcion(request: Request) -> Response:
        nit = mh.token_user(request)
        if nit is None:
            return _example("recepciondte.401")
        mode = state.next_fault(request)
        if mode == "down":
            return _example("recepciondte.503")
        if mode == "quota":
            return state.quota({"status": "ERROR", "message": "Demasiadas solicitudes"})
        body = _body(await request.body())
        code = body.get("codigoGeneracion") if isinstance(body, dict) else None
        if mode == "reject":
            return _rejected(code, "20", "020", "[resumen.totalPagar] CALCULO INCORRECTO")
        problems = contracts.request_errors(PROVIDER, "recepciondte", body)
        if problems:
            return _rejected(code, "20", "001", "JSON DE LA PETICION NO VALIDO", _listed(problems))
        dte, refusal = _signed(mh, nit, body["documento"])
        if refusal:
            return _rejected(code, "20", "002", refusal)
        ident = dte["identificacion"]
        if (ident.get("tipoDte"), ident.get("version"), ident.get("codigoGeneracion")) != (
            body["tipoDte"],
            body["version"],
            code,
        ):
            return _rejected(code, "20", "003", "[identificacion] NO COINCIDE CON LA PETICION")
        with mh.lock:  # the duplicate check and the record are one step
            if code in mh.received:
                return _rejected(code, "11", "004", _DUPLICATE)
            errors = _dte_errors(dte, nit) or _contingency_errors(mh, ident)
            if errors:
                return _rejected(code, "20", "020", errors[0], errors[1:])
            numero = ident["numeroControl"]
            if (nit, numero) in mh.numbers:
                return _rejected(
                    code, "11", "004", "[identificacion.numeroControl] YA EXISTE UN REGISTRO CON ESE VALOR"
                )
            seal, observations = _seal(), _observations(dte)
            mh.received[code] = Received(
                nit=nit,
                tipo=ident["tipoDte"],
                numero=numero,
                dte=dte,
                seal=seal,
                sealed_at=clock.now(EL_SALVADOR),
            )
            mh.numbers.add((nit, numero))
        state.issue(
            LedgerEntry(
                reference=code,
                number=numero,
                fiscal_id=code,
                kind=ident["tipoDte"],
                payload={"dte": dte, "jws": body["documento"], "sello": seal, "estado": "PROCESADO"},
            )
        )
        await state.after_issue(mode)
        message = ("002", "RECIBIDO CON OBSERVACIONES") if observations else ("001", "RECIBIDO")
        return _json(200, _answer("PROCESADO", code, seal, "10", *message, observations))

    @post("/fesv/recepcion/consultadte/", status_code=200)
    async def consulta(request: Request) -> Response:
        nit = mh.token_user(request)
        if nit is None:
            return _example("recepciondte.401")
        body = _body(await request.body())
        if contracts.request_errors(PROVIDER, "consultadte", body) or body["nitEmisor"] != nit:
            return _rejected(None, "20", "001", "JSON DE LA PETICION NO VALIDO")
        with mh.lock:
            found = mh.received.get(body["codigoGeneracion"])
        if found is None or found.nit != nit or found.tipo != body["tdte"]:
            return _json(
                404, _answer(None, body["codigoGeneracion"], None, None, None, "NO SE ENCONTRO EL DOCUMENTO")
            )
        if found.invalidated_by:
            return _json(
                200,
                _answer(
                    "INVALIDADO", body["codigoGeneracion"], found.seal, "10", "001", "DOCUMENTO INVALIDADO"
                ),
            )
        return _json(200, _answer("PROCESADO", body["codigoGeneracion"], found.seal, "10", "001", "RECIBIDO"))

    @post("/fesv/anulardte", status_code=200)
    async def anular(request: Request) -> Response:
        nit = mh.token_user(request)
        if nit is None:
            return _example("recepciondte.401")
        mode = state.next_fault(request)
        if mode == "down":
            return _example("recepciondte.503")
        body = _body(await request.body())
        if contracts.request_errors(PROVIDER, "anulardte", body):
            return _rejected(None, "20", "001", "JSON DE LA PETICION NO VALIDO")
        event, refusal = _signed(mh, nit, body["documento"])
        if refusal:
            return _rejected(None, "20", "002", refusal)
        code = event.get("identificacion", {}).get("codigoGeneracion")
        errors = _schema_errors(INVALIDATION_SCHEMA, event)
        if errors:
            return _rejected(code, "20", "020", errors[0], errors[1:])
        target = event["documento"]
        with mh.lock:
            if code in mh.events:
                return _rejected(code, "11", "004", _DUPLICATE)
            found = mh.received.get(target["codigoGeneracion"])
            refusal = _invalidation_refusal(found, target, nit)
            if refusal:
                return _rejected(code, "20", "020", refusal)
            found.invalidated_by = code  # type: ignore[union-attr]  # checked in _invalidation_refusal
            mh.events.add(code)
        seal = _seal()
        entry = state.issued(target["codigoGeneracion"])
        if entry is not None:  # the ledger shows the DTE's public state
            entry.payload |= {
                "estado": "INVALIDADO",
                "invalidacion": {"codigoGeneracion": code, "sello": seal},
            }
        await state.after_issue(mode)
        return _json(200, _answer("PROCESADO", code, seal, "10", "001", "Invalidación Recibida y Procesada"))

    @post("/fesv/contingencia", status_code=200)
    async def contingencia(request: Request) -> Response:
        nit = mh.token_user(request)
        if nit is None:
            return _example("recepciondte.401")
        body = _body(await request.body())
        if contracts.request_errors(PROVIDER, "contingencia", body) or body["nit"] != nit:
            return _event_answer(400, "RECHAZADO", None, "JSON DE LA PETICION NO VALIDO")
        event, refusal = _signed(mh, nit, body["documento"])
        if refusal:
            return _event_answer(400, "RECHAZADO", None, refusal)
        errors = _schema_errors(CONTINGENCY_SCHEMA, event)
        if errors:
            return _event_answer(400, "RECHAZADO", None, errors[0], errors[1:])
        code = event["identificacion"]["codigoGeneracion"]
        seal = _seal()
        with mh.lock:
            if code in mh.events:
                return _event_answer(400, "RECHAZADO", None, _DUPLICATE)
            mh.events.add(code)
            for item in event["detalleDTE"]:
                mh.reported[item["codigoGeneracion"]] = clock.now(EL_SALVADOR)
        return _event_answer(200, "RECIBIDO", seal, "EVENTO DE CONTINGENCIA RECIBIDO")

    return Litestar(
        route_handlers=[auth, recepcion, consulta, anular, contingencia, *control_handlers(state)],
        debug=False,
    )


# -- the checks -------------------------------------------------------------------------------------


@cache
def _validator(schema_file: str) -> jsonschema.Draft7Validator:
    schema = json.loads(contracts.read_bytes("sv-dte", schema_file), parse_float=Decimal)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def _schema_errors(schema_file: str, instance: Any) -> list[str]:
    return [
        f"[{'.'.join(str(p) for p in e.absolute_path) or 'documento'}] {e.message}"
        for e in _validator(schema_file).iter_errors(instance)
    ]


@cache
def _public_key(path: str, mtime: int) -> RSAPublicKey | None:
    """The key MH holds for the NIT: `publicKey/encodied` of its .crt (cached per file version)."""
    try:
        encoded = ElementTree.parse(path).getroot().findtext("publicKey/encodied") or ""
        key = serialization.load_der_public_key(base64.b64decode(encoded))
    except (ElementTree.ParseError, ValueError):
        return None
    return key if isinstance(key, RSAPublicKey) else None


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _signed(mh: Hacienda, nit: str, jws: str) -> tuple[dict[str, Any], str | None]:
    """The verified payload of a compact JWS signed RS512 by the NIT's key, or the refusal."""
    try:
        header_b64, payload_b64, signature_b64 = jws.split(".")
        header = json.loads(_b64url(header_b64))
        payload = json.loads(_b64url(payload_b64), parse_float=Decimal)
        signature = _b64url(signature_b64)
    except (ValueError, json.JSONDecodeError):
        return {}, "[documento] FIRMA NO VALIDA: JWS MAL FORMADO"
    if not isinstance(header, dict) or header.get("alg") != "RS512" or not isinstance(payload, dict):
        return {}, "[documento] FIRMA NO VALIDA: ALGORITMO DEBE SER RS512"
    signer = str((payload.get("emisor") or {}).get("nit") or "")
    if signer != nit:
        return {}, "[emisor.nit] NO CORRESPONDE AL USUARIO AUTENTICADO"
    key = mh.public_key(nit)
    if key is None:
        return {}, "[emisor.nit] NO TIENE CERTIFICADO REGISTRADO"
    try:
        key.verify(signature, f"{header_b64}.{payload_b64}".encode(), padding.PKCS1v15(), hashes.SHA512())
    except InvalidSignature:
        return {}, "[documento] FIRMA NO VALIDA"
    return payload, None


def _dte_errors(dte: dict[str, Any], nit: str) -> list[str]:
    ident = dte.get("identificacion") or {}
    schema_file = DTE_SCHEMAS.get(ident.get("tipoDte"), {}).get(ident.get("version"))
    if schema_file is None:
        return [
            f"[identificacion.version] VERSION {ident.get('version')} NO VALIDA PARA TIPO {ident.get('tipoDte')}"
        ]
    errors = _schema_errors(schema_file, dte)
    if errors:
        return errors
    tipo = ident["tipoDte"]
    numero = ident["numeroControl"]
    # The official pattern is looser than MH's check since Oct 2025 (research/sv.md §3.2)
    if not (
        numero.startswith(f"DTE-{tipo}-")
        and numero[7] in "MBSP"
        and numero[8:11].isdigit()
        and numero[11] == "P"
        and numero[12:15].isdigit()
        and numero[15] == "-"
        and numero[16:].isdigit()
    ):
        return [
            f"[identificacion.numeroControl] {numero} NO CUMPLE LA ESTRUCTURA DTE-{tipo}-M000P000-000000000000000"
        ]
    today = clock.today(EL_SALVADOR)
    issued = dt.date.fromisoformat(ident["fecEmi"])
    if issued > today:
        return ["[identificacion.fecEmi] FECHA DE EMISION POSTERIOR A LA FECHA ACTUAL"]
    if issued < today - dt.timedelta(days=ISSUE_WINDOW_DAYS):
        return ["[identificacion.fecEmi] FECHA DE EMISION FUERA DEL PLAZO PERMITIDO"]
    return [f"[resumen.{field}] CALCULO INCORRECTO" for field, diff in _differences(dte) if diff > TOLERANCE]


def _contingency_errors(mh: Hacienda, ident: dict[str, Any]) -> list[str]:
    """A DTE issued in contingency comes after the event that reports it, within 72 h of it."""
    if ident.get("tipoOperacion") != IN_CONTINGENCY:
        return []
    reported = mh.reported.get(ident["codigoGeneracion"])
    if reported is None:
        return ["[identificacion.codigoGeneracion] NO SE ENCUENTRA EN UN EVENTO DE CONTINGENCIA"]
    if clock.now(EL_SALVADOR) > reported + CONTINGENCY_WINDOW:
        return ["[identificacion.codigoGeneracion] FUERA DEL PLAZO DE 72 HORAS DEL EVENTO DE CONTINGENCIA"]
    return []


def _observations(dte: dict[str, Any]) -> list[str]:
    """Differences within the tolerance: accepted with observaciones (codigoMsg 002)."""
    return [
        f"[resumen.{field}] CALCULO INCORRECTO" for field, diff in _differences(dte) if 0 < diff <= TOLERANCE
    ]


def _differences(dte: dict[str, Any]) -> list[tuple[str, Decimal]]:
    """|stated − recomputed| of each resumen total MH recomputes from the items as transmitted."""
    items, resumen = dte["cuerpoDocumento"], dte["resumen"]
    factura = dte["identificacion"]["tipoDte"] == FACTURA
    zero = Decimal(0)

    def column(name: str) -> Decimal:
        return sum((Decimal(item.get(name) or 0) for item in items), zero)

    gravada, exenta, no_suj = column("ventaGravada"), column("ventaExenta"), column("ventaNoSuj")
    sub_total = (
        resumen["subTotalVentas"] - resumen["descuNoSuj"] - resumen["descuExenta"] - resumen["descuGravada"]
    )
    if factura:
        iva = column("ivaItem")
        stated_iva = resumen["totalIva"]
        monto = sub_total
    else:
        iva = (resumen["totalGravada"] - resumen["descuGravada"]) * IVA_RATE
        stated_iva = sum((t["valor"] for t in resumen.get("tributos") or [] if t["codigo"] == "20"), zero)
        monto = sub_total + stated_iva
    expected = [
        ("totalGravada", resumen["totalGravada"], gravada),
        ("totalExenta", resumen["totalExenta"], exenta),
        ("totalNoSuj", resumen["totalNoSuj"], no_suj),
        ("subTotalVentas", resumen["subTotalVentas"], gravada + exenta + no_suj),
        ("totalIva" if factura else "tributos", stated_iva, iva),
        ("montoTotalOperacion", resumen["montoTotalOperacion"], monto),
    ]
    if "totalPagar" in resumen:
        pagar = (
            resumen["montoTotalOperacion"]
            + resumen.get("ivaPerci1", zero)
            - resumen["ivaRete1"]
            - resumen["reteRenta"]
            + resumen.get("totalNoGravado", zero)
        )
        expected.append(("totalPagar", resumen["totalPagar"], pagar))
    # resumen amounts carry 2 decimals: the recomputed figure is rounded the same way first
    cents = Decimal("0.01")
    return [
        (name, abs(stated - computed.quantize(cents, rounding=ROUND_HALF_UP)))
        for name, stated, computed in expected
    ]


def _invalidation_refusal(found: Received | None, target: dict[str, Any], nit: str) -> str | None:
    """MH's rules for an invalidation (Manual de eventos v1.1, research/sv.md §3.9)."""
    if found is None or found.nit != nit or found.tipo != target["tipoDte"]:
        return "[documento.codigoGeneracion] EL DOCUMENTO NO EXISTE"
    if found.invalidated_by:
        return "[documento.codigoGeneracion] EL DOCUMENTO YA FUE INVALIDADO"
    if target["selloRecibido"] != found.seal or target["numeroControl"] != found.numero:
        return "[documento.selloRecibido] NO COINCIDE CON EL DOCUMENTO"
    now = clock.now(EL_SALVADOR)
    sealed = found.sealed_at
    if found.tipo == FACTURA:
        month = sealed.month + 3
        limit = sealed.replace(
            year=sealed.year + (month - 1) // 12, month=(month - 1) % 12 + 1, day=min(sealed.day, 28)
        )
    else:
        limit = dt.datetime.combine(sealed.date() + dt.timedelta(days=2), dt.time(), EL_SALVADOR)
    if now >= limit:
        return "[documento.selloRecibido] FUERA DEL PLAZO PARA INVALIDAR EL DOCUMENTO"
    return None


# -- answers ----------------------------------------------------------------------------------------


def _answer(
    estado: str | None,
    code: str | None,
    seal: str | None,
    clasifica: str | None,
    codigo: str | None,
    message: str,
    observaciones: list[str] | None = None,
) -> dict[str, Any]:
    """The reception answer's shape, used by every route (research/sv.md §4.3)."""
    return {
        "version": 2,
        "ambiente": "00",
        "versionApp": 2,
        "estado": estado,
        "codigoGeneracion": code,
        "selloRecibido": seal,
        "fhProcesamiento": clock.now(EL_SALVADOR).strftime("%d/%m/%Y %H:%M:%S"),
        "clasificaMsg": clasifica,
        "codigoMsg": codigo,
        "descripcionMsg": message,
        "observaciones": observaciones or [],
    }


def _rejected(
    code: str | None, clasifica: str, codigo: str, message: str, observaciones: list[str] | None = None
) -> Response:
    """RECHAZADO: HTTP 400, no sello (the manual's example)."""
    return _json(400, _answer("RECHAZADO", code, None, clasifica, codigo, message, observaciones))


def _event_answer(
    status: int, estado: str, seal: str | None, message: str, observaciones: list[str] | None = None
) -> Response:
    """The contingency event's answer shape (research/sv.md §4.4)."""
    body = {
        "estado": estado,
        "fechaHora": clock.now(EL_SALVADOR).strftime("%d/%m/%Y %H:%M:%S"),
        "mensaje": message,
        "selloRecibido": seal,
        "observaciones": observaciones or [],
    }
    return _json(status, body)


def _listed(problems: dict[str, list[str]]) -> list[str]:
    return [f"[{path}] {message}" for path, messages in problems.items() for message in messages]


def _body(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_float=Decimal)
    except ValueError:
        return None


def _seal() -> str:
    """selloRecibido: 40 upper-case alphanumerics starting with the year (research/sv.md §4.3)."""
    return f"{clock.now(EL_SALVADOR).year}{secrets.token_hex(18).upper()}"


def _json(status: int, body: Any) -> Response:
    return Response(content=_wire.encode(body), status_code=status, media_type="application/json")


def _example(name: str) -> Response:
    recorded = contracts.example(PROVIDER, name)
    return _json(recorded["status"], recorded["body"])
