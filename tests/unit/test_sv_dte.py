"""canonical.sv_dte against Hacienda's official JSON schemas (contracts/sv-dte/).

Schema and document are both parsed with Decimal: with floats jsonschema rejects valid amounts such
as 0.07 against `multipleOf 0.01` (research/sv.md §3.7).
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
import uuid
from decimal import Decimal
from functools import cache

import jsonschema
import msgspec
import pytest

import contracts
from canonical.document import Adjustment, Document, Issuer, LineDiscount
from canonical.errors import InvalidDocument
from canonical.sv_dte import (
    SCHEMA_FILES,
    build_dte,
    codigo_generacion,
    dte_json,
    numero_control,
    sales_totals,
    total_letras,
)
from canonical.totals import compute_totals
from canonical.validation import prepare


@cache
def validator(tipo: str) -> jsonschema.Draft7Validator:
    schema = json.loads(contracts.read_bytes("sv-dte", SCHEMA_FILES[tipo]), parse_float=Decimal)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def schema_errors(dte: dict) -> list[str]:
    instance = json.loads(dte_json(dte), parse_float=Decimal)
    tipo = instance["identificacion"]["tipoDte"]
    return [f"{e.json_path}: {e.message}" for e in validator(tipo).iter_errors(instance)]


@pytest.fixture(scope="module")
def issuer(examples_dir) -> Issuer:
    tenants = tomllib.loads((examples_dir / "tenants.toml").read_text())
    tenant = next(t for t in tenants["tenants"] if t["id"] == "tienda-sv")
    return msgspec.convert(tenant["issuer"], Issuer)


@pytest.fixture(scope="module")
def factura(example_bytes) -> tuple[Document, object]:
    return prepare(example_bytes["sv-invoice"])


def ccf_document(**changes) -> Document:
    body = {
        "country": "SV",
        "kind": "tax_credit_invoice",
        "issue_date": "2026-11-20",
        "issue_time": "10:15:00",
        "customer": {
            "party_type": "company",
            "id_type": "NIT",
            "id_number": "06140101001014",
            "nrc": "1234567",
            "name": "Distribuidora Grande S.A. de C.V.",
            "economic_activity": "46900",
            "email": "compras@grande.example",
            "phone": "22334455",
            "large_taxpayer": True,
            "address": {
                "line": "Boulevard Los Próceres 45",
                "department_code": "06",
                "city_code": "14",
                "country": "SV",
            },
        },
        "lines": [
            {
                "description": "Café molido 500 g",
                "quantity": "20",
                "unit_price": "5.75",
                "taxes": [{"tax": "IVA", "rate": "13"}],
            },
            {
                "description": "Instalación",
                "quantity": "1",
                "unit_price": "45.07",
                "item_type": "service",
                "discount": {"amount": "0.07"},
                "taxes": [{"tax": "IVA", "rate": "13"}],
            },
            {
                "description": "Libro escolar",
                "quantity": "3",
                "unit_price": "12.00",
                "tax_treatment": "exempt",
            },
        ],
        "payment": {"form": "credit", "means": "bank_transfer", "due_date": "2026-12-20"},
        **changes,
    }
    doc, _ = prepare(json.dumps(body))
    return doc


def test_factura_example_validates_against_fe_fc_v1(factura, issuer):
    doc, totals = factura
    dte = build_dte(doc, totals, issuer, sequence=1)
    assert schema_errors(dte) == []
    assert dte["identificacion"]["version"] == 1
    assert dte["receptor"]["tipoDocumento"] == "13"
    assert dte["receptor"]["numDocumento"] == "04567890-3"


def test_factura_amounts_are_the_engines(factura, issuer):
    """IVA 13/113 inside the prices: the example's pinned figures (ARCHITECTURE.md, Totals)."""
    doc, totals = factura
    resumen = build_dte(doc, totals, issuer, sequence=1)["resumen"]
    assert resumen["totalGravada"] == Decimal("15.00")
    assert resumen["totalExenta"] == Decimal("12.00")
    assert resumen["totalIva"] == totals.tax_total == Decimal("1.73")
    assert resumen["montoTotalOperacion"] == totals.tax_inclusive
    assert resumen["totalPagar"] == totals.payable == Decimal("27.00")
    assert resumen["totalLetras"] == "VEINTISIETE 00/100 DÓLARES"
    assert resumen["tributos"] is None  # FE v1 carries IVA only in ivaItem / totalIva


def test_factura_items_carry_iva_inside_the_price(factura, issuer):
    doc, totals = factura
    items = build_dte(doc, totals, issuer, sequence=1)["cuerpoDocumento"]
    coffee = items[0]
    assert (coffee["precioUni"], coffee["cantidad"], coffee["ventaGravada"]) == (Decimal("6.5"), 2, 13)
    assert coffee["ivaItem"] == Decimal("1.49557522")  # 13 × 13/113, 8 decimals
    assert coffee["tributos"] is None
    assert items[2]["ventaExenta"] == 12 and items[2]["ivaItem"] == 0
    assert abs(sum(i["ivaItem"] for i in items) - totals.tax_total) <= Decimal("0.01")


def test_identificacion(factura, issuer):
    doc, totals = factura
    code = str(uuid.uuid4())
    ident = build_dte(doc, totals, issuer, sequence=42, codigo=code, environment="production")[
        "identificacion"
    ]
    assert ident["numeroControl"] == "DTE-01-M001P001-000000000000042"
    assert ident["codigoGeneracion"] == code.upper()
    assert ident["ambiente"] == "01"
    assert ident["fecEmi"] == doc.issue_date.isoformat()


def test_ccf_validates_against_fe_ccf_v3(issuer):
    doc = ccf_document()
    dte = build_dte(doc, compute_totals(doc), issuer, sequence=7)
    assert schema_errors(dte) == []
    assert dte["identificacion"]["numeroControl"] == "DTE-03-M001P001-000000000000007"
    assert dte["receptor"]["nit"] == "06140101001014"


def test_ccf_adds_iva_on_top_and_retains_one_percent(issuer):
    doc = ccf_document()
    totals = compute_totals(doc)
    dte = build_dte(doc, totals, issuer, sequence=7)
    resumen, items = dte["resumen"], dte["cuerpoDocumento"]
    assert resumen["totalGravada"] == Decimal("160.00")  # 20 × 5.75 + 45.07 − 0.07
    assert resumen["tributos"] == [
        {"codigo": "20", "descripcion": "Impuesto al Valor Agregado 13%", "valor": Decimal("20.80")}
    ]
    assert resumen["montoTotalOperacion"] == Decimal("216.80")  # 160 + 36 exenta + 20.80 IVA
    assert resumen["ivaRete1"] == Decimal("1.60")  # gran contribuyente: 1 % of the taxed net
    assert resumen["totalPagar"] == Decimal("215.20")
    assert resumen["totalLetras"] == "DOSCIENTOS QUINCE 20/100 DÓLARES"
    assert "totalIva" not in resumen and resumen["ivaPerci1"] == 0
    assert items[0]["tributos"] == ["20"] and items[2]["tributos"] is None
    assert "ivaItem" not in items[0]
    assert items[1]["montoDescu"] == Decimal("0.07")
    assert resumen["condicionOperacion"] == 2
    assert resumen["pagos"][0] == {
        "codigo": "05",
        "montoPago": Decimal("215.20"),
        "referencia": None,
        "plazo": "01",
        "periodo": 30,
    }


def test_declared_retention_is_the_engines(issuer):
    doc = ccf_document(withholdings=[{"tax": "IVA", "rate": "1"}])
    totals = compute_totals(doc)
    resumen = build_dte(doc, totals, issuer, sequence=1)["resumen"]
    assert resumen["ivaRete1"] == totals.withholdings[0].amount == Decimal("1.60")
    assert resumen["totalPagar"] == totals.payable


def test_no_retention_below_one_hundred_dollars(issuer):
    doc = ccf_document(
        lines=[
            {
                "description": "Café",
                "quantity": "1",
                "unit_price": "99.99",
                "taxes": [{"tax": "IVA", "rate": "13"}],
            }
        ]
    )
    resumen = build_dte(doc, compute_totals(doc), issuer, sequence=1)["resumen"]
    assert resumen["ivaRete1"] == 0
    assert resumen["totalPagar"] == Decimal("112.99")


def test_tip_is_outside_the_tax_base(factura, issuer):
    doc, _ = factura
    tipped = msgspec.structs.replace(
        doc, charges=[Adjustment(reason="Propina", amount=Decimal("2.70"), kind="tip")]
    )
    totals = compute_totals(tipped)
    dte = build_dte(tipped, totals, issuer, sequence=1)
    assert schema_errors(dte) == []
    assert dte["resumen"]["totalNoGravado"] == Decimal("2.70")
    assert dte["resumen"]["totalIva"] == Decimal("1.73")
    assert dte["resumen"]["totalPagar"] == totals.payable == Decimal("29.70")


def test_anonymous_factura_over_threshold_is_refused(factura, issuer):
    doc, _ = factura
    big = msgspec.structs.replace(
        doc, customer=None, lines=[msgspec.structs.replace(doc.lines[0], quantity=Decimal("200"))]
    )
    with pytest.raises(InvalidDocument) as info:
        build_dte(big, compute_totals(big), issuer, sequence=1)
    assert [e.rule for e in info.value.errors] == ["sv-factura-receptor-required"]


def test_anonymous_factura_below_threshold_has_null_receptor(factura, issuer):
    doc, _ = factura
    anonymous = msgspec.structs.replace(doc, customer=None)
    dte = build_dte(anonymous, compute_totals(anonymous), issuer, sequence=1)
    assert dte["receptor"] is None
    assert schema_errors(dte) == []


def test_ccf_without_nrc_names_every_missing_field(issuer):
    doc = ccf_document()
    doc.customer.nrc = None
    doc.customer.email = None
    with pytest.raises(InvalidDocument) as info:
        build_dte(doc, compute_totals(doc), issuer, sequence=1)
    assert {(e.path, e.rule) for e in info.value.errors} == {
        ("customer.nrc", "sv-dte-required"),
        ("customer.email", "sv-dte-required"),
    }


def test_document_discount_is_refused_not_guessed(factura, issuer):
    doc, _ = factura
    discounted = msgspec.structs.replace(doc, discounts=[Adjustment(reason="Promo", amount=Decimal("1.00"))])
    with pytest.raises(InvalidDocument) as info:
        build_dte(discounted, compute_totals(discounted), issuer, sequence=1)
    assert info.value.errors[0].rule == "sv-dte-document-adjustment"


def test_schema_check_is_live(factura, issuer):
    """The validator does reject: a lower-case codigoGeneracion and a third decimal in the resumen."""
    doc, totals = factura
    dte = build_dte(doc, totals, issuer, sequence=1)
    dte["identificacion"]["codigoGeneracion"] = dte["identificacion"]["codigoGeneracion"].lower()
    dte["resumen"]["totalIva"] = Decimal("1.735")
    errors = schema_errors(dte)
    assert any("codigoGeneracion" in e for e in errors)
    assert any("totalIva" in e for e in errors)


def test_decimal_parsing_accepts_amounts_floats_reject():
    """Why everything is parsed with Decimal: 0.07 is not a float multiple of 0.01."""
    schema = {"type": "number", "multipleOf": 0.01}
    assert not jsonschema.Draft7Validator(schema).is_valid(0.07)
    assert jsonschema.Draft7Validator(json.loads(json.dumps(schema), parse_float=Decimal)).is_valid(
        Decimal("0.07")
    )


@pytest.mark.parametrize(
    ("tipo", "establishment", "pos", "sequence", "expected"),
    [
        ("01", "M001", "P001", 1, "DTE-01-M001P001-000000000000001"),
        ("03", "S012", "P120", 999_999_999_999_999, "DTE-03-S012P120-999999999999999"),
    ],
)
def test_numero_control(tipo, establishment, pos, sequence, expected):
    assert numero_control(tipo, establishment, pos, sequence) == expected


@pytest.mark.parametrize(
    ("establishment", "pos", "sequence"), [("X001", "P001", 1), ("M001", "001", 1), ("M001", "P001", 0)]
)
def test_numero_control_refuses_bad_parts(establishment, pos, sequence):
    with pytest.raises(ValueError):
        numero_control("01", establishment, pos, sequence)


def test_codigo_generacion_is_uppercase_uuid4():
    code = codigo_generacion()
    assert code == code.upper() and uuid.UUID(code).version == 4
    assert codigo_generacion(code.lower()) == code
    with pytest.raises(ValueError):
        codigo_generacion(str(uuid.uuid1()))


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("0.50", "CERO 50/100 DÓLARES"),
        ("1", "UNO 00/100 DÓLARES"),
        ("100", "CIEN 00/100 DÓLARES"),
        ("113.00", "CIENTO TRECE 00/100 DÓLARES"),
        ("1095.99", "MIL NOVENTA Y CINCO 99/100 DÓLARES"),
        ("21000", "VEINTIÚN MIL 00/100 DÓLARES"),
        ("31516.16", "TREINTA Y UN MIL QUINIENTOS DIECISÉIS 16/100 DÓLARES"),
        ("1000000", "UN MILLÓN 00/100 DÓLARES"),
        ("2021001.01", "DOS MILLONES VEINTIÚN MIL UNO 01/100 DÓLARES"),
    ],
)
def test_total_letras(amount, words):
    assert total_letras(Decimal(amount)) == words


def test_issue_date_is_what_the_document_says(issuer):
    doc = ccf_document()
    ident = build_dte(doc, compute_totals(doc), issuer, sequence=1)["identificacion"]
    assert (ident["fecEmi"], ident["horEmi"]) == ("2026-11-20", "10:15:00")
    assert doc.issue_date == dt.date(2026, 11, 20)


def test_credit_term_required_on_ccf_only(factura, issuer):
    doc = ccf_document(payment={"form": "credit", "means": "cash"})
    with pytest.raises(InvalidDocument) as info:
        build_dte(doc, compute_totals(doc), issuer, sequence=1)
    assert [e.rule for e in info.value.errors] == ["sv-dte-credit-due-date"]
    fe, totals = factura
    on_credit = msgspec.structs.replace(fe, payment=msgspec.structs.replace(fe.payment, form="credit"))
    dte = build_dte(on_credit, totals, issuer, sequence=1)
    assert dte["resumen"]["condicionOperacion"] == 2
    assert schema_errors(dte) == []


def test_sales_columns_are_rounded_one_by_one(factura, issuer):
    """Hacienda rounds each sales column by itself; the totals engine does the same for SV, so
    sub-cent line amounts in two columns give the same total in the DTE and in our totals."""
    doc, _ = factura
    lines = [
        msgspec.structs.replace(
            doc.lines[2], unit_price=Decimal("0.02"), discount=LineDiscount(percent=Decimal("11"))
        ),
        msgspec.structs.replace(
            doc.lines[0],
            quantity=Decimal(1),
            unit_price=Decimal("0.29"),
            discount=LineDiscount(percent=Decimal("1")),
        ),
    ]
    cents = msgspec.structs.replace(doc, lines=lines)
    totals = compute_totals(cents)
    columns = sales_totals(cents, totals)
    assert (columns["ventaExenta"], columns["ventaGravada"]) == (Decimal("0.02"), Decimal("0.29"))
    assert sum(columns.values()) == Decimal("0.31") == totals.tax_inclusive
    assert build_dte(cents, totals, issuer, sequence=1)["resumen"]["subTotalVentas"] == Decimal("0.31")


CCF_CODE = "6F9619FF-8B86-4D01-B42D-00CF4FC964FF"


def note_document(kind: str, **changes) -> Document:
    reference = {"number": "DTE-03-M001P001-000000000000001", "fiscal_id": CCF_CODE}
    reference |= {"issue_date": "2026-11-20", "kind": "tax_credit_invoice"}
    fields = {"reference": reference, "reason": {"code": "discount" if kind == "credit_note" else "interest"}}
    return ccf_document(kind=kind, **(fields | changes))


@pytest.mark.parametrize(("kind", "tipo"), [("credit_note", "05"), ("debit_note", "06")])
def test_notes_validate_against_their_schemas(issuer, kind, tipo):
    doc = note_document(kind)
    dte = build_dte(doc, compute_totals(doc), issuer, sequence=3)
    assert schema_errors(dte) == []
    assert dte["identificacion"]["tipoDte"] == tipo
    assert dte["identificacion"]["numeroControl"] == f"DTE-{tipo}-M001P001-000000000000003"
    related = dte["documentoRelacionado"]
    assert related == [
        {
            "tipoDocumento": "03",
            "tipoGeneracion": 2,
            "numeroDocumento": CCF_CODE,
            "fechaEmision": "2026-11-20",
        }
    ]
    assert {item["numeroDocumento"] for item in dte["cuerpoDocumento"]} == {CCF_CODE}
    assert "totalPagar" not in dte["resumen"] and "pagos" not in dte["resumen"]


def test_a_note_needs_the_ccf_it_corrects(issuer):
    doc = note_document("credit_note")
    doc = msgspec.structs.replace(doc, reference=msgspec.structs.replace(doc.reference, issue_date=None))
    with pytest.raises(InvalidDocument) as caught:
        build_dte(doc, compute_totals(doc), issuer, sequence=1)
    assert [e.path for e in caught.value.errors] == ["reference.issue_date"]


def test_a_note_corrects_a_ccf_not_a_factura(issuer):
    reference = {"number": "X", "fiscal_id": CCF_CODE, "issue_date": "2026-11-20", "kind": "invoice"}
    doc = note_document("credit_note", reference=reference)
    with pytest.raises(InvalidDocument) as caught:
        build_dte(doc, compute_totals(doc), issuer, sequence=1)
    assert [e.rule for e in caught.value.errors] == ["sv-note-reference-ccf"]
