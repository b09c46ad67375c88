"""Hostile delivery lists: whatever the encoding, the rows or the junk in them, `parse_delivery_list` returns
a checked list or a DeliveryListError whose every problem names its line and reason; `tagd catalog import`
turns each into exit 65 with the reasons on stderr, and imports nothing."""

import argparse
import csv
import io
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.daemon.cli import catalog as catalog_cli
from tagd.daemon.store.delivery import DeliveryList, DeliveryListError, parse_delivery_list
from tagd.daemon.store.delivery_columns import COLUMNS
from tagd.protocols import nw7

GOOD_IDS = [nw7.with_check_digit(f"{n:08d}") for n in range(40_000_001, 40_000_009)]
ENCODINGS = ["utf-8", "utf-8-sig", "cp932", "utf-16", "latin-1", "euc-jp"]
GIVEN_ENCODINGS = [None, None, "utf-8", "cp932", "utf-16", "ascii", "rot13", "punycode", "idna", "utf-7"]
OVERSIZED_FIELD = csv.field_size_limit() + 1
GOOD_LIST = b"registration_number,title\n400000014,x\n"
FULL_WIDTH = {ord(char): ord(char) + 0xFEE0 for char in "0123456789"}


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="tagd")
    catalog_cli.register(parser.add_subparsers(dest="group", required=True))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


HEADERS = [names[0] for names in COLUMNS.values()] + [names[1] for names in COLUMNS.values()]
ODD_FIELDS = ["", " ", '"', '""', "a\nb", "\x00", "\r", "\ufeff", "1,980", "¥2,000", "-1", "0"]
ODD_FIELDS += ["12".translate(FULL_WIDTH)]
TEXT_RANGES = [(0x20, 0x7F), (0x00, 0x20), (0x3000, 0x3100), (0x4E00, 0x9FFF), (0xFF00, 0xFFF0)]
TEXT_RANGES += [(0x80, 0x110000)]


def random_text(rng: random.Random, size: int) -> str:
    """Characters from ASCII, controls, kana, kanji, full-width forms and anywhere (lone surrogates too)."""
    return "".join(chr(rng.randrange(*rng.choice(TEXT_RANGES))) for _ in range(rng.randrange(size + 1)))


def hostile_field(rng: random.Random) -> str:
    match rng.randrange(6):
        case 0:
            return rng.choice(GOOD_IDS)
        case 1:
            return rng.choice(ODD_FIELDS)
        case 2:
            return str(rng.randrange(10 ** rng.randrange(1, 13)))
        case 3:
            return "9" * rng.randrange(4290, 4311)  # more digits than int() converts
        case 4:
            return random_text(rng, 20)
        case _:
            return rng.randbytes(rng.randrange(13)).decode("latin-1")


def delivery_list(rng: random.Random) -> bytes:
    """A header (maybe wrong), rows of hostile fields (maybe too many or too few), in some encoding, then
    maybe binary junk, a cut, a row of thousands of fields or a field over the csv module's limit."""
    names = range(rng.randrange(1, 9))
    header = [rng.choice(HEADERS) if rng.random() < 0.7 else random_text(rng, 8) for _ in names]
    if rng.random() < 0.5:
        header = ["registration_number", "title", *header]
    width = len(header)
    rows = [
        [hostile_field(rng) for _ in range(rng.randrange(max(0, width - 2), width + 3))]
        for _ in range(rng.randrange(9))
    ]
    text = io.StringIO()
    csv.writer(text, delimiter=rng.choice(",\t")).writerows([header, *rows])
    data = text.getvalue().encode(rng.choice(ENCODINGS), errors="replace")
    match rng.randrange(10):
        case 0 | 1:
            at = rng.randrange(len(data) + 1)
            return data[:at] + rng.randbytes(rng.randrange(1, 17)) + data[at:]
        case 2 | 3:
            return data[: rng.randrange(len(data) + 1)]
        case 4:
            return data + b",".join([GOOD_IDS[0].encode()] * rng.randrange(1000, 3001)) + b"\n"
        case 5:
            return data + GOOD_IDS[1].encode() + b',"' + b"x" * OVERSIZED_FIELD + b'"\n'
    return data


def check(data: bytes, encoding: str | None) -> None:
    try:
        delivery = parse_delivery_list(data, encoding=encoding)
    except DeliveryListError as exc:
        refusal = exc
    else:
        assert isinstance(delivery, DeliveryList)
        assert len(delivery.items) == len(delivery.lines) == len({item.item_id for item in delivery.items})
        return
    assert refusal.problems
    lines = data.count(b"\n") + data.count(b"\r") + 1
    for problem in refusal.problems:
        assert problem.message.strip()
        assert "set_int_max_str_digits" not in problem.message, "Python's advice, not a reason"
        assert 0 <= problem.line <= lines
        if problem.line == 0:  # the file as a whole: only its encoding
            assert "encoding" in problem.message or "cannot read" in problem.message


seeds = st.integers(0, 2**64 - 1).map(random.Random)
"""A seeded generator, not strategies: at 100,000 lists, drawing every field would be most of the cost."""


@given(seeds, st.sampled_from(GIVEN_ENCODINGS))
def test_fuzz_hostile_delivery_lists_are_checked_or_refused_line_by_line(rng, encoding):
    check(delivery_list(rng), encoding)


@given(st.binary(max_size=2000), st.sampled_from(GIVEN_ENCODINGS))
def test_fuzz_binary_junk_is_refused_with_its_reason(data, encoding):
    check(data, encoding)


@pytest.mark.parametrize(
    ("content", "options", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", [], ":1: no registration_number column"),  # cp932 reads it
        (b"registration_number,title\n\x81 x\n", [], "not utf-8 or cp932 text (byte 0x81 at offset 26)"),
        (GOOD_LIST, ["--encoding", "rot13"], "cannot read the list as rot-13"),  # not a text encoding
        (GOOD_LIST, ["--encoding", "punycode"], "Invalid extended code point '_'"),
        (b'registration_number,title\n400000014,"' + b"x" * OVERSIZED_FIELD + b'"\n', [], "field larger"),
        (b"registration_number,title,price\n400000014,x," + b"9" * 5000, [], "not a price in whole yen"),
        (b"registration_number,title\n" + b"400000014,x," * 2000 + b"\n", [], ":2: 4001 fields"),
    ],
)
def test_catalog_import_refuses_a_hostile_file_with_its_reason(tmp_path, capsys, content, options, reason):
    listed = tmp_path / "list.csv"
    listed.write_bytes(content)
    db = str(tmp_path / "catalog.sqlite3")
    assert run_cli("catalog", "import", str(listed), "--db", db, *options) == 65
    err = capsys.readouterr().err
    assert reason in err
    assert "nothing imported" in err
    assert run_cli("catalog", "lookup", "400000014", "--db", db) == 1
