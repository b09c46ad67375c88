"""tagd's event path as the daemon composes it for one station: Reporter -> SQLite outbox -> MqttLink.

Shared by the event and bridge benchmarks; every emit is timed on CLOCK_MONOTONIC, which the subscriber
process (bench/_subscriber.py) shares, so arrival minus emit is the end-to-end latency.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

from tagd.daemon.config.sections import Mqtt
from tagd.daemon.mqtt.link import MqttLink
from tagd.daemon.store.outbox import Outbox, OutboxSettings, Reporter
from tagd.protocols.events import ItemDetected, Role

INFLIGHT = 64
"""The link's default: publishes awaiting PUBACK, at most."""
LIBRARY = "bench"
DATA = ItemDetected(
    reader="pad", uid="E004010012345678", content="item", item_id="100000015", isil="JP-1000001"
)
CONNECT_S = 10.0


class Tagd:
    """One station's Reporter, its outbox and its MqttLink."""

    def __init__(self, outbox: Outbox, reporter: Reporter, link: MqttLink) -> None:
        self.outbox, self.reporter, self.link = outbox, reporter, link

    async def burst(self, n: int) -> dict[str, int]:
        """n events emitted at once; {event id: monotonic_ns of the emit}."""
        now = time.monotonic_ns()
        events = await asyncio.gather(*(self.reporter.emit(DATA) for _ in range(n)))
        return {event.id: now for event in events}

    async def one_at_a_time(self, n: int, interval: float = 0.0) -> dict[str, int]:
        """n events, each emit awaited before the next (every `interval` seconds if given)."""
        sent = {}
        start = time.monotonic()
        for i in range(n):
            await pace(start, i, interval)
            at = time.monotonic_ns()
            event = await self.reporter.emit(DATA)
            sent[event.id] = at
        return sent

    async def settle(self) -> None:
        """Every ack written, so one round's deletes do not spill into the next."""
        await self.outbox.drained()


async def pace(start: float, i: int, interval: float) -> None:
    """Wait for the i-th slot of a steady rate (a pacing delay, not a synchronisation)."""
    if interval:
        await asyncio.sleep(max(0.0, start + i * interval - time.monotonic()))


@contextlib.asynccontextmanager
async def tagd_station(
    port: int, outbox_path: Path, station: str, sync: Literal["full", "normal"] = "full"
) -> AsyncIterator[Tagd]:
    """A connected station link publishing to the broker on loopback `port`."""
    outbox = await Outbox.open(OutboxSettings(path=outbox_path, synchronous=sync))
    reporter = Reporter(outbox, station=station, library=LIBRARY)
    url = f"mqtt://127.0.0.1:{port}"
    mqtt = Mqtt(url=url, client_id="bench", inflight=INFLIGHT, reconnect_min_seconds=0.1)
    link = MqttLink(mqtt, reporter, role=Role.CHECKOUT)
    task = asyncio.create_task(link.run())
    try:
        async with asyncio.timeout(CONNECT_S):
            await link.wait_connected()
        yield Tagd(outbox, reporter, link)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await outbox.close()
