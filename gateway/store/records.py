"""What the store returns for documents, their attempts, jobs, webhook deliveries, circuits and
idempotency records: typed rows, their JSON list/dict columns decoded once here (callers read
`record.chain`, not `json.decode(row.chain)`). The tenants' configuration rows are in
gateway.store.tenant_records.

Fields are in the tables' column order: a record is built positionally from the row
(tests/store/test_store_functions.py holds the order). The canonical document, its totals, the
authority's answer and the e-mail delivery state stay encoded in the record, because most reads
do not need them: `document_of`, `totals_of`, `authority_of` and `delivery_of` decode them for
the reads that do. Writes are the mirror: callers pass typed values and `document_columns`
encodes them, so each JSON column's shape is written down here and nowhere else."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import msgspec

from adapters.base import Authority
from canonical.document import Document
from canonical.totals import Totals

_chain: Final = msgspec.json.Decoder(list[str]).decode
_warnings: Final = msgspec.json.Decoder(list[Any]).decode
_links: Final = msgspec.json.Decoder(dict[str, Any]).decode
_document: Final = msgspec.json.Decoder(Document).decode
_totals: Final = msgspec.json.Decoder(Totals).decode
_authority: Final = msgspec.json.Decoder(Authority).decode
_encode: Final = msgspec.json.Encoder().encode


class Delivery(msgspec.Struct, kw_only=True):
    """The buyer's copy sent by e-mail (direct DIAN, tenants with `[tenants.email]`): the
    `delivery` column, and the API's document resource shows it as it is."""

    status: Literal["pending", "delivered", "failed"]
    to: list[str]
    at: dt.datetime | None = None  # when it was delivered, or last tried
    error: str | None = None  # the SMTP server's answer of the last failed try


_delivery: Final = msgspec.json.Decoder(Delivery).decode


class DocumentRecord(msgspec.Struct):
    """A row of `documents` (gateway/store/schema.py says what each column means)."""

    id: str
    tenant_id: str
    status: str
    version: int
    country: str
    kind: str
    issue_date: str | None
    number: str | None
    consecutive: int | None
    numbering_range: str | None
    chain: list[str]  # account names, fixed at creation
    chain_index: int
    account: str | None
    provider: str | None
    provider_reference: str | None
    fiscal_id: str | None
    authority: str | None  # JSON of adapters.base.Authority: authority_of
    document: bytes  # canonical JSON as received: document_of
    totals: bytes  # JSON of canonical.totals.Totals: totals_of
    warnings: list[Any]
    links: dict[str, Any]
    xml: bytes | None
    needs_attention: bool
    unknown_since: float | None
    deadline: float
    created_at: float
    updated_at: float
    voided_by: str | None
    voids: str | None
    voided_at: float | None
    delivery: str | None  # JSON of Delivery: delivery_of


class AttemptRecord(msgspec.Struct):
    """A row of `attempts`: one provider call (or one in flight) of a document."""

    id: int
    document_id: str
    account: str
    provider: str
    outcome: str
    error: str | None
    latency_ms: int | None
    at: float


_CHAIN, _WARNINGS, _LINKS = (
    DocumentRecord.__struct_fields__.index(f) for f in ("chain", "warnings", "links")
)


def document(row: Sequence[Any]) -> DocumentRecord:
    fields = list(row)
    fields[_CHAIN] = _chain(fields[_CHAIN])
    fields[_WARNINGS] = _warnings(fields[_WARNINGS])
    fields[_LINKS] = _links(fields[_LINKS])
    return DocumentRecord(*fields)


def attempt(row: Sequence[Any]) -> AttemptRecord:
    return AttemptRecord(*row)


def document_of(record: DocumentRecord) -> Document:
    """The canonical document as it was issued."""
    return _document(record.document)


def document_of_bytes(column: bytes) -> Document:
    """`document_of` for a query that read the `document` column alone."""
    return _document(column)


def totals_of(record: DocumentRecord) -> Totals:
    return _totals(record.totals)


def authority_of(record: DocumentRecord) -> Authority:
    """What the authority said (empty: nothing yet)."""
    return _authority(record.authority) if record.authority else Authority()


def delivery_of(record: DocumentRecord) -> Delivery | None:
    """The e-mail delivery state, or None: the gateway does not mail this document."""
    return _delivery(record.delivery) if record.delivery else None


# The JSON columns of `documents` and the type each holds (bytes columns stay bytes).
_JSON_TEXT: Final = frozenset({"chain", "warnings", "links", "authority", "delivery"})
_JSON_BYTES: Final = frozenset({"document", "totals"})
_JSON: Final = _JSON_TEXT | _JSON_BYTES


def document_columns(values: Mapping[str, Any]) -> Mapping[str, Any]:
    """`values` of a write to `documents` with the typed ones encoded: lists and dicts for
    `chain`, `warnings`, `links`; Structs for `authority`, `delivery`, `document`, `totals`
    (msgspec.Raw passes JSON already encoded; None stays NULL)."""
    typed = values.keys() & _JSON
    if not typed:
        return values
    columns = dict(values)
    for name in typed:
        value = columns[name]
        if value is not None:
            encoded = _encode(value)
            columns[name] = encoded.decode() if name in _JSON_TEXT else encoded
    return columns


class JobRecord(msgspec.Struct):
    """A row of `jobs`."""

    id: int
    kind: str
    subject: str
    tenant_id: str
    run_at: float
    locked_by: str | None
    locked_until: float | None
    tries: int
    done: bool
    last_error: str | None


class ClaimedJob(msgspec.Struct):
    """What `jobs.claim_due` returns of each job it claimed."""

    id: int
    kind: str
    subject: str
    tenant_id: str
    tries: int
    run_at: float


class JobLease(msgspec.Struct):
    """Who holds a job's lease, and until when."""

    locked_by: str | None
    locked_until: float | None


class DeliveryRecord(msgspec.Struct):
    """A row of `webhook_deliveries`: one event for one endpoint URL."""

    id: str
    tenant_id: str
    event_id: str
    event_type: str
    url: str
    body: bytes
    state: str
    tries: int
    last_status: int | None
    last_error: str | None
    created_at: float
    delivered_at: float | None


class Circuit(msgspec.Struct):
    """The part of a `breakers` row the dispatch policy reads on every provider call."""

    state: str
    opened_until: float | None
    updated_at: float


class BreakerRecord(msgspec.Struct):
    """A row of `breakers`: one account's circuit."""

    tenant_id: str
    account: str
    state: str
    failures: int
    opened_until: float | None
    updated_at: float


class IdempotencyRecord(msgspec.Struct):
    """A row of `idempotency`: one key's request, in flight or done."""

    tenant_id: str
    key: str
    fingerprint: str
    state: str
    status_code: int | None
    response: bytes | None
    document_id: str | None
    created_at: float
    owner: str | None


class Issued(msgspec.Struct):
    """What a note's reference is checked against: an issued document's number, fiscal id, date."""

    number: str | None
    fiscal_id: str | None
    issue_date: str | None


class StatusCount(msgspec.Struct):
    """How many documents one (tenant, status, provider) holds."""

    tenant_id: str
    status: str
    provider: str | None
    count: int
