"""The buyer's copy of a direct-DIAN document (gateway/printout): built from the signed UBL, read back
by an independent PDF engine (PDFium: its text), and its QR decoded from the rendered page (zxing-cpp;
zbar too where the system has zbarimg) to DIAN's catalogue URL with the document's CUFE/CUDE. The
Salvadoran versión legible likewise, from the golden DTEs of tests/contract/golden/hacienda."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import subprocess
from pathlib import Path

import dian_support as ds
import msgspec
import pypdfium2 as pdfium
import pytest
import zxingcpp
from dian_support import dian_identity_fixture, dian_pki_fixture  # noqa: F401  (fixtures)
from PIL import Image

from adapters.dian.ubl import build_document
from adapters.dian.xades import sign_canonical
from adapters.hacienda.dte import public_link
from canonical.dian import qr_url
from gateway.delivery.mail import tenant_pdf
from gateway.printout import can_print, render_pdf


def signed(doc, identity) -> tuple[bytes, str]:
    built = build_document(ds.emission(doc), ds.software(), "test")
    return sign_canonical(
        built.canonical, built.nsmap, identity, built.issued_at, built.fiscal_id
    ), built.fiscal_id


def pages(pdf: bytes) -> list[pdfium.PdfPage]:
    return list(pdfium.PdfDocument(pdf))


def text_of(pdf: bytes) -> str:
    """Every page's text, whitespace (and so where lines wrap) collapsed to single spaces."""
    return " ".join(" ".join(page.get_textpage().get_text_range().split()) for page in pages(pdf))


def qr_codes(pdf: bytes, page: int = -1) -> list[str]:
    image = pages(pdf)[page].render(scale=3).to_pil()
    return [
        code.text for code in zxingcpp.read_barcodes(image) if code.format == zxingcpp.BarcodeFormat.QRCode
    ]


@pytest.fixture(scope="module")
def invoice(dian_identity):
    xml, cufe = signed(ds.rich_invoice(), dian_identity)
    return render_pdf("dian", xml), cufe


def test_invoice_carries_what_dian_requires(invoice):
    pdf, cufe = invoice
    assert pdf.startswith(b"%PDF-")
    text = text_of(pdf)
    for expected in [
        "FACTURA ELECTRÓNICA DE VENTA",
        "ACME Colombia SAS",
        "NIT 900373115-3",  # issuer with its DV
        "Cliente Ejemplo SAS",
        "NIT 900123456-8",  # buyer
        "Fecha de emisión",
        "Hora de emisión",
        "Crédito",  # payment form
        "Vencimiento",
        "Servicio de consultoría",
        "IVA 19 % 28.500,00",  # a line with its tax
        "ReteRenta 2,5 % sobre 346.000,00",  # withholdings
        "385.698,30",  # payable: 384.698,30 with taxes, − 1.000 discount + 2.000 tip
        "resolución N.º 18760000001",
        "vigente del 2019-01-19 al 2030-01-19",
        "prefijo SETP, del 990000000 al 995000000",
        "11111111-2222-3333-4444-555555555555",  # the software
        cufe,
    ]:
        assert expected in text, expected
    assert len(cufe) == 96


def test_qr_decodes_to_dians_catalogue_with_the_cufe(invoice):
    pdf, cufe = invoice
    assert qr_codes(pdf) == [qr_url(cufe, "test")]
    assert qr_url(cufe, "test").startswith(
        "https://catalogo-vpfe-hab.dian.gov.co/document/searchqr?documentkey="
    )


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbarimg (zbar-tools) is not installed")
def test_zbar_reads_the_same_qr(invoice, tmp_path):
    pdf, cufe = invoice
    png = tmp_path / "page.png"
    pages(pdf)[-1].render(scale=3).to_pil().save(png)
    out = subprocess.run(["zbarimg", "-q", "--raw", str(png)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == qr_url(cufe, "test")


def test_credit_note_names_the_invoice_it_corrects(dian_identity):
    doc = ds.document("co-credit-note")
    xml, cude = signed(doc, dian_identity)
    pdf = render_pdf("dian", xml)
    text = text_of(pdf)
    assert "NOTA CRÉDITO ELECTRÓNICA" in text and "CUDE" in text and cude in text
    assert f"CUFE {doc.reference.fiscal_id}" in text
    assert f"Factura {doc.reference.number}" in text
    assert "Concepto 4" in text  # price_adjustment
    assert qr_codes(pdf) == [qr_url(cude, "test")]


def test_many_lines_flow_onto_further_pages_with_the_qr_on_the_last(dian_identity):
    raw = msgspec.to_builtins(ds.document("co-invoice"))
    raw["lines"] = [
        {
            "description": f"Artículo número {i} con una descripción larga " * 2,
            "quantity": "1",
            "unit_price": "1000",
        }
        for i in range(1, 91)
    ]
    doc = msgspec.convert(raw, type(ds.document("co-invoice")))
    xml, cufe = signed(doc, dian_identity)
    pdf = render_pdf("dian", xml)
    assert len(pages(pdf)) >= 3
    text = text_of(pdf)
    assert "Artículo número 1 " in text and "Artículo número 90 " in text
    assert f"Página {len(pages(pdf))} de {len(pages(pdf))}" in text
    assert qr_codes(pdf) == [qr_url(cufe, "test")]


def test_text_outside_latin1_prints_as_a_mark_never_fails(dian_identity):
    raw = msgspec.to_builtins(ds.document("co-invoice"))
    raw["lines"][0]["description"] = "Servicio ✓ con emoji 🚀"
    xml, _ = signed(msgspec.convert(raw, type(ds.document("co-invoice"))), dian_identity)
    assert "Servicio ? con emoji ?" in text_of(render_pdf("dian", xml))


def test_a_tenant_logo_is_drawn(dian_identity):
    xml, _ = signed(ds.document("co-invoice"), dian_identity)
    logo = io.BytesIO()
    Image.new("RGB", (120, 60), (200, 30, 30)).save(logo, format="PNG")
    plain, with_logo = render_pdf("dian", xml), render_pdf("dian", xml, logo=logo.getvalue())
    corner = pages(with_logo)[0].render(scale=1).to_pil().getpixel((60, 60))
    assert corner[:3] == (200, 30, 30)
    assert pages(plain)[0].render(scale=1).to_pil().getpixel((60, 60))[:3] == (255, 255, 255)


def test_only_signed_documents_we_read_can_print():
    assert can_print("dian") and can_print("hacienda")
    assert not can_print("smartapp") and not can_print(None)


GOLDEN_DTE = Path(__file__).resolve().parent.parent / "contract" / "golden" / "hacienda"
SEAL = "2026B2C8E3F1A4D5B6C7D8E9F0A1B2C3D4E5F6A7"


def stored_dte(name: str) -> tuple[bytes, dict]:
    dte = json.loads((GOLDEN_DTE / f"{name}.json").read_text())
    return json.dumps({"dte": dte, "jws": "h.p.s"}).encode(), dte


def test_sv_version_legible_carries_control_number_code_seal_and_totals():
    stored, dte = stored_dte("tax_credit_invoice")
    pdf = render_pdf("hacienda", stored, seal=SEAL)
    text = text_of(pdf)
    ident = dte["identificacion"]
    for expected in [
        "COMPROBANTE DE CRÉDITO FISCAL",
        ident["numeroControl"],
        ident["codigoGeneracion"],
        f"Sello de recepción: {SEAL}",
        f"NIT {dte['emisor']['nit']}",
        f"NRC {dte['receptor']['nrc']}",
        "Impuesto al Valor Agregado 13% 1.95",
        "Total a pagar 28.95",
        "VEINTIOCHO 95/100 DÓLARES",
    ]:
        assert expected in text, expected
    assert qr_codes(pdf) == [public_link("test", ident["codigoGeneracion"], ident["fecEmi"])]


def test_sv_note_names_its_related_document_and_a_contingency_copy_says_the_seal_is_pending():
    stored, dte = stored_dte("credit_note")
    text = text_of(render_pdf("hacienda", stored))
    related = dte["documentoRelacionado"][0]
    assert f"Comprobante de crédito fiscal {related['numeroDocumento']} del {related['fechaEmision']}" in text
    assert "Sello de recepción: pendiente" in text


def one_line_layout(doc, logo) -> bytes:
    """A tenant's own layout (`[tenants.printout] layout`): the same Printout, drawn its own way."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=10)
    pdf.cell(0, 10, f"{doc.title} {doc.number} {doc.fiscal_id_label} {doc.fiscal_id} logo={logo is not None}")
    return bytes(pdf.output())


def test_a_tenants_logo_and_layout_come_from_its_printout_settings(dian_identity, tmp_path):
    from gateway.tenants.config import PrintoutStyle, Tenant

    xml, cufe = signed(ds.document("co-invoice"), dian_identity)
    logo = tmp_path / "logo.png"
    Image.new("RGB", (40, 20), (10, 120, 40)).save(logo, format="PNG")
    tenant = Tenant(
        id="t",
        name="T",
        issuer=ds.ISSUER,
        printout=PrintoutStyle(logo=str(logo), layout="test_printout:one_line_layout"),
    )
    text = text_of(tenant_pdf(tenant, "dian", xml))
    assert text.startswith("Factura electrónica de venta SETP") and text.endswith(f"CUFE {cufe} logo=True")
    plain = Tenant(id="t", name="T", issuer=ds.ISSUER)
    assert cufe in text_of(tenant_pdf(plain, "dian", xml)) and "logo=" not in text_of(
        tenant_pdf(plain, "dian", xml)
    )


def test_the_resolution_date_comes_from_the_tenants_numbering_range(dian_identity):
    from gateway.tenants.config import Tenant

    xml, _ = signed(ds.document("co-invoice"), dian_identity)
    assert " del 2019-01-19, vigente" not in text_of(render_pdf("dian", xml))  # the UBL has no date
    dated = msgspec.structs.replace(ds.RANGES["invoice"], resolution_date=dt.date(2019, 1, 19))
    tenant = Tenant(id="t", name="T", issuer=ds.ISSUER, numbering=[dated])
    assert "resolución N.º 18760000001 del 2019-01-19, vigente del 2019-01-19" in text_of(
        tenant_pdf(tenant, "dian", xml)
    )
