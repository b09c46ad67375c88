"""The station catalog: items from delivery lists in SQLite, for the encoder to look up by item_id.

An import is one transaction: a list with any bad row, or with registration numbers already in the catalog
(unless `update` says to replace them), changes nothing. WAL lets a running daemon read while
`tagd catalog import` writes. Lookups are primary-key reads of microseconds, so the asyncio daemon may call
`lookup` directly.

It also keeps the tags the encoder tore (`torn_tags`): a write it started and did not finish, so that the
tag can be finished without `force` after the tag, or the daemon, comes back. A few hundred at most.
"""

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from tagd.daemon.config.model import Config
from tagd.daemon.logs import get_logger
from tagd.daemon.store import worklist
from tagd.daemon.store.delivery import (
    CatalogItem,
    DeliveryList,
    DeliveryListError,
    Problem,
    Remainder,
    parse_delivery_list,
)
from tagd.protocols import nw7
from tagd.protocols.events import ItemEncoded, ItemEncodeRejected
from tagd.protocols.spine import Audience, Genre, Origin
from tagd.protocols.tagtypes import Binding, InsideCover, ItemKind, MarkScheme

__all__ = ["Catalog", "CatalogError", "CatalogItem", "ImportResult", "import_file", "open_configured"]

_log = get_logger(__name__)

SCHEMA_VERSION = 4
_CHUNK = 500
_COLUMNS = tuple(field.name for field in fields(CatalogItem))
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM items WHERE item_id = ?"  # noqa: S608 - fixed column names
_INSERT = (
    f"INSERT OR REPLACE INTO items ({', '.join(_COLUMNS)}, source, line, imported_at)"  # noqa: S608
    f" VALUES ({', '.join('?' * (len(_COLUMNS) + 3))})"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    author TEXT,
    publisher TEXT,
    price INTEGER,
    call_number TEXT,
    binding TEXT NOT NULL,
    inside_cover TEXT NOT NULL,
    kind TEXT,
    set_id TEXT,
    volume INTEGER,
    volumes INTEGER,
    set_price INTEGER,
    audience TEXT,
    origin TEXT,
    genre TEXT,
    source TEXT NOT NULL,
    line INTEGER NOT NULL,
    imported_at TEXT NOT NULL
) WITHOUT ROWID
"""
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE items ADD COLUMN audience TEXT",
        "ALTER TABLE items ADD COLUMN origin TEXT",
        "ALTER TABLE items ADD COLUMN genre TEXT",
    ),
    3: worklist.MIGRATION,
    4: worklist.MIGRATION_4,
}
"""The statements that bring a catalog of the version before up to this version; a new catalog is created
at SCHEMA_VERSION directly. Each step runs in one transaction with its version stamp."""
TORN_MAX = 500
"""Torn tags kept: a tag torn that many tears ago is forgotten (it then needs `force`, as before)."""
_TORN_SCHEMA = """
CREATE TABLE IF NOT EXISTS torn_tags (uid TEXT NOT NULL UNIQUE, item_id TEXT NOT NULL, torn_at TEXT NOT NULL)
"""


_SCHEMAS = (_SCHEMA, _TORN_SCHEMA, *worklist.SCHEMAS)


class CatalogError(Exception):
    """The catalog database cannot be used: unreadable, or written by a newer tagd."""


@dataclass(frozen=True)
class ImportResult:
    """What an import did, and what the desk will meet: items the encoder will ask a librarian about."""

    added: int
    replaced: int
    encoding: str
    warnings: tuple[Problem, ...]
    ask_librarian: tuple[tuple[int, str], ...]
    shipment: int | None = None
    """The shipment (worklist.py) the list's items belong to now."""


class Catalog:
    """One SQLite file; create it by opening it."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise CatalogError(
                    f"{self.path}: written by a newer tagd (schema {version}, tagd knows {SCHEMA_VERSION})"
                )
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise CatalogError(f"{self.path}: cannot open the catalog: {exc}") from None

    def _migrate(self) -> None:
        """Creates a new catalog at SCHEMA_VERSION, or upgrades an older one step by step; concurrent
        openers wait on the write lock and find the work done."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = self._db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'items'").fetchone()
            new = tables[0] == 0
            if new or version < SCHEMA_VERSION:
                if not new:
                    for step in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
                        for statement in _MIGRATIONS[step]:
                            self._db.execute(statement)
                for statement in _SCHEMAS:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def __len__(self) -> int:
        count: int = self._db.execute("SELECT count(*) FROM items").fetchone()[0]
        return count

    def lookup(self, item_id: str) -> CatalogItem | None:
        """The item with this registration number and check digit (9 digits), or None."""
        row = self._db.execute(_SELECT, (item_id,)).fetchone()
        return None if row is None else _item(row)

    def import_list(
        self, delivery: DeliveryList, *, source: str, update: bool = False, digest: str = ""
    ) -> ImportResult:
        """Stores every item of `delivery` or, on any conflict or failure, none; the items are a shipment
        (the same one as before when `digest`, the file's SHA-256, is that of an earlier import of it)."""
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        ids = [item.item_id for item in delivery.items]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            present = dict(self._present(ids))
            if present and not update:
                _refuse_present(delivery, present)
            self._db.executemany(
                _INSERT,
                (
                    (*(getattr(item, name) for name in _COLUMNS), source, line, stamp)
                    for line, item in zip(delivery.lines, delivery.items, strict=True)
                ),
            )
            shipment = worklist.add_shipment(self._db, file_name=source, digest=digest, item_ids=ids)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return ImportResult(
            added=len(ids) - len(present),
            replaced=len(present),
            encoding=delivery.encoding,
            warnings=delivery.warnings,
            ask_librarian=delivery.ask_librarian,
            shipment=shipment,
        )

    def record(self, event: ItemEncoded | ItemEncodeRejected) -> None:
        """The encoder's outcome moves the item's tagging state (worklist.py). A database error is logged:
        the event itself is in the outbox, and the tag is written or not whatever the worklist says."""
        try:
            worklist.record(self._db, event)
        except sqlite3.Error as exc:
            _log.error(
                "catalog.worklist_not_stored", path=str(self.path), item_id=event.item_id, error=str(exc)
            )

    def shipments(self) -> list[worklist.Shipment]:
        return worklist.shipments(self._db)

    def progress(self, shipment: int | None = None) -> worklist.Progress:
        """Counts per state of one shipment, or of every item: for the desk's "128 / 300 済"."""
        return worklist.progress(self._db, shipment)

    def pile(self, shipment: int | None = None) -> list[worklist.PileItem]:
        """The librarian's pile: the items waiting for a librarian (ask_librarian), oldest first."""
        return worklist.pile(self._db, shipment)

    def report_rows(self, shipment: int | None = None) -> list[worklist.ReportRow]:
        return list(worklist.report_rows(self._db, shipment))

    def torn_item(self, uid: int) -> str | None:
        """The item the encoder began writing to this tag and did not finish, or None."""
        row = self._db.execute("SELECT item_id FROM torn_tags WHERE uid = ?", (f"{uid:016X}",)).fetchone()
        return None if row is None else str(row[0])

    def mark_torn(self, uid: int, item_id: str) -> None:
        """Stored before the first write to the tag (so a crash mid-write keeps it); the oldest beyond
        TORN_MAX are forgotten. A database error is logged: the tag then needs `force`, nothing worse."""
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        self._torn_change(
            "INSERT OR REPLACE INTO torn_tags (uid, item_id, torn_at) VALUES (?, ?, ?)",
            (f"{uid:016X}", item_id, stamp),
        )
        self._torn_change(
            "DELETE FROM torn_tags WHERE rowid <= (SELECT max(rowid) FROM torn_tags) - ?", (TORN_MAX,)
        )

    def clear_torn(self, uid: int) -> None:
        """The tag is finished: written, verified, protected and locked."""
        self._torn_change("DELETE FROM torn_tags WHERE uid = ?", (f"{uid:016X}",))

    def _torn_change(self, statement: str, parameters: tuple[object, ...]) -> None:
        try:
            self._db.execute(statement, parameters)
        except sqlite3.Error as exc:
            _log.error("catalog.torn_tags_not_stored", path=str(self.path), error=str(exc))

    def _present(self, ids: list[str]) -> Iterator[tuple[str, str]]:
        """(item_id, where it came from) for the ids already stored, asked in chunks SQLite accepts."""
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT item_id, source, line, imported_at FROM items WHERE item_id IN ({marks})"  # noqa: S608
            for item_id, source, line, stamp in self._db.execute(query, chunk):
                yield item_id, f"{source} line {line}, imported {stamp}"


def _refuse_present(delivery: DeliveryList, present: dict[str, str]) -> None:
    raise DeliveryListError(
        [
            Problem(
                line,
                f"registration number {item.item_id} is already in the catalog ({present[item.item_id]});"
                " --update replaces it",
            )
            for line, item in zip(delivery.lines, delivery.items, strict=True)
            if item.item_id in present
        ]
    )


def _item(row: Iterable[Any]) -> CatalogItem:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["binding"] = Binding(values["binding"])
    values["inside_cover"] = InsideCover(values["inside_cover"])
    values["kind"] = None if values["kind"] is None else ItemKind(values["kind"])
    for name, kind in (("audience", Audience), ("origin", Origin), ("genre", Genre)):
        values[name] = None if values[name] is None else kind(values[name])
    return CatalogItem(**values)


def import_file(
    catalog: Catalog,
    path: Path,
    *,
    update: bool = False,
    encoding: str | None = None,
    scheme: str = nw7.DEFAULT_SCHEME,
    length: int = 8,
    remainder: Remainder = "first",
    marks: MarkScheme = MarkScheme.CITY,
) -> ImportResult:
    """Reads, checks and stores a delivery list file; DeliveryListError lists every bad row, OSError
    says the file cannot be read."""
    data = path.read_bytes()
    delivery = parse_delivery_list(
        data, scheme=scheme, length=length, remainder=remainder, encoding=encoding, marks=marks
    )
    digest = hashlib.sha256(data).hexdigest()
    return catalog.import_list(delivery, source=path.name, update=update, digest=digest)


def open_configured(config: Config) -> Catalog:
    """The catalog at the configured path, with catalog.load (if set) imported over it first.

    For `tagd run`: the delivery list named in the configuration replaces the items it lists, so editing
    and restarting is enough. DeliveryListError and OSError are the caller's to report (exit 65 / 66).
    """
    catalog = Catalog(config.catalog_path)
    if config.catalog.load is None:
        return catalog
    try:
        result = import_file(
            catalog,
            config.catalog.load,
            update=True,
            scheme=config.barcode.scheme,
            length=config.barcode.length,
            remainder=config.catalog.set_remainder,
        )
    except BaseException:
        catalog.close()
        raise
    _log.info(
        "delivery list loaded",
        file=str(config.catalog.load),
        added=result.added,
        replaced=result.replaced,
        ask_librarian=len(result.ask_librarian),
        warnings=[str(warning) for warning in result.warnings],
    )
    return catalog
