"""Barcode label sheets, read back with pdftoppm and zbarimg: every label decodes to exactly its item."""

from pathlib import Path

import pytest

from tagd.daemon.cli import main
from tagd.daemon.config.model import ConfigError
from tagd.daemon.labels.barcode_sheet import LabelError, Tint, label_number, render_barcode_sheet
from tagd.daemon.labels.contrast import PCS_MINIMUM, red_light_contrast
from tagd.daemon.labels.sheets import load_sheets
from tagd.daemon.store.delivery import parse_delivery_list

from .readback import decode_cells

CONFIG = Path(__file__).parents[3] / "config"
DEMO_LIST = CONFIG / "demo-delivery.csv"


def _demo_items() -> list[str]:
    return [item.item_id for item in parse_delivery_list(DEMO_LIST.read_bytes()).items]


@pytest.mark.parametrize("sheet", ["a4-24", "a4-44", "single-50x30"])
def test_every_label_of_the_demo_list_decodes_to_its_item(sheet, tmp_path, capsys):
    out = tmp_path / "labels.pdf"
    code = main(
        [
            "labels",
            "barcode",
            str(DEMO_LIST),
            "--config",
            str(CONFIG / "demo.toml"),
            "--sheet",
            sheet,
            "-o",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    items = _demo_items()
    cells = decode_cells(out, load_sheets().get(sheet), len(items), tmp_path)
    assert cells == [[f"Codabar:A{item}B"] for item in items]
    assert all(len(item) == 9 for item in items)


def test_a_list_longer_than_a_sheet_goes_on_to_the_next_page(tmp_path):
    layout = load_sheets().get("a4-24")
    items = [label_number(str(10_000_000 + n)).item_id for n in range(1, layout.per_page + 4)]
    numbers = [label_number(item) for item in items]
    out = tmp_path / "two-pages.pdf"
    out.write_bytes(render_barcode_sheet(numbers, layout, library="demo", colour="#1f4e9c"))
    assert decode_cells(out, layout, len(items), tmp_path) == [[f"Codabar:A{item}B"] for item in items]


def test_the_check_digit_is_the_libraries_modulus_10_split_weights():
    # 10000001: weights 2,1,2,... from the right: 1*2 = 2, the rest 0 except 1*1 (8th from right) -> 3 -> 7
    assert label_number("10000001").item_id == "100000017"
    assert label_number("10000001").symbol == "A100000017B"


def test_the_branch_colour_tints_the_bars_when_red_light_reads_it(tmp_path):
    layout = load_sheets().get("a4-44")
    numbers = [label_number("10000001")]
    out = tmp_path / "maroon.pdf"
    out.write_bytes(render_barcode_sheet(numbers, layout, library="chuo", colour="#800000"))
    assert decode_cells(out, layout, 1, tmp_path) == [["Codabar:A100000017B"]]


def test_red_bars_are_refused_with_the_print_contrast_signal(tmp_path, capsys):
    config = tmp_path / "red.toml"
    config.write_text(
        f'state_dir = "{tmp_path}"\n[label_colours]\nkita = "#e00000"\n[[stations]]\nname = "kita-encoder"\n'
        'role = "encoder"\nlibrary = "kita"\nisil = "JP-1000001"\nreader = "sim:kita-encoder"\n',
        encoding="utf-8",
    )
    out = tmp_path / "red.pdf"
    code = main(["labels", "barcode", str(DEMO_LIST), "--config", str(config), "-o", str(out)])
    assert code == 65
    err = capsys.readouterr().err
    assert "would not scan under a red-light scanner" in err
    assert "print contrast signal 0.25" in err
    assert not out.exists()


def test_a_band_carries_a_colour_the_bars_could_not(tmp_path):
    layout = load_sheets().get("a4-24")
    numbers = [label_number("10000002")]
    with pytest.raises(LabelError):
        render_barcode_sheet(numbers, layout, library="kita", colour="red")
    out = tmp_path / "band.pdf"
    out.write_bytes(render_barcode_sheet(numbers, layout, library="kita", colour="red", tint=Tint.BAND))
    assert decode_cells(out, layout, 1, tmp_path) == [[f"Codabar:A{numbers[0].item_id}B"]]


@pytest.mark.parametrize(
    ("colour", "scans"),
    [
        ("black", True),
        ("#1f4e9c", True),
        ("darkgreen", True),
        ("#800000", True),
        ("red", False),
        ("#c00000", False),
        ("orange", False),
        ("pink", False),
    ],
)
def test_print_contrast_signal_under_red_light(colour, scans):
    contrast = red_light_contrast(colour)
    assert contrast.scans is scans
    assert (contrast.pcs >= PCS_MINIMUM) is scans


def test_pcs_is_one_minus_the_red_reflectance_against_white():
    assert red_light_contrast("black").pcs == 1.0
    assert red_light_contrast("#ff0000").pcs == 0.0
    # sRGB 0x80 = 0.50196 -> linear ((0.50196 + 0.055) / 1.055) ** 2.4 = 0.21586
    assert red_light_contrast("#800000").pcs == pytest.approx(1 - 0.21586, abs=1e-4)


def test_a_label_too_narrow_for_nw7_is_refused(tmp_path):
    sheets = tmp_path / "sheets.toml"
    sheets.write_text(
        '[sheet.tiny]\ntitle = "too small"\npage_mm = [30.0, 20.0]\ncolumns = 1\nrows = 1\n'
        "label_mm = [30.0, 20.0]\n",
        encoding="utf-8",
    )
    with pytest.raises(LabelError, match="too narrow"):
        render_barcode_sheet(
            [label_number("10000001")], load_sheets(sheets).get("tiny"), library="x", colour="black"
        )


def test_a_sheet_larger_than_its_page_is_a_config_error(tmp_path):
    sheets = tmp_path / "sheets.toml"
    sheets.write_text(
        '[sheet.big]\ntitle = "big"\npage_mm = [210.0, 297.0]\ncolumns = 4\nrows = 1\n'
        "label_mm = [60.0, 30.0]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"sheet\.big: .*240\.0 mm of the page's width"):
        load_sheets(sheets)


def test_an_unknown_sheet_names_the_known_ones():
    with pytest.raises(ConfigError, match="a4-24, a4-44"):
        load_sheets().get("a4-12")
