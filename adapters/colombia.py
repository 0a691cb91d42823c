"""What the Colombian adapters compute alike, written once: the CUFE/CUDE/CUDS inputs (direct DIAN
signs them, APIDIAN predicts them to find a document again) and the exact unit price a provider
without a line-discount or tax-inclusive field needs (FacEPro, SmartApp)."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from adapters.base import Emission
from canonical import catalogs
from canonical.dian import FINAL_CONSUMER_ID, cuds, cufe
from canonical.totals import Totals, round_half_up

PRICE_PLACES: Final = range(2, 7)  # decimals tried for a unit price whose line amount is exact


def taxes_by_scheme(totals: Totals) -> dict[str, Decimal]:
    """Tax amounts by DIAN scheme code (01 IVA, 04 INC, ...), as the CUFE and TaxTotal state them."""
    taxes: dict[str, Decimal] = {}
    for t in totals.taxes:
        code = catalogs.TAXES["CO"][t.tax]
        taxes[code] = taxes.get(code, Decimal(0)) + t.amount
    return taxes


def fiscal_id(
    emission: Emission,
    *,
    purchase: bool,
    key: str,
    taxes: dict[str, Decimal],
    issue_date: str,
    issue_time: str,
    environment: str,
) -> str:
    """CUFE/CUDE (`key`: the range's technical key or the software PIN) or, for a support document
    (`purchase`), CUDS: IVA only, seller then buyer (Anexo 1.9 §1)."""
    doc, totals, number = emission.document, emission.totals, emission.number or ""
    if purchase:
        return cuds(
            number=number,
            issue_date=issue_date,
            issue_time=issue_time,
            line_extension=totals.line_extension,
            iva=taxes.get("01", Decimal(0)),
            payable=totals.payable,
            seller_id=doc.supplier.id_number if doc.supplier and doc.supplier.id_number else "",
            buyer_id=emission.issuer.id_number or "",
            software_pin=key,
            environment=environment,
        )
    return cufe(
        number=number,
        issue_date=issue_date,
        issue_time=issue_time,
        line_extension=totals.line_extension,
        taxes=taxes,
        payable=totals.payable,
        supplier_id=emission.issuer.id_number or "",
        customer_id=doc.customer.id_number if doc.customer and doc.customer.id_number else FINAL_CONSUMER_ID,
        key=key,
        environment=environment,
    )


def exact_unit_price(quantity: Decimal, amount: Decimal, price: Decimal | None) -> Decimal | None:
    """The unit price whose quantity × price rounds to exactly `amount`, so every fiscal amount
    stays identical without the field the provider lacks (ARCHITECTURE.md). `price` (the canonical
    one) when it already does; otherwise the shortest of up to 6 decimals (3 × 42016.806723 =
    126050.42, where 42016.81 would give 126050.43); None when none does."""
    if price is not None and round_half_up(quantity * price, 2) == amount:
        return price
    for places in PRICE_PLACES:
        candidate = round_half_up(amount / quantity, places)
        if round_half_up(quantity * candidate, 2) == amount:
            return candidate
    return None
