"""A note's reference checked against the documents this tenant issued.

A credit or debit note whose `reference` names one of this tenant's own documents (by its number
or its CUFE/CUDE/codigoGeneracion) must name it exactly: the same number, fiscal id and issue
date. The authority matches the note to the invoice by these fields, so a wrong CUFE or date is
rejected there, or worse, corrects a document the integrator did not mean. A reference that names
no document of ours is left alone: the document may predate the gateway or come from another
system. Only this tenant's documents are looked up, so nothing about another tenant's documents
can be learned from the answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from canonical.catalogs import NOTE_KINDS
from canonical.document import Document, Reference
from canonical.errors import FieldError, InvalidDocument
from gateway.store import Engine
from gateway.store import documents as docs
from gateway.store.records import Issued

RULE: Final = "note-reference-mismatch"
# The provider or the authority holds (or may hold) these; a failed or rejected number was never issued.
ISSUED: Final = ("accepted", "pending", "unknown")
# reference field → how the stored document's column reads as that field; what a note must repeat
COMPARED: Final = {
    "number": lambda row: row.number,
    "fiscal_id": lambda row: row.fiscal_id,
    "issue_date": lambda row: dt.date.fromisoformat(row.issue_date) if row.issue_date else None,
}


async def check_reference(reader: Engine, tenant_id: str, document: Document) -> None:
    """Raises InvalidDocument (422, one error per field that differs) when the note names one of
    this tenant's issued documents and differs from it."""
    ref = document.reference
    if document.kind not in NOTE_KINDS or ref is None:
        return
    async with reader.connect() as conn:
        rows = await docs.issued_matching(
            conn, tenant_id, document.country, ISSUED, ref.number, ref.fiscal_id
        )
    if not rows:
        return
    differences = [_differences(ref, row) for row in rows]
    if not all(differences):
        return  # it names one of them exactly (numbers may repeat across self-numbering accounts)
    # the fiscal id identifies a document; a number alone may be shared: report against the former
    by_fiscal_id = [d for d, row in zip(differences, rows, strict=True) if ref.fiscal_id == row.fiscal_id]
    raise InvalidDocument((by_fiscal_id or differences)[0])


def _differences(ref: Reference, row: Issued) -> list[FieldError]:
    """The fields where the reference states something other than the stored document; a field
    either side leaves empty is not compared (a pending document may have no CUFE yet)."""
    errors = []
    for field, stored_value in COMPARED.items():
        stored, stated = stored_value(row), getattr(ref, field)
        if stored is not None and stated is not None and stored != stated:
            errors.append(
                FieldError(
                    path=f"reference.{field}",
                    rule=RULE,
                    message=f"this tenant issued {row.number or row.fiscal_id} with {field} {stored}; "
                    f"the note names {stated}",
                )
            )
    return errors
