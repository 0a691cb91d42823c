"""What DIAN checks in the parties of a document (Anexo Técnico 1.9, issuer rules FAJ and customer rules
FAK; CAJ/CAK and DAJ/DAK in notes): complete addresses whose names match DIAN's lists, and a
PartyLegalEntity for every party, the anonymous final consumer included.

Written from the Anexo's address rules and DIAN's code lists (canonical.divipola, canonical.countries),
not from our builder. Codes (contracts/dian/SOURCES.md): a wrong or missing code, line or country is
a rejection under FAJ08 (issuer Address) or FAJ28 (issuer RegistrationAddress); a name that differs
from DIAN's list is only a notification, FAJ10 (as DIAN answers it; production documents carry
"MEDELLÍN" or "Bogotá D.C."), FAJ30 for the RegistrationAddress. The customer's FAK08/FAK10/FAK28/
FAK30 mirror them, and FAJ40/FAK40 (PartyLegalEntity) are this simulator's choice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from lxml import etree

from canonical import divipola
from canonical.countries import COUNTRY_NAMES
from simulators.dian.names import NS

# (party group, where the address is, rejection rule, name notification rule, required)
ADDRESSES: Final = (
    ("AccountingSupplierParty", "cac:PhysicalLocation/cac:Address", "J08", "J10", True),
    ("AccountingSupplierParty", "cac:PartyTaxScheme/cac:RegistrationAddress", "J28", "J30", True),
    ("AccountingCustomerParty", "cac:PhysicalLocation/cac:Address", "K08", "K10", False),
    ("AccountingCustomerParty", "cac:PartyTaxScheme/cac:RegistrationAddress", "K28", "K30", False),
)
NAME_PROBLEM: Final = "nombre"  # a problem string starting so is a name against the list: notification
LEGAL_ENTITIES: Final = (("AccountingSupplierParty", "J40"), ("AccountingCustomerParty", "K40"))
ROLES: Final = {"AccountingSupplierParty": "emisor", "AccountingCustomerParty": "adquirente"}


def _same(a: str | None, b: str | None) -> bool:
    """DIAN compares names without regard to case or repeated blanks."""
    return (
        a is not None and b is not None and " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
    )


def address_problems(address: etree._Element) -> Iterator[str]:
    """What one Address or RegistrationAddress lacks or gets wrong, in DIAN's words."""
    text = address.findtext
    country = text("cac:Country/cbc:IdentificationCode", namespaces=NS)
    if country not in COUNTRY_NAMES:
        yield f"Country/IdentificationCode {country!r} no está en la lista de países"
    name = address.find("cac:Country/cbc:Name", NS)
    if name is None or not (name.text or "").strip():
        yield "Country/Name no informado"
    elif name.get("languageID") != "es":
        yield 'Country/Name debe informar languageID="es"'
    if not (text("cac:AddressLine/cbc:Line", namespaces=NS) or "").strip():
        yield "AddressLine/Line no informado"
    if country != "CO":
        return
    city, department = text("cbc:ID", namespaces=NS), text("cbc:CountrySubentityCode", namespaces=NS)
    municipality = divipola.municipality(city or "")
    if municipality is None:
        yield f"ID {city!r} no corresponde a un código de la lista de municipios"
    elif not _same(text("cbc:CityName", namespaces=NS), municipality):
        yield f"{NAME_PROBLEM}: CityName no corresponde al municipio {city} ({municipality})"
    if divipola.department(department or "") is None:
        yield f"CountrySubentityCode {department!r} no corresponde a la lista de departamentos"
    else:
        if not _same(text("cbc:CountrySubentity", namespaces=NS), divipola.department(department or "")):
            yield f"{NAME_PROBLEM}: CountrySubentity no corresponde al departamento {department}"
        if municipality is not None and not divipola.agrees(city or "", department or ""):
            yield f"el municipio {city} no pertenece al departamento {department}"


def party_errors(root: etree._Element, prefix: str) -> list[str]:
    """Every party rule the document breaks, as "Regla: X, Rechazo: ..." strings."""
    errors = []
    for group, where, rule, name_rule, required in ADDRESSES:
        party = root.find(f"cac:{group}/cac:Party", NS)
        address = party.find(where, NS) if party is not None else None
        label = f"{where.rsplit('/', 1)[-1]} del {ROLES[group]}"
        if address is None:
            if required:
                errors.append(f"Regla: {prefix}{rule}, Rechazo: {label} no informada")
            continue
        for problem in address_problems(address):
            if problem.startswith(NAME_PROBLEM):
                errors.append(f"Regla: {prefix}{name_rule}, Notificación: {label}: {problem}")
            else:
                errors.append(f"Regla: {prefix}{rule}, Rechazo: {label}: {problem}")
    for group, rule in LEGAL_ENTITIES:
        entity = root.find(f"cac:{group}/cac:Party/cac:PartyLegalEntity", NS)
        if entity is None or not all(
            (entity.findtext(f"cbc:{name}", namespaces=NS) or "").strip()
            for name in ("RegistrationName", "CompanyID")
        ):
            errors.append(
                f"Regla: {prefix}{rule}, Rechazo: PartyLegalEntity del {ROLES[group]} "
                "(RegistrationName y CompanyID) no informado"
            )
    return errors
