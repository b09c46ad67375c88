"""NW-7 barcode label sheets as PDF: python-barcode lays out the symbol, fpdf2 draws it onto the sheet.

Each label carries the symbol (start A, the 9 digits, stop B), the 9 digits under the bars for staff, and
the branch code above them. The branch colour (`label_colours`) tints either the bars and digits (`bars`:
what 「バーコードは指定の色で」 asks, refused for a colour whose print contrast under red light is below
ANSI's 0.75, see contrast.py) or a band across the top of the label with black bars (`band`: any colour).
The quiet zones are 10 narrow elements either side (Codabar's minimum); the narrow element is the sheet's
narrow_mm, or finer on a narrow label, never under 0.19 mm.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from barcode import get_barcode_class
from barcode.writer import BaseWriter
from fpdf import FPDF
from pydantic_extra_types.color import Color

from tagd.daemon.labels.contrast import PCS_MINIMUM, red_light_contrast
from tagd.daemon.labels.sheets import Cell, SheetLayout
from tagd.protocols import nw7

__all__ = ["LABEL_START", "LABEL_STOP", "LabelError", "Tint", "label_number", "render_barcode_sheet"]

LABEL_START, LABEL_STOP = "A", "B"
"""The start/stop pair printed on the libraries' labels (as `tagd barcode label`)."""

NARROW_MIN_MM = 0.19
QUIET_NARROWS = 10
_NARROW_MODULES, _WIDE_MODULES = 2, 5
"""python-barcode's codabar elements in modules: wide = 2.5 x narrow, inside Codabar's 2.25-3 range."""
_PAD_MM = 1.5
_BAND_MM = 4.0
_DIGITS_PT = 8.0
_CODE_PT = 6.0
_PT_MM = 25.4 / 72
_BAR_MAX_MM = 15.0
_BAR_MIN_MM = 5.0


class Tint(StrEnum):
    BARS = "bars"
    BAND = "band"


class LabelError(Exception):
    """Labels that must not be printed: a colour that would not scan, a label too small for the symbol."""


@dataclass(frozen=True)
class _Geometry:
    narrow: float
    width: float
    bar_height: float


def label_number(item_id: str, scheme: str = nw7.DEFAULT_SCHEME, length: int = 8) -> nw7.RegistrationNumber:
    """The registration number as labels print it: its check digit verified, start A and stop B."""
    return nw7.parse_number(item_id, scheme, length, start=LABEL_START, stop=LABEL_STOP)


def render_barcode_sheet(
    numbers: Sequence[nw7.RegistrationNumber],
    layout: SheetLayout,
    *,
    library: str,
    colour: str,
    tint: Tint = Tint.BARS,
) -> bytes:
    """The PDF of every label, in order; LabelError when the colour or the layout cannot give a scannable
    label."""
    if tint is Tint.BARS:
        contrast = red_light_contrast(colour)
        if not contrast.scans:
            raise LabelError(
                f"bars in {colour} would not scan under a red-light scanner: print contrast signal "
                f"{contrast.pcs:.2f}, below {PCS_MINIMUM} (ANSI); use a darker colour, or --tint band"
            )
    pdf = FPDF(unit="mm", format=layout.page_mm)
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(0, 0, 0)
    pdf.set_creator("tagd")
    page = -1
    for number, cell in zip(numbers, layout.cells(), strict=False):
        if cell.page != page:
            pdf.add_page()
            page = cell.page
        _label(pdf, cell, number, layout, library=library, colour=colour, tint=tint)
    return bytes(pdf.output())


def _rgb(colour: str) -> tuple[int, int, int]:
    rgb = Color(colour).as_rgb_tuple(alpha=False)
    return rgb[0], rgb[1], rgb[2]


def _geometry(cell: Cell, layout: SheetLayout, modules: int, number: str) -> _Geometry:
    narrows = modules / _NARROW_MODULES + 2 * QUIET_NARROWS
    narrow = min(layout.narrow_mm, (cell.width - 2 * _PAD_MM) / narrows)
    if narrow < NARROW_MIN_MM:
        raise LabelError(
            f"{number}: a {cell.width:.1f} mm label is too narrow for NW-7 with {NARROW_MIN_MM} mm elements"
        )
    room = cell.height - 2 * _PAD_MM - _BAND_MM - _DIGITS_PT * _PT_MM - 1.0
    if room < _BAR_MIN_MM:
        raise LabelError(f"{number}: a {cell.height:.1f} mm label leaves no room for {_BAR_MIN_MM} mm bars")
    return _Geometry(narrow=narrow, width=narrows * narrow, bar_height=min(room, _BAR_MAX_MM))


def _label(
    pdf: FPDF,
    cell: Cell,
    number: nw7.RegistrationNumber,
    layout: SheetLayout,
    *,
    library: str,
    colour: str,
    tint: Tint,
) -> None:
    symbol = get_barcode_class("codabar")(number.symbol, narrow=_NARROW_MODULES, wide=_WIDE_MODULES)
    modules = len(symbol.build()[0])
    geometry = _geometry(cell, layout, modules, number.item_id)
    ink = _rgb(colour) if tint is Tint.BARS else (0, 0, 0)
    top = cell.y + _PAD_MM
    if tint is Tint.BAND:
        pdf.set_fill_color(*_rgb(colour))
        pdf.rect(cell.x + _PAD_MM, top, cell.width - 2 * _PAD_MM, _BAND_MM, style="F")
        light = sum(_rgb(colour)) > 3 * 140
        pdf.set_text_color(*((0, 0, 0) if light else (255, 255, 255)))
    else:
        pdf.set_text_color(*ink)
    pdf.set_font("Helvetica", size=_CODE_PT)
    pdf.set_xy(cell.x + _PAD_MM, top)
    pdf.cell(cell.width - 2 * _PAD_MM, _BAND_MM, library, align="C")
    left = cell.x + (cell.width - geometry.width) / 2
    bars_top = top + _BAND_MM + 0.5
    pdf.set_fill_color(*ink)
    pdf.set_text_color(*ink)
    pdf.set_font("Helvetica", size=_DIGITS_PT)

    def paint_module(xpos: float, _ypos: float, width: float, painted: str) -> None:
        if painted == "bar":
            pdf.rect(left + xpos, bars_top, width, geometry.bar_height, style="F")

    def paint_text(xpos: float, _ypos: float) -> None:
        pdf.set_xy(left + xpos - geometry.width / 2, bars_top + geometry.bar_height + 0.8)
        pdf.cell(geometry.width, _DIGITS_PT * _PT_MM, writer.text, align="C")

    writer = BaseWriter(None, paint_module, paint_text, lambda: None)
    symbol.writer = writer
    symbol.render(
        {
            "module_width": geometry.narrow / _NARROW_MODULES,
            "module_height": geometry.bar_height,
            "quiet_zone": QUIET_NARROWS * geometry.narrow,
            "foreground": "bar",
            "background": "space",
            "margin_top": 0,
            "font_size": _DIGITS_PT,
        },
        text=number.item_id,
    )
