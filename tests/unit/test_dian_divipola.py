"""canonical.divipola: DIAN's DIVIPOLA lists (Departamentos-2.1, Municipio-2.1) behind lookups."""

from __future__ import annotations

import json

import pytest

from canonical import divipola
from canonical.document import Address, Issuer
from canonical.errors import InvalidDocument
from canonical.validation import RULES, check_party, prepare


def test_the_whole_table_ships():
    # DIAN's Municipio-2.1 lists 1122 municipalities (and areas no municipalizadas) in 33 departments.
    assert len(divipola.MUNICIPALITIES) == 1122
    assert len(divipola.DEPARTMENTS) == 33
    assert {code[:2] for code in divipola.MUNICIPALITIES} == set(divipola.DEPARTMENTS)


def test_names_are_dian_spelling_without_stray_blanks():
    assert divipola.municipality("05001") == "Medellín"
    assert divipola.municipality("11001") == "Bogotá, D.c."
    assert divipola.municipality("88001") == "San Andrés"  # published as "San Andrés " (trailing blank)
    assert divipola.department("11") == "Bogotá"
    assert divipola.department("88") == "San Andrés y Providencia"
    assert all(name == " ".join(name.split()) for name in divipola.MUNICIPALITIES.values())


def test_unknown_codes_answer_none():
    assert divipola.municipality("99999") is None
    assert divipola.department("00") is None
    assert divipola.department_of("99999") is None


def test_a_municipality_agrees_only_with_its_department():
    assert divipola.department_of("76001") == "76"
    assert divipola.agrees("76001", "76")
    assert not divipola.agrees("76001", "05")
    assert not divipola.agrees("99999", "99")


# -- canonical.validation: city and department codes against the table ------------------------------


def _errors(document: dict) -> list[tuple[str, str]]:
    with pytest.raises(InvalidDocument) as info:
        prepare(json.dumps(document).encode())
    return [(e.path, e.rule) for e in info.value.errors]


@pytest.fixture
def co(example_bytes) -> dict:
    return json.loads(example_bytes["co-invoice"])


def test_the_example_addresses_are_consistent(co):
    prepare(json.dumps(co).encode())  # 11001 Bogotá, D.c. in 11 Bogotá: no error


@pytest.mark.parametrize(
    ("city", "department", "expected"),
    [
        ("99999", "11", ("customer.address.city_code", "co-city-code-unknown")),
        ("11001", "00", ("customer.address.department_code", "co-department-code-unknown")),
        ("05001", "11", ("customer.address.department_code", "co-city-department-mismatch")),
        (None, "11", ("customer.address.city_code", "co-address-city-required")),
    ],
)
def test_codes_must_exist_and_agree(co, city, department, expected):
    address = co["customer"]["address"]
    address["department_code"] = department
    if city is None:
        del address["city_code"]
    else:
        address["city_code"] = city
    assert _errors(co) == [expected]
    assert expected[1] in RULES


def test_the_mismatch_names_both_places(co):
    co["customer"]["address"].update(city_code="05001", department_code="11")
    with pytest.raises(InvalidDocument) as info:
        prepare(json.dumps(co).encode())
    assert "05001 (Medellín) is in department 05 (Antioquia), not 11" in info.value.errors[0].message


def test_a_department_may_be_left_to_the_city(co):
    del co["customer"]["address"]["department_code"]
    prepare(json.dumps(co).encode())


def test_foreign_addresses_are_not_divipola(co):
    co["customer"]["address"] = {"line": "5th Avenue 1", "city_code": "NYC", "country": "US"}
    prepare(json.dumps(co).encode())


def test_the_issuer_is_checked_too():
    issuer = Issuer(
        name="ACME",
        id_type="NIT",
        id_number="900373115",
        check_digit="3",
        address=Address(line="Carrera 7", city_code="11001", department_code="05"),
    )
    assert [(e.path, e.rule) for e in check_party(issuer, "CO", "issuer")] == [
        ("issuer.address.department_code", "co-city-department-mismatch")
    ]
