"""Spine (call-number) labels as a PDF proof sheet: each cell shows the label at its size and colour.

A label is drawn as the spec gives it: an 8 x 18 mm (picture books 10 x 21 mm) label framed in its colour
(thick frame for Ueki's children's books) and tinted with it, the text in black; a kamishibai's 20 mm disc
in its genre colour without text. Under it the registration number and title, so a sheet can be matched to
the books, and "+ 禁帯出シール" where the R mark asks for the sticker. For an item the rules cannot settle:
a box saying 司書確認 and why, and no label text at all. Japanese text uses Noto Sans CJK (fonts-noto-cjk).
"""

from collections.abc import Sequence
from pathlib import Path

from fpdf import FPDF

from tagd.daemon.labels.sheets import Cell, SheetLayout
from tagd.protocols.spine import SpineLabel

__all__ = ["FontMissing", "render_spine_sheet"]

FONT_PATHS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc"),
)
_FONT = "noto-cjk"
_FRAME_MM = {"none": 0.3, "thin": 0.4, "thick": 1.0}
_TINT = 0.55
_STICKER = "禁帯出シール"
_GAP_MM = 1.5
"""Between the parts of the call number (mark, class, book mark): wide enough to read, and for pdftotext."""
_TEXT_PT = 9.0
_SMALL_PT = 5.5
_PT_MM = 25.4 / 72


class FontMissing(Exception):  # noqa: N818 - says what to install
    pass


def render_spine_sheet(labels: Sequence[SpineLabel], layout: SheetLayout) -> bytes:
    pdf = FPDF(unit="mm", format=layout.page_mm)
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(0, 0, 0)
    pdf.set_creator("tagd")
    font = next((path for path in FONT_PATHS if path.is_file()), None)
    if font is None:
        raise FontMissing("no Noto Sans CJK font: install Debian's fonts-noto-cjk")
    pdf.add_font(_FONT, fname=str(font), collection_font_number=0)
    page = -1
    for label, cell in zip(labels, layout.cells(), strict=False):
        if cell.page != page:
            pdf.add_page()
            page = cell.page
        _cell(pdf, cell, label)
    return bytes(pdf.output())


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = int(hex_colour[1:], 16)
    return value >> 16, (value >> 8) & 0xFF, value & 0xFF


def _tint(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """The colour lightened towards white, so black text stays readable on it; black stays white."""
    if rgb == (0, 0, 0):
        return 255, 255, 255
    red, green, blue = (round(255 - (255 - part) * _TINT) for part in rgb)
    return red, green, blue


def _cell(pdf: FPDF, cell: Cell, label: SpineLabel) -> None:
    top = cell.y + 0.5
    if label.ask_librarian is not None:
        pdf.set_draw_color(200, 0, 0)
        pdf.set_line_width(0.4)
        pdf.set_dash_pattern(dash=1, gap=0.8)
        pdf.rect(cell.x + 0.5, top, cell.width - 1, 12.5)
        pdf.set_dash_pattern()
        pdf.set_text_color(200, 0, 0)
        pdf.set_font(_FONT, size=7)
        pdf.set_xy(cell.x + 0.5, top + 0.3)
        pdf.cell(cell.width - 1, 3, "司書確認", align="C")
        pdf.set_font(_FONT, size=4.5)
        pdf.set_xy(cell.x + 1, top + 3.5)
        pdf.multi_cell(cell.width - 2, 1.9, label.ask_librarian, align="L", max_line_height=1.9)
        bottom = top + 13
    elif not label.stuck:
        pdf.set_text_color(90, 90, 90)
        pdf.set_font(_FONT, size=6)
        pdf.set_xy(cell.x, top + 3)
        pdf.cell(cell.width, 3, "ラベルなし", align="C")
        bottom = top + 8
    else:
        bottom = _label(pdf, cell, label, top)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(_FONT, size=_SMALL_PT)
    pdf.set_xy(cell.x, bottom + 0.3)
    pdf.cell(cell.width, _SMALL_PT * _PT_MM, label.item_id, align="C")
    pdf.set_xy(cell.x, bottom + 0.3 + _SMALL_PT * _PT_MM)
    title = label.title if len(label.title) <= 12 else label.title[:11] + "…"
    pdf.cell(cell.width, _SMALL_PT * _PT_MM, title, align="C")
    line = 2
    if label.colour is not None:
        pdf.set_xy(cell.x, bottom + 0.3 + line * _SMALL_PT * _PT_MM)
        pdf.cell(cell.width, _SMALL_PT * _PT_MM, f"{label.colour.name} ({label.form})", align="C")
        line += 1
    if any(_STICKER in note for note in label.notes):
        pdf.set_text_color(200, 0, 0)
        pdf.set_xy(cell.x, bottom + 0.3 + line * _SMALL_PT * _PT_MM)
        pdf.cell(cell.width, _SMALL_PT * _PT_MM, "+ 禁帯出シール", align="C")


def _label(pdf: FPDF, cell: Cell, label: SpineLabel, top: float) -> float:
    assert label.colour is not None, "a stuck label without a librarian's question has its colour"
    colour = _rgb(label.colour.rgb)
    pdf.set_draw_color(*colour)
    pdf.set_line_width(_FRAME_MM.get(label.frame, 0.3))
    if label.disc_mm is not None:
        pdf.set_fill_color(*colour)
        x = cell.x + (cell.width - label.disc_mm) / 2
        pdf.ellipse(x, top, label.disc_mm, label.disc_mm, style="DF")
        return top + label.disc_mm
    assert label.size_mm is not None, "a label is a disc or has a size"
    width, height = label.size_mm
    x = cell.x + (cell.width - width) / 2
    pdf.set_fill_color(*_tint(colour))
    pdf.rect(x, top, width, height, style="DF")
    pdf.set_text_color(0, 0, 0)
    tokens = label.text.split()
    size = _TEXT_PT
    pdf.set_font(_FONT, size=size)
    room = width - 1.0 - _GAP_MM * (len(tokens) - 1)
    natural = sum(pdf.get_string_width(token) for token in tokens)
    if natural > room:  # e.g. "WI 913.6 ア" on 18 mm: a smaller font, never a cut
        size = _TEXT_PT * room / natural
        pdf.set_font(_FONT, size=size)
    widths = [pdf.get_string_width(token) for token in tokens]
    left = x + (width - sum(widths) - _GAP_MM * (len(tokens) - 1)) / 2
    baseline = top + height / 2 + size * _PT_MM * 0.35
    for token, token_width in zip(tokens, widths, strict=True):
        pdf.text(left, baseline, token)
        left += token_width + _GAP_MM
    return top + height
