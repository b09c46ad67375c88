"""A circulation-system subscriber in its own process, so it does not share the publisher's event loop.

It records (arrival time, event id) for every event; the benchmark asks it, over a pipe, to hand over
what it has once `n` events have arrived (or a deadline passes). Arrival times are CLOCK_MONOTONIC,
which every process on the machine shares, so the publisher can subtract its own emit times.
A `client_id` makes the session persistent (clean start off, QoS 1): it survives a broker restart.
"""

import asyncio
import contextlib
import json
import logging
import multiprocessing
import time
from multiprocessing.connection import Connection

import aiomqtt

Record = tuple[int, str]
"""(monotonic_ns at arrival, the event's id)"""

RECONNECT_S = 0.1
QUIET = logging.getLogger("bench.subscriber")
"""paho's complaint when a broker restarts under it is expected here: not printed."""
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


class Subscriber:
    """`with Subscriber(port, "tagd/+/events/#") as sub:` then `await sub.collect(n, within)`."""

    def __init__(self, port: int, topic: str, client_id: str | None = None) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(port, topic, client_id, child), daemon=True)

    def __enter__(self) -> "Subscriber":
        self._process.start()
        if self._conn.recv() != "subscribed":
            raise RuntimeError("the subscriber did not subscribe")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._process.terminate()
        self._process.join(timeout=5)

    async def collect(self, n: int, within: float) -> list[Record]:
        """Every record since the last collect, once there are `n` of them or `within` seconds passed."""
        self._conn.send((n, within))
        records: list[Record] = await asyncio.to_thread(self._conn.recv)
        return records


def _serve(port: int, topic: str, client_id: str | None, conn: Connection) -> None:
    asyncio.run(_Collector(port, topic, client_id, conn).run())


class _Collector:
    def __init__(self, port: int, topic: str, client_id: str | None, conn: Connection) -> None:
        self.port, self.topic, self.client_id, self.conn = port, topic, client_id, conn
        self.records: list[Record] = []
        self.want: int | None = None
        self.deadline: asyncio.TimerHandle | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.conn.fileno(), self._asked)
        first = True
        while True:
            with contextlib.suppress(aiomqtt.MqttError):
                async with self._client() as client:
                    await client.subscribe(self.topic, qos=1)
                    if first:
                        self.conn.send("subscribed")
                        first = False
                    async for message in client.messages:
                        payload = message.payload if isinstance(message.payload, bytes) else b""
                        self.records.append((time.monotonic_ns(), json.loads(payload)["id"]))
                        if self.want is not None and len(self.records) >= self.want:
                            self._hand_over()
            await asyncio.sleep(RECONNECT_S)  # a broker restart: try again shortly

    def _client(self) -> aiomqtt.Client:
        persistent = self.client_id is not None
        return aiomqtt.Client(
            "127.0.0.1",
            self.port,
            identifier=self.client_id,
            logger=QUIET,
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=not persistent,
        )

    def _asked(self) -> None:
        self.want, within = self.conn.recv()
        self.deadline = asyncio.get_running_loop().call_later(within, self._hand_over)
        if len(self.records) >= self.want:
            self._hand_over()

    def _hand_over(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
        self.conn.send(self.records)
        self.records, self.want, self.deadline = [], None, None
