"""Issue 6 §2, daemon crash: SIGKILL the station's process mid-stream and start it again on the same
outbox; every event the station had reported (Reporter.emit had returned) reaches the subscriber.

Two ways of seeing "reported" from outside:
- emitter_process.py prints each event id as soon as its emit returns. Lines it printed before the kill
  are still read from the pipe after it. It reaches the broker through a relay; one run is killed while
  the relay holds it off (the network is away), so its events are all still in the outbox when it dies.
- `tagd run` with a checkout station: its reply `ok` to cmd/security is sent only after the station has
  emitted the item's security.changed event (which names the request), so every ok reply the circulation
  system got is an event the station had reported.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tagd.protocols.events import Envelope, ItemDetected, SecurityChanged

from .broker import Broker, Relay, Subscriber
from .pads import memory
from .stations import Circulation
from .test_reliability_broker import Tally

EMITTER = Path(__file__).with_name("emitter_process.py")
PER_RUN = 2000
LINE_S = 20.0


@dataclass
class Run:
    killed_after: int
    """Reported events the run is killed after; 0: at once after it started (while it replays)."""
    broker_reachable: bool = True
    backlog: int = 0
    """Events the run found in the outbox: left by the run killed before it."""
    reported: list[str] = field(default_factory=list)


RUNS = (Run(300), Run(1500, broker_reachable=False), Run(0), Run(1), Run(1999))


async def station(port: int, outbox: Path, count: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(EMITTER), str(port), str(outbox), "crash1", str(count),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    async with asyncio.timeout(LINE_S):
        return (await process.stdout.readline()).decode().strip()


async def started(process: asyncio.subprocess.Process) -> int:
    """The backlog the process found: events stored by earlier runs and not yet acknowledged."""
    first = await line(process)
    assert first.startswith("started "), first
    return int(first.split()[1])


async def killed_run(port: int, outbox: Path, run: Run) -> None:
    process = await station(port, outbox, PER_RUN)
    try:
        run.backlog = await started(process)
        while len(run.reported) < run.killed_after:
            run.reported.append(await line(process))
        os.kill(process.pid, signal.SIGKILL)
        while rest := await line(process):  # printed before the kill: reported too
            run.reported.append(rest)
    finally:
        with contextlib.suppress(ProcessLookupError):  # os.kill, not process.kill: that one may reap
            os.kill(process.pid, signal.SIGKILL)  # the child before asyncio's watcher does (returncode 255)
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    assert "drained" not in run.reported, "the run ended before it was killed"


async def test_no_reported_event_is_lost_when_the_station_is_killed(broker: Broker, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.sqlite"
    relay = await Relay(broker.port).start()
    sub = Subscriber(broker.port, ["tagd/crash1/events/#"])
    runs = [Run(r.killed_after, r.broker_reachable) for r in RUNS]
    async with sub.connect():
        for run in runs:
            (relay.release if run.broker_reachable else relay.hold)()
            await killed_run(relay.port, outbox, run)
        relay.release()
        final = await station(relay.port, outbox, 0)
        try:
            final_backlog = await started(final)
            assert await line(final) == "drained"
        finally:
            await final.wait()
        reported = {event_id for run in runs for event_id in run.reported}
        tally = Tally()
        with contextlib.suppress(TimeoutError):  # what is lost is reported below
            await sub.wait_for(tally.has_all(reported), within=LINE_S)
    await relay.close()
    received, lost = tally.ids, tally.missing
    print(
        f"\n{len(runs)} SIGKILLs: {len(reported)} events reported, {len(lost)} lost, "
        f"{len(received)} distinct received ({len(set(received) - reported)} committed but not yet "
        f"reported when killed), {tally.duplicates} duplicates; backlog found by each restart: "
        f"{[run.backlog for run in runs[1:]] + [final_backlog]}"
    )
    assert not lost
    assert final.returncode == 0
    assert runs[2].backlog >= runs[1].killed_after, "the run killed while the broker was away left its events"


STATION = "crash-co"
ITEM = "100000017"
DAEMON_KILL_AFTER = (1, 20, 80)
"""ok replies each `tagd run` is killed after."""
IN_FLIGHT = 4
START_S = 15.0


def checkout_config(directory: Path, port: int) -> Path:
    config = directory / "tagd.toml"
    config.write_text(
        f'state_dir = "{directory / "state"}"\n'
        f'[[stations]]\nname = "{STATION}"\nrole = "checkout"\nlibrary = "test"\nisil = "JP-1000001"\n'
        f'reader = "sim:{STATION}"\ncard_reader = "sim:{STATION}"\n'
        "[checkout]\ndebounce_seconds = 0.1\npoll_seconds = 0.02\n"
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{port}"\nreconnect_min_seconds = 0.1\nreconnect_max_seconds = 1.0\n'
    )
    return config


def request_of(event: Envelope) -> str | None:
    return event.data.request_id if isinstance(event.data, SecurityChanged) else None


def answering(request: str) -> Callable[[Envelope], bool]:
    return lambda event: request_of(event) == request


async def tagd_run(config: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tagd.daemon", "run", "--config", str(config),
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


async def ready_with_the_item_on_the_pad(desk: Circulation) -> None:
    """A fresh process has a fresh simulated world: put the item's tag on the pad again."""
    await desk.wait_status(STATION, lambda s: s["state"] == "online" and bool(s["readers"]), START_S)
    await desk.wait_status(STATION, lambda s: s["readers"]["reader"]["state"] == "connected", START_S)
    mark = desk.mark()
    placed = await desk.sim(STATION, "place", memory_hex=memory(ITEM))
    assert placed["ok"], placed
    arrived = await desk.wait_for("item.detected", within=START_S, after=mark)
    assert isinstance(arrived.data, ItemDetected)
    assert arrived.data.uid == placed["uid"]


async def securing_until_killed(
    desk: Circulation, process: asyncio.subprocess.Process, kill_after: int
) -> set[str]:
    """cmd/security back and forth, IN_FLIGHT at a time, SIGKILL after `kill_after` ok replies; the request
    ids answered ok (also those whose reply was on its way when the process died)."""
    outstanding: deque[str] = deque()
    sent: list[str] = []
    ok = 0
    while ok < kill_after:
        while len(outstanding) < IN_FLIGHT:
            request = await desk.cmd(STATION, "security", items=[ITEM], secured=len(sent) % 2 == 0)
            outstanding.append(request)
            sent.append(request)
        reply = await desk.wait_reply(outstanding.popleft())
        assert reply["ok"], reply
        ok += 1
    os.kill(process.pid, signal.SIGKILL)
    await process.wait()
    await desk.wait_status(STATION, lambda s: s["state"] == "offline")  # the will: after its last replies
    return {request for request in sent if desk.replies.get(request, {}).get("ok")}


async def test_tagd_run_killed_mid_stream_loses_no_event_it_had_reported(
    broker: Broker, tmp_path: Path
) -> None:
    config, log = checkout_config(tmp_path, broker.port), tmp_path / "tagd.log"
    reported: set[str] = set()
    async with Circulation(broker.port) as desk:
        for kill_after in DAEMON_KILL_AFTER:
            process = await tagd_run(config, log)
            try:
                await ready_with_the_item_on_the_pad(desk)
                reported |= await securing_until_killed(desk, process, kill_after)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                await process.wait()
        final = await tagd_run(config, log)
        try:
            with contextlib.suppress(AssertionError):  # what is lost is reported below
                for request in sorted(reported):
                    await desk.wait_for("security.changed", answering(request), START_S)
        finally:
            os.kill(final.pid, signal.SIGTERM)
            await final.wait()
    events = Counter(request_of(e) for e in desk.of("security.changed", STATION))
    lost = reported - set(events)
    print(
        f"\n{len(DAEMON_KILL_AFTER)} SIGKILLs of tagd run: {len(reported)} security changes answered ok, "
        f"{len(lost)} of their events lost, {sum(events.values()) - len(events)} duplicates, "
        f"{len(set(events) - reported)} events of requests killed before their reply"
    )
    assert not lost, (lost, log.read_text()[-3000:])
