"""The durable outbox: every event is in SQLite before anyone is told it happened, until the broker has it.

SQLite runs in WAL mode on one dedicated thread, so the event loop never waits on the disk and no two
threads share the connection. Appends and acks made in the same loop tick are written in one transaction
(group commit), so a burst of events costs one commit, not one per event. With `synchronous = "full"`
each commit is fsynced and survives a power cut; "normal" survives a crash of tagd, not of the machine,
and is faster (docs/reliability.md has the figures).

The outbox is bounded (events and payload bytes). When full, or when the disk is, `append` raises
`OutboxFull`: an event is never dropped without its caller knowing, and `full` is shown in the status.

The write-ahead log is bounded too, so that on a small disk (an SD card, a full /var) the log itself
cannot fill it: it is checkpointed every WAL_AUTOCHECKPOINT_PAGES pages and cut back to WAL_SIZE_LIMIT
bytes, and truncated (`wal_checkpoint(TRUNCATE)`) at open, at close and before a write is declared out of
space, which is then tried once more. While the disk is full, a small probe write (after a truncating
checkpoint) finds out when there is room again.
"""

import asyncio
import itertools
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from os import urandom
from pathlib import Path
from typing import Literal, ParamSpec, TypeVar

import structlog
from pydantic import BaseModel, ConfigDict, Field

from tagd.protocols.events import Envelope, EventData, EventIds, envelope

log = structlog.get_logger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    station TEXT NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_station ON outbox (station, seq);
CREATE TABLE IF NOT EXISTS disk_probe (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
"""
# AUTOINCREMENT: a seq is never reused, even after every row is deleted, so a publisher's cursor is safe.
DISK_PROBE_SECONDS = 1.0
"""While the disk is full, how often a small write tries whether there is room again."""
WAL_AUTOCHECKPOINT_PAGES = 32
"""A checkpoint every 32 pages of log (128 KiB with 4 KiB pages), not SQLite's 1,000 (4 MiB)."""
WAL_SIZE_LIMIT = 256 * 1024
"""The log file is cut back to this after a checkpoint (journal_size_limit)."""
FRESH_MAX = 1024
"""Committed, unacknowledged events kept in memory per station, for its publisher (see `pending`)."""


class OutboxSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path = Path("/var/lib/tagd/outbox.sqlite")
    max_events: int = Field(
        default=100_000, ge=1, description="events stored and not yet acknowledged, at most"
    )
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, description="their payload bytes, at most")
    synchronous: Literal["full", "normal"] = Field(
        default="full",
        description="full: fsync every commit (survives a power cut); normal: survives a crash",
    )


class OutboxError(Exception):
    """The outbox cannot store events (disk I/O error, unreadable database): the message says which."""


class OutboxFull(OutboxError):  # noqa: N818 - the name the contract and the stations use
    """An event was refused because the outbox, or the disk under it, is full. `reason` says which."""

    def __init__(self, reason: Literal["max_events", "max_bytes", "disk_full"], message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    station: str
    event_id: str
    kind: str
    payload: bytes


_Row = tuple[str, str, str, bytes]


@dataclass(slots=True)
class _Append:
    station: str
    event_id: str
    kind: str
    payload: bytes
    done: "asyncio.Future[int]"


class Outbox:
    """Open with `await Outbox.open(settings)`; close with `await outbox.close()`."""

    def __init__(self, settings: OutboxSettings, executor: ThreadPoolExecutor, depth: int, size: int) -> None:
        self.settings = settings
        self._executor = executor
        self._db: sqlite3.Connection | None = None
        self._depth, self._bytes = depth, size
        self._queued_appends: list[_Append] = []
        self._queued_acks: list[tuple[Sequence[int], asyncio.Future[None]]] = []
        self._reserved_events = self._reserved_bytes = 0
        self._writer: asyncio.Task[None] | None = None
        self._disk_probe: asyncio.Task[None] | None = None
        self._full: OutboxFull | None = None
        self._watchers: list[Callable[[], None]] = []
        self._observers: list[Callable[[Envelope], None]] = []
        self._signals: dict[str, asyncio.Event] = {}
        self._empty = asyncio.Event()
        self._fresh: dict[str, dict[int, StoredEvent]] = {}
        """Per station, the events committed since the outbox opened and not yet acknowledged, by seq."""
        self._floor: dict[str, int] = {}
        """Per station: every stored event of it with a greater seq is in `_fresh`."""
        self._opened_at_seq = 0
        """The last seq handed out before this outbox opened: later events all have greater ones."""

    @classmethod
    async def open(cls, settings: OutboxSettings) -> "Outbox":
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tagd-outbox")
        outbox = cls(settings, executor, 0, 0)
        try:
            outbox._depth, outbox._bytes = await outbox._run(outbox._connect)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        if outbox._depth == 0:
            outbox._empty.set()
        return outbox

    @property
    def depth(self) -> int:
        """Events stored and not yet acknowledged by the broker."""
        return self._depth

    @property
    def size(self) -> int:
        """Their payload bytes."""
        return self._bytes

    @property
    def full(self) -> bool:
        """An append was refused, and no ack or successful write has made room since."""
        return self._full is not None

    def watch(self, callback: Callable[[], None]) -> None:
        """`callback()` runs in the event loop whenever `full` changes."""
        self._watchers.append(callback)

    async def drained(self) -> None:
        """Return once every stored event has been acknowledged (e.g. before a planned shutdown)."""
        await self._empty.wait()

    def signal(self, station: str) -> asyncio.Event:
        """Set whenever events of `station` are committed: its publisher waits on it."""
        return self._signals.setdefault(station, asyncio.Event())

    def observe(self, callback: Callable[[Envelope], None]) -> None:
        """`callback(event)` runs in the event loop after each event is committed (the station pages)."""
        self._observers.append(callback)

    async def append(self, event: Envelope) -> int:
        """Store `event`; when this returns, it is committed (durable per `synchronous`). Returns its seq.

        Raises OutboxFull when there is no room, OutboxError when the database cannot be written.
        """
        payload = event.to_json()
        self._reserve(len(payload))
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queued_appends.append(_Append(event.station, event.id, event.short_type, payload, done))
        self._start_writer()
        seq = await done
        for observer in self._observers:
            observer(event)
        return seq

    async def ack(self, seqs: Sequence[int]) -> None:
        """Delete events the broker has acknowledged (PUBACK)."""
        if not seqs:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued_acks.append((seqs, done))
        self._start_writer()
        await done

    async def pending(
        self, station: str | None = None, *, after: int = 0, limit: int = 100
    ) -> list[StoredEvent]:
        """Stored events of `station` (all when None) with seq > `after`, oldest first.

        A publisher following its station's events (`after` its last seq) gets them from memory: they are
        the events this outbox committed itself, so reading them back from the database would only cost
        a trip to its thread (docs/performance.md, detection latency). Anything older is read back.
        """
        if station is not None and after >= self._floor.get(station, self._opened_at_seq):
            fresh = self._fresh.get(station, {})
            for seq in [seq for seq in fresh if seq <= after]:  # taken already: the floor moves up
                del fresh[seq]
                self._floor[station] = max(self._floor.get(station, self._opened_at_seq), seq)
            return list(itertools.islice(fresh.values(), limit))
        return await self._run(self._select, station, after, limit)

    async def close(self) -> None:
        if self._disk_probe is not None:
            self._disk_probe.cancel()
            await asyncio.gather(self._disk_probe, return_exceptions=True)
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)
        if self._db is not None:
            await self._run(self._close)
        self._executor.shutdown(wait=True)

    def _reserve(self, size: int) -> None:
        events, total = self._depth + self._reserved_events, self._bytes + self._reserved_bytes
        refusal = None
        if events + 1 > self.settings.max_events:
            refusal = OutboxFull("max_events", f"outbox full: {events} events are waiting for the broker")
        elif total + size > self.settings.max_bytes:
            refusal = OutboxFull("max_bytes", f"outbox full: {total} bytes are waiting for the broker")
        if refusal is not None:
            self._set_full(refusal)
            raise refusal
        if self._full is not None and self._full.reason != "disk_full":
            self._set_full(None)
        self._reserved_events += 1
        self._reserved_bytes += size

    def _unreserve(self, appends: list[_Append]) -> None:
        """Once a batch is committed (or failed) its events count in `depth`, not as reserved."""
        self._reserved_events -= len(appends)
        self._reserved_bytes -= sum(len(item.payload) for item in appends)

    def _set_full(self, refusal: OutboxFull | None) -> None:
        was = self._full is not None
        self._full = refusal
        if was != (refusal is not None):
            log.warning("outbox.full" if refusal else "outbox.room", reason=refusal and refusal.reason)
            for callback in self._watchers:
                callback()
        if refusal is not None and refusal.reason == "disk_full" and not self._probing:
            self._disk_probe = asyncio.get_running_loop().create_task(self._probe_disk())

    @property
    def _probing(self) -> bool:
        return self._disk_probe is not None and not self._disk_probe.done()

    async def _probe_disk(self) -> None:
        """A full disk may be freed while nothing is waiting to be stored or acknowledged (every station
        refuses work): a small write now and then finds out, and lifts the refusal."""
        while self._full is not None and self._full.reason == "disk_full":
            await asyncio.sleep(DISK_PROBE_SECONDS)
            try:
                await self._run(self._write_probe)
            except OutboxError:
                continue
            if self._full is not None and self._full.reason == "disk_full":
                self._set_full(None)

    def _start_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_batches())

    async def _write_batches(self) -> None:
        """Group commit: whatever was queued by the time the thread is free goes into one transaction."""
        await asyncio.sleep(0)
        while self._queued_appends or self._queued_acks:
            appends, self._queued_appends = self._queued_appends, []
            acks, self._queued_acks = self._queued_acks, []
            rows = [(a.station, a.event_id, a.kind, a.payload) for a in appends]
            deletes = sorted({seq for seqs, _ in acks for seq in seqs})
            try:
                seqs, depth, size = await self._run(self._commit, rows, deletes)
            except OutboxError as exc:
                self._unreserve(appends)
                if isinstance(exc, OutboxFull):
                    self._set_full(exc)
                for item in appends:
                    _settle(item.done, exc)
                for _, done in acks:
                    _settle(done, exc)
                continue
            self._unreserve(appends)
            self._depth, self._bytes = depth, size
            if depth == 0:
                self._empty.set()
            else:
                self._empty.clear()
            self._forget(deletes)
            for item, seq in zip(appends, seqs, strict=True):
                self._remember(StoredEvent(seq, item.station, item.event_id, item.kind, item.payload))
                self.signal(item.station).set()  # first: the publisher runs before the emitter goes on
            for item, seq in zip(appends, seqs, strict=True):
                _settle(item.done, seq)
            for _, done in acks:
                _settle(done, None)
            room = self._depth < self.settings.max_events and self._bytes < self.settings.max_bytes
            if self._full is not None and (deletes or appends) and room:
                self._set_full(None)

    def _remember(self, event: StoredEvent) -> None:
        fresh = self._fresh.setdefault(event.station, {})
        fresh[event.seq] = event
        if len(fresh) > FRESH_MAX:  # nobody takes them (no broker): the oldest are read back later
            oldest = next(iter(fresh))
            del fresh[oldest]
            self._floor[event.station] = max(self._floor.get(event.station, self._opened_at_seq), oldest)

    def _forget(self, acked: Sequence[int]) -> None:
        for seq in acked:
            for fresh in self._fresh.values():
                if fresh.pop(seq, None) is not None:
                    break

    async def _run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: func(*args, **kwargs))

    # The methods below run on the outbox thread only.

    def _connect(self) -> tuple[int, int]:
        path = self.settings.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(f"PRAGMA synchronous = {self.settings.synchronous.upper()}")
            db.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
            db.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
            _truncate_wal(db)  # a log left by a crash, or by a stop on a full disk
            db.executescript(_SCHEMA)
            count = "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox"
            depth, size = db.execute(count).fetchone()
            last = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"cannot open the outbox {path}: {exc}") from exc
        self._db = db
        self._opened_at_seq = int(last[0]) if last else 0
        return int(depth), int(size)

    def _write_probe(self) -> None:
        db = self._db
        assert db is not None
        _truncate_wal(db)
        try:
            db.execute("INSERT OR REPLACE INTO disk_probe (id, data) VALUES (1, zeroblob(8192))")
        except sqlite3.Error as exc:
            raise _storage_error(exc) from exc

    def _close(self) -> None:
        db = self._db
        assert db is not None
        _truncate_wal(db)
        db.close()

    def _commit(self, rows: list[_Row], deletes: list[int]) -> tuple[list[int], int, int]:
        """One transaction; out of space, the log is checkpointed and truncated and it is tried once more."""
        db = self._db
        assert db is not None
        try:
            seqs, freed = self._transaction(db, rows, deletes)
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL or not _truncate_wal(db):
                raise _storage_error(exc) from exc
            try:
                seqs, freed = self._transaction(db, rows, deletes)
            except sqlite3.Error as again:
                raise _storage_error(again) from again
        depth = self._depth + len(rows) - len(freed)
        return seqs, depth, self._bytes + sum(len(row[3]) for row in rows) - sum(freed)

    def _transaction(
        self, db: sqlite3.Connection, rows: list[_Row], deletes: list[int]
    ) -> tuple[list[int], list[int]]:
        # Acks alone are not worth an fsync: a delete lost to a power cut only sends its event again, and
        # the next fsynced commit makes it durable too (WAL frames are synced in order).
        relaxed = not rows and self.settings.synchronous == "full"
        if relaxed:
            db.execute("PRAGMA synchronous = NORMAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            delete = "DELETE FROM outbox WHERE seq = ? RETURNING LENGTH(payload)"
            freed = [found[0] for seq in deletes for found in db.execute(delete, (seq,))]
            insert = "INSERT INTO outbox (station, event_id, kind, payload) VALUES (?, ?, ?, ?)"
            seqs = [db.execute(insert, row).lastrowid or 0 for row in rows]
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            if relaxed:
                db.execute("PRAGMA synchronous = FULL")
        return seqs, freed

    def _select(self, station: str | None, after: int, limit: int) -> list[StoredEvent]:
        db = self._db
        assert db is not None
        where, args = ("station = ? AND seq > ?", (station, after)) if station else ("seq > ?", (after,))
        rows = db.execute(
            f"SELECT seq, station, event_id, kind, payload FROM outbox WHERE {where} ORDER BY seq LIMIT ?",  # noqa: S608
            (*args, limit),
        ).fetchall()
        return [StoredEvent(*row) for row in rows]


def _truncate_wal(db: sqlite3.Connection) -> bool:
    """Checkpoint the whole log into the database and cut the log file to nothing; False when it could not
    (no room for the database to grow, or a reader in the way): the log is then left as it was."""
    try:
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error as exc:
        log.warning("outbox.checkpoint_failed", error=str(exc))
        return False
    return not busy


def _storage_error(exc: sqlite3.Error) -> OutboxError:
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return OutboxFull("disk_full", f"outbox full: the disk is full ({exc})")
    return OutboxError(f"outbox write failed: {exc}")


def _settle(future: "asyncio.Future[T]", outcome: T | BaseException) -> None:
    """Waiters may have been cancelled; the write stands either way."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class Reporter:
    """What a station holds to report: it wraps an event in its envelope and stores it durably.

    `emit` returns once the event is committed; the station's MQTT link publishes it from there.
    """

    _ids = EventIds()

    def __init__(self, outbox: Outbox, *, station: str, library: str) -> None:
        self.outbox = outbox
        self.station = station
        self.library = library

    async def emit(self, data: EventData) -> Envelope:
        """Raises OutboxFull (with its reason) when the event cannot be stored: refuse the work then."""
        event = self.wrap(data)
        await self.outbox.append(event)
        return event

    def wrap(self, data: EventData) -> Envelope:
        """The envelope `emit` would store, with its id and time fixed now: for a caller that records the
        event elsewhere first (the holds ledger), so a re-send after a crash keeps its id."""
        now_ms = time.time_ns() // 1_000_000
        at = datetime.fromtimestamp(now_ms // 1000, UTC).replace(microsecond=now_ms % 1000 * 1000)
        event_id = self._ids.next(now_ms, urandom(8))
        return envelope(data, station=self.station, library=self.library, event_id=event_id, time=at)
