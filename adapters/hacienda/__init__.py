"""Hacienda direct (El Salvador): the tenant's own MH credentials and `.crt`, no intermediary.

How we talk to MH (this module): `/seguridad/auth` for a token kept per account until shortly before
it expires; the DTE signed in-process (jws.py, certificate.py) and sent to `/fesv/recepciondte`;
`/fesv/recepcion/consultadte/` to ask about it; `/fesv/anulardte` for the invalidación event. What we
say (the DTE, the bodies, the reading of MH's answers) lives in dte.py. MH takes our number
(`numbering = "ours"`): numeroControl from the tenant's range, codigoGeneracion derived from our
stable reference.

Reconciliation (ARCHITECTURE.md; the manual's retry policy, research/sv.md §4.3): no answer within
8 s is Ambiguous; `find()` asks consultadte for the codigoGeneracion the emission always has; not
found means MH never received it, and `emit()` of the same emission resends the byte-identical
signed DTE. MH answers a duplicate codigoGeneracion with "YA EXISTE UN REGISTRO", which `emit()`
confirms through consultadte: never a rejection.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import OrderedDict
from decimal import Decimal
from typing import Any, ClassVar, Final, Literal
from urllib.parse import urlencode
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
    Outcome,
    ProviderFailure,
    ProviderRef,
    Rejected,
    Unavailable,
    load_credentials,
)
from adapters.hacienda import dte as mh
from adapters.hacienda.certificate import MhCertificate, load_certificate
from adapters.hacienda.jws import sign
from adapters.http import ProviderHttp, documented_not_found, exact_json_body, failure_for_status
from canonical import clock
from canonical.catalogs import TIME_ZONES
from canonical.sv_dte import dte_json

__all__ = ["HaciendaAdapter"]

AUTH: Final = "/seguridad/auth"
RECEPCION: Final = "/fesv/recepciondte"
CONSULTA: Final = "/fesv/recepcion/consultadte/"
ANULAR: Final = "/fesv/anulardte"
CONTINGENCIA: Final = "/fesv/contingencia"
CONTINGENCY: Final = "CONTINGENCIA"  # authority.code of a DTE issued in contingency, not yet sealed
UNREACHABLE_CODES: Final = frozenset({"connect", "timeout", "transport"})
UNREACHABLE_STATUSES: Final = frozenset({502, 503, 504})

RECEPTION_TIMEOUT_S: Final = 8.0  # the manual: no answer within 8 s -> ask consultadte
TOKEN_LIFETIME: Final[dict[str, dt.timedelta]] = {
    "test": dt.timedelta(hours=48),
    "production": dt.timedelta(hours=24),
}
TOKEN_MARGIN: Final = dt.timedelta(hours=2)  # renewed this long before MH would refuse it
USER_AGENT: Final = "pasarela"
_KEEP_SIGNED: Final = 256  # recent signed DTE kept for a reconciled document's stored copy
EL_SALVADOR: Final = ZoneInfo(TIME_ZONES["SV"])

_exact = msgspec.json.Decoder(float_hook=Decimal)
_wire = msgspec.json.Encoder(decimal_format="number")


class HaciendaCredentials(msgspec.Struct, kw_only=True):
    user: str  # the emisor's NIT, no hyphens (the API user MH created for it)
    password: str  # the API password (13-25 characters)
    certificate: str  # path to the `<NIT>.crt` MH issued
    certificate_password: str  # the private-key password (checked against the .crt's SHA-512)
    responsible_name: str | None = None  # invalidación: who answers for it (motivo.nombreResponsable)
    responsible_id_type: str = "DUI"
    responsible_id_number: str | None = None


class HaciendaAdapter(Adapter):
    name: ClassVar[str] = "hacienda"
    countries: ClassVar[frozenset[str]] = frozenset({"SV"})
    kinds: ClassVar[frozenset[str]] = frozenset(mh.TIPOS)
    numbering: ClassVar[Literal["ours", "provider"]] = "ours"
    health_probe: ClassVar[str] = "token"
    Credentials: ClassVar[type[msgspec.Struct]] = HaciendaCredentials

    def __init__(self, account: Account) -> None:
        self.account = account
        self.credentials: HaciendaCredentials = load_credentials(type(self), account)
        self.http = ProviderHttp(
            account.base_url,
            timeout_s=min(account.timeout_s, RECEPTION_TIMEOUT_S),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        self._token: str | None = None
        self._token_until: dt.datetime | None = None
        self._auth_lock: asyncio.Lock | None = None
        self._signed: OrderedDict[str, bytes] = OrderedDict()

    # -- signing -------------------------------------------------------------------------------------

    @property
    def identity(self) -> MhCertificate:
        """The signing key from MH's .crt (opened with its password on each use: `tenants check` opens it too)."""
        return load_certificate(self.credentials.certificate, self.credentials.certificate_password)

    def build_payload(self, emission: Emission) -> dict[str, Any]:
        """The DTE that would be signed (preview shows it)."""
        return mh.build(emission)

    def prepare(self, emission: Emission) -> tuple[dict[str, Any], str]:
        """The DTE and its JWS: the exact string sent and stored."""
        dte = mh.build(emission)
        return dte, sign(dte_json(dte), self.identity.key)

    @staticmethod
    def stored(dte: dict[str, Any], jws: str) -> bytes:
        """What the gateway keeps and serves for the document: the DTE JSON and its signed JWS."""
        return _wire.encode({"dte": dte, "jws": jws})

    # -- emitting ------------------------------------------------------------------------------------

    async def emit(self, emission: Emission) -> Outcome:
        dte, jws = self.prepare(emission)
        ident = dte["identificacion"]
        code, numero = ident["codigoGeneracion"], ident["numeroControl"]
        stored = self.stored(dte, jws)
        self._remember(code, stored)
        body = mh.reception(dte, jws, id_envio=emission.consecutive or 1)
        try:
            response = await self._post(RECEPCION, body, emits=True)
        except Ambiguous as exc:
            exc.raw = {"fiscal_id": code, "number": numero}  # what to reconcile by
            raise
        except Unavailable as exc:
            if self._unreachable(exc):
                return self._issue_in_contingency(emission)
            raise
        answer = exact_json_body(response)
        answer = answer if isinstance(answer, dict) else {}
        if response.status_code in (200, 400) and mh.is_duplicate(answer):
            outcome = await self._confirm_duplicate(ident["tipoDte"], code)
        elif response.status_code in (200, 400) and answer.get("estado") == "RECHAZADO":
            raise mh.rejection(answer, raw=answer, http_status=response.status_code)
        elif response.status_code == 200:
            outcome = mh.outcome(answer, raw=answer)
        else:
            failure = self._failure(response, answer, emits=True)
            if isinstance(failure, Unavailable) and self._unreachable(failure):
                return self._issue_in_contingency(emission)
            raise failure
        outcome.provider_reference = outcome.fiscal_id = code  # ours, whatever the answer echoes
        outcome.number = numero
        outcome.xml = stored
        outcome.links["consulta_publica"] = mh.public_link(self.account.environment, code, ident["fecEmi"])
        return outcome

    # -- contingency ---------------------------------------------------------------------------------

    def _unreachable(self, failure: ProviderFailure) -> bool:
        """MH's own system is not available (CAT-005 1): no connection, or its gateway answers 5xx
        before taking the DTE. Only for accounts that opted in to MH's contingency model."""
        return self.account.contingency and (
            failure.code in UNREACHABLE_CODES or failure.http_status in UNREACHABLE_STATUSES
        )

    def _issue_in_contingency(self, emission: Emission) -> Outcome:
        """The DTE issued in MH's contingency model (tipoModelo 2, tipoOperacion 2, signed now and
        valid for the buyer); MH gets the contingency event and then the DTE when it answers again
        (`status()`), within 72 h of the event. `pending` until MH seals it."""
        responsible = self._responsible()  # the event needs it: refuse now, not after issuing
        dte = mh.build(emission, contingency=mh.MH_UNAVAILABLE)
        jws = sign(dte_json(dte), self.identity.key)
        ident = dte["identificacion"]
        code = ident["codigoGeneracion"]
        stored = self.stored(dte, jws)
        self._remember(code, stored)
        return Outcome(
            status="pending",
            provider_reference=code,
            fiscal_id=code,
            number=ident["numeroControl"],
            authority=Authority(
                code=CONTINGENCY,
                message=f"issued in contingency (MH unreachable); reported to MH by {responsible.name} "
                "with its contingency event once MH answers, then transmitted within 72 h",
            ),
            warnings=["Hacienda was unreachable: the DTE was issued in MH's contingency model"],
            links={"consulta_publica": mh.public_link(self.account.environment, code, ident["fecEmi"])},
            xml=stored,
        )

    async def _transmit_contingency(self, dte: dict[str, Any], jws: str) -> Outcome:
        """MH answers again: the contingency event, then the DTE itself (one by one, which the
        manual allows besides batches)."""
        ident = dte["identificacion"]
        code, numero = ident["codigoGeneracion"], ident["numeroControl"]
        event = mh.contingency_event(
            dte,
            self._responsible(),
            codigo=mh.codigo_generacion(self.credentials.user, f"contingencia:{code}"),
            until=clock.now(EL_SALVADOR),
        )
        body = {"nit": self.credentials.user, "documento": sign(dte_json(event), self.identity.key)}
        response = await self._post(CONTINGENCIA, body, emits=False)
        answer = exact_json_body(response)
        answer = answer if isinstance(answer, dict) else {}
        duplicate = mh.is_duplicate(answer)  # the event reached MH on an earlier poll
        if response.status_code == 400 and answer.get("estado") == "RECHAZADO" and not duplicate:
            return self._refused(code, numero, answer, "contingency event refused")
        if response.status_code != 200 and not duplicate:
            raise self._failure(response, answer, emits=False)
        response = await self._post(RECEPCION, mh.reception(dte, jws, id_envio=1), emits=True)
        received = exact_json_body(response)
        received = received if isinstance(received, dict) else {}
        if response.status_code in (200, 400) and mh.is_duplicate(received):
            outcome = await self._consulta(ident["tipoDte"], code)
        elif response.status_code in (200, 400) and received.get("estado") == "RECHAZADO":
            return self._refused(code, numero, received, "DTE refused after contingency")
        elif response.status_code == 200:
            outcome = mh.outcome(received, raw=received)
        else:
            raise self._failure(response, received, emits=True)
        outcome.provider_reference = outcome.fiscal_id = code
        outcome.number = numero
        outcome.warnings.insert(0, "issued in contingency; MH sealed it after the contingency event")
        return outcome

    @staticmethod
    def _refused(code: str, numero: str, answer: dict[str, Any], what: str) -> Outcome:
        """A refusal met while polling: the document's verdict (rejected), MH's words kept."""
        message = mh.text(answer.get("descripcionMsg")) or mh.text(answer.get("mensaje")) or "RECHAZADO"
        errors = mh.errors_of({**answer, "descripcionMsg": message})
        return Outcome(
            status="rejected",
            provider_reference=code,
            fiscal_id=code,
            number=numero,
            authority=Authority(
                code=str(answer.get("codigoMsg") or "RECHAZADO"), message=f"{what}: {message}", errors=errors
            ),
            raw=answer,
        )

    def _responsible(self) -> mh.Responsible:
        c = self.credentials
        if not c.responsible_name or not c.responsible_id_number:
            raise Misconfigured(
                "MH's events need credentials.responsible_name and responsible_id_number", code="responsible"
            )
        return mh.Responsible(
            name=c.responsible_name, id_type=c.responsible_id_type, id_number=c.responsible_id_number
        )

    async def _confirm_duplicate(self, tipo: str, code: str) -> Outcome:
        """MH holds a DTE with our codigoGeneracion (a resend after a lost answer): accepted only
        when consultadte says it is sealed."""
        found = await self._consulta(tipo, code)
        if found.status != "accepted":
            raise Ambiguous(
                f"Hacienda holds codigoGeneracion {code} but consultadte says {found.status}",
                code="duplicate",
                raw=found.raw,
            )
        found.warnings.insert(
            0, "Hacienda already held this DTE (YA EXISTE UN REGISTRO); consultadte confirmed it"
        )
        return found

    # -- asking --------------------------------------------------------------------------------------

    async def status(self, ref: ProviderRef) -> Outcome:
        """consultadte by NIT, tipoDte (from the stored DTE or the numeroControl) and codigoGeneracion."""
        stored = self._decode_stored(ref.document)
        code = ref.fiscal_id or ref.provider_reference
        tipo = stored["dte"]["identificacion"]["tipoDte"] if stored else mh.tipo_of(ref.number)
        if not code or tipo is None:
            # Nothing MH can be asked by: as MH's own "not received" for reconciliation, where a
            # resend of the same DTE is safe (a duplicate codigoGeneracion is confirmed, never doubled)
            raise Rejected(
                "consultadte asks by tipoDte and codigoGeneracion; this document has neither",
                code="reference",
            )
        outcome = await self._consulta(tipo, code)
        if outcome.status == "not_found" and stored and mh.in_contingency(stored["dte"]):
            return await self._transmit_contingency(stored["dte"], stored["jws"])
        if outcome.status == "accepted":
            outcome.number = stored["dte"]["identificacion"]["numeroControl"] if stored else ref.number
        return outcome

    async def _consulta(self, tipo: str, code: str) -> Outcome:
        response = await self._post(CONSULTA, mh.consulta(self.credentials.user, tipo, code), emits=False)
        answer = exact_json_body(response)
        if documented_not_found(response, {"estado": None, "codigoGeneracion": code}):
            # our reading of "not received" (contracts/hacienda/README.md): a reception-shaped 404
            # about this very codigoGeneracion; any other 404 (a proxy, another DTE) proves nothing
            return Outcome(status="not_found", provider_reference=code, fiscal_id=code, raw=answer)
        if response.status_code != 200 or not isinstance(answer, dict):
            raise self._failure(response, answer if isinstance(answer, dict) else {}, emits=False)
        if answer.get("estado") == "RECHAZADO":
            rejected = mh.rejection(answer)
            return Outcome(
                status="rejected",
                provider_reference=code,
                fiscal_id=code,
                authority=Authority(code=rejected.code, message=rejected.message, errors=rejected.errors),
                raw=answer,
            )
        try:
            outcome = mh.outcome(answer, raw=answer)
        except Ambiguous as exc:  # a status call changed nothing: ask again later
            raise Unavailable(exc.message, code=exc.code, raw=answer) from None
        outcome.provider_reference = outcome.fiscal_id = code
        outcome.xml = self._signed.get(code)
        return outcome

    async def find(self, emission: Emission) -> ProviderRef | None:
        """Does MH hold this emission's codigoGeneracion? consultadte's "not found" -> None."""
        dte, jws = self.prepare(emission)
        ident = dte["identificacion"]
        code, numero = ident["codigoGeneracion"], ident["numeroControl"]
        found = await self.status(ProviderRef(fiscal_id=code, number=numero))
        if found.status == "not_found":
            return None
        self._remember(code, self.stored(dte, jws))  # the stored copy of a reconciled document
        return ProviderRef(provider_reference=code, fiscal_id=code, number=numero)

    async def fetch_xml(self, ref: ProviderRef) -> bytes | None:
        """MH returns no DTE: the copy we signed, while this process still has it."""
        code = ref.fiscal_id or ref.provider_reference
        return self._signed.get(code) if code else None

    # MH keeps no PDF (the graphic representation is the issuer's): fetch_pdf is the base's None

    async def health(self, issuer_nit: str) -> Health:
        """Authenticate afresh (`/seguridad/auth`): proves user and password."""
        await self._authorization(force=True)
        return Health(
            message="MH issued a token for these credentials",
            detail={
                "token_type": "Bearer",
                "valid_until": self._token_until.isoformat() if self._token_until else None,
            },
        )

    def check_offline(self) -> None:
        self.identity  # noqa: B018 -- opening the .crt with its password is the check

    # -- invalidation ------------------------------------------------------------------------------

    async def invalidate(self, ref: ProviderRef, reason: str | None = None) -> Outcome:
        """The invalidación event (`/fesv/anulardte`) for a sealed DTE: rescission, no replacement.
        It restates the DTE, read from the stored copy; MH enforces its windows (research/sv.md §3.9)."""
        c = self.credentials
        responsible = self._responsible()
        stored = self._decode_stored(ref.document or await self.fetch_xml(ref))
        if stored is None:
            raise Rejected("the signed DTE is not stored; it cannot be invalidated from here", code="no-dte")
        dte = stored["dte"]
        ident = dte["identificacion"]
        sealed = await self.status(
            ProviderRef(fiscal_id=ident["codigoGeneracion"], number=ident["numeroControl"])
        )
        if sealed.status != "accepted" or not sealed.authority.seal:
            raise Rejected(f"Hacienda has this DTE as {sealed.status}, not sealed", code="not-sealed")
        now = clock.now(EL_SALVADOR)
        event_code = mh.codigo_generacion(c.user, f"invalidacion:{ident['codigoGeneracion']}")
        event = mh.invalidation(
            dte,
            sealed.authority.seal,
            (reason or "Rescisión de la operación")[:250],
            responsible,
            codigo=event_code,
            fecha=now.date().isoformat(),
            hora=now.strftime("%H:%M:%S"),
        )
        jws = sign(dte_json(event), self.identity.key)
        body = {
            "ambiente": ident["ambiente"],
            "idEnvio": 1,
            "version": mh.INVALIDATION_VERSION,
            "documento": jws,
        }
        response = await self._post(ANULAR, body, emits=True)
        answer = exact_json_body(response)
        answer = answer if isinstance(answer, dict) else {}
        if response.status_code in (200, 400) and mh.is_duplicate(answer):
            return await self.status(
                ProviderRef(fiscal_id=ident["codigoGeneracion"], number=ident["numeroControl"])
            )
        if response.status_code in (200, 400) and answer.get("estado") == "RECHAZADO":
            raise mh.rejection(answer, raw=answer, http_status=response.status_code)
        if response.status_code != 200:
            raise self._failure(response, answer, emits=True)
        outcome = mh.outcome(answer, raw=answer)
        outcome.authority.code = "INVALIDADO"
        outcome.provider_reference = outcome.fiscal_id = ident["codigoGeneracion"]
        outcome.links["invalidation_event"] = event_code
        return outcome

    # -- transport -----------------------------------------------------------------------------------

    async def _authorization(self, *, force: bool = False) -> str:
        """The Bearer token, from cache until TOKEN_MARGIN before its lifetime ends."""
        if self._auth_lock is None:
            self._auth_lock = asyncio.Lock()
        async with self._auth_lock:
            now = clock.now(dt.UTC)
            if not force and self._token and self._token_until and now < self._token_until:
                return self._token
            response = await self.http.send(
                "POST",
                AUTH,
                content=urlencode({"user": self.credentials.user, "pwd": self.credentials.password}).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            answer = exact_json_body(response)
            body = answer.get("body") if isinstance(answer, dict) else None
            token = body.get("token") if isinstance(body, dict) else None
            ok = isinstance(answer, dict) and answer.get("status") == "OK"
            if response.status_code != 200 or not ok or not isinstance(token, str):
                raise mh.auth_failure(answer, response.status_code)
            # MH's token already starts with "Bearer ": sent as it is (research/sv.md §4.2)
            self._token = token if token.startswith("Bearer ") else f"Bearer {token}"
            self._token_until = now + TOKEN_LIFETIME[self.account.environment] - TOKEN_MARGIN
            return self._token

    async def _post(self, path: str, payload: Any, *, emits: bool) -> httpx.Response:
        authorization = await self._authorization()
        return await self.http.send(
            "POST",
            path,
            content=_wire.encode(payload),
            headers={"Content-Type": "application/json", "Authorization": authorization},
            emits=emits,
        )

    def _failure(self, response: httpx.Response, answer: dict[str, Any], *, emits: bool) -> ProviderFailure:
        if response.status_code == 401:
            self._token = None  # revoked or expired early: the next call authenticates again
        return failure_for_status(
            response,
            mh.text(answer.get("descripcionMsg")) or f"Hacienda answered HTTP {response.status_code}",
            table=mh.STATUS_CLASSES,
            emits=emits,
            code=str(answer.get("codigoMsg") or response.status_code),
            errors=mh.errors_of(answer),
            raw=answer or response.text[:2000],
        )

    @staticmethod
    def _decode_stored(document: bytes | None) -> dict[str, Any] | None:
        """The stored `{"dte", "jws"}` this adapter wrote, or None (another provider's copy, none)."""
        if not document:
            return None
        try:
            stored = _exact.decode(document)
        except msgspec.DecodeError:
            return None
        ok = (
            isinstance(stored, dict)
            and isinstance(stored.get("dte"), dict)
            and isinstance(stored.get("jws"), str)
        )
        return stored if ok and isinstance(stored["dte"].get("identificacion"), dict) else None

    def _remember(self, code: str, stored: bytes) -> None:
        self._signed[code] = stored
        self._signed.move_to_end(code)
        while len(self._signed) > _KEEP_SIGNED:
            self._signed.popitem(last=False)

    async def aclose(self) -> None:
        await self.http.aclose()
