"""DIAN's answers (research/dian.md §5.5) → Outcome or one of the four failure classes.

Shapes, as in contracts/dian/examples/: `<Op>Response/<Op>Result` holds the DianResponse fields
directly (SendBillSync, GetStatus); GetStatusZip wraps a list of `b:DianResponse`; the async sends
answer an UploadDocumentResponse with the ZipKey; a message DIAN refuses before reading it (bad
WS-Security, untrusted certificate) is a SOAP 1.2 Fault, not a DianResponse.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import msgspec
from lxml import etree

from adapters.base import (
    Ambiguous,
    Authority,
    Misconfigured,
    NumberingRange,
    Outcome,
    ProviderError,
    ProviderFailure,
    Rejected,
    Unavailable,
)
from adapters.wire import DIAN_RULE, is_notification

SOAP12: Final = "{http://www.w3.org/2003/05/soap-envelope}"

# StatusCode → outcome status, for codes that are answers rather than failures.
STATUSES: Final[dict[str, str]] = {"00": "accepted", "98": "pending", "66": "not_found", "99": "rejected"}
# StatusCode → failure class when DIAN did not judge the document.
# 89: envelope-level input (no zip, NIT not in the certificate, unauthorised NIT): the account's setup;
# 500: "Ha ocurrido un error. Por favor inténtentelo de nuevo." — may have been processed.
FAILURES: Final[dict[str, type[ProviderFailure]]] = {"89": Misconfigured, "500": Ambiguous}
# SOAP fault subcodes: security and certificate problems are the account's, the rest DIAN's.
FAULTS: Final[dict[str, type[ProviderFailure]]] = {
    "InvalidSecurity": Misconfigured,
    "FailedAuthentication": Misconfigured,
    "Sender": Misconfigured,
    "Client": Misconfigured,
    "Receiver": Unavailable,
}

DUPLICATE_RULE: Final = "90"  # "Documento procesado anteriormente" (§5.5)

class DianResponse(msgspec.Struct, kw_only=True):
    is_valid: bool
    status_code: str
    status_description: str | None = None
    status_message: str | None = None
    rejections: list[ProviderError] = msgspec.field(default_factory=list)
    notifications: list[ProviderError] = msgspec.field(default_factory=list)
    application_response: str | None = None  # XmlBase64Bytes: DIAN's ApplicationResponse, base64
    document_key: str | None = None
    file_name: str | None = None


class SoapFault(msgspec.Struct, kw_only=True):
    code: str
    subcode: str | None
    reason: str


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _fields(el: etree._Element) -> dict[str, etree._Element]:
    return {_local(child): child for child in el if isinstance(child.tag, str)}


def parse_envelope(data: bytes) -> etree._Element | SoapFault:
    """The `<Op>Result` element of a reply, or its SOAP Fault. ValueError when it is not SOAP."""
    try:
        root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not XML: {exc}") from None
    body = root.find(SOAP12 + "Body")
    if body is None or not len(body):
        raise ValueError("not a SOAP 1.2 envelope")
    fault = body.find(SOAP12 + "Fault")
    if fault is not None:
        code = fault.findtext(f"{SOAP12}Code/{SOAP12}Value") or ""
        subcode = fault.findtext(f"{SOAP12}Code/{SOAP12}Subcode/{SOAP12}Value")
        return SoapFault(
            code=code.split(":")[-1],
            subcode=subcode.split(":")[-1] if subcode else None,
            reason=" ".join(t.strip() for t in fault.itertext() if t.strip() and t not in (code, subcode)),
        )
    response = body[0]
    if not len(response):
        raise ValueError("empty SOAP response")
    return response[0]


def parse_rule(text: str) -> tuple[str, ProviderError]:
    match = DIAN_RULE.match(text.lstrip())  # the rule opens DIAN's own ErrorMessage strings
    if match is None or match["severity"] is None:
        return "Rechazo", ProviderError(code="", message=text.strip())
    severity = "Notificación" if is_notification(match) else "Rechazo"
    return severity, ProviderError(code=match["code"].strip(), message=match["text"].strip())


def dian_response(el: etree._Element) -> DianResponse:
    """One DianResponse from its element (a `<Op>Result` or a `b:DianResponse` item)."""
    f = _fields(el)

    def text(name: str) -> str | None:
        node = f.get(name)
        return node.text if node is not None and node.text else None

    rejections, notifications = [], []
    messages = f.get("ErrorMessage")
    for item in messages if messages is not None else ():
        severity, error = parse_rule(item.text or "")
        (rejections if severity == "Rechazo" else notifications).append(error)
    return DianResponse(
        is_valid=(text("IsValid") or "").lower() == "true",
        status_code=text("StatusCode") or "",
        status_description=text("StatusDescription"),
        status_message=text("StatusMessage"),
        rejections=rejections,
        notifications=notifications,
        application_response=text("XmlBase64Bytes"),
        document_key=text("XmlDocumentKey"),
        file_name=text("XmlFileName"),
    )


def dian_responses(el: etree._Element) -> list[DianResponse]:
    """GetStatusZip's list of DianResponse."""
    return [
        dian_response(item) for item in el if isinstance(item.tag, str) and _local(item) == "DianResponse"
    ]


def zip_key(el: etree._Element) -> str:
    """The batch's trackId; without one DIAN refused the package (its reasons in ErrorMessageList)."""
    fields = _fields(el)
    key = fields.get("ZipKey")
    if key is None or not key.text:
        reasons = fields.get("ErrorMessageList")
        text = "; ".join(t.strip() for t in reasons.itertext() if t.strip()) if reasons is not None else ""
        raise Misconfigured(f"DIAN did not take the batch: {text or 'no ZipKey'}", code="no-zip-key")
    return key.text


def numbering_ranges(el: etree._Element) -> list[NumberingRange]:
    """GetNumberingRange's ResponseList (OperationCode 100); 301–303 and 401 are the account's setup."""
    f = _fields(el)
    code = f["OperationCode"].text if "OperationCode" in f else ""
    if code != "100":
        description = f["OperationDescription"].text if "OperationDescription" in f else ""
        raise Misconfigured(f"DIAN GetNumberingRange {code}: {description}", code=code)
    ranges = []
    for item in f.get("ResponseList", ()):
        r = {_local(child): child.text or "" for child in item}
        ranges.append(
            NumberingRange(
                name=r.get("Prefix") or r.get("ResolutionNumber", ""),
                kinds=["invoice"],
                prefix=r.get("Prefix", ""),
                from_=int(r.get("FromNumber") or 0),
                to=int(r.get("ToNumber") or 0),
                resolution=r.get("ResolutionNumber"),
                valid_from=dt.date.fromisoformat(r["ValidDateFrom"][:10]) if r.get("ValidDateFrom") else None,
                valid_to=dt.date.fromisoformat(r["ValidDateTo"][:10]) if r.get("ValidDateTo") else None,
                technical_key=r.get("TechnicalKey"),
            )
        )
    return ranges


def fault_failure(fault: SoapFault, *, raw: str) -> ProviderFailure:
    cls = FAULTS.get(fault.subcode or "", FAULTS.get(fault.code, Unavailable))
    return cls(f"DIAN refused the message: {fault.reason}", code=fault.subcode or fault.code, raw=raw)


def is_duplicate(response: DianResponse) -> bool:
    """A 99 whose only rejection is rule 90: DIAN already holds this document (§5.5)."""
    return response.status_code == "99" and [e.code for e in response.rejections] == [DUPLICATE_RULE]


def authority(response: DianResponse) -> Authority:
    return Authority(
        code=response.status_code,
        message=response.status_message or response.status_description,
        seal=response.document_key if response.status_code == "00" else None,
        errors=response.rejections,
    )


def outcome(response: DianResponse, *, number: str | None, fiscal_id: str | None, raw: str) -> Outcome:
    """The Outcome of a DianResponse that judged the document (00, 98, 66, 99)."""
    status = STATUSES.get(response.status_code)
    if status is None:
        cls = FAILURES.get(response.status_code, Unavailable)
        raise cls(
            response.status_description or f"DIAN StatusCode {response.status_code}",
            code=response.status_code,
            raw=raw,
        )
    return Outcome(
        status=status,  # type: ignore[arg-type]
        provider_reference=response.document_key or fiscal_id,
        number=number,
        fiscal_id=response.document_key or fiscal_id,
        authority=authority(response),
        warnings=[f"DIAN {e.code}: {e.message}" for e in response.notifications],
        raw=raw,
    )


def rejected(response: DianResponse, *, raw: str) -> Rejected:
    """Raised by emit for a 99: the document's data is wrong, with DIAN's rule codes."""
    rules = ", ".join(e.code for e in response.rejections) or response.status_code
    return Rejected(
        f"DIAN rejected the document ({rules}): {response.status_description or ''}".strip(),
        code=response.status_code,
        errors=response.rejections,
        raw=raw,
    )
