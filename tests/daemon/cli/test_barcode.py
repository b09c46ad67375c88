"""`tagd barcode ...` through `tagd.daemon.cli.main`, and once through the installed console script."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tagd.daemon.cli import main

SVG = "{http://www.w3.org/2000/svg}"

# Codabar patterns as the symbology tables publish them: 1 = wide; four bars, then three spaces.
CODABAR = {
    "0": ("0001", "001"), "1": ("0010", "001"), "2": ("0001", "010"), "3": ("1000", "100"),
    "4": ("0100", "001"), "5": ("1000", "001"), "6": ("0001", "100"), "7": ("0010", "100"),
    "8": ("0100", "100"), "9": ("1000", "010"), "-": ("0010", "010"), "$": ("0100", "010"),
    ":": ("1011", "000"), "/": ("1101", "000"), ".": ("1110", "000"), "+": ("0111", "000"),
    "A": ("0100", "011"), "B": ("0001", "110"), "C": ("0001", "011"), "D": ("0010", "011"),
}  # fmt: skip
PATTERN_TO_CHAR = {bars + spaces: char for char, (bars, spaces) in CODABAR.items()}


def run(capsys, *argv):
    code = main(["barcode", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def mm(value: str) -> float:
    assert value.endswith("mm")
    return float(value[:-2])


def bars_of(root, colour):
    rects = [r for r in root.iter(f"{SVG}rect") if r.get("width") != "100%"]
    assert rects, "no bars"
    assert all(r.get("style") == f"fill:{colour};" for r in rects)
    return [(mm(r.get("x")), mm(r.get("width"))) for r in rects]


def decode(bars) -> str:
    """Read the symbol back from the bar positions: 7 elements per character, a narrow gap between."""
    widths = []
    for (x, width), (next_x, _) in zip(bars, [*bars[1:], (None, None)], strict=True):
        widths.append(width)
        if next_x is not None:
            widths.append(next_x - x - width)
    assert len(bars) % 4 == 0, "Codabar has four bars per character"
    narrow, wide = min(widths), max(widths)
    assert 2.0 <= wide / narrow <= 3.0, "NW-7 wants a wide/narrow ratio of 2.0 to 3.0"
    bits = ["1" if w > (narrow + wide) / 2 else "0" for w in widths]
    chars = []
    for start in range(0, len(bits), 8):
        element = bits[start : start + 7]
        chars.append(PATTERN_TO_CHAR["".join(element[0::2]) + "".join(element[1::2])])
        if start + 7 < len(bits):
            assert bits[start + 7] == "0", "characters are separated by a narrow space"
    return "".join(chars)


def read_label(path: Path):
    root = ET.fromstring(path.read_bytes())
    texts = [t.text for t in root.iter(f"{SVG}text")]
    return root, texts


# --- check-digit and parse ----------------------------------------------------------------------------


def test_check_digit_prints_the_full_number(capsys):
    assert run(capsys, "check-digit", "12345678") == (0, "123456782\n", "")


@pytest.mark.parametrize(
    ("digits", "scheme", "printed"),
    [
        ("12345678", "m10w21-lump", "123456784"),
        ("12345678", "m10w31", "123456784"),
        ("12345678", "7dr", "123456782"),
        ("12345678", "7dsr", "123456785"),
        ("12345678", "9dr", "123456780"),
        ("A37859B", "m16", "A37859+B"),
        ("\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18", "m10w21", "123456782"),
    ],
)
def test_check_digit_schemes(capsys, digits, scheme, printed):
    assert run(capsys, "check-digit", digits, "--scheme", scheme) == (0, printed + "\n", "")


def test_parse_prints_json(capsys):
    code, out, err = run(capsys, "parse", "A123456782B\r\n")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "item_id": "123456782",
        "number": "12345678",
        "check": "2",
        "scheme": "m10w21",
        "start": "A",
        "stop": "B",
    }


def test_parse_without_start_stop_gives_nulls(capsys):
    code, out, _ = run(capsys, "parse", "12345678905", "--scheme", "m10w31", "--length", "10")
    assert code == 0
    # 1234567890 weighted 3,1 from the right sums to 85: check 5
    assert json.loads(out) == {
        "item_id": "12345678905",
        "number": "1234567890",
        "check": "5",
        "scheme": "m10w31",
        "start": None,
        "stop": None,
    }


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["parse", "A123456783B"], "gives '2'"),
        (["parse", "1234567"], "expected 9 characters"),
        (["parse", "1234x6782"], "'x' at position 5"),
        (["parse", "A123456782"], "no stop character"),
        (["parse", "123456782", "--scheme", "mod10"], "unknown check-digit scheme"),
        (["check-digit", "12345678", "--scheme", "nope"], "unknown check-digit scheme"),
        (["check-digit", "1234567-"], "'-' at position 8"),
        (["check-digit", "12345678", "--scheme", "m16"], "start and stop"),
    ],
)
def test_bad_input_exits_65_with_one_line(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 65
    assert out == ""
    assert err.startswith("tagd: ")
    assert err.count("\n") == 1
    assert words in err


# --- label --------------------------------------------------------------------------------------------


def test_label_for_8_digits_adds_the_check_digit(capsys, tmp_path):
    path = tmp_path / "label.svg"
    code, out, err = run(capsys, "label", "12345678", "--color", "#C00000", "-o", str(path))
    assert (code, out, err) == (0, f"{path}\n", "")
    root, texts = read_label(path)
    assert texts == ["123456782"]
    assert decode(bars_of(root, "#c00000")) == "A123456782B"
    assert "fill:#c00000" in next(root.iter(f"{SVG}text")).get("style")


def test_label_for_9_digits_is_validated_and_drawn(capsys, tmp_path):
    path = tmp_path / "label.svg"
    assert run(capsys, "label", "123456782", "--color", "darkred", "-o", str(path))[0] == 0
    root, texts = read_label(path)
    assert texts == ["123456782"]
    assert decode(bars_of(root, "darkred")) == "A123456782B"


def test_label_keeps_the_number_own_start_and_stop(capsys, tmp_path):
    path = tmp_path / "label.svg"
    assert run(capsys, "label", "c123456782c", "-o", str(path))[0] == 0
    root, _ = read_label(path)
    assert decode(bars_of(root, "black")) == "C123456782C"


def test_m16_label_check_covers_the_printed_start_and_stop(capsys, tmp_path):
    path = tmp_path / "label.svg"
    assert run(capsys, "label", "37859", "--scheme", "m16", "--length", "5", "-o", str(path))[0] == 0
    root, texts = read_label(path)
    symbol = decode(bars_of(root, "black"))
    # the protocol-notes vector: A=16, 3+7+8+5+9 = 32, B=17; 65 mod 16 = 1, so the check is value 15, "+"
    assert symbol == "A37859+B"
    assert texts == ["37859+"]


@pytest.mark.parametrize("colour", ["blurple", "#12345", "#c00000ff", "rgb(1,2,3)", "", "white", "#FFF"])
def test_label_refuses_a_nonsense_colour(capsys, tmp_path, colour):
    path = tmp_path / "label.svg"
    code, _, err = run(capsys, "label", "12345678", "--color", colour, "-o", str(path))
    assert code == 65
    assert err.startswith("tagd: ")
    assert "colour" in err
    assert not path.exists()


def test_label_accepts_short_hex(capsys, tmp_path):
    path = tmp_path / "label.svg"
    assert run(capsys, "label", "12345678", "--color", "#0A0", "-o", str(path))[0] == 0
    root, _ = read_label(path)
    assert decode(bars_of(root, "#0a0")) == "A123456782B"


@pytest.mark.parametrize(("number", "words"), [("123456783", "gives '2'"), ("1234567", "expected 8 digits")])
def test_label_refuses_a_bad_number_and_writes_nothing(capsys, tmp_path, number, words):
    path = tmp_path / "label.svg"
    code, _, err = run(capsys, "label", number, "-o", str(path))
    assert code == 65
    assert words in err
    assert not path.exists()


def test_label_reports_a_file_it_cannot_write(capsys, tmp_path):
    path = tmp_path / "missing-dir" / "label.svg"
    code, out, err = run(capsys, "label", "12345678", "-o", str(path))
    assert (code, out) == (73, "")
    assert err.startswith(f"tagd: cannot write {path}")
    assert err.count("\n") == 1


def test_label_needs_an_output_file(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["barcode", "label", "12345678"])
    assert caught.value.code == 2
    assert "-o/--output" in capsys.readouterr().err


# --- the installed console script ----------------------------------------------------------------------

TAGD = Path(sys.executable).with_name("tagd")


def test_console_script_exits_65_with_a_one_line_reason():
    done = subprocess.run(
        [TAGD, "barcode", "parse", "A123456789B"], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 65
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("tagd: bad check digit")


def test_console_script_check_digit():
    done = subprocess.run(
        [TAGD, "barcode", "check-digit", "12345678"], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout == "123456782\n"
