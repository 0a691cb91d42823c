"""DIAN's pure formulas: CUFE, CUDE, CUDS, SoftwareSecurityCode and the QR catalogue link.

Shared by the direct DIAN adapter (which writes them) and the DIAN simulator (which recomputes and
checks them), so both follow research/dian.md §1–§2 to the letter:
- SHA-384 of a plain concatenation (no separators, UTF-8), lowercase hex;
- every amount written with exactly 2 decimals after **truncation** (DIAN's validator truncates,
  `TruncateDecimal` in `ValidateCufe`; it does not round): 12037.046 → "12037.04";
- field 14 is the range's technical key for invoices (CUFE) and the software PIN for notes and
  equivalent documents (CUDE) and support documents (CUDS);
- field 15 is the environment: 1 production, 2 test (habilitación).
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_DOWN, Decimal
from typing import Final

ENVIRONMENTS: Final[dict[str, str]] = {"production": "1", "test": "2"}

# Tax scheme codes in the order the CUFE concatenates them (CodImp1..3): IVA, INC, ICA.
CUFE_TAXES: Final = ("01", "04", "03")

FINAL_CONSUMER_ID: Final = "222222222222"

QR_CATALOGUE: Final[dict[str, str]] = {
    "production": "https://catalogo-vpfe.dian.gov.co/document/searchqr?documentkey=",
    "test": "https://catalogo-vpfe-hab.dian.gov.co/document/searchqr?documentkey=",
}

_CENT: Final = Decimal("0.01")


def dian_amount(value: Decimal | str) -> str:
    """An amount as DIAN's validator formats it for hashing: truncated to 2 decimals."""
    return format(Decimal(value).quantize(_CENT, rounding=ROUND_DOWN), "f")


def _sha384(text: str) -> str:
    return hashlib.sha384(text.encode("utf-8")).hexdigest()


def cufe(
    *,
    number: str,
    issue_date: str,
    issue_time: str,
    line_extension: Decimal | str,
    taxes: dict[str, Decimal | str],
    payable: Decimal | str,
    supplier_id: str,
    customer_id: str,
    key: str,
    environment: str,
) -> str:
    """CUFE (key = technical key) or CUDE (key = software PIN): the same 15 fields (§1.1–§1.3).

    `taxes` maps DIAN tax scheme codes ("01", "04", "03") to the document-level TaxTotal amount;
    a missing scheme counts as 0.00. `issue_time` is written exactly as in the XML, offset included.
    `environment` is the ProfileExecutionID: "1" production, "2" test.
    """
    tax_part = "".join(code + dian_amount(taxes.get(code, "0")) for code in CUFE_TAXES)
    return _sha384(
        number
        + issue_date
        + issue_time
        + dian_amount(line_extension)
        + tax_part
        + dian_amount(payable)
        + supplier_id
        + customer_id
        + key
        + environment
    )


cude = cufe  # same layout; the caller passes the software PIN as `key`


def cuds(
    *,
    number: str,
    issue_date: str,
    issue_time: str,
    line_extension: Decimal | str,
    iva: Decimal | str,
    payable: Decimal | str,
    seller_id: str,
    buyer_id: str,
    software_pin: str,
    environment: str,
) -> str:
    """CUDS of a support document (05) or its adjustment note (95): IVA only (§1.4).

    `seller_id` is the supplier party (not obliged to invoice); `buyer_id` the issuing buyer.
    """
    return _sha384(
        number
        + issue_date
        + issue_time
        + dian_amount(line_extension)
        + "01"
        + dian_amount(iva)
        + dian_amount(payable)
        + seller_id
        + buyer_id
        + software_pin
        + environment
    )


def software_security_code(software_id: str, software_pin: str, number: str) -> str:
    """sts:SoftwareSecurityCode = SHA-384(SoftwareID + PIN + document number), lowercase (§2)."""
    return _sha384(software_id + software_pin + number)


def qr_url(fiscal_id: str, environment: str) -> str:
    """The catalogue link DIAN expects in sts:QRCode (§2: the URL alone fits its anyURI type).

    `environment` is "test" or "production".
    """
    return QR_CATALOGUE[environment] + fiscal_id
