"""`pasarela hacienda-certificate`: a test certificate in MH's .crt format that our signer loads with
its password and that carries the public key MH (the simulator) verifies with."""

from __future__ import annotations

import base64
from xml.etree import ElementTree

import pytest
from cryptography.hazmat.primitives import serialization

from adapters.base import Misconfigured
from adapters.hacienda.certificate import load_certificate, password_hash
from gateway.cli.main import main

NIT = "06142803901121"


def test_the_command_writes_a_crt_the_signer_loads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MH_CERTIFICATE_PASSWORD", "clave-de-prueba")
    assert main(["hacienda-certificate", "--nit", NIT, "--out", str(tmp_path)]) == 0
    path = tmp_path / f"{NIT}.crt"
    assert capsys.readouterr().out.strip() == str(path)
    root = ElementTree.parse(path).getroot()
    assert (root.tag, root.findtext("nit"), root.findtext("activo")) == ("CertificadoMH", NIT, "true")
    assert root.findtext("privateKey/format") == "PKCS#8"
    assert root.findtext("privateKey/clave") == password_hash("clave-de-prueba")
    assert "clave-de-prueba" not in path.read_text()
    certificate = load_certificate(str(path), "clave-de-prueba")
    public = serialization.load_der_public_key(base64.b64decode(root.findtext("publicKey/encodied") or ""))
    assert public.public_numbers() == certificate.key.public_key().public_numbers()
    assert path.stat().st_mode & 0o077 == 0  # an unencrypted private key: owner only
    with pytest.raises(Misconfigured):
        load_certificate(str(path), "otra-clave")
