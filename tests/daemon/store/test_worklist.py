"""The shipment worklist in the station catalog: states moved by the encoder's outcomes, kept across a
restart, older catalogs migrated; and the report (CSV with a BOM, XLSX with a summary) built from it."""

import csv
import io
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from tagd.daemon.cli import main
from tagd.daemon.store.catalog import SCHEMA_VERSION, Catalog, import_file
from tagd.daemon.store.report import HEADERS, write_csv, write_xlsx
from tagd.daemon.store.worklist import State
from tagd.protocols.events import ItemEncoded, ItemEncodeRejected, RejectReason

DEMO = Path(__file__).parents[3] / "config" / "demo-delivery.csv"
CAT, BOTCHAN, CLOTH = "100000017", "100000025", "100000058"
TOKYO = ZoneInfo("Asia/Tokyo")


def encoded(item_id: str, uid: str = "E004010012345678", **fields) -> ItemEncoded:
    values = {
        "item_id": item_id,
        "uid": uid,
        "product": "U-TAG-L301",
        "profile": "U-TAG-L301",
        "data_model": "iso28560-3",
        "rule_reason": "default_transparent",
    } | fields
    return ItemEncoded(**values)


def rejected(item_id: str, reason: RejectReason, detail: str = "why") -> ItemEncodeRejected:
    return ItemEncodeRejected(item_id=item_id, reason=reason, detail=detail)


def with_operator(event, operator: str):
    """Issue 14 adds `operator` to the events; the worklist reads it when it is there."""
    return event.model_copy(update={"operator": operator})


@pytest.fixture
def catalog(tmp_path):
    with Catalog(tmp_path / "catalog.sqlite3") as opened:
        import_file(opened, DEMO)
        yield opened


def states(catalog: Catalog) -> dict[str, State]:
    return {row.item_id: row.state for row in catalog.report_rows()}


def test_an_imported_list_is_a_shipment_of_pending_items(catalog):
    (shipment,) = catalog.shipments()
    assert (shipment.id, shipment.file_name, shipment.items) == (1, "demo-delivery.csv", 10)
    progress = catalog.progress(1)
    assert (progress.total, progress.done, progress.counts) == (10, 0, {State.PENDING: 10})


def test_the_same_file_imported_again_is_the_same_shipment_and_another_file_a_new_one(catalog, tmp_path):
    assert import_file(catalog, DEMO, update=True).shipment == 1
    other = tmp_path / "second.csv"
    other.write_text("登録番号,書名\n20000001,新しい本\n", encoding="utf-8")
    assert import_file(catalog, other).shipment == 2
    assert [shipment.file_name for shipment in catalog.shipments()] == ["demo-delivery.csv", "second.csv"]
    assert catalog.progress(2).total == 1
    assert catalog.progress().total == 11


def test_the_encoders_outcomes_move_the_states(catalog):
    catalog.record(with_operator(encoded(CAT), "山田"))
    catalog.record(encoded(BOTCHAN, product="U-TAG-L301", rule_reason="librarian_override"))
    catalog.record(rejected(CLOTH, RejectReason.ASK_LIBRARIAN, "ask a librarian which tag to use"))
    catalog.record(rejected("100000033", RejectReason.WRONG_TAG_TYPE, "the white tag is required"))
    rows = {row.item_id: row for row in catalog.report_rows()}
    assert (rows[CAT].state, rows[CAT].uid, rows[CAT].product, rows[CAT].operator) == (
        State.ENCODED,
        "E004010012345678",
        "U-TAG-L301",
        "山田",
    )
    assert rows[CAT].at is not None
    assert rows[BOTCHAN].state is State.OVERRIDDEN
    assert (rows[CLOTH].state, rows[CLOTH].reason) == (
        State.ASK_LIBRARIAN,
        "ask_librarian: ask a librarian which tag to use",
    )
    assert rows["100000033"].state is State.REJECTED
    progress = catalog.progress(1)
    assert (progress.done, progress.ask_librarian, progress.counts[State.PENDING]) == (2, 1, 6)


def test_a_later_rejection_does_not_undo_an_encoded_item_nor_hide_the_librarians_question(catalog):
    catalog.record(encoded(CAT))
    catalog.record(rejected(CAT, RejectReason.SUPERSEDED))
    catalog.record(rejected(CLOTH, RejectReason.ASK_LIBRARIAN))
    catalog.record(rejected(CLOTH, RejectReason.SUPERSEDED))
    assert (states(catalog)[CAT], states(catalog)[CLOTH]) == (State.ENCODED, State.ASK_LIBRARIAN)
    catalog.record(encoded(CLOTH, rule_reason="librarian_override"))
    assert states(catalog)[CLOTH] is State.OVERRIDDEN


def test_the_same_book_on_the_pad_again_keeps_who_encoded_it(catalog):
    catalog.record(with_operator(encoded(CAT), "山田"))
    catalog.record(with_operator(encoded(CAT, already=True), "佐藤"))
    (row,) = [row for row in catalog.report_rows() if row.item_id == CAT]
    assert row.operator == "山田"


def test_an_item_encoded_on_command_without_a_list_gets_its_own_row(catalog):
    catalog.record(encoded("123456782", title="手で入れた本"))
    row = catalog.report_rows()[-1]
    assert (row.item_id, row.title, row.shipment_id, row.state) == (
        "123456782",
        "手で入れた本",
        None,
        State.ENCODED,
    )
    assert catalog.progress(1).total == 10


def test_the_states_survive_a_restart(tmp_path):
    path = tmp_path / "catalog.sqlite3"
    with Catalog(path) as first:
        import_file(first, DEMO)
        first.record(encoded(CAT))
    with Catalog(path) as second:
        assert states(second)[CAT] is State.ENCODED
        assert second.progress(1).done == 1


def test_a_schema_1_catalog_is_migrated_and_its_items_become_pending(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE items (item_id TEXT PRIMARY KEY, title TEXT NOT NULL, author TEXT, publisher TEXT,
            price INTEGER, call_number TEXT, binding TEXT NOT NULL, inside_cover TEXT NOT NULL, kind TEXT,
            set_id TEXT, volume INTEGER, volumes INTEGER, set_price INTEGER, source TEXT NOT NULL,
            line INTEGER NOT NULL, imported_at TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE torn_tags (uid TEXT NOT NULL UNIQUE, item_id TEXT NOT NULL, torn_at TEXT NOT NULL);
        INSERT INTO items VALUES ('100000017', '吾輩は猫である', NULL, NULL, 880, '913.6 ナ', 'softcover',
            'white', NULL, NULL, NULL, NULL, NULL, 'old.csv', 2, '2026-01-05T01:00:00+00:00');
        PRAGMA user_version = 1;
        """
    )
    db.close()
    with Catalog(path) as catalog:
        assert catalog.lookup(CAT).title == "吾輩は猫である"
        assert catalog.lookup(CAT).audience is None
        (shipment,) = catalog.shipments()
        assert (shipment.file_name, shipment.imported_at) == ("old.csv", "2026-01-05T01:00:00+00:00")
        assert states(catalog) == {CAT: State.PENDING}
        catalog.record(encoded(CAT))
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    check.close()


def test_the_csv_report_has_a_bom_and_one_row_per_item(catalog):
    catalog.record(with_operator(encoded(CAT), "山田"))
    stream = io.StringIO(newline="")
    write_csv(catalog.report_rows(1), stream, TOKYO)
    text = stream.getvalue()
    assert text.startswith("\ufeff登録番号,書名,請求記号,状態")
    rows = list(csv.reader(io.StringIO(text[1:], newline="")))
    assert rows[0] == list(HEADERS)
    assert len(rows) == 11
    assert rows[1][:8] == [
        "100000017",
        "吾輩は猫である",
        "913.6 ナ",
        "済",
        "encoded",
        "E004010012345678",
        "U-TAG-L301",
        "山田",
    ]
    assert rows[2][3:5] == ["未処理", "pending"]


def test_the_xlsx_report_has_the_items_and_a_summary_per_state_and_per_operator_per_day(catalog, tmp_path):
    catalog.record(with_operator(encoded(CAT), "山田"))
    catalog.record(with_operator(encoded(BOTCHAN, uid="E004010012345679"), "山田"))
    catalog.record(rejected(CLOTH, RejectReason.ASK_LIBRARIAN))
    out = tmp_path / "report.xlsx"
    write_xlsx(catalog.report_rows(), out, TOKYO, title="test")
    book = load_workbook(out)
    assert book.sheetnames == ["明細", "集計"]
    items = list(book["明細"].iter_rows(values_only=True))
    assert items[0] == HEADERS
    assert len(items) == 11
    summary = list(book["集計"].iter_rows(values_only=True))
    assert ("済", "encoded", 2) in summary
    assert ("司書確認待ち", "ask_librarian", 1) in summary
    assert ("未処理", "pending", 7) in summary
    operator_rows = [row for row in summary if row[0] == "山田"]
    assert len(operator_rows) == 1
    assert operator_rows[0][2] == 2


def test_tagd_catalog_report_writes_csv_and_xlsx(catalog, tmp_path, capsys):
    catalog.record(encoded(CAT))
    db = str(catalog.path)
    assert main(["catalog", "report", "--db", db, "--shipment", "1", "-o", str(tmp_path / "r.csv")]) == 0
    assert (tmp_path / "r.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert main(["catalog", "report", "--db", db, "-o", str(tmp_path / "r.xlsx")]) == 0
    assert load_workbook(tmp_path / "r.xlsx").sheetnames == ["明細", "集計"]
    assert "1 / 10 済, 司書確認待ち 0" in capsys.readouterr().err
    assert main(["catalog", "report", "--db", db, "--shipment", "9"]) == 1
    assert main(["catalog", "shipments", "--db", db]) == 0
    assert "demo-delivery.csv" in capsys.readouterr().out
