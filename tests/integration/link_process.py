"""One station's MQTT link in a process of its own, for tests that kill it.

Usage: python link_process.py PORT OUTBOX_PATH STATION. Prints "connected" once the link is up.
"""

import asyncio
import sys
from pathlib import Path

from tagd.daemon.config.sections import Mqtt
from tagd.daemon.mqtt.link import MqttLink
from tagd.daemon.store.outbox import Outbox, OutboxSettings, Reporter
from tagd.protocols.events import ReaderState, ReaderStatus, Role


async def main(port: int, path: Path, station: str) -> None:
    outbox = await Outbox.open(OutboxSettings(path=path))
    link = MqttLink(
        Mqtt(url=f"mqtt://127.0.0.1:{port}"),
        Reporter(outbox, station=station, library="central"),
        role=Role.GATE,
    )
    link.set_readers({"reader": ReaderStatus(url="feig:tcp://10.0.0.21:10001", state=ReaderState.CONNECTED)})
    running = asyncio.create_task(link.run())
    await link.wait_connected()
    print("connected", flush=True)
    await running


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
