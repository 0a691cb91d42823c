"""Shared helpers for the DIAN tests: emissions from the public examples, the test software."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest

from adapters.base import Emission, NumberingRange
from canonical import clock
from canonical.document import Document, Issuer, document_decoder
from canonical.totals import compute_totals
from simulators.pki import generate

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BOGOTA = ZoneInfo("America/Bogota")
CREDIT_TERM = dt.timedelta(days=30)

SOFTWARE_ID = "11111111-2222-3333-4444-555555555555"
SOFTWARE_PIN = "12345"
TEST_SET_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

ISSUER = msgspec.convert(
    {
        "country": "CO",
        "party_type": "company",
        "id_type": "NIT",
        "id_number": "900373115",
        "check_digit": "3",
        "name": "ACME Colombia SAS",
        "tax_responsibilities": ["O-13"],
        "economic_activity": "6201",
        "email": "facturacion@acme.example",
        "phone": "6015550100",
        "address": {
            "line": "Carrera 7 # 71-21",
            "city_code": "11001",
            "department_code": "11",
            "country": "CO",
        },
    },
    Issuer,
)

RANGES = {
    "invoice": NumberingRange(
        name="setp",
        kinds=["invoice"],
        prefix="SETP",
        from_=990000000,
        to=995000000,
        resolution="18760000001",
        valid_from=dt.date(2019, 1, 19),
        valid_to=dt.date(2030, 1, 19),
        technical_key="fc8eac422eba16e22ffd8c6f94b3f40a6e38162c",
    ),
    "credit_note": NumberingRange(name="nc", kinds=["credit_note"], prefix="NC", from_=1, to=99999999),
    "debit_note": NumberingRange(name="nd", kinds=["debit_note"], prefix="ND", from_=1, to=99999999),
    "pos_invoice": NumberingRange(
        name="epos",
        kinds=["pos_invoice"],
        prefix="EPOS",
        from_=1,
        to=1000000,
        resolution="18760000001",
        valid_from=dt.date(2019, 1, 19),
        valid_to=dt.date(2030, 1, 19),
    ),
    "support_document": NumberingRange(
        name="dsp",
        kinds=["support_document"],
        prefix="DSP",
        from_=1,
        to=1000000,
        resolution="18760000001",
        valid_from=dt.date(2019, 1, 19),
        valid_to=dt.date(2030, 1, 19),
    ),
}

_counter = iter(range(1, 10_000_000))


def document(name: str, **changes) -> Document:
    """A public example with today's Bogotá date and time (what the gateway fills in), plus changes."""
    doc = document_decoder.decode((EXAMPLES / f"{name}.json").read_bytes())
    now = clock.now(BOGOTA).replace(microsecond=0)
    return msgspec.structs.replace(dated(doc, now.date(), now.time()), **changes)


def dated(doc: Document, issue_date: dt.date, issue_time: dt.time) -> Document:
    """`doc` issued at that date and time; a credit sale falls due CREDIT_TERM later (the examples'
    far-off due date keeps them valid for years, but no ERP sends a four-year term)."""
    payment = doc.payment
    if payment is not None and payment.due_date is not None:
        payment = msgspec.structs.replace(payment, due_date=issue_date + CREDIT_TERM)
    return msgspec.structs.replace(doc, issue_date=issue_date, issue_time=issue_time, payment=payment)


def debit_note() -> Document:
    doc = document("co-credit-note")
    return msgspec.structs.replace(
        doc,
        kind="debit_note",
        reason=msgspec.convert({"code": "interest", "description": "Intereses de mora"}, type(doc.reason)),
    )


def pos_credit_note() -> Document:
    """A credit note on a POS document (DIAN's adjustment note 94): the example note, re-pointed."""
    doc = document("co-credit-note")
    reference = msgspec.structs.replace(doc.reference, number="EPOS1", kind="pos_invoice")
    return msgspec.structs.replace(doc, reference=reference)


def support_adjustment_note() -> Document:
    """The support document's adjustment note (95): the tenant returns part of a purchase."""
    doc = document("co-credit-note")
    supplier = document("co-support-document").supplier
    reference = msgspec.structs.replace(doc.reference, number="DSP1", kind="support_document")
    return msgspec.structs.replace(doc, reference=reference, customer=None, supplier=supplier)


def emission(doc: Document, consecutive: int | None = None, environment: str = "test") -> Emission:
    rng = RANGES[doc.kind]
    consecutive = consecutive if consecutive is not None else rng.from_ + next(_counter)
    number = f"{rng.prefix}{consecutive}"
    return Emission(
        document=doc,
        totals=compute_totals(doc),
        issuer=ISSUER,
        reference=f"ref-{number}",
        number=number,
        consecutive=consecutive,
        numbering=rng,
        environment=environment,
    )


def software():
    from adapters.dian.ubl import Software

    return Software(
        software_id=SOFTWARE_ID,
        software_pin=SOFTWARE_PIN,
        provider_nit=ISSUER.id_number,
        provider_dv=ISSUER.check_digit,
    )


@pytest.fixture(scope="session", name="dian_pki")
def dian_pki_fixture(tmp_path_factory):
    """A throwaway CA and signing certificate (PKCS#12) for the whole session."""
    return generate(tmp_path_factory.mktemp("dian-pki"), nit=ISSUER.id_number)


@pytest.fixture(scope="session", name="dian_identity")
def dian_identity_fixture(dian_pki):
    from adapters.dian.certificates import load_identity

    return load_identity(str(dian_pki.p12), dian_pki.password)


def rich_invoice() -> Document:
    """Every optional block: INC and ICA lines, a line discount, document discount and charge (tip),
    withholdings."""
    doc = document("co-invoice")
    raw = msgspec.to_builtins(doc)
    raw["lines"].append(
        {
            "description": "Comida",
            "quantity": "2",
            "unit_price": "10000",
            "taxes": [{"tax": "INC", "rate": "8"}],
        }
    )
    raw["lines"].append(
        {
            "description": "Servicio local",
            "quantity": "1",
            "unit_price": "5000",
            "taxes": [{"tax": "ICA", "rate": "0.966"}],
        }
    )
    raw["discounts"] = [{"reason": "Pronto pago", "amount": "1000"}]
    raw["charges"] = [{"reason": "Propina", "amount": "2000", "kind": "tip"}]
    raw["withholdings"] = [{"tax": "ReteFuente", "rate": "2.5"}, {"tax": "ReteIVA", "rate": "15"}]
    return msgspec.convert(raw, type(doc))
