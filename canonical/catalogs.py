"""Canonical vocabularies, each entry with the authority's own code (DIAN for CO, MH for SV).

Data, not branches: adapters and validation look codes up here. Sources: DIAN Anexo Técnico 1.9
(research/dian.md §3) and MH catalogues CAT-002..CAT-022 (research/sv.md §3.10).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

COUNTRIES: Final = frozenset({"CO", "SV"})

TIME_ZONES: Final = {"CO": "America/Bogota", "SV": "America/El_Salvador"}
DEFAULT_CURRENCY: Final = {"CO": "COP", "SV": "USD"}

# kind -> DIAN InvoiceTypeCode / MH tipoDte (CAT-002)
KINDS: Final[dict[str, dict[str, str]]] = {
    "CO": {
        "invoice": "01",
        "credit_note": "91",
        "debit_note": "92",
        "pos_invoice": "20",
        "support_document": "05",
    },
    "SV": {
        "invoice": "01",
        "tax_credit_invoice": "03",
        "credit_note": "05",
        "debit_note": "06",
        "export_invoice": "11",
        "excluded_subject_invoice": "14",
    },
}

NOTE_KINDS: Final = frozenset({"credit_note", "debit_note"})

# id_type -> DIAN document type (schemeName) / MH CAT-022 tipoDocumento
ID_TYPES: Final[dict[str, dict[str, str]]] = {
    "CO": {
        "NIT": "31",
        "CC": "13",
        "CE": "22",
        "TI": "12",
        "RC": "11",
        "PASSPORT": "41",
        "FOREIGN_ID": "42",
        "NIT_FOREIGN": "50",
    },
    "SV": {
        "NIT": "36",
        "DUI": "13",
        "NRC": "36",  # an NRC alone identifies a taxpayer registered for IVA; MH types it as NIT
        "PASSPORT": "03",
        "RESIDENT_CARD": "02",
        "OTHER": "37",
    },
}

# Taxes: DIAN tax scheme id (01 IVA, 04 INC ...) / MH CAT-015 tributo code
TAXES: Final[dict[str, dict[str, str]]] = {
    "CO": {"IVA": "01", "INC": "04", "ICA": "03"},
    "SV": {"IVA": "20"},
}

# Rates the authority accepts per tax (percent). ICA is municipal: any rate.
ALLOWED_RATES: Final[dict[str, dict[str, frozenset[Decimal] | None]]] = {
    "CO": {
        "IVA": frozenset(Decimal(r) for r in ("0", "5", "19")),
        "INC": frozenset(Decimal(r) for r in ("4", "8", "16")),
        "ICA": None,
    },
    "SV": {"IVA": frozenset({Decimal("13")})},
}

# Withholdings: DIAN scheme id (05 ReteIVA, 06 ReteFuente/ReteRenta, 07 ReteICA) / MH resumen field
WITHHOLDINGS: Final[dict[str, dict[str, str]]] = {
    "CO": {"ReteIVA": "05", "ReteFuente": "06", "ReteICA": "07"},
    "SV": {"IVA": "ivaRete1", "Renta": "reteRenta"},
}

# payment means -> DIAN PaymentMeansCode / MH CAT-017 forma de pago
PAYMENT_MEANS: Final[dict[str, dict[str, str]]] = {
    "cash": {"CO": "10", "SV": "01"},
    "bank_transfer": {"CO": "47", "SV": "05"},
    "bank_deposit": {"CO": "42", "SV": "05"},
    "credit_card": {"CO": "48", "SV": "03"},
    "debit_card": {"CO": "49", "SV": "02"},
    "check": {"CO": "20", "SV": "04"},
    "electronic_money": {"CO": "ZZZ", "SV": "08"},
    "other": {"CO": "ZZZ", "SV": "99"},
}

# payment form -> DIAN PaymentMeans/ID (1 contado, 2 crédito) / MH CAT-016 condicionOperacion
PAYMENT_FORMS: Final[dict[str, dict[str, str]]] = {
    "cash": {"CO": "1", "SV": "1"},
    "credit": {"CO": "2", "SV": "2"},
}

# Note reasons -> DIAN DiscrepancyResponse/ResponseCode. Anexo 1.9 (Resolución 165 de 2023) lists
# credit-note concepts 1 devolución parcial, 2 anulación, 3 rebaja o descuento, 4 ajuste de precio,
# 5 descuento comercial por pronto pago, 6 descuento comercial por volumen de ventas: "5 Otros" is
# gone, so a generic credit reason has no DIAN code (None: DIAN adapters refuse it). Debit notes keep
# 1 intereses, 2 gastos por cobrar, 3 cambio del valor, 4 otros. (contracts/dian/SOURCES.md)
CREDIT_REASONS: Final[dict[str, str | None]] = {
    "partial_return": "1",
    "annulment": "2",
    "discount": "3",
    "price_adjustment": "4",
    "full_return": "1",
    "other": None,
}
DEBIT_REASONS: Final[dict[str, str | None]] = {
    "interest": "1",
    "expenses": "2",
    "value_change": "3",
    "other": "4",
}
NOTE_REASONS: Final[dict[str, dict[str, str | None]]] = {
    "credit_note": CREDIT_REASONS,
    "debit_note": DEBIT_REASONS,
}

# item_type -> MH CAT-011 tipoItem
ITEM_TYPES: Final[dict[str, str]] = {"good": "1", "service": "2", "both": "3"}

PARTY_TYPES: Final[dict[str, dict[str, str]]] = {
    # DIAN AdditionalAccountID (1 jurídica, 2 natural) / MH CAT-029 (1 natural, 2 jurídica)
    "company": {"CO": "1", "SV": "2"},
    "person": {"CO": "2", "SV": "1"},
}

# UN/ECE Rec 20 unit -> MH CAT-014 unidad de medida (others map to 99 "otra")
UNITS_MH: Final[dict[str, str]] = {
    "94": "59",  # unit
    "H87": "59",  # piece
    "MTR": "01",
    "MTK": "13",
    "MTQ": "18",
    "GLL": "22",
    "LTR": "23",
    "MLT": "26",
    "KGM": "34",
    "LBR": "36",
    "GRM": "39",
    "DZN": "58",
}
MH_OTHER_UNIT: Final = "99"

# Decimal places per country and field class (pinned in ARCHITECTURE.md, Totals)
LINE_DECIMALS: Final = {"CO": 2, "SV": 8}
TOTAL_DECIMALS: Final = 2

# SV: a factura of this amount or more must identify its receptor (fe-fc-v1 root allOf)
SV_FACTURA_ID_THRESHOLD: Final = Decimal("1095.00")

# Retención IVA 1 % by a gran contribuyente buyer applies from this net amount (CT Art. 162)
SV_RETENTION_THRESHOLD: Final = Decimal("100.00")
