"""The holds ledger: the HoldBook (the feed's holds and tagd's reports) kept in SQLite across restarts.

A report is written here together with the event it produced, before that event goes to the outbox, and
marked stored after: a crash in between re-sends the recorded event, with its id, instead of deciding
again. SQLite runs on one thread of its own (as the outbox does); every commit is fsynced.
"""

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ParamSpec, TypeVar

from tagd.protocols.commands import HoldsFeed
from tagd.protocols.events import Envelope
from tagd.protocols.holds import HoldBook, Reported, Step, queue

__all__ = ["HoldLedger", "LedgerError"]

P = ParamSpec("P")
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (item_id TEXT PRIMARY KEY, feed TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reports (
    item_id TEXT NOT NULL,
    hold_id TEXT NOT NULL,
    step TEXT NOT NULL,
    library TEXT NOT NULL,
    station TEXT NOT NULL,
    group_id TEXT,
    uid TEXT,
    waiting_for TEXT NOT NULL,
    event BLOB NOT NULL,
    stored INTEGER NOT NULL,
    PRIMARY KEY (item_id, hold_id)
);
"""


class LedgerError(Exception):
    """The holds ledger cannot be read or written; the message says which file and why."""


class HoldLedger:
    """Open with `await HoldLedger.open(path)`. `book` is the state; every change goes through here."""

    def __init__(self, path: Path, executor: ThreadPoolExecutor) -> None:
        self.path = path
        self.book = HoldBook()
        self.pending: dict[tuple[str, str], Envelope] = {}
        """Events recorded with their report but not yet confirmed stored in the outbox."""
        self._executor = executor
        self._db: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path) -> "HoldLedger":
        ledger = cls(path, ThreadPoolExecutor(max_workers=1, thread_name_prefix="tagd-holds"))
        try:
            await ledger._run(ledger._load)
        except BaseException:
            ledger._executor.shutdown(wait=False)
            raise
        return ledger

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def apply_feed(self, item_id: str, feed: HoldsFeed | None) -> bool:
        """Store the item's holds (None: cleared); False when they are what the ledger has already."""
        holds = None if feed is None or not feed.holds else feed
        current = self.book.holds_on(item_id)
        if holds is None and not current:
            return False
        if holds is not None and current == queue(holds.holds):
            return False
        text = None if holds is None else holds.model_dump_json()
        await self._run(self._write_feed, item_id, text)
        self.book.apply_feed(item_id, holds)
        return True

    async def record(self, report: Reported, event: Envelope) -> None:
        """Record the report with the event it produced (not yet stored in the outbox)."""
        await self._run(self._write_report, report, event)
        self.book.record(report)
        self.pending[report.item_id, report.hold_id] = event

    async def stored(self, report: Reported) -> None:
        """The report's event is in the outbox now."""
        key = report.item_id, report.hold_id
        await self._run(self._execute, "UPDATE reports SET stored = 1 WHERE item_id = ? AND hold_id = ?", key)
        self.pending.pop(key, None)

    async def prune(self) -> int:
        """Forget reports whose holds have left the feed (and whose events are stored); how many."""
        stale = [
            report for report in self.book.stale() if (report.item_id, report.hold_id) not in self.pending
        ]
        if stale:
            keys = [(report.item_id, report.hold_id) for report in stale]
            await self._run(self._delete_reports, keys)
            for item_id, hold_id in keys:
                self.book.forget(item_id, hold_id)
        return len(stale)

    # -- on the ledger's thread ----------------------------------------------------------------------------

    async def _run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, lambda: func(*args, **kwargs))
        except sqlite3.Error as exc:
            raise LedgerError(f"holds ledger {self.path}: {exc}") from exc

    def _load(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.executescript(_SCHEMA)
        self._db = db
        for item_id, text in db.execute("SELECT item_id, feed FROM feeds"):
            self.book.apply_feed(item_id, HoldsFeed.model_validate_json(text))
        rows = db.execute(
            "SELECT item_id, hold_id, step, library, station, group_id, uid, waiting_for, event, stored"
            " FROM reports"
        )
        for item_id, hold_id, step, library, station, group_id, uid, waiting, event, stored in rows:
            waiting_for = tuple(int(position) for position in waiting.split(",") if position)
            self.book.record(
                Reported(item_id, hold_id, Step(step), library, station, uid, group_id, waiting_for)
            )
            if not stored:
                self.pending[item_id, hold_id] = Envelope.model_validate_json(event)

    def _execute(self, sql: str, args: tuple[str, ...]) -> None:
        assert self._db is not None
        self._db.execute(sql, args)

    def _write_feed(self, item_id: str, text: str | None) -> None:
        if text is None:
            self._execute("DELETE FROM feeds WHERE item_id = ?", (item_id,))
        else:
            self._execute("INSERT OR REPLACE INTO feeds (item_id, feed) VALUES (?, ?)", (item_id, text))

    def _write_report(self, report: Reported, event: Envelope) -> None:
        assert self._db is not None
        self._db.execute(
            "INSERT OR REPLACE INTO reports (item_id, hold_id, step, library, station, group_id, uid,"
            " waiting_for, event, stored) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (
                report.item_id,
                report.hold_id,
                report.step.value,
                report.library,
                report.station,
                report.group_id,
                report.uid,
                ",".join(map(str, report.waiting_for)),
                event.to_json(),
            ),
        )

    def _delete_reports(self, keys: list[tuple[str, str]]) -> None:
        assert self._db is not None
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM reports WHERE item_id = ? AND hold_id = ?", keys)
