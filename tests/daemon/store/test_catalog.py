"""The station catalog: delivery lists checked whole, imported whole or not at all, and looked up."""

import argparse
import contextlib
import csv
import io
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.daemon.cli import catalog as catalog_cli
from tagd.daemon.config.model import load_config
from tagd.daemon.store.catalog import Catalog, CatalogError, import_file, open_configured
from tagd.daemon.store.delivery import DeliveryList, DeliveryListError, parse_delivery_list
from tagd.protocols import nw7
from tagd.protocols.tagtypes import Binding, InsideCover, ItemKind

ROOT = Path(__file__).parents[3]
SAMPLE = ROOT / "tests" / "data" / "delivery-sample.csv"
DEMO_LIST = ROOT / "config" / "demo-delivery.csv"
IGNORED_ISBN = "line 1: column 'ISBN' is not one tagd reads: ignored"
FULL_WIDTH = {ord(char): ord(char) + 0xFEE0 for char in "0123456789,"}
HEADER_JA = "登録番号,書名,著者,出版社,価格,請求記号,製本,見返し,種別,セットID,巻次,巻数,セット価格\n"


def problems(data: bytes, **options) -> list[str]:
    with pytest.raises(DeliveryListError) as caught:
        parse_delivery_list(data, **options)
    return [str(problem) for problem in caught.value.problems]


def test_the_sample_and_the_demo_list_parse():
    sample = parse_delivery_list(SAMPLE.read_bytes())
    assert [item.item_id for item in sample.items] == [f"2000000{n}" for n in ("16", "24", "32", "40", "57")]
    assert sample.items[0].price == 1320
    assert sample.items[0].kind is ItemKind.PICTURE_BOOK
    assert sample.items[4].title == 'Kamishibai: "Momotaro"'
    assert [str(warning) for warning in sample.warnings] == [IGNORED_ISBN]
    demo = parse_delivery_list(DEMO_LIST.read_bytes())
    assert len(demo.items) == 10
    assert demo.items[1].binding is Binding.HARDCOVER
    assert demo.items[1].inside_cover is InsideCover.COLOURED
    assert [line for line, _ in demo.ask_librarian] == [6], "the cloth book needs a librarian"


def test_check_digits_are_added_to_8_digits_and_verified_on_9():
    rows = "10000001,a\n100000025,b\n100000026,c\n1000000,d\n"
    found = problems(b"registration_number,title\n" + rows.encode())
    assert found == [
        "line 4: registration_number: bad check digit in '100000026': m10w21 gives '5' for 10000002,"
        " the number has '6'",
        "line 5: registration_number: expected 8 digits, or 9 with the check digit, got 7",
    ]
    good = parse_delivery_list(b"registration_number,title\n10000001,a\n100000025,b\n")
    assert [item.item_id for item in good.items] == ["100000017", "100000025"]
    m11 = parse_delivery_list(b"registration_number,title\n10000001,a\n", scheme="m11")
    assert m11.items[0].item_id != "100000017"


def test_set_prices_are_divided_with_the_remainder_first_or_last():
    rows = "".join(f"1000000{n + 5},Vol {n},,,,908 ミ,上製,白,,S,{n},3,5000\n" for n in (1, 2, 3))
    data = (HEADER_JA + rows).encode()
    first = parse_delivery_list(data)
    assert [item.price for item in first.items] == [1668, 1666, 1666]
    last = parse_delivery_list(data, remainder="last")
    assert [item.price for item in last.items] == [1666, 1666, 1668]
    assert sum(item.price or 0 for item in last.items) == 5000


def test_volumes_default_to_row_order_and_count_the_rows():
    header = b"registration_number,title,set_id,set_price\n"
    data = header + b"10000001,a,S,1000\n10000002,b,S,1000\n10000003,c,S,\n"
    items = parse_delivery_list(data).items
    expected = [(1, 3, 334), (2, 3, 333), (3, 3, 333)]
    assert [(item.volume, item.volumes, item.price) for item in items] == expected


def test_set_rows_that_disagree_are_each_reported():
    header = "registration_number,title,price,set_id,volume,volumes,set_price\n"
    rows = (
        "10000001,a,,S,1,3,3000\n"
        "10000002,b,,S,2,3,3100\n"
        "10000003,c,999,S,3,3,3000\n"
        "10000004,d,,T,5,2,\n"
        "10000005,e,,,2,,\n"
    )
    assert problems((header + rows).encode()) == [
        "line 3: set 'S': set_price 3100 disagrees with 3000 on line 2",
        "line 5: set 'T': volume 5 of 2 volumes",
        "line 6: volume given without a set_id",
    ]


def test_japanese_headers_in_cp932_and_utf8_with_bom():
    text = HEADER_JA + "10000001,吾輩は猫である,夏目漱石,みどり書房,\"1,100円\",913.6 ナ,並製,色付き,,,,,\n"
    for data in (text.encode("cp932"), b"\xef\xbb\xbf" + text.encode("utf-8"), text.encode("utf-8")):
        delivery = parse_delivery_list(data)
        item = delivery.items[0]
        assert (item.title, item.author, item.price) == ("吾輩は猫である", "夏目漱石", 1100)
        assert (item.binding, item.inside_cover) == (Binding.SOFTCOVER, InsideCover.COLOURED)
    assert parse_delivery_list(text.encode("cp932")).encoding == "cp932"
    assert parse_delivery_list(b"\xef\xbb\xbf" + text.encode()).encoding == "utf-8-sig"
    tab = text.replace(",", "\t").replace('"1\t100円"', "1100")
    assert parse_delivery_list(tab.encode("utf-8")).items[0].price == 1100


def test_full_width_digits_and_yen_signs_are_read():
    number, price = "100000017".translate(FULL_WIDTH), chr(0xFFE5) + "1,980".translate(FULL_WIDTH)
    data = f"登録番号,書名,価格\n{number},本,{price}\n".encode()
    item = parse_delivery_list(data).items[0]
    assert (item.item_id, item.price) == ("100000017", 1980)


def test_every_bad_row_is_reported_with_its_line():
    data = (
        b"registration_number,title,price,binding,kind\n"
        b"10000001,ok,100,hardcover,book\n"
        b"1000000X,bad number,100,hardcover,book\n"
        b"10000003,,free,spiral,magazine\n"
        b'10000004,"a title\nover two lines",100,softcover,book\n'
        b"10000005,too many,1,softcover,book,extra\n"
        b"10000001,again,1,softcover,book\n"
    )
    found = problems(data)
    assert found[0] == "line 3: registration_number: 'X' at position 8 is not a digit 0-9"
    assert found[1].startswith("line 4: price: 'free' is not a price in whole yen")
    assert found[2].startswith("line 4: binding: 'spiral' is not one of hardcover (hard/hardback), softcover")
    assert found[3].startswith("line 4: kind: 'magazine' is not one of book")
    assert found[4] == "line 4: title: empty"
    assert found[5] == "line 7: 6 fields, but the header names 5 columns"
    assert found[6] == "line 8: 100000017 is also on line 2"
    assert len(found) == 7


def test_header_problems():
    assert problems(b"") == ["line 1: no header row: the first row must name the columns"]
    assert problems(b"title,author\nx,y\n") == [
        "line 1: no registration_number column (headed e.g. 'registration_number', '登録番号', '資料番号')"
    ]
    assert problems(b"title,title\n") == [
        "line 1: columns 'title' and 'title' are both title",
        "line 1: no registration_number column (headed e.g. 'registration_number', '登録番号', '資料番号')",
    ]
    assert problems(b"registration_number,title\n\xff\xfe\x00", encoding="utf-8") == [
        "not utf-8 text (byte 0xff at offset 26): give --encoding"
    ]
    assert problems(b"registration_number,title\n\x82 ") == [
        "not utf-8 or cp932 text (byte 0x82 at offset 26): give --encoding"
    ]
    unclosed = b'registration_number,title\n10000001,"unclosed\n'
    assert problems(unclosed)[0].startswith("line 2: not readable as CSV")


def test_an_import_is_all_or_nothing(tmp_path):
    with Catalog(tmp_path / "catalog.sqlite3") as catalog:
        first = catalog.import_list(parse_delivery_list(SAMPLE.read_bytes()), source="sample.csv")
        assert (first.added, first.replaced, len(catalog)) == (5, 0, 5)
        bad = SAMPLE.read_bytes() + b"1234,short,1,softcover,white,book,,,,,\n"
        with pytest.raises(DeliveryListError):
            catalog.import_list(parse_delivery_list(bad), source="bad.csv")
        again = parse_delivery_list(DEMO_LIST.read_bytes() + b"20000001,clash,,,,,,,,,,,\n")
        with pytest.raises(DeliveryListError) as caught:
            catalog.import_list(again, source="demo.csv")
        assert [str(problem) for problem in caught.value.problems] == [
            "line 12: registration number 200000016 is already in the catalog (sample.csv line 2, imported "
            + str(caught.value.problems[0]).split("imported ")[1]
        ]
        assert len(catalog) == 5, "nothing of the clashing list went in"
        assert catalog.lookup("100000017") is None
        updated = catalog.import_list(again, source="demo.csv", update=True)
        assert (updated.added, updated.replaced, len(catalog)) == (10, 1, 15)
        assert catalog.lookup("200000016").title == "clash"


def test_lookup_returns_the_stored_item(tmp_path):
    path = tmp_path / "catalog.sqlite3"
    with Catalog(path) as catalog:
        import_file(catalog, DEMO_LIST)
    with Catalog(path) as catalog:
        item = catalog.lookup("100000066")
        assert item is not None
        assert (item.title, item.price, item.set_id) == ("宮沢賢治童話集 1", 1668, "KENJI-1")
        assert (item.volume, item.volumes) == (1, 3)
        assert item.binding is Binding.HARDCOVER
        assert catalog.lookup("100000041").kind is ItemKind.KAMISHIBAI
        assert catalog.lookup("999999999") is None
        assert item.tag_item().call_number == "908 ミ"


def test_a_catalog_from_a_newer_tagd_is_refused(tmp_path):
    path = tmp_path / "catalog.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(CatalogError, match="written by a newer tagd"):
        Catalog(path)


def test_the_configured_list_is_loaded_at_start(tmp_path):
    config = load_config(ROOT / "config" / "demo.toml", overrides={"state_dir": str(tmp_path)})
    catalog = open_configured(config)
    try:
        assert len(catalog) == 10
        assert catalog.path == tmp_path / "catalog.sqlite3"
    finally:
        catalog.close()
    again = open_configured(config)
    assert len(again) == 10, "loading the same list again replaces, it does not refuse"
    again.close()


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="tagd")
    catalog_cli.register(parser.add_subparsers(dest="group", required=True))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def test_the_command_line_exit_codes(tmp_path, capsys):
    db = str(tmp_path / "catalog.sqlite3")
    assert run_cli("catalog", "import", str(DEMO_LIST), "--db", db) == 0
    out, err = capsys.readouterr()
    assert out.strip().endswith("10 added, 0 replaced (utf-8); 10 in the catalog")
    assert "1 item(s) will need a librarian at the desk" in err
    assert run_cli("catalog", "import", str(DEMO_LIST), "--db", db) == 65
    _, err = capsys.readouterr()
    assert f"tagd: {DEMO_LIST}:2: registration number 100000017 is already in the catalog" in err
    assert err.strip().endswith("10 problem(s); nothing imported")
    assert run_cli("catalog", "import", str(DEMO_LIST), "--db", db, "--update") == 0
    assert run_cli("catalog", "import", str(tmp_path / "none.csv"), "--db", db) == 66
    assert run_cli("catalog", "import", str(DEMO_LIST), "--config", str(tmp_path / "none.toml")) == 66
    assert run_cli("catalog", "import", str(DEMO_LIST), "--db", str(tmp_path)) == 73
    capsys.readouterr()
    assert run_cli("catalog", "lookup", "100000058", "--db", db) == 0
    assert '"binding": "cloth"' in capsys.readouterr().out
    capsys.readouterr()
    assert run_cli("catalog", "lookup", "100000059", "--db", db) == 65  # a wrong check digit, not "absent"
    err = capsys.readouterr().err
    assert "check digit" in err
    assert "not in the catalog" not in err
    assert run_cli("catalog", "lookup", "999999998", "--db", db) == 1
    assert "999999998 is not in the catalog" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_cli("catalog", "import", str(DEMO_LIST), "--db", db, "--encoding", "klingon")


def parsed(data: bytes) -> DeliveryList | DeliveryListError:
    try:
        return parse_delivery_list(data)
    except DeliveryListError as exc:
        return exc


@given(st.binary(max_size=600))
def test_fuzz_arbitrary_bytes_never_crash_the_importer(data):
    outcome = parsed(data)
    if isinstance(outcome, DeliveryListError):
        assert outcome.problems
        assert all(problem.message for problem in outcome.problems)
    else:
        assert len(outcome.items) == len(outcome.lines)


VALID_IDS = [nw7.with_check_digit(f"{number:08d}") for number in range(30_000_001, 30_000_013)]
VALUES = {
    "registration_number": st.sampled_from([*VALID_IDS, *(n[:8] for n in VALID_IDS), "", "1234", "3000001X"]),
    "title": st.text(max_size=10),
    "author": st.text(max_size=6),
    "price": st.sampled_from(["", "100", "1,980", "¥2,000", "free", "-1"]),
    "call_number": st.sampled_from(["", "913.6 ア", "E ミ", "P ニ", "XX 1", "EN"]),
    "binding": st.sampled_from(["", "hardcover", "上製", "布", "spiral"]),
    "inside_cover": st.sampled_from(["", "white", "色付き", "plaid"]),
    "kind": st.sampled_from(["", "book", "紙芝居", "magazine"]),
    "set_id": st.sampled_from(["", "", "S", "T"]),
    "volume": st.sampled_from(["", "1", "2", "3", "0"]),
    "volumes": st.sampled_from(["", "2", "3"]),
    "set_price": st.sampled_from(["", "1000", "1001"]),
}
OPTIONAL = [column for column in VALUES if column not in ("registration_number", "title")]


@given(
    columns=st.lists(st.sampled_from(OPTIONAL), unique=True),
    rows=st.lists(st.fixed_dictionaries(VALUES), max_size=8),
    encoding=st.sampled_from(["utf-8", "cp932", "utf-8-sig"]),
)
def test_delivery_lists_import_whole_or_not_at_all(columns, rows, encoding):
    header = ["registration_number", "title", *columns]
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows([row[column] for column in header] for row in rows)
    data = text.getvalue().encode(encoding, errors="replace")
    with tempfile.TemporaryDirectory() as directory, Catalog(Path(directory) / "c.sqlite3") as catalog:
        present = parse_delivery_list(f"registration_number,title\n{VALID_IDS[0]},x\n".encode())
        catalog.import_list(present, source="present.csv")
        outcome = parsed(data)
        if isinstance(outcome, DeliveryList):
            with contextlib.suppress(DeliveryListError):
                catalog.import_list(outcome, source="fuzz.csv")
        if isinstance(outcome, DeliveryList) and len(catalog) > 1:
            assert len(catalog) == 1 + len({item.item_id for item in outcome.items} - {VALID_IDS[0]})
            for item in outcome.items:
                assert catalog.lookup(item.item_id) == item
        else:
            assert catalog.lookup(VALID_IDS[0]).title == "x", "a refused list leaves the catalog as it was"
            assert len(catalog) == 1
