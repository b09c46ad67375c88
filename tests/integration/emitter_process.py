"""A station reporting events in a process of its own, for tests that SIGKILL it (issue 6 §2).

Usage: python emitter_process.py PORT OUTBOX_PATH STATION COUNT

Runs the station's outbox and MQTT link as the daemon does and prints "started DEPTH" (DEPTH: events left
in the outbox by an earlier run). Then, connected or not (a station reports while the broker is away), it
emits COUNT events one after another and prints each event id the moment `Reporter.emit` has returned,
i.e. once the station has reported it. Last it prints "drained" when the broker has acknowledged every
stored event, and stops cleanly.
"""

import asyncio
import sys
from pathlib import Path

from tagd.daemon.config.sections import Mqtt
from tagd.daemon.logs import configure_logging
from tagd.daemon.mqtt.link import MqttLink
from tagd.daemon.store.outbox import Outbox, OutboxSettings, Reporter
from tagd.protocols.events import ItemDetected, Role, TagContent


async def main(port: int, path: Path, station: str, count: int) -> None:
    configure_logging("json", "warning")  # on stderr: stdout carries the reported ids only
    outbox = await Outbox.open(OutboxSettings(path=path))
    reporter = Reporter(outbox, station=station, library="central")
    settings = Mqtt(url=f"mqtt://127.0.0.1:{port}", reconnect_min_seconds=0.05, reconnect_max_seconds=0.5)
    link = MqttLink(settings, reporter, role=Role.GATE)
    running = asyncio.create_task(link.run())
    print("started", outbox.depth, flush=True)
    for n in range(count):
        data = ItemDetected(reader="gate", uid="E0040150A1B2C3D4", content=TagContent.ITEM,
                            item_id="123456782", part=n + 1, parts=count)  # fmt: skip
        print((await reporter.emit(data)).id, flush=True)
    await outbox.drained()
    print("drained", flush=True)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    await outbox.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
