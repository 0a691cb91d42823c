"""A throwaway test PKI for DIAN: a CA and a signing certificate packed as a password-protected PKCS#12.

The demo and the tests use it in place of a certificate from an accredited Colombian CA (the live
DIAN rejects these; the simulator accepts them in its default test mode, research/dian.md §5.3).
The signing certificate carries the issuer's NIT as `serialNumber`, where DIAN reads the caller's NIT.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from canonical import clock


class TestPki(msgspec.Struct, kw_only=True):
    """Where the generated files are."""

    ca_pem: Path  # the CA certificate: `--trust` bundle for a strict simulator
    p12: Path  # signing key + certificate + CA, encrypted with `password`
    password: str
    cert_pem: Path  # the signing certificate alone


def _name(common_name: str, nit: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CO"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Pasarela Pruebas"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if nit:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, nit))
    return x509.Name(attrs)


def _certificate(subject, issuer, public_key, signing_key, *, ca: bool, days: int) -> x509.Certificate:
    """The extensions a strict verifier (cryptography's client policy, used by signxml) requires."""
    now = clock.now(dt.UTC)
    usage = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    usage.update(
        {"key_cert_sign": True, "crl_sign": True}
        if ca
        else {"digital_signature": True, "content_commitment": True}
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), critical=False
        )
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(signing_key, hashes.SHA256())


def self_signed(name: str, nit: str, days: int = 365) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """An in-memory key and self-signed certificate (the DIAN simulator signs its answers with one)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = _name(name, nit)
    return key, _certificate(subject, subject, key.public_key(), key, ca=False, days=days)


def generate(
    folder: Path | str,
    *,
    nit: str = "900373115",
    password: str = "secreto",
    name: str = "Facturador de Pruebas",
    days: int = 365,
) -> TestPki:
    """Write ca.pem, signer.pem and signer.p12 (encrypted with `password`) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = _name("Pasarela Test CA")
    ca_cert = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True, days=days)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _certificate(_name(name, nit), ca_name, key.public_key(), ca_key, ca=False, days=days)

    pki = TestPki(
        ca_pem=folder / "ca.pem", p12=folder / "signer.p12", password=password, cert_pem=folder / "signer.pem"
    )
    pki.ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            name.encode(), key, cert, [ca_cert], serialization.BestAvailableEncryption(password.encode())
        )
    )
    return pki
