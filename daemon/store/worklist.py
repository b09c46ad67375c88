"""The shipment as a worklist: each imported delivery list is a shipment, each item has a tagging state.

States (`State`): pending, encoded (uid, product, operator, time), rejected (reason), ask_librarian (reason:
the librarian's pile), overridden (a librarian's instruction chose the tag; uid, product, operator, time).
The encoder's outcomes move them (`record`), cmd/encode's included; a state only moves forward: a later
rejection (a superseded scan, the same book on the pad again) does not undo an encoded item, and a plain
rejection does not hide a question for the librarian. Items encoded on command without a delivery list get
a row of their own (no shipment). The tables live in the station catalog (catalog.py creates and migrates
them), so the state survives a restart; importing the same file again (`tagd run` loads catalog.load at
every start) is the same shipment.

These functions take the catalog's connection and run inside its transactions.
"""

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from tagd.protocols.events import ItemEncoded, ItemEncodeRejected, RejectReason
from tagd.protocols.tagtypes import Reason

__all__ = ["MIGRATION", "MIGRATION_4", "SCHEMAS", "PileItem", "Progress", "ReportRow", "Shipment", "State"]

_SHIPMENTS = """
    CREATE TABLE IF NOT EXISTS shipments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        file_name TEXT NOT NULL,
        digest TEXT NOT NULL,
        imported_at TEXT NOT NULL,
        items INTEGER NOT NULL
    )
"""
_WORKLIST_3 = """
        item_id TEXT PRIMARY KEY,
        shipment_id INTEGER REFERENCES shipments (id),
        state TEXT NOT NULL,
        uid TEXT,
        product TEXT,
        operator TEXT,
        at TEXT,
        reason TEXT,
        title TEXT"""
_INDEX = "CREATE INDEX IF NOT EXISTS worklist_shipment ON worklist (shipment_id, state)"


def _worklist(columns: str) -> str:
    return f"CREATE TABLE IF NOT EXISTS worklist ({columns}\n) WITHOUT ROWID"


_SCHEMAS_3 = (_SHIPMENTS, _worklist(_WORKLIST_3), _INDEX)
"""The tables as schema 3 made them (the step from 2 to 3 must not create schema 4's columns)."""
SCHEMAS = (_SHIPMENTS, _worklist(_WORKLIST_3 + ",\n        code TEXT"), _INDEX)
"""The tables of a new catalog."""
MIGRATION = (
    *_SCHEMAS_3,
    # items imported before shipments existed: one shipment per file, every item pending
    """
    INSERT INTO shipments (file_name, digest, imported_at, items)
    SELECT source, '', min(imported_at), count(*) FROM items GROUP BY source ORDER BY min(imported_at)
    """,
    """
    INSERT OR IGNORE INTO worklist (item_id, shipment_id, state)
    SELECT items.item_id, shipments.id, 'pending'
    FROM items JOIN shipments ON shipments.file_name = items.source
    """,
)
"""Schema 3: the tables, and the items already in the catalog as pending items of their files."""
MIGRATION_4 = ("ALTER TABLE worklist ADD COLUMN code TEXT",)
"""Schema 4: the reason's code (the tag rule's reason for ask_librarian), which pages render per language."""


_REPORT = (
    "SELECT worklist.item_id, coalesce(items.title, worklist.title), items.call_number, worklist.state,"
    " worklist.uid, worklist.product, worklist.operator, worklist.at, worklist.reason, worklist.shipment_id"
    " FROM worklist LEFT JOIN items ON items.item_id = worklist.item_id"
)
_ORDER = " ORDER BY worklist.shipment_id IS NULL, worklist.shipment_id, items.line, worklist.item_id"
_REPORT_ALL = _REPORT + _ORDER
_PILE = (
    "SELECT worklist.item_id, coalesce(worklist.title, items.title), items.call_number, worklist.reason,"
    " worklist.code FROM worklist LEFT JOIN items USING (item_id) WHERE worklist.state = 'ask_librarian'"
)
_PILE_ORDER = " ORDER BY worklist.at, worklist.item_id LIMIT ?"
_REPORT_SHIPMENT = _REPORT + " WHERE worklist.shipment_id = ?" + _ORDER


class State(StrEnum):
    PENDING = "pending"
    ENCODED = "encoded"
    REJECTED = "rejected"
    ASK_LIBRARIAN = "ask_librarian"
    OVERRIDDEN = "overridden"


_RANK = {State.PENDING: 0, State.REJECTED: 1, State.ASK_LIBRARIAN: 2, State.ENCODED: 3, State.OVERRIDDEN: 3}
"""A state replaces one of lower or equal rank: encoded is final until encoded again."""


@dataclass(frozen=True)
class Shipment:
    id: int
    file_name: str
    imported_at: str
    items: int


@dataclass(frozen=True)
class Progress:
    """A shipment's (or every shipment's) counts per state: "128 / 300 済, 司書確認待ち 3"."""

    total: int
    counts: dict[State, int]

    @property
    def done(self) -> int:
        return self.counts.get(State.ENCODED, 0) + self.counts.get(State.OVERRIDDEN, 0)

    @property
    def ask_librarian(self) -> int:
        return self.counts.get(State.ASK_LIBRARIAN, 0)


@dataclass(frozen=True)
class PileItem:
    """One item on the librarian's pile, as the encoder page lists it."""

    item_id: str
    title: str | None
    call_number: str | None
    reason: str | None
    code: str | None
    """The tag rule's reason (a tagtypes.Reason value), which a page renders in its language."""


@dataclass(frozen=True)
class ReportRow:
    item_id: str
    title: str | None
    call_number: str | None
    state: State
    uid: str | None
    product: str | None
    operator: str | None
    at: str | None
    reason: str | None
    shipment_id: int | None


def add_shipment(db: sqlite3.Connection, *, file_name: str, digest: str, item_ids: list[str]) -> int:
    """The shipment of this file (the same one when the same bytes were imported before), its items pending
    unless they already have a state (an item listed again keeps its state and joins this shipment)."""
    row = db.execute(
        "SELECT id FROM shipments WHERE file_name = ? AND digest = ? ORDER BY id DESC LIMIT 1",
        (file_name, digest),
    ).fetchone()
    stamp = _now()
    if row is None:
        cursor = db.execute(
            "INSERT INTO shipments (file_name, digest, imported_at, items) VALUES (?, ?, ?, ?)",
            (file_name, digest, stamp, len(item_ids)),
        )
        shipment = int(cursor.lastrowid or 0)
    else:
        shipment = int(row[0])
    db.executemany(
        "INSERT INTO worklist (item_id, shipment_id, state) VALUES (?, ?, 'pending')"
        " ON CONFLICT (item_id) DO UPDATE SET shipment_id = excluded.shipment_id",
        ((item_id, shipment) for item_id in item_ids),
    )
    return shipment


def record(db: sqlite3.Connection, event: ItemEncoded | ItemEncodeRejected, *, at: str | None = None) -> None:
    """The item's new state from the encoder's outcome (an event without an item_id changes nothing)."""
    if event.item_id is None:
        return
    operator = event.operator
    stamp = at or _now()
    values: tuple[str | None, str | None, str | None]
    code: str | None = None
    if isinstance(event, ItemEncoded):
        overridden = event.rule_reason == Reason.LIBRARIAN_OVERRIDE
        state = State.OVERRIDDEN if overridden else State.ENCODED
        decided = f"decided by {event.override_by}" if overridden and event.override_by else None
        values = (event.uid, event.product, decided)
    else:
        state = State.ASK_LIBRARIAN if event.reason is RejectReason.ASK_LIBRARIAN else State.REJECTED
        values = (event.uid, None, f"{event.reason}: {event.detail}")
        code = event.rule_reason or event.reason
    current = db.execute("SELECT state FROM worklist WHERE item_id = ?", (event.item_id,)).fetchone()
    if current is not None and _RANK[State(current[0])] > _RANK[state]:
        return
    if (
        isinstance(event, ItemEncoded)
        and event.already
        and current is not None
        and _RANK[State(current[0])] == 3
    ):
        return  # the same book on the pad again: who encoded it, and when, stays
    title = getattr(event, "title", None)
    db.execute(
        "INSERT INTO worklist (item_id, shipment_id, state, uid, product, reason, operator, at, title, code)"
        " VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (item_id) DO UPDATE SET state = excluded.state, uid = excluded.uid,"
        " product = excluded.product, reason = excluded.reason,"
        " operator = excluded.operator, at = excluded.at, title = coalesce(excluded.title, worklist.title),"
        " code = excluded.code",
        (event.item_id, state.value, *values, operator, stamp, title, code),
    )


def pile(db: sqlite3.Connection, shipment: int | None = None, *, limit: int = 50) -> list[PileItem]:
    """The librarian's pile: items waiting for a librarian's decision, oldest first."""
    if shipment is None:
        rows = db.execute(_PILE + _PILE_ORDER, (limit,))
    else:
        rows = db.execute(_PILE + " AND worklist.shipment_id = ?" + _PILE_ORDER, (shipment, limit))
    return [PileItem(*row) for row in rows]


def shipments(db: sqlite3.Connection) -> list[Shipment]:
    rows = db.execute("SELECT id, file_name, imported_at, items FROM shipments ORDER BY id")
    return [Shipment(*row) for row in rows]


def progress(db: sqlite3.Connection, shipment: int | None = None) -> Progress:
    where, parameters = _where(shipment)
    counts = {
        State(state): count
        for state, count in db.execute(
            f"SELECT state, count(*) FROM worklist {where} GROUP BY state",  # noqa: S608 - fixed text
            parameters,
        )
    }
    return Progress(total=sum(counts.values()), counts=counts)


def report_rows(db: sqlite3.Connection, shipment: int | None = None) -> Iterator[ReportRow]:
    """One row per item, in the order of the delivery lists (items without a list last)."""
    parameters: tuple[int, ...] = () if shipment is None else (shipment,)
    query = _REPORT_ALL if shipment is None else _REPORT_SHIPMENT
    for row in db.execute(query, parameters):
        values = list(row)
        values[3] = State(values[3])
        yield ReportRow(*values)


def _where(shipment: int | None) -> tuple[str, tuple[int, ...]]:
    if shipment is None:
        return "", ()
    return "WHERE shipment_id = ?", (shipment,)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
