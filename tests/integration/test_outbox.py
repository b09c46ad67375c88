"""The outbox on real SQLite files: durable, ordered, bounded, group-committed, and loud when full."""

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tagd.daemon.store.outbox import Outbox, OutboxError, OutboxFull, OutboxSettings, Reporter
from tagd.protocols.events import ItemDetected, parse_envelope

from .disks import tmpfs

DETECTED = ItemDetected(reader="pad", uid="E0040150A1B2C3D4", content="item", item_id="123456782")


@contextlib.asynccontextmanager
async def opened(path: Path, **settings: object) -> AsyncIterator[Outbox]:
    outbox = await Outbox.open(OutboxSettings.model_validate({"path": path, **settings}))
    try:
        yield outbox
    finally:
        await outbox.close()


async def count_commits(outbox: Outbox) -> list[str]:
    """The COMMITs the outbox's connection runs from now on (its SQL trace, set on its own thread; the log's
    frames cannot count them since the log is checkpointed and reused every few dozen pages)."""
    commits: list[str] = []
    db = outbox._db
    assert db is not None
    trace = lambda sql: commits.append(sql) if sql == "COMMIT" else None  # noqa: E731
    await asyncio.get_running_loop().run_in_executor(outbox._executor, db.set_trace_callback, trace)
    return commits


async def test_events_survive_a_restart_with_their_ids_and_order(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    async with opened(path) as outbox:
        enc, gate = (
            Reporter(outbox, station="enc1", library="central"),
            Reporter(outbox, station="gate1", library="c"),
        )
        sent = [await (enc if index % 3 else gate).emit(DETECTED) for index in range(30)]
    async with opened(path) as outbox:
        stored = await outbox.pending(limit=100)
        assert [e.event_id for e in stored] == [e.id for e in sent]
        assert [parse_envelope(e.payload) for e in stored] == sent
        assert outbox.depth == 30
        mine = await outbox.pending("enc1", limit=100)
        assert [e.event_id for e in mine] == [e.id for e in sent if e.station == "enc1"]
        assert {e.kind for e in mine} == {"item.detected"}
        later = await outbox.pending("enc1", after=mine[4].seq, limit=3)
        assert later == mine[5:8]


async def test_ack_deletes_and_a_seq_is_never_reused(tmp_path: Path) -> None:
    async with opened(tmp_path / "o.sqlite") as outbox:
        reporter = Reporter(outbox, station="s", library="l")
        for _ in range(5):
            await reporter.emit(DETECTED)
        first = await outbox.pending(limit=10)
        await outbox.ack([e.seq for e in first])
        assert outbox.depth == 0
        assert outbox.size == 0
        await reporter.emit(DETECTED)
        (again,) = await outbox.pending(limit=10)
        assert again.seq > first[-1].seq


def in_file(path: Path, station: str, after: int = 0, limit: int = 100) -> list[tuple[int, str]]:
    """(seq, event id) of `station`'s events with seq > `after` as the database file holds them."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        query = "SELECT seq, event_id FROM outbox WHERE station = ? AND seq > ? ORDER BY seq LIMIT ?"
        return [(int(seq), str(event_id)) for seq, event_id in db.execute(query, (station, after, limit))]


async def test_a_publisher_following_its_station_sees_what_the_database_holds(tmp_path: Path) -> None:
    """`pending(station, after=...)` answers a publisher from memory once it follows the station's newest
    events; whatever the mix of appends and acks (even of events it has not taken), it must give exactly
    what the database file holds."""
    path = tmp_path / "o.sqlite"
    async with opened(path) as outbox:
        stations = [Reporter(outbox, station=name, library="l") for name in ("s1", "s2")]
        for index in range(12):
            await stations[index % 2].emit(DETECTED)
        cursors = {"s1": 0, "s2": 0}
        for step in range(8):
            for station, after in cursors.items():
                mine = await outbox.pending(station, after=after, limit=2)
                assert [(e.seq, e.event_id) for e in mine] == in_file(path, station, after, 2)
                if mine:
                    cursors[station] = mine[-1].seq
            if step == 1:  # acks of taken events, and one of an event nobody has taken yet
                (untaken, _) = in_file(path, "s2", cursors["s2"], 1)[0]
                await outbox.ack([cursors["s1"], untaken])
            if step == 4:
                await stations[0].emit(DETECTED)
                await stations[1].emit(DETECTED)
        assert [await outbox.pending(s, after=c) for s, c in cursors.items()] == [[], []]
        for station in cursors:  # from the start again, as after a reconnection
            assert [(e.seq, e.event_id) for e in await outbox.pending(station)] == in_file(path, station)


async def test_concurrent_appends_share_one_commit(tmp_path: Path) -> None:
    """Group commit: what is appended in one loop tick is one transaction (and one fsync)."""
    path = tmp_path / "o.sqlite"
    async with opened(path) as outbox:
        reporter = Reporter(outbox, station="s", library="l")
        await reporter.emit(DETECTED)
        commits = await count_commits(outbox)
        await asyncio.gather(*(reporter.emit(DETECTED) for _ in range(200)))
        batched = len(commits)
        for _ in range(20):
            await reporter.emit(DETECTED)
        one_by_one = len(commits) - batched
        assert outbox.depth == 221
    assert batched <= 5, f"200 concurrent appends took {batched} commits"
    assert one_by_one == 20, f"20 sequential appends took {one_by_one} commits"


async def test_full_by_count_refuses_loudly_and_recovers_after_ack(tmp_path: Path) -> None:
    async with opened(tmp_path / "o.sqlite", max_events=3) as outbox:
        flips: list[bool] = []
        outbox.watch(lambda: flips.append(outbox.full))
        reporter = Reporter(outbox, station="s", library="l")
        for _ in range(3):
            await reporter.emit(DETECTED)
        with pytest.raises(OutboxFull, match="3 events are waiting") as refused:
            await reporter.emit(DETECTED)
        assert refused.value.reason == "max_events"
        assert outbox.full
        assert outbox.depth == 3
        (oldest, *_) = await outbox.pending(limit=1)
        await outbox.ack([oldest.seq])
        assert not outbox.full
        await reporter.emit(DETECTED)
        assert flips == [True, False]


async def test_full_by_bytes(tmp_path: Path) -> None:
    async with opened(tmp_path / "o.sqlite", max_bytes=2048) as outbox:
        reporter = Reporter(outbox, station="s", library="l")
        with pytest.raises(OutboxFull) as refused:  # noqa: PT012 - filling it up is the point
            for _ in range(20):
                await reporter.emit(DETECTED)
        assert refused.value.reason == "max_bytes"
        assert 0 < outbox.size <= 2048


async def test_appends_during_a_commit_still_count_it_against_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    async with opened(path, max_events=50) as outbox:
        reporter = Reporter(outbox, station="s", library="l")
        with sqlite3.connect(path, isolation_level=None) as other:
            other.execute("BEGIN IMMEDIATE")  # the outbox thread will wait for this write lock
            first = [asyncio.ensure_future(reporter.emit(DETECTED)) for _ in range(30)]
            for _ in range(10):
                await asyncio.sleep(0)  # enough loop turns for the writer to take them to its thread
            second = [asyncio.ensure_future(reporter.emit(DETECTED)) for _ in range(50)]
            await asyncio.sleep(0)
            other.execute("ROLLBACK")
        results = await asyncio.gather(*first, *second, return_exceptions=True)
        assert sum(isinstance(r, OutboxFull) for r in results) == 30
        assert outbox.depth == 50


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 512 KiB tmpfs."""
    with tmpfs(tmp_path / "disk", "512k") as mount:
        yield mount


async def test_a_full_disk_is_outbox_full_not_a_crash(tiny_disk: Path) -> None:
    async with opened(tiny_disk / "o.sqlite") as outbox:
        reporter = Reporter(outbox, station="s", library="l")
        stored = 0
        with pytest.raises(OutboxFull, match="disk is full") as refused:  # noqa: PT012 - filling the disk
            for _ in range(5000):
                await reporter.emit(DETECTED.model_copy(update={"isil": "x" * 400}))
                stored += 1
        assert refused.value.reason == "disk_full"
        assert outbox.full
        assert stored > 10
        assert outbox.depth == stored
        assert len(await outbox.pending(limit=10_000)) == stored


async def test_an_unusable_path_is_a_specific_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(OutboxError, match="cannot open the outbox"):
        await Outbox.open(OutboxSettings(path=tmp_path / "file" / "o.sqlite"))


@pytest.mark.parametrize("synchronous", ["normal", "full"])
async def test_the_event_loop_keeps_running_while_sqlite_writes(tmp_path: Path, synchronous: str) -> None:
    """The writes happen on the outbox thread: a ticker on the loop is never held up for long."""
    async with opened(tmp_path / "o.sqlite", synchronous=synchronous) as outbox:
        reporter = Reporter(outbox, station="s", library="l")
        worst = 0.0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal worst
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                worst, last = max(worst, now - last), now

        ticking = asyncio.create_task(ticker())
        started = time.perf_counter()
        for _ in range(40):
            await asyncio.gather(*(reporter.emit(DETECTED) for _ in range(25)))
        elapsed = time.perf_counter() - started
        stop.set()
        await ticking
        print(
            f"synchronous={synchronous}: 1000 events in batches of 25: {1000 / elapsed:.0f}/s, "
            f"longest loop stall {worst * 1000:.1f} ms"
        )
        assert worst < 0.1
