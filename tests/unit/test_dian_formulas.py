"""CUFE / CUDE / CUDS / SoftwareSecurityCode against the published vectors (research/dian.md §1.6).

Each vector is given as its fields; the test also checks that the fields concatenate to the
published input string, so a wrong split cannot make a test pass by accident.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from canonical.dian import cuds, cufe, dian_amount, qr_url, software_security_code

CUFE_VECTORS = {
    "V1": (
        dict(
            number="323200000129",
            issue_date="2019-01-16",
            issue_time="10:53:10-05:00",
            line_extension="1500000.00",
            taxes={"01": "285000.00"},
            payable="1785000.00",
            supplier_id="700085371",
            customer_id="800199436",
            key="693ff6f2a553c3646a063436fd4dd9ded0311471",
            environment="1",
        ),
        "3232000001292019-01-1610:53:10-05:001500000.0001285000.00040.00030.001785000.00700085371"
        "800199436693ff6f2a553c3646a063436fd4dd9ded03114711",
        "8bb918b19ba22a694f1da11c643b5e9de39adf60311cf179179e9b33381030bcd4c3c3f156c506ed5908f9276f5bd9b4",
    ),
    "V2": (
        dict(
            number="8110007871",
            issue_date="2019-01-12",
            issue_time="07:00:00-05:00",
            line_extension="5000.00",
            taxes={"01": "950.00"},
            payable="5950.00",
            supplier_id="900373076",
            customer_id="8355990",
            key="12301",
            environment="1",
        ),
        "81100078712019-01-1207:00:00-05:005000.0001950.00040.00030.005950.009003730768355990123011",
        "907e4444decc9e59c160a2fb3b6659b33dc5b632a5008922b9a62f83f757b1c448e47f5867f2b50dbdb96f48c7681168",
    ),
    "V3": (
        dict(
            number="ND1001",
            issue_date="2019-01-18",
            issue_time="10:58:00-05:00",
            line_extension="30000.00",
            taxes={"04": "2400.00"},
            payable="32400.00",
            supplier_id="900197264",
            customer_id="10254102",
            key="10201",
            environment="2",
        ),
        "ND10012019-01-1810:58:00-05:0030000.00010.00042400.00030.0032400.0090019726410254102102012",
        "3fa73a86d57d9341c536afde1f85c4efd9d4591c2c22bce4dfb0e6b0d2e83b8f047a8bde7098292e9d2493e60d1c31da",
    ),
    "V7": (
        dict(
            number="0000000001",
            issue_date="2020-10-24",
            issue_time="14:04:35-05:00",
            line_extension="15000.00",
            taxes={},
            payable="17000.00",
            supplier_id="900373076",
            customer_id="8355990",
            key="12345",
            environment="1",
        ),
        "00000000012020-10-2414:04:35-05:0015000.00010.00040.00030.0017000.009003730768355990123451",
        "92c29e6b17a584f7a67ea53e5666980bde27bc1c2b2aefbc8ba42366ff11a246982ad27075e623429efd5ed1fbcbb57b",
    ),
    "V8": (
        dict(
            number="DBV01",
            issue_date="2022-03-14",
            issue_time="15:05:40-05:00",
            line_extension="20753.80",
            taxes={"01": "19.00", "04": "0", "03": "0.00"},
            payable="24697.02",
            supplier_id="800197268",
            customer_id="856987456",
            key="12345",
            environment="2",
        ),
        "DBV012022-03-1415:05:40-05:0020753.800119.00040.00030.0024697.02800197268856987456123452",
        "6b0ea6e48a74ce59faeed218f96b5e1af55101bcfdc60db549f77d5a4e0046a03d36b0189dfef671aef1904f6baf4a3b",
    ),
}

# The CUDS tails (seller, buyer, PIN, environment) are one published digit string; the split below
# is one reading of it (only the concatenation enters the hash).
CUDS_VECTORS = {
    "V4": (
        dict(
            number="DS236000000",
            issue_date="2022-02-18",
            issue_time="13:34:59-05:00",
            line_extension="3899000.00",
            iva="432530.00",
            payable="4152176.00",
            seller_id="1020202278",
            buyer_id="59",
            software_pin="12345",
            environment="2",
        ),
        "DS2360000002022-02-1813:34:59-05:003899000.0001432530.004152176.00102020227859123452",
        "b42c77ce05c477e20ed50aa84f43019dd36019d6564dbbd650c50acdf531fd1945809d7da8a97f1cf6681eabdd8d4358",
    ),
    "V5": (
        dict(
            number="DS236000000",
            issue_date="2022-02-18",
            issue_time="13:34:59-05:00",
            line_extension="3899000.00",
            iva="322430.00",
            payable="4152178.00",
            seller_id="1020202278",
            buyer_id="59",
            software_pin="12345",
            environment="2",
        ),
        "DS2360000002022-02-1813:34:59-05:003899000.0001322430.004152178.00102020227859123452",
        "63930c174e440328eccc4545712ed9f26ef3d7923e6b528a25df11b6f76dcd9f8e457a1b7b72bd3d85f210c3ed3ba924",
    ),
    "V6": (
        dict(
            number="0000000001",
            issue_date="2020-10-24",
            issue_time="14:04:35-05:00",
            line_extension="15000.00",
            iva="19.00",
            payable="16350.00",
            seller_id="900373076",
            buyer_id="8355990",
            software_pin="12345",
            environment="1",
        ),
        "00000000012020-10-2414:04:35-05:0015000.000119.0016350.009003730768355990123451",
        "bf4bb6920d5054ac065ddb7e6df0398e63e3ba2ff29cb341edd7d46ee8f2ea1802f84aaca91a19a24623e5e3baff3a71",
    ),
}


@pytest.mark.parametrize("name", sorted(CUFE_VECTORS))
def test_cufe_and_cude_vectors(name: str) -> None:
    fields, published_input, expected = CUFE_VECTORS[name]
    assert hashlib.sha384(published_input.encode()).hexdigest() == expected  # the split is faithful
    assert cufe(**fields) == expected


@pytest.mark.parametrize("name", sorted(CUDS_VECTORS))
def test_cuds_vectors(name: str) -> None:
    fields, published_input, expected = CUDS_VECTORS[name]
    assert hashlib.sha384(published_input.encode()).hexdigest() == expected
    assert cuds(**fields) == expected


def test_software_security_code_v9() -> None:
    code = software_security_code("11111111-2222-3333-4444-555555555555", "12345", "SETP990000001")
    assert code == (
        "eb42737f2c29497bce1691d31d78bf626ddab5794472ed42301da376e3ea3924ead545ff8ee6cfe6c182d6e96409a8b2"
    )


def test_amounts_are_truncated_not_rounded() -> None:
    assert dian_amount(Decimal("12037.046")) == "12037.04"
    assert dian_amount("5") == "5.00"
    fields = dict(CUFE_VECTORS["V1"][0], line_extension="1500000.009")
    assert cufe(**fields) == CUFE_VECTORS["V1"][2]


def test_a_different_key_or_environment_changes_the_cufe() -> None:
    fields, _, expected = CUFE_VECTORS["V1"]
    assert cufe(**dict(fields, environment="2")) != expected
    assert cufe(**dict(fields, key="fc8eac422eba16e22ffd8c6f94b3f40a6e38162c")) != expected


def test_qr_url_by_environment() -> None:
    assert qr_url("abc", "test") == "https://catalogo-vpfe-hab.dian.gov.co/document/searchqr?documentkey=abc"
    assert qr_url("abc", "production").startswith("https://catalogo-vpfe.dian.gov.co/")
