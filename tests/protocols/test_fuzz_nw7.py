"""Hostile NW-7 scans under every scheme: a registration number that re-parses to itself, or a BarcodeError
with its reason, whatever a scanner or a keyboard wedge types (full-width, control characters, junk)."""

import random

from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols import nw7
from tagd.protocols.nw7 import BarcodeError, BarcodeReason, M11Options

FULL_WIDTH = {ord(char): ord(char) + 0xFEE0 for char in "0123456789AB"}
SCAN_CHARACTERS = "0123456789ABCDabcd-$:/.+ \r\n\t" + "0123456789AB".translate(FULL_WIDTH)
START_STOPS = [None, "A", "b", "C", "d", "E", "", "AB", "\uff11"]
ODD = [(0xD800, 0xE000), (0x00, 0x20), (0x0660, 0x066A), (0x41, 0x5B), (0x80, 0x110000)]
"""Lone surrogates, controls, Arabic-Indic digits (NFKC leaves them), capitals, anything."""
seeds = st.integers(0, 2**64 - 1).map(random.Random)
"""A seeded generator, not strategies: at 100,000 scans, drawing every character would be most of the cost."""


def scan(rng: random.Random, length: int) -> str:
    """A scan of a `length`-digit number, maybe damaged; or characters a scanner could send; or any text."""
    match rng.randrange(4):
        case 0:
            ranges = rng.choice([ODD, [(0x20, 0x7F)]])
            return "".join(chr(rng.randrange(*rng.choice(ranges))) for _ in range(rng.randrange(31)))
        case 1:
            return "".join(rng.choices(SCAN_CHARACTERS, k=rng.randrange(17)))
    digits = "".join(rng.choices("0123456789", k=max(length, 1)))
    try:
        text = nw7.with_check_digit(digits, rng.choice([s for s in nw7.SCHEMES if s != "m16"]))
    except BarcodeError:
        text = digits
    if rng.random() < 0.5:
        text = rng.choice("ABCDabcd") + text + rng.choice("ABCDabcd")
    if rng.random() < 0.5:
        return text
    at = rng.randrange(len(text) + 1)
    noise = "".join(rng.choices(SCAN_CHARACTERS, k=rng.randrange(3)))
    return text[:at] + noise + text[at + rng.randrange(3) :]


def options(rng: random.Random) -> tuple[str, int, str | None, str | None, M11Options]:
    """The installation's settings, sometimes wrong: scheme, length, assumed start/stop, M11 variant."""
    scheme = rng.choice([*nw7.SCHEMES, *nw7.SCHEMES, "M10W21", "m10", ""])
    length = rng.randrange(1, 13) if rng.random() < 0.95 else rng.randrange(-3, 1)
    start_stop = rng.choice([(None, None), (None, None), ("A", "B"), ("c", "d")])
    if rng.random() < 0.1:
        start_stop = rng.choice(START_STOPS), rng.choice(START_STOPS)
    if rng.random() > 0.1:
        return scheme, length, *start_stop, nw7.M11_DEFAULT
    try:
        m11 = M11Options(
            weights=tuple(rng.randrange(-1, 13) for _ in range(rng.randrange(8))),
            remainder_0=rng.choice([None, "0", "X", "-", "10", ""]),
            remainder_1=rng.choice([None, "0", "1", "$"]),
            remainder_10=rng.choice([None, "1", "0", "+"]),
        )
    except BarcodeError:
        m11 = nw7.M11_DEFAULT
    return scheme, length, *start_stop, m11


def check(parse, raw: str, options: tuple[str, int, str | None, str | None, M11Options]) -> None:
    """A number whose symbol scans back to it, or a BarcodeError with a reason and a message."""
    scheme, length, start, stop, m11 = options
    try:
        number = parse(raw, scheme, length, start=start, stop=stop, m11=m11)
    except BarcodeError as exc:
        refusal = exc
    else:
        assert len(number.number) == length
        assert number.number.isascii()
        assert number.number.isdigit()
        again = nw7.parse_scan(number.symbol, scheme, length, start=start, stop=stop, m11=m11)
        assert again.item_id == number.item_id
        return
    assert isinstance(refusal.reason, BarcodeReason)
    assert str(refusal).strip()


@given(seeds)
def test_fuzz_scans_give_a_number_or_a_barcode_error(rng):
    settings = options(rng)
    check(nw7.parse_scan, scan(rng, settings[1]), settings)


@given(seeds)
def test_fuzz_typed_numbers_give_a_number_or_a_barcode_error(rng):
    settings = options(rng)
    check(nw7.parse_number, scan(rng, settings[1]), settings)


@given(st.text(max_size=20), st.sampled_from(nw7.SCHEMES))
def test_fuzz_check_digits_of_any_text_or_a_barcode_error(digits, scheme):
    try:
        check_char = nw7.check_digit(digits, scheme)
    except BarcodeError as exc:
        refusal = exc
    else:
        assert check_char in nw7.CODABAR_DATA
        return
    assert str(refusal).strip()
