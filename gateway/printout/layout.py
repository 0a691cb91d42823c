"""The default layout of the buyer's copy, drawn with fpdf2 on Letter paper: a header with the issuer
(and its logo) beside a box with the document's type and number, the buyer, the lines, taxes and
totals, then the fiscal id with its QR code and the legal text. The QR is drawn as vector squares from
zxing-cpp's module matrix: sharp at any zoom, and no image to encode (the PDF stays fast and small)."""

from __future__ import annotations

from typing import Final

import zxingcpp
from fpdf import FPDF

from gateway.printout.model import Figure, Printout

INK: Final = (33, 37, 41)
MUTED: Final = (108, 117, 125)
ACCENT: Final = (13, 71, 161)
RULE: Final = (206, 212, 218)
BAND: Final = (241, 245, 251)
MARGIN: Final = 12.0
# line table: (heading, width mm, alignment); description takes what is left of the 191.9 mm
COLUMNS: Final = [
    ("#", 7.0, "C"),
    ("Código", 18.0, "L"),
    ("Descripción", 0.0, "L"),
    ("Cant.", 14.0, "R"),
    ("Precio unitario", 25.0, "R"),
    ("Descuento", 20.0, "R"),
    ("Impuestos", 34.0, "R"),
    ("Total", 26.0, "R"),
]
ROW_H: Final = 4.2


def printable(text: str) -> str:
    """fpdf2's core fonts cover Latin-1 (all of Spanish); anything else prints as '?', never fails."""
    return text.encode("latin-1", "replace").decode("latin-1")


class Sheet(FPDF):
    """Letter pages with the document's number and page count in every footer."""

    def __init__(self, doc: Printout) -> None:
        super().__init__(orientation="P", unit="mm", format="Letter")
        self.doc = doc
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=16)
        self.set_title(printable(f"{doc.title} {doc.number}"))
        self.set_creator("Pasarela")
        self.set_compression(True)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", "", 7)
        self.set_text_color(*MUTED)
        left = printable(
            f"{self.doc.title} {self.doc.number} · {self.doc.fiscal_id_label} {self.doc.fiscal_id[:24]}..."
        )
        self.cell(0, 4, left, align="L")
        self.set_x(MARGIN)
        self.cell(0, 4, f"Página {self.page_no()} de {{nb}}", align="R")


def render(doc: Printout, logo: bytes | None = None) -> bytes:
    """The PDF of `doc`; `logo` (PNG or JPEG) goes at the top left when the tenant has one."""
    pdf = Sheet(doc)
    pdf.add_page()
    _header(pdf, doc, logo)
    _parties(pdf, doc)
    if doc.reference:
        _boxed_text(pdf, "Documento referenciado", doc.reference)
    _lines(pdf, doc)
    _summary(pdf, doc)
    if doc.notes:
        _boxed_text(pdf, "Observaciones", doc.notes)
    _fiscal(pdf, doc)
    return bytes(pdf.output())


def _header(pdf: Sheet, doc: Printout, logo: bytes | None) -> None:
    top = pdf.get_y()
    left = MARGIN
    if logo:
        pdf.image(logo, x=MARGIN, y=top, h=20, keep_aspect_ratio=True)
        left = MARGIN + 34
    box_w = 72.0
    pdf.set_xy(left, top)
    pdf.set_text_color(*INK)
    pdf.set_font("Helvetica", "B", 13)
    text_w = pdf.w - MARGIN - box_w - 4 - left
    _para(pdf, text_w, 6, doc.issuer.name)
    pdf.set_font("Helvetica", "", 8)
    pdf.set_text_color(*MUTED)
    for line in doc.issuer.lines:
        _para(pdf, text_w, 3.8, line)
    bottom_left = pdf.get_y()
    # the document box, right
    x = pdf.w - MARGIN - box_w
    pdf.set_fill_color(*ACCENT)
    pdf.rect(x, top, box_w, 9, style="F")
    pdf.set_xy(x, top + 1.5)
    pdf.set_text_color(255, 255, 255)
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(box_w, 6, printable(doc.title.upper()), align="C")
    pdf.set_xy(x, top + 10)
    pdf.set_text_color(*INK)
    number = printable(f"N.º {doc.number}")
    size = 15.0
    pdf.set_font("Helvetica", "B", size)
    while size > 7 and pdf.get_string_width(number) > box_w - 4:  # a long numeroControl shrinks to fit
        size -= 0.5
        pdf.set_font_size(size)
    pdf.cell(box_w, 8, number, align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    for label, value in doc.facts:
        pdf.set_x(x + 3)
        pdf.set_text_color(*MUTED)
        pdf.cell(30, 4, printable(label))
        pdf.set_text_color(*INK)
        pdf.cell(box_w - 36, 4, printable(value), align="R", new_x="LEFT", new_y="NEXT")
    bottom_box = pdf.get_y() + 1.5
    pdf.set_draw_color(*RULE)
    pdf.rect(x, top, box_w, bottom_box - top)
    pdf.set_y(max(bottom_left, bottom_box) + 4)


def _parties(pdf: Sheet, doc: Printout) -> None:
    if doc.buyer is None:
        return
    _boxed_text(pdf, doc.buyer.role, [doc.buyer.name, *doc.buyer.lines], strong_first=True)


def _boxed_text(pdf: Sheet, heading: str, lines: list[str], *, strong_first: bool = False) -> None:
    width = pdf.w - 2 * MARGIN
    _heading(pdf, heading, width)
    top = pdf.get_y()
    pdf.set_text_color(*INK)
    for i, line in enumerate(lines):
        pdf.set_x(MARGIN + 2)
        pdf.set_font("Helvetica", "B" if strong_first and i == 0 else "", 9 if strong_first and i == 0 else 8)
        _para(pdf, width - 4, 4, line)
    pdf.set_draw_color(*RULE)
    pdf.rect(MARGIN, top, width, pdf.get_y() - top + 1)
    pdf.ln(4)


def _heading(pdf: Sheet, text: str, width: float) -> None:
    pdf.set_fill_color(*BAND)
    pdf.set_text_color(*ACCENT)
    pdf.set_font("Helvetica", "B", 8)
    pdf.set_x(MARGIN)
    pdf.cell(width, 5, printable(text.upper()), fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(0.8)


def _widths(pdf: Sheet) -> list[float]:
    fixed = sum(w for _, w, _ in COLUMNS)
    return [w or (pdf.w - 2 * MARGIN - fixed) for _, w, _ in COLUMNS]


def _table_head(pdf: Sheet, widths: list[float]) -> None:
    pdf.set_fill_color(*ACCENT)
    pdf.set_text_color(255, 255, 255)
    pdf.set_font("Helvetica", "B", 7.5)
    pdf.set_x(MARGIN)
    for (heading, _, align), width in zip(COLUMNS, widths, strict=True):
        pdf.cell(width, 5.5, printable(heading), align=align, fill=True)
    pdf.ln(5.5)


def _lines(pdf: Sheet, doc: Printout) -> None:
    widths = _widths(pdf)
    _table_head(pdf, widths)
    pdf.set_draw_color(*RULE)
    pdf.set_font("Helvetica", "", 7.5)
    for row, line in enumerate(doc.lines):
        cells = [
            line.number,
            line.code,
            line.description,
            line.quantity,
            line.unit_price,
            line.discount,
            line.taxes,
            line.total,
        ]
        wrapped = [_wrap(pdf, text, width - 1) for text, width in zip(cells, widths, strict=True)]
        height = max(len(w) for w in wrapped) * ROW_H + 1.6
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
            _table_head(pdf, widths)
            pdf.set_font("Helvetica", "", 7.5)
        top = pdf.get_y()
        if row % 2:
            pdf.set_fill_color(*BAND)
            pdf.rect(MARGIN, top, sum(widths), height, style="F")
        pdf.set_text_color(*INK)
        x = MARGIN
        for (_, _, align), width, text_lines in zip(COLUMNS, widths, wrapped, strict=True):
            for i, text in enumerate(text_lines):
                pdf.set_xy(x + 0.5, top + 0.8 + i * ROW_H)
                pdf.cell(width - 1, ROW_H, text, align=align)
            x += width
        pdf.line(MARGIN, top + height, MARGIN + sum(widths), top + height)
        pdf.set_y(top + height)
    pdf.ln(4)


def _wrap(pdf: Sheet, text: str, width: float) -> list[str]:
    """`text` broken into lines that fit `width` in the current font, greedily by words (a word wider
    than the line is cut). fpdf2's own breaking measures the line again at every character, which
    took most of a page's time; words measured once keep a copy at a few milliseconds."""
    lines: list[str] = []
    space = pdf.get_string_width(" ")
    for paragraph in printable(text).split("\n"):
        line, used = "", 0.0
        for word in paragraph.split(" "):
            size = pdf.get_string_width(word)
            while size > width:  # a word longer than the line: cut it where it fills the line
                cut = max(1, int(len(word) * width / size))
                lines.extend([line] if line else [])
                lines.append(word[:cut])
                word, line, used = word[cut:], "", 0.0
                size = pdf.get_string_width(word)
            if line and used + space + size > width:
                lines.append(line)
                line, used = word, size
            else:
                line, used = (f"{line} {word}", used + space + size) if line else (word, size)
        lines.append(line)
    return lines


def _para(pdf: Sheet, width: float, height: float, text: str, align: str = "L") -> None:
    """`text` wrapped to `width` from the current position, one cell per line, leaving x where it was."""
    x = pdf.get_x()
    for line in _wrap(pdf, text, width):
        pdf.set_x(x)
        pdf.cell(width, height, line, align=align, new_x="LEFT", new_y="NEXT")


def _summary(pdf: Sheet, doc: Printout) -> None:
    """Taxes and withholdings on the left, totals on the right."""
    needed = 6 * ROW_H + 5 * max(len(doc.totals), len(doc.taxes) + len(doc.withholdings) + 2)
    if pdf.get_y() + needed > pdf.page_break_trigger:
        pdf.add_page()
    top = pdf.get_y()
    half = (pdf.w - 2 * MARGIN - 8) / 2
    left_end = top
    if doc.taxes:
        left_end = _figures(pdf, "Impuestos", doc.taxes, MARGIN, top, half)
    if doc.withholdings:
        left_end = _figures(pdf, "Retenciones (informativas)", doc.withholdings, MARGIN, left_end + 2, half)
    right_end = _figures(
        pdf,
        f"Totales ({doc.currency})" if doc.currency else "Totales",
        doc.totals,
        MARGIN + half + 8,
        top,
        half,
    )
    pdf.set_y(max(left_end, right_end) + 5)


def _figures(pdf: Sheet, heading: str, figures: list[Figure], x: float, y: float, width: float) -> float:
    pdf.set_xy(x, y)
    pdf.set_fill_color(*BAND)
    pdf.set_text_color(*ACCENT)
    pdf.set_font("Helvetica", "B", 8)
    pdf.cell(width, 5, printable(heading.upper()), fill=True, new_x="LEFT", new_y="NEXT")
    for figure in figures:
        pdf.set_x(x)
        if figure.strong:
            pdf.set_fill_color(*ACCENT)
            pdf.set_text_color(255, 255, 255)
            pdf.set_font("Helvetica", "B", 10)
            pdf.cell(width * 0.55, 7, " " + printable(figure.label), fill=True)
            pdf.cell(
                width * 0.45,
                7,
                printable(figure.amount) + " ",
                align="R",
                fill=True,
                new_x="LEFT",
                new_y="NEXT",
            )
            continue
        pdf.set_font("Helvetica", "", 8)
        pdf.set_text_color(*MUTED)
        pdf.cell(width * 0.65, 5, " " + printable(figure.label))
        pdf.set_text_color(*INK)
        pdf.cell(width * 0.35, 5, printable(figure.amount) + " ", align="R", new_x="LEFT", new_y="NEXT")
        pdf.set_draw_color(*RULE)
        pdf.line(x, pdf.get_y(), x + width, pdf.get_y())
    return pdf.get_y()


def _fiscal(pdf: Sheet, doc: Printout) -> None:
    """The fiscal id, the QR code and the legal lines, kept together on one page."""
    qr_size = 34.0
    if pdf.get_y() + qr_size + 8 > pdf.page_break_trigger:
        pdf.add_page()
    top = pdf.get_y()
    _qr(pdf, doc.qr, pdf.w - MARGIN - qr_size, top, qr_size)
    width = pdf.w - 2 * MARGIN - qr_size - 6
    pdf.set_xy(MARGIN, top)
    pdf.set_text_color(*ACCENT)
    pdf.set_font("Helvetica", "B", 8)
    pdf.cell(width, 4.5, printable(doc.fiscal_id_label), new_x="LEFT", new_y="NEXT")
    pdf.set_text_color(*INK)
    pdf.set_font("Courier", "", 6.8)
    pdf.cell(width, 3.6, printable(doc.fiscal_id), new_x="LEFT", new_y="NEXT")
    pdf.ln(1.5)
    pdf.set_font("Helvetica", "", 7)
    pdf.set_text_color(*MUTED)
    for line in doc.legal:
        _para(pdf, width, 3.4, line)
        pdf.ln(0.6)
    pdf.set_xy(pdf.w - MARGIN - qr_size, top + qr_size + 0.5)
    pdf.set_font("Helvetica", "", 6)
    _para(pdf, qr_size, 2.6, doc.qr_caption, align="C")


def _qr(pdf: Sheet, content: str, x: float, y: float, size: float) -> None:
    """The QR code (error correction M) as filled rectangles: a run of dark modules in a row, stretched
    down over the rows that repeat it (finder patterns and timing lines merge), about half the
    rectangles of one per module run. zxing-cpp encodes it (and picks the mask ISO/IEC 18004 asks
    for) in well under a millisecond."""
    code = zxingcpp.create_barcode(content, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = memoryview(code.to_image(scale=1, add_quiet_zones=False))
    modules = image.shape[0]
    pixels = image.tobytes()  # one byte per module, row after row: 0 dark, 255 light
    unit = size / (modules + 4)  # a quiet zone of two modules around it
    open_runs: dict[tuple[int, int], int] = {}  # (first, past-last column) -> first row
    pdf.set_fill_color(0, 0, 0)
    for row in range(modules + 1):
        runs = set(_runs(pixels[row * modules : (row + 1) * modules])) if row < modules else set()
        for run, first_row in list(open_runs.items()):
            if run not in runs:
                start, end = run
                pdf.rect(
                    x + (start + 2) * unit,
                    y + (first_row + 2) * unit,
                    (end - start) * unit,
                    (row - first_row) * unit,
                    style="F",
                )
                del open_runs[run]
        for run in runs:
            open_runs.setdefault(run, row)


def _runs(cells: bytes) -> list[tuple[int, int]]:
    """(first, past-last) column of each run of dark modules in one row of the matrix."""
    runs = []
    col = cells.find(0)
    while col != -1:
        end = cells.find(255, col)
        end = len(cells) if end == -1 else end
        runs.append((col, end))
        col = cells.find(0, end)
    return runs
