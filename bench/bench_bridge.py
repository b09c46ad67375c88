"""Bridged brokers: tagd -> branch mosquitto -> bridge -> central mosquitto -> circulation (issue 7, fig. 7).

Two mosquitto on loopback: the branch bridges `tagd/+/events/#` out to the central at QoS 1 with
cleansession false (config/mosquitto/bridge.conf.example), so while the bridge is down the branch queues
for it; the central keeps sessions in its persistence file across a restart. tagd (Reporter -> outbox ->
MqttLink) publishes to the branch; a subscriber process with a persistent session reads on the central.

First the rate through the bridge against tagd publishing to the central directly (medians of RUNS
bursts). Then the bridge is cut mid-stream, twice: the link dropped and refused for CUT_S (a relay in its
own process between the brokers), and the central broker stopped and started again. Every event id must
arrive; duplicates (at-least-once re-sends) are counted. The bench exits non-zero if one is lost.
"""

import asyncio
import itertools
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import structlog
from _broker import NO_DELAY, Broker, free_port
from _machine import load
from _subscriber import Record, Subscriber
from _tagd import Tagd, tagd_station

RUNS = 3
EVENTS = 3_000
STREAM_EVENTS = 2_000
STREAM_INTERVAL_S = 0.002
"""The cut streams: an event every 2 ms (as fast as the serial emits allow), so the cut falls mid-flow."""
CUT_AFTER_S = 0.8
CUT_S = 1.5
WITHIN_S = 60.0


def bridge_conf(central_port: int, branch: str) -> str:
    """The branch side, as in config/mosquitto/bridge.conf.example (loopback, no TLS, quick restarts).
    Each branch needs its own remote client id: two bridges with one id would take turns at the centre."""
    return (
        f"connection central\naddress 127.0.0.1:{central_port}\n"
        f"topic tagd/+/events/# out 1\ncleansession false\nremote_clientid bridge-{branch}\n"
        f"restart_timeout 1 2\ntry_private true\nnotifications false\n{NO_DELAY}\n"
    )


def central_conf(directory: Path) -> str:
    return f"persistence true\npersistence_location {directory}/\n{NO_DELAY}\n"


class Relay:
    """A TCP relay in its own process: `cut()` drops its connections and refuses new ones; `mend()`."""

    def __init__(self, upstream: int) -> None:
        self.port = free_port()
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_relay, args=(self.port, upstream, child), daemon=True)

    def __enter__(self) -> "Relay":
        self._process.start()
        self._ask("mend")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._process.terminate()
        self._process.join(timeout=5)

    def cut(self) -> None:
        self._ask("cut")

    def mend(self) -> None:
        self._ask("mend")

    def _ask(self, what: str) -> None:
        self._conn.send(what)
        if self._conn.recv() != what:
            raise RuntimeError(f"the relay did not {what}")


def _relay(port: int, upstream: int, conn: Connection) -> None:
    async def serve() -> None:
        server: asyncio.Server | None = None
        writers: set[asyncio.StreamWriter] = set()

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            finally:
                writer.close()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
            except OSError:
                writer.close()
                return
            writers.update((writer, up_writer))
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
            writers.difference_update((writer, up_writer))

        loop = asyncio.get_running_loop()
        while True:
            what = await loop.run_in_executor(None, conn.recv)
            if what == "cut" and server is not None:
                server.close()
                for writer in list(writers):
                    writer.transport.abort()
                server = None
            elif what == "mend" and server is None:
                server = await asyncio.start_server(accept, "127.0.0.1", port)
            conn.send(what)

    asyncio.run(serve())


async def gather_all(subscriber: Subscriber, ids: set[str]) -> list[Record]:
    """Records until every id in `ids` has arrived (duplicates included), or WITHIN_S has passed."""
    records: list[Record] = []
    deadline = time.monotonic() + WITHIN_S
    while (missing := len(ids - {event_id for _, event_id in records})) and time.monotonic() < deadline:
        records += await subscriber.collect(missing, deadline - time.monotonic())
    return records


async def rate(tagd: Tagd, subscriber: Subscriber) -> float:
    sent = await tagd.burst(EVENTS)
    records = await gather_all(subscriber, set(sent))
    first = {event_id: at for at, event_id in reversed(records) if event_id in sent}
    lost = set(sent) - set(first)
    if lost:
        raise SystemExit(f"LOST: {len(lost)} of {EVENTS} events")
    await tagd.settle()
    return EVENTS / ((max(first.values()) - min(sent.values())) / 1e9)


async def stream_with_cut(
    tagd: Tagd, subscriber: Subscriber, cut: Callable[[], object], mend: Callable[[], object]
) -> tuple[int, int, float, float, float]:
    """STREAM_EVENTS paced events, the bridge cut at CUT_AFTER_S for CUT_S. Returns (lost, duplicates,
    seconds from the first emit to the last emit, and to the last arrival, and the longest silence at the
    subscriber: the proof that the cut cut)."""

    async def cut_and_mend() -> None:
        await asyncio.sleep(CUT_AFTER_S)  # a point in the stream, not a synchronisation
        await asyncio.to_thread(cut)
        await asyncio.sleep(CUT_S)  # how long the bridge stays down
        await asyncio.to_thread(mend)

    cutter = asyncio.create_task(cut_and_mend())
    sent = await tagd.one_at_a_time(STREAM_EVENTS, STREAM_INTERVAL_S)
    await cutter
    records = await gather_all(subscriber, set(sent))
    ids = [event_id for _, event_id in records if event_id in sent]
    lost = len(set(sent) - set(ids))
    await tagd.settle()
    start, emitted, arrived = min(sent.values()), max(sent.values()), max(at for at, _ in records)
    times = sorted(at for at, _ in records)
    silence = max(later - earlier for earlier, later in itertools.pairwise(times))
    return lost, len(ids) - len(set(ids)), (emitted - start) / 1e9, (arrived - start) / 1e9, silence / 1e9


async def main() -> None:
    print(f"machine at the start: {load()}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings and up
    with tempfile.TemporaryDirectory(prefix="tagd-bench-bridge-", dir="/var/tmp") as name:
        tmp = Path(name)
        (tmp / "central").mkdir()
        central = Broker(central_conf(tmp / "central"), tmp / "central")
        with central, Relay(central.port) as relay:
            (tmp / "branch").mkdir()
            (tmp / "branch-relayed").mkdir()
            branch = Broker(bridge_conf(central.port, "branch"), tmp / "branch")
            relayed = Broker(bridge_conf(relay.port, "relayed"), tmp / "branch-relayed")
            with (
                branch,
                relayed,
                Subscriber(central.port, "tagd/+/events/#", client_id="bench-circulation") as subscriber,
            ):
                rates: dict[str, list[float]] = {"direct": [], "bridged": []}
                async with (
                    tagd_station(central.port, tmp / "direct.sqlite", "bench-direct") as direct,
                    tagd_station(branch.port, tmp / "bridged.sqlite", "bench-bridged") as bridged,
                ):
                    for _ in range(RUNS):
                        rates["direct"].append(await rate(direct, subscriber))
                        rates["bridged"].append(await rate(bridged, subscriber))
                async with tagd_station(relayed.port, tmp / "relayed.sqlite", "bench-relayed") as tagd:
                    link_cut = await stream_with_cut(tagd, subscriber, relay.cut, relay.mend)
                async with tagd_station(branch.port, tmp / "restart.sqlite", "bench-restart") as tagd:
                    restart = await stream_with_cut(tagd, subscriber, central.stop, central.start)
    report(rates, {"bridge link cut": link_cut, "central broker restarted": restart})
    print(f"machine at the end: {load()}")


def report(rates: dict[str, list[float]], cuts: dict[str, tuple[int, int, float, float, float]]) -> None:
    direct, bridged = statistics.median(rates["direct"]), statistics.median(rates["bridged"])
    ratio = statistics.median(b / d for b, d in zip(rates["bridged"], rates["direct"], strict=True))
    print(
        f"bridged brokers: tagd (outbox full) -> branch mosquitto -> bridge (QoS 1, cleansession false) -> "
        f"central mosquitto -> subscriber; {RUNS} bursts of {EVENTS} events, medians"
    )
    print(f"  tagd -> central directly      {direct:7,.0f} events/s")
    print(f"  tagd -> branch -> central     {bridged:7,.0f} events/s  ({ratio:.2f}x direct)")
    pace = f"one every {STREAM_INTERVAL_S * 1e3:g} ms at most"
    print(f"  cut mid-stream: {STREAM_EVENTS} events, {pace}, bridge down {CUT_S} s from {CUT_AFTER_S} s:")
    failed = False
    for label, (lost, duplicates, emitted, last, silence) in cuts.items():
        failed = failed or lost > 0
        print(
            f"    {label:25} lost {lost}, duplicates {duplicates}; emitted in {emitted:4.1f} s, "
            f"all in by {last:4.1f} s, longest silence {silence:3.1f} s "
            f"(goal nothing lost: {'met' if not lost else 'MISSED'})"
        )
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
