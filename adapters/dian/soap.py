"""How we talk to DIAN: zip the document, build the SOAP 1.2 envelope with zeep from our WSDL
(WS-Addressing from its `wsaw:Action`s, WS-Security from our plugin), post it over httpx.

No retries and no sleeping anywhere (dispatch owns time). A timeout after an emission left us is
Ambiguous (adapters/http.py); the caller reconciles with GetStatus by CUFE.
"""

from __future__ import annotations

import base64
import functools
import io
import uuid
import zipfile
from collections.abc import Callable
from importlib.resources import files
from typing import Final

from lxml import etree

from adapters.base import Ambiguous, ProviderFailure, Unavailable
from adapters.dian.certificates import SigningIdentity
from adapters.dian.responses import SoapFault, fault_failure, parse_envelope
from adapters.dian.wssecurity import EnvelopeTemplate, WsSecuritySigner
from adapters.dian.zeep_private import Renderer
from adapters.http import ProviderHttp, failure_for_status

WSDL: Final = files("contracts").joinpath("dian", "WcfDianCustomerServices.wsdl")
BINDING: Final = "{http://wcf.dian.colombia}WSHttpBinding_IWcfDianCustomerServices"

# File-name prefixes of the Anexo's convention (research/dian.md §5.4; DIAN does not check them).
FILE_PREFIXES: Final[dict[str, str]] = {
    "invoice": "fv",
    "credit_note": "nc",
    "debit_note": "nd",
    "pos_invoice": "pos",  # APIDIAN's prefixes for the POS and support documents (contracts/dian/SOURCES.md)
    "support_document": "dse",
    "zip": "z",
    "attached": "ad",
}
OWN_SOFTWARE: Final = "000"  # PPP: the technology-provider code, 000 for own software


def file_name(kind: str, nit: str, year: int, consecutive: int) -> str:
    """`<prefix><NIT, 10 digits><PPP><YY><consecutive, 8 digits>`, no extension (APIDIAN's decimal form)."""
    return f"{FILE_PREFIXES[kind]}{int(nit):010d}{OWN_SOFTWARE}{year % 100:02d}{consecutive % 10**8:08d}"


def package(entries: dict[str, bytes]) -> bytes:
    """The zip DIAN takes: one XML for SendBillSync, at most 50 for the async operations.

    Level 1: a tenth larger than the default level and twice as fast; DIAN caps messages at 10 MB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@functools.cache
def _wsdl_path() -> str:
    return str(WSDL)


def _soap12(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() != "soapaction"}  # SOAP 1.2: action in Content-Type


_MISSING: Final = object()
_ESCAPED: Final = frozenset("&<>")


def _values(params: dict) -> dict[str, str] | None:
    """Each parameter as zeep writes it, when that is plain text: bytes in base64 (xsd:base64Binary),
    strings that need no escaping; None otherwise (zeep renders the message)."""
    values = {}
    for name, value in params.items():
        if isinstance(value, bytes):
            values["p_" + name] = base64.b64encode(value).decode()
        elif isinstance(value, str) and value.isprintable() and not _ESCAPED.intersection(value):
            values["p_" + name] = value
        else:
            return None
    return values


class DianService:
    """One account's SOAP client: its endpoint, its certificate, its timeout."""

    def __init__(
        self, base_url: str, identity: Callable[[], SigningIdentity], *, timeout_s: float, transport=None
    ) -> None:
        self.url = base_url
        self.identity = identity
        self.zeep = Renderer(_wsdl_path(), BINDING, base_url, wsse=WsSecuritySigner(identity))
        self.http = ProviderHttp(base_url, timeout_s=timeout_s, transport=transport)
        self._templates: dict[tuple, tuple[EnvelopeTemplate, dict[str, str]] | None] = {}

    def envelope(self, operation: str, **params) -> tuple[bytes, dict[str, str]]:
        """The signed envelope and its HTTP headers; `wsa:To` is the account's endpoint.

        zeep renders each operation once per certificate (and kinds of parameters) into a template
        that later messages fill (wssecurity.EnvelopeTemplate): zeep and lxml were two thirds of an
        envelope's time besides the RSA signature. Parameters a template cannot carry verbatim go
        through zeep every time."""
        identity = self.identity()
        values = _values(params)
        if values is not None:
            key = (operation, identity.certificate_sha256_b64, tuple((k, type(v)) for k, v in params.items()))
            entry = self._templates.get(key, _MISSING)
            if entry is _MISSING:
                entry = self._templates[key] = self._template(operation, identity, params)
                if len(self._templates) > 64:
                    self._templates.pop(next(iter(self._templates)))
            if entry is not None:
                template, headers = entry
                return template.render(identity, values), dict(headers)
        envelope, headers = self.zeep.render(operation, params)
        return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"), _soap12(headers)

    def _template(
        self, operation: str, identity: SigningIdentity, params: dict
    ) -> tuple[EnvelopeTemplate, dict[str, str]] | None:
        nonce = uuid.uuid4().hex
        marked: dict[str, str | bytes] = {}
        marks: dict[str, str] = {}
        for name, value in params.items():
            mark = f"@{nonce}{name}@"
            if isinstance(value, bytes):  # zeep writes base64Binary as the base64 of the marker
                marked[name] = mark.encode()
                marks[base64.b64encode(marked[name]).decode()] = "p_" + name
            else:
                marked[name] = mark
                marks[mark] = "p_" + name
        try:
            envelope, headers = self.zeep.render(operation, marked, signed=False)
        except Exception:  # a parameter whose type refuses a marker: zeep renders it every time
            return None
        template = EnvelopeTemplate.build(envelope, identity, marks)
        return None if template is None else (template, _soap12(headers))

    async def call(self, operation: str, *, emits: bool = False, **params) -> tuple[etree._Element, str]:
        """Send one operation; returns its `<Op>Result` element and the reply text (for `raw`)."""
        body, headers = self.envelope(operation, **params)
        response = await self.http.send("POST", self.url, content=body, headers=headers, emits=emits)
        text = response.text
        try:
            result = parse_envelope(response.content)
        except ValueError as exc:
            if response.status_code != 200:
                raise failure_for_status(
                    response,
                    f"DIAN answered HTTP {response.status_code}",
                    emits=emits,
                    code=str(response.status_code),
                    raw=text[:2000],
                ) from None
            cls: type[ProviderFailure] = Ambiguous if emits else Unavailable
            raise cls(
                f"DIAN answered something that is not SOAP: {exc}", code="not-soap", raw=text[:2000]
            ) from None
        if isinstance(result, SoapFault):
            raise fault_failure(result, raw=text)
        return result, text

    async def aclose(self) -> None:
        await self.http.aclose()
