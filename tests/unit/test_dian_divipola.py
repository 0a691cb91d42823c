"""canonical.divipola: DIAN's DIVIPOLA lists (Departamentos-2.1, Municipio-2.1) behind lookups."""

from __future__ import annotations

from canonical import divipola


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
