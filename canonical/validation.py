"""Decode and validate canonical documents, reporting every problem at once.

msgspec stops at the first decode error, so when the fast typed decode fails we walk the raw JSON
against the Struct definitions and collect each structural error with its path. Business rules are
functions over the decoded document (and, for amount thresholds, its totals); each problem carries
a stable rule code from `RULES`.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec
from stdnum.co import nit as co_nit
from stdnum.sv import nit as sv_nit

from canonical import catalogs as cat
from canonical import clock, divipola
from canonical.document import Address, Document, Party, document_decoder
from canonical.errors import FieldError, InvalidDocument
from canonical.totals import MICRO, Totals, compute_totals

MAX_LINES: Final = 2000  # MH cuerpoDocumento holds at most 2000 items; DIAN documents stay far below
MAX_ERRORS: Final = 100
MAX_MAGNITUDE: Final = Decimal(10) ** 14  # far above any real invoice; keeps Decimal arithmetic exact
MAX_DECIMALS: Final = 8  # MH items carry at most 8; DIAN none beyond that

# Stable rule codes and the message each gives (the message may be refined per occurrence).
RULES: Final[dict[str, str]] = {
    "json-invalid": "the body is not valid JSON",
    "type": "wrong type",
    "enum": "value not in the allowed list",
    "required": "field is required",
    "unknown-field": "field is not part of the canonical model",
    "format": "value has the wrong format",
    "length": "wrong number of items or characters",
    "decimal-finite": "amounts must be finite numbers (no NaN or Infinity)",
    "kind-unknown": "kind is not one of this country's document kinds",
    "currency-format": "currency must be an ISO 4217 code",
    "sv-currency-usd": "El Salvador documents are in USD",
    "lines-required": "a document needs at least one line",
    "lines-max": f"a document holds at most {MAX_LINES} lines",
    "quantity-positive": "quantity must be greater than zero",
    "unit-price-non-negative": "unit price must not be negative",
    "unit-format": "unit must be a UN/ECE Rec 20 code (e.g. 94)",
    "decimals-max": "amounts and quantities carry at most 8 decimals",
    "amount-range": f"amounts and quantities must be below {10**14:,}",
    "amount-too-small": "a line figure is not zero yet below 0.000001, which no decimal string writes plainly",
    "discount-one-of": "give exactly one of percent or amount",
    "discount-percent-range": "discount percent must be between 0 and 100",
    "discount-exceeds-gross": "discount is larger than quantity × unit price",
    "tax-unknown": "tax is not known for this country",
    "tax-rate-not-allowed": "rate is not allowed for this tax",
    "tax-duplicate": "the same tax appears twice on one line",
    "tax-treatment-conflict": "an exempt or not-subject line cannot carry taxes",
    "sv-taxed-line-needs-iva": "a taxed El Salvador line must carry IVA 13",
    "customer-required": "this document kind needs a customer",
    "id-type-unknown": "identification type is not known for this country",
    "id-number-required": "an identification type needs its number",
    "co-id-number-format": "Colombian identification numbers are digits only",
    "co-nit-check-digit-required": "a NIT needs its check digit (DV)",
    "co-nit-check-digit": "NIT check digit (DV) does not match (DIAN mod-11)",
    "sv-nit-format": "NIT must be 14 digits, or 9 where a DUI doubles as NIT",
    "sv-nit-check-digit": "NIT check digit does not match",
    "sv-dui-format": "DUI must be 8 digits, a hyphen and a check digit (00000000-0)",
    "sv-dui-check-digit": "DUI check digit does not match",
    "sv-nrc-format": "NRC must be 1 to 8 digits",
    "email-format": "not an e-mail address",
    "co-address-city-required": "a Colombian address needs its DANE DIVIPOLA municipality (city_code)",
    "co-city-code-unknown": "city_code is not a DANE DIVIPOLA municipality (DIAN's list of municipios)",
    "co-department-code-unknown": "department_code is not a DANE DIVIPOLA department (DIAN's list)",
    "co-city-department-mismatch": "the municipality (city_code) is not in that department",
    "supplier-required": "a purchase document (CO support_document and its adjustment note) names the seller in supplier",
    "supplier-on-sale": "only a purchase document (CO support_document and its notes) names a supplier",
    "customer-on-purchase": "a purchase document's other party is the seller, given as supplier, not customer",
    "point-of-sale-on-non-pos": "only a POS document (CO pos_invoice) carries point_of_sale",
    "buyer-benefits-points": "buyer benefit points must not be negative",
    "co-reference-kind": "a CO note corrects an invoice, a pos_invoice or a support_document",
    "co-support-document-debit-note": "DIAN corrects a support document only with its adjustment note (a credit_note)",
    "note-reference-required": "a note must reference the document it corrects",
    "note-reason-required": "a note needs a reason",
    "note-reason-unknown": "reason code is not one of this note kind's reasons",
    "co-reference-cufe": "the referenced document's CUFE, CUDE or CUDS must be 96 hexadecimal characters",
    "co-reference-date": "the referenced invoice's issue date is required",
    "sv-reference-codigo-generacion": "the referenced DTE's codigoGeneracion must be an uppercase UUID",
    "reference-date-after-issue": "the referenced document cannot be issued after this one",
    "reference-on-non-note": "only notes carry a reference",
    "issue-date-future": "issue date is in the future",
    "due-date-before-issue": "due date is before the issue date",
    "co-credit-due-date": "a credit sale needs a due date (DIAN PaymentDueDate)",
    "adjustment-one-of": "give exactly one of amount or percent",
    "adjustment-non-negative": "amount and percent must not be negative",
    "withholding-unknown": "withholding tax is not known for this country",
    "withholding-rate-range": "withholding rate must be between 0 and 100",
    "payable-negative": "discounts exceed the document total",
    "sv-factura-receptor-required": "a factura of USD 1,095.00 or more must identify the customer",
    "sv-factura-nrc-only-with-nit": "a factura receptor carries an NRC only when identified by NIT",
    "sv-ccf-receptor-nit-nrc": "a comprobante de crédito fiscal needs the customer's NIT and NRC",
}

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_UNIT = re.compile(r"^[A-Z0-9]{1,3}$")
_DIGITS = re.compile(r"^[0-9]{3,20}$")
_CUFE = re.compile(r"^[0-9a-f]{96}$")
_UUID_UPPER = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DUI = re.compile(r"^[0-9]{8}-[0-9]$")
_NRC = re.compile(r"^[0-9]{1,8}$")
_DIGITS_ONLY_CO = frozenset({"NIT", "CC", "TI", "RC"})
_CO_REFERENCED_KINDS: Final = frozenset({None, "invoice", "pos_invoice", "support_document"})
_POINT_OF_SALE_KINDS: Final = {"CO": frozenset({"pos_invoice"})}
# A note on a document sold to the anonymous final consumer corrects it for that same consumer.
_NOTE_CUSTOMER_OPTIONAL: Final = {"CO": frozenset({"pos_invoice"})}
_CUSTOMER_OPTIONAL: Final = {"CO": frozenset({"pos_invoice"}), "SV": frozenset({"invoice", "export_invoice"})}


def err(path: str, rule: str, message: str | None = None) -> FieldError:
    return FieldError(path=path, rule=rule, message=message or RULES[rule])


# -- decoding -------------------------------------------------------------------------------------


def decode_document(data: bytes | str) -> Document:
    """Typed decode with defaults filled in; InvalidDocument lists every structural problem."""
    try:
        doc = document_decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        raise InvalidDocument(structural_errors(data)) from None
    return with_defaults(doc)


def with_defaults(doc: Document) -> Document:
    """Fill what the architecture defaults: issue date/time in the country's zone, currency."""
    if doc.issue_date is None or doc.issue_time is None:
        now = clock.now(ZoneInfo(cat.TIME_ZONES[doc.country]))
        if doc.issue_date is None:
            doc.issue_date = now.date()
        if doc.issue_time is None:
            doc.issue_time = now.time().replace(microsecond=0)
    if doc.currency is None:
        doc.currency = cat.DEFAULT_CURRENCY[doc.country]
    return doc


def structural_errors(data: bytes | str) -> list[FieldError]:
    try:
        raw = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # a string with bytes that are not UTF-8
        return [err("", "json-invalid", f"the body is not valid JSON: {exc}")]
    errors = list(_walk(raw, Document, ""))
    return errors[:MAX_ERRORS] or [err("", "type", "document does not match the canonical model")]


def _walk(value: Any, declared: Any, path: str) -> Iterator[FieldError]:
    tp = _strip(declared)
    struct = _struct_in(tp)
    if struct is not None and isinstance(value, dict):
        fields = {f.encode_name: f for f in msgspec.structs.fields(struct)}
        for key in value:
            if key not in fields:
                yield err(_join(path, key), "unknown-field")
        for name, f in fields.items():
            if name in value:
                yield from _walk(value[name], f.type, _join(path, name))
            elif f.required:
                yield err(_join(path, name), "required")
        return
    item = _list_item(tp)
    if item is not None and isinstance(value, list):
        for i, element in enumerate(value):
            yield from _walk(element, item, f"{path}[{i}]")
        return
    try:
        msgspec.convert(value, declared)  # the declared type keeps its Meta constraints
    except msgspec.ValidationError as exc:
        yield _from_msgspec(str(exc), path)


def _from_msgspec(message: str, path: str) -> FieldError:
    text, _, where = message.partition(" - at `$")
    sub = where.rstrip("`")
    full = path + (sub if sub.startswith("[") else ("." + sub.lstrip(".") if sub else ""))
    for prefix, rule in (
        ("Invalid enum value", "enum"),
        ("Object missing required field", "required"),
        ("Object contains unknown field", "unknown-field"),
        ("Invalid", "format"),
        ("Expected `array` of length", "length"),
        ("Expected `str` of length", "length"),
        ("Expected", "type"),
    ):
        if text.startswith(prefix):
            return err(full.lstrip("."), rule, text)
    return err(full.lstrip("."), "format", text)


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _struct_in(tp: Any) -> type[msgspec.Struct] | None:
    candidates = typing.get_args(tp) if isinstance(tp, types.UnionType) else (tp,)
    for c in candidates:
        c = _strip(c)
        if isinstance(c, type) and issubclass(c, msgspec.Struct):
            return c
    return None


def _list_item(tp: Any) -> Any:
    return typing.get_args(tp)[0] if typing.get_origin(tp) is list else None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# -- business rules -------------------------------------------------------------------------------


def validate(doc: Document, totals: Totals | None = None) -> list[FieldError]:
    """Every business-rule problem of a decoded document; totals enable the amount thresholds."""
    if len(doc.lines) > MAX_LINES:  # refuse early: a huge document is not worth checking line by line
        return [err("lines", "lines-max", f"{len(doc.lines)} lines; {RULES['lines-max']}")]
    errors: list[FieldError] = []
    for check in _DOCUMENT_CHECKS:
        errors.extend(check(doc))
    if totals is not None:
        errors.extend(_amount_rules(doc, totals))
    return errors[:MAX_ERRORS]


def prepare(data: bytes | str) -> tuple[Document, Totals]:
    """Decode, validate and compute totals: the one entry point for API, CLI and benchmarks."""
    doc = decode_document(data)
    errors = validate(doc)
    if errors:
        raise InvalidDocument(errors)
    totals = compute_totals(doc)
    errors = _amount_rules(doc, totals)
    if errors:
        raise InvalidDocument(errors)
    return doc, totals


def _check_header(doc: Document) -> Iterator[FieldError]:
    if doc.kind not in cat.KINDS[doc.country]:
        allowed = ", ".join(cat.KINDS[doc.country])
        yield err("kind", "kind-unknown", f"{doc.kind!r} is not a {doc.country} kind ({allowed})")
    if doc.currency is not None and not _CURRENCY.match(doc.currency):
        yield err("currency", "currency-format")
    elif doc.country == "SV" and doc.currency not in (None, "USD"):
        yield err("currency", "sv-currency-usd")
    if not doc.lines:
        yield err("lines", "lines-required")
    if doc.issue_date is not None:
        today = clock.now(ZoneInfo(cat.TIME_ZONES[doc.country])).date()
        if doc.issue_date > today:
            yield err(
                "issue_date", "issue-date-future", f"issue date {doc.issue_date} is after today ({today})"
            )


def _check_lines(doc: Document) -> Iterator[FieldError]:
    allowed_taxes = cat.ALLOWED_RATES[doc.country]
    for i, line in enumerate(doc.lines):
        p = f"lines[{i}]"
        yield from _finite(p, quantity=line.quantity, unit_price=line.unit_price)
        if line.quantity.is_finite() and line.quantity <= 0:
            yield err(f"{p}.quantity", "quantity-positive")
        if line.unit_price.is_finite() and line.unit_price < 0:
            yield err(f"{p}.unit_price", "unit-price-non-negative")
        if not _UNIT.match(line.unit):
            yield err(f"{p}.unit", "unit-format")
        if line.discount is not None:
            yield from _check_discount(line, p)
        seen: set[str] = set()
        for j, t in enumerate(line.taxes):
            tp = f"{p}.taxes[{j}]"
            yield from _finite(tp, rate=t.rate)
            if t.tax not in allowed_taxes:
                yield err(
                    f"{tp}.tax",
                    "tax-unknown",
                    f"{t.tax!r} is not a {doc.country} tax ({', '.join(allowed_taxes)})",
                )
            elif (rates := allowed_taxes[t.tax]) is not None and t.rate.is_finite() and t.rate not in rates:
                allowed = ", ".join(sorted(format(r, "f") for r in rates))
                yield err(
                    f"{tp}.rate", "tax-rate-not-allowed", f"{t.tax} {t.rate} % is not allowed ({allowed})"
                )
            if t.tax in seen:
                yield err(f"{tp}.tax", "tax-duplicate")
            seen.add(t.tax)
        if line.tax_treatment != "taxed" and line.taxes:
            yield err(f"{p}.taxes", "tax-treatment-conflict")
        if doc.country == "SV" and line.tax_treatment == "taxed" and "IVA" not in seen:
            yield err(f"{p}.taxes", "sv-taxed-line-needs-iva")


def _check_discount(line: Any, p: str) -> Iterator[FieldError]:
    d = line.discount
    if (d.percent is None) == (d.amount is None):
        yield err(f"{p}.discount", "discount-one-of")
        return
    if d.percent is not None:
        yield from _finite(f"{p}.discount", percent=d.percent)
        if d.percent.is_finite() and not (0 <= d.percent <= 100):
            yield err(f"{p}.discount.percent", "discount-percent-range")
    else:
        yield from _finite(f"{p}.discount", amount=d.amount)
        if d.amount.is_finite() and d.amount < 0:
            yield err(f"{p}.discount.amount", "adjustment-non-negative")
        elif (
            d.amount.is_finite()
            and line.quantity.is_finite()
            and line.unit_price.is_finite()
            and d.amount > line.quantity * line.unit_price
        ):
            yield err(f"{p}.discount.amount", "discount-exceeds-gross")


def _check_customer(doc: Document) -> Iterator[FieldError]:
    if doc.is_purchase:
        if doc.customer is not None:
            yield err("customer", "customer-on-purchase")
        if doc.supplier is None:
            yield err("supplier", "supplier-required")
        else:
            yield from check_party(doc.supplier, doc.country, "supplier")
        return
    if doc.supplier is not None:
        yield err("supplier", "supplier-on-sale")
    if doc.customer is None:
        referenced = doc.reference.kind if doc.reference is not None else None
        on_anonymous = doc.kind in cat.NOTE_KINDS and referenced in _NOTE_CUSTOMER_OPTIONAL.get(
            doc.country, ()
        )
        if doc.kind not in _CUSTOMER_OPTIONAL[doc.country] and not on_anonymous:
            yield err("customer", "customer-required", f"a {doc.country} {doc.kind} needs a customer")
        return
    yield from check_party(doc.customer, doc.country, "customer")
    if doc.country == "SV" and doc.kind == "tax_credit_invoice":
        c = doc.customer
        if c.id_type != "NIT" or not c.id_number or not c.nrc:
            yield err("customer", "sv-ccf-receptor-nit-nrc")
    if doc.country == "SV" and doc.kind == "invoice" and doc.customer.nrc and doc.customer.id_type != "NIT":
        yield err("customer.nrc", "sv-factura-nrc-only-with-nit")


def check_party(party: Party, country: str, path: str) -> Iterator[FieldError]:
    """Identification rules for a party (customer, or the tenant's issuer at config load)."""
    if party.email is not None and not _EMAIL.match(party.email):
        yield err(f"{path}.email", "email-format")
    if party.nrc is not None and not _NRC.match(party.nrc):
        yield err(f"{path}.nrc", "sv-nrc-format")
    if country == "CO" and party.address is not None and party.address.country == "CO":
        yield from _co_address(party.address, f"{path}.address")
    if party.id_type is None:
        return
    if party.id_type not in cat.ID_TYPES[country]:
        allowed = ", ".join(cat.ID_TYPES[country])
        yield err(
            f"{path}.id_type", "id-type-unknown", f"{party.id_type!r} is not a {country} id type ({allowed})"
        )
        return
    number = party.id_number
    if not number:
        yield err(f"{path}.id_number", "id-number-required")
        return
    yield from _ID_CHECKS.get((country, party.id_type), _no_check)(party, f"{path}")


def _co_address(address: Address, path: str) -> Iterator[FieldError]:
    """DIAN names the city and department from these codes (Anexo 1.9 FAJ08/FAJ28 and the
    customer's mirror rules): both must be in DIVIPOLA, and the municipality in the department."""
    city, department = address.city_code, address.department_code
    if city is None:
        yield err(f"{path}.city_code", "co-address-city-required")
    elif divipola.municipality(city) is None:
        yield err(f"{path}.city_code", "co-city-code-unknown", f"{city!r}: {RULES['co-city-code-unknown']}")
    if department is not None and divipola.department(department) is None:
        yield err(
            f"{path}.department_code",
            "co-department-code-unknown",
            f"{department!r}: {RULES['co-department-code-unknown']}",
        )
    elif city is not None and department is not None and divipola.municipality(city) is not None:
        if not divipola.agrees(city, department):
            yield err(
                f"{path}.department_code",
                "co-city-department-mismatch",
                f"{city} ({divipola.municipality(city)}) is in department {divipola.department_of(city)}"
                f" ({divipola.department(divipola.department_of(city) or '')}), not {department}",
            )


def _co_digits(party: Party, path: str) -> Iterator[FieldError]:
    if not _DIGITS.match(party.id_number or ""):
        yield err(f"{path}.id_number", "co-id-number-format")


def _co_nit(party: Party, path: str) -> Iterator[FieldError]:
    number = party.id_number or ""
    if not _DIGITS.match(number):
        yield err(f"{path}.id_number", "co-id-number-format")
    elif party.check_digit is None:
        yield err(f"{path}.check_digit", "co-nit-check-digit-required")
    elif not _co_nit_valid(number + party.check_digit):
        expected = co_nit.calc_check_digit(number)
        yield err(
            f"{path}.check_digit",
            "co-nit-check-digit",
            f"NIT {number} has check digit {expected}, not {party.check_digit} (DIAN mod-11)",
        )


@functools.lru_cache(maxsize=4096)
def _co_nit_valid(number: str) -> bool:
    """python-stdnum's NIT check, cached: the same few customers come back on every request."""
    return co_nit.is_valid(number)


def _sv_nit(party: Party, path: str) -> Iterator[FieldError]:
    number = party.id_number or ""
    if re.fullmatch(r"[0-9]{14}", number):
        if not _sv_nit_valid(number):
            yield err(f"{path}.id_number", "sv-nit-check-digit")
    elif re.fullmatch(r"[0-9]{9}", number):
        if not dui_is_valid(number):
            yield err(f"{path}.id_number", "sv-dui-check-digit")
    else:
        yield err(f"{path}.id_number", "sv-nit-format")


@functools.lru_cache(maxsize=4096)
def _sv_nit_valid(number: str) -> bool:
    """python-stdnum's NIT check, cached like the Colombian one."""
    return sv_nit.is_valid(number)


def _sv_dui(party: Party, path: str) -> Iterator[FieldError]:
    number = party.id_number or ""
    if not _DUI.match(number):
        yield err(f"{path}.id_number", "sv-dui-format")
    elif not dui_is_valid(number):
        yield err(f"{path}.id_number", "sv-dui-check-digit")


def dui_is_valid(number: str) -> bool:
    """DUI check digit: weights 9..2 over the 8 digits, (10 − sum mod 10) mod 10."""
    digits = number.replace("-", "")
    if not re.fullmatch(r"[0-9]{9}", digits):
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True))
    return (10 - total % 10) % 10 == int(digits[8])


def _no_check(party: Party, path: str) -> Iterator[FieldError]:
    return iter(())


_ID_CHECKS: Final[dict[tuple[str, str], Callable[[Party, str], Iterator[FieldError]]]] = {
    ("CO", "NIT"): _co_nit,
    **{("CO", t): _co_digits for t in _DIGITS_ONLY_CO - {"NIT"}},
    ("SV", "NIT"): _sv_nit,
    ("SV", "DUI"): _sv_dui,
    ("SV", "NRC"): lambda p, path: iter(
        [] if _NRC.match(p.id_number or "") else [err(f"{path}.id_number", "sv-nrc-format")]
    ),
}


def _check_point_of_sale(doc: Document) -> Iterator[FieldError]:
    pos = doc.point_of_sale
    if pos is None:
        return
    if doc.kind not in _POINT_OF_SALE_KINDS.get(doc.country, ()):
        yield err("point_of_sale", "point-of-sale-on-non-pos")
    if pos.buyer_benefits is not None:
        yield from _finite("point_of_sale.buyer_benefits", points=pos.buyer_benefits.points)
        if pos.buyer_benefits.points.is_finite() and pos.buyer_benefits.points < 0:
            yield err("point_of_sale.buyer_benefits.points", "buyer-benefits-points")


def _check_note(doc: Document) -> Iterator[FieldError]:
    if doc.kind not in cat.NOTE_KINDS:
        if doc.reference is not None and doc.country == "CO":
            yield err("reference", "reference-on-non-note")
        return
    if doc.reason is None:
        yield err("reason", "note-reason-required")
    elif doc.reason.code not in cat.NOTE_REASONS[doc.kind]:
        allowed = ", ".join(cat.NOTE_REASONS[doc.kind])
        yield err(
            "reason.code",
            "note-reason-unknown",
            f"{doc.reason.code!r} is not a {doc.kind} reason ({allowed})",
        )
    ref = doc.reference
    if ref is None:
        yield err("reference", "note-reference-required")
        return
    if doc.country == "CO":
        if ref.kind not in _CO_REFERENCED_KINDS:
            yield err("reference.kind", "co-reference-kind", f"{ref.kind!r}: {RULES['co-reference-kind']}")
        elif ref.kind == "support_document" and doc.kind == "debit_note":
            yield err("kind", "co-support-document-debit-note")
        if ref.fiscal_id is None or not _CUFE.match(ref.fiscal_id):
            yield err("reference.fiscal_id", "co-reference-cufe")
        if ref.issue_date is None:
            yield err("reference.issue_date", "co-reference-date")
    elif ref.fiscal_id is None or not _UUID_UPPER.match(ref.fiscal_id):
        yield err("reference.fiscal_id", "sv-reference-codigo-generacion")
    if ref.issue_date and doc.issue_date and ref.issue_date > doc.issue_date:
        yield err("reference.issue_date", "reference-date-after-issue")


def _check_payment(doc: Document) -> Iterator[FieldError]:
    pay = doc.payment
    if pay is None:
        return
    if pay.due_date and doc.issue_date and pay.due_date < doc.issue_date:
        yield err("payment.due_date", "due-date-before-issue")
    if doc.country == "CO" and pay.form == "credit" and pay.due_date is None:
        yield err("payment.due_date", "co-credit-due-date")


def _check_adjustments(doc: Document) -> Iterator[FieldError]:
    for name, items in (("charges", doc.charges), ("discounts", doc.discounts)):
        for i, a in enumerate(items):
            p = f"{name}[{i}]"
            if (a.amount is None) == (a.percent is None):
                yield err(p, "adjustment-one-of")
                continue
            value = a.amount if a.amount is not None else a.percent
            yield from _finite(p, value=value)
            if value.is_finite() and value < 0:
                yield err(p, "adjustment-non-negative")
    for i, w in enumerate(doc.withholdings):
        p = f"withholdings[{i}]"
        if w.tax not in cat.WITHHOLDINGS[doc.country]:
            allowed = ", ".join(cat.WITHHOLDINGS[doc.country])
            yield err(
                f"{p}.tax", "withholding-unknown", f"{w.tax!r} is not a {doc.country} withholding ({allowed})"
            )
        yield from _finite(p, rate=w.rate)
        if w.rate.is_finite() and not (0 <= w.rate <= 100):
            yield err(f"{p}.rate", "withholding-rate-range")


def _finite(path: str, **values: Decimal) -> Iterator[FieldError]:
    """Every Decimal from the edge passes here: finite, bounded, at most 8 decimals."""
    for name, value in values.items():
        at = f"{path}.{name}" if name != "value" else path
        if not value.is_finite():
            yield err(at, "decimal-finite")
        elif abs(value) >= MAX_MAGNITUDE:
            yield err(at, "amount-range")
        elif value.as_tuple().exponent < -MAX_DECIMALS:  # type: ignore[operator]
            yield err(at, "decimals-max")


def _amount_rules(doc: Document, totals: Totals) -> list[FieldError]:
    errors = []
    if totals.payable < 0:
        errors.append(err("discounts", "payable-negative"))
    # Figures are never negative here (unit price, discount and payable rules above), so one
    # comparison finds those below MICRO. Where lines round to 2 places (CO) only the echoed unit
    # price can be that small: the check stays off the hot path of the usual document.
    every_figure = cat.LINE_DECIMALS[doc.country] > 6
    for i, lt in enumerate(totals.lines):
        if _sub_micro(lt.unit_price) or (
            every_figure
            and (
                _sub_micro(lt.gross)
                or _sub_micro(lt.discount)
                or _sub_micro(lt.net)
                or _sub_micro(lt.total)
                or any(_sub_micro(t.amount) for t in lt.taxes)
            )
        ):
            errors.append(err(f"lines[{i}]", "amount-too-small"))
    if doc.country == "SV" and doc.kind == "invoice" and totals.payable >= cat.SV_FACTURA_ID_THRESHOLD:
        c = doc.customer
        if c is None or not (c.id_type and c.id_number and c.name):
            errors.append(
                err(
                    "customer",
                    "sv-factura-receptor-required",
                    f"total {totals.payable}: {RULES['sv-factura-receptor-required']}",
                )
            )
    return errors


def _sub_micro(figure: Decimal) -> bool:
    """Not zero, yet too small for any plain decimal string (str() would write 5E-7)."""
    return figure < MICRO and bool(figure)


_DOCUMENT_CHECKS: Final = (
    _check_header,
    _check_lines,
    _check_customer,
    _check_point_of_sale,
    _check_note,
    _check_payment,
    _check_adjustments,
)
