"""The circulation side of a benchmark: one MQTT client that drives tagd stations through their sim/ and cmd/
topics, waits for their replies, and keeps every event with the moment it arrived here; and the daemon's
App run in the benchmark's own event loop.

Its socket sends at once (TCP_NODELAY): it stands in for a scanner or a hand on the pad, which do not
reach tagd over MQTT, so its own Nagle delay must not count against tagd.
"""

import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any

import aiomqtt

from tagd.daemon.app import App
from tagd.daemon.config.model import Config
from tagd.daemon.notify import Notifier
from tagd.protocols.events import Envelope, parse_envelope

WAIT_S = 10.0
NO_DELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Desk:
    """`async with Desk(port) as desk:`; `events` holds (arrival perf_counter, envelope) in arrival order."""

    def __init__(self, port: int, prefix: str = "tagd") -> None:
        self.prefix = prefix
        self.client = aiomqtt.Client(
            "127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5, socket_options=(NO_DELAY,)
        )
        self.events: list[tuple[float, Envelope]] = []
        self.replies: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "Desk":
        await self.client.__aenter__()
        await self.client.subscribe(f"{self.prefix}/+/events/#", qos=1)
        await self.client.subscribe(f"{self.prefix}/+/reply/+", qos=1)
        await self.client.subscribe(f"{self.prefix}/+/status", qos=1)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._reader
        await self.client.__aexit__(kind, exc, tb)

    async def _read(self) -> None:
        async for message in self.client.messages:
            arrived = time.perf_counter()
            payload = message.payload if isinstance(message.payload, bytes) else b""
            parts = message.topic.value.split("/")
            async with self.changed:
                if "events" in parts:
                    self.events.append((arrived, parse_envelope(payload)))
                elif parts[-1] == "status" and payload:
                    self.statuses[parts[-2]] = json.loads(payload)
                elif "reply" in parts:
                    self.replies[parts[-1]] = json.loads(payload)
                self.changed.notify_all()

    async def wait_online(self, stations: list[str], within: float = WAIT_S) -> None:
        """Until every station's retained status says online."""

        def online() -> bool:
            return all(self.statuses.get(name, {}).get("state") == "online" for name in stations)

        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(online)

    async def send(self, station: str, channel: str, name: str, /, **fields: Any) -> None:
        """Publish on {prefix}/{station}/{channel}/{name} (sim or cmd) without waiting for a reply."""
        topic = f"{self.prefix}/{station}/{channel}/{name}"
        await self.client.publish(topic, json.dumps(fields), qos=1)

    async def request(self, station: str, channel: str, name: str, /, **fields: Any) -> dict[str, Any]:
        """Publish with a fresh request_id and return the reply; RuntimeError when it is not ok."""
        request_id = f"bench-{next(self._ids)}"
        await self.send(station, channel, name, request_id=request_id, **fields)
        async with asyncio.timeout(WAIT_S), self.changed:
            await self.changed.wait_for(lambda: request_id in self.replies)
        reply = self.replies.pop(request_id)
        if not reply.get("ok"):
            raise RuntimeError(f"{channel}/{name} at {station} refused: {reply}")
        return reply

    async def wait_event(
        self, predicate: Callable[[Envelope], bool], *, after: int = 0, within: float = WAIT_S
    ) -> tuple[float, Envelope]:
        """The first event after index `after` that `predicate` accepts, with its arrival time."""

        def found() -> tuple[float, Envelope] | None:
            return next(((at, e) for at, e in self.events[after:] if predicate(e)), None)

        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(lambda: found() is not None)
        result = found()
        assert result is not None
        return result


@contextlib.asynccontextmanager
async def app_running(config: Config) -> AsyncIterator[App]:
    """The daemon's App in this event loop, ready and connected to its broker; stopped cleanly after."""
    app = App(config, notifier=Notifier(None))
    stop = asyncio.Event()
    task = asyncio.create_task(app.run(stop))
    try:
        async with asyncio.timeout(WAIT_S):
            ready = asyncio.create_task(app.ready.wait())
            await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                ready.cancel()
                task.result()
                raise RuntimeError("the app stopped before it was ready")
            await app.wait_connected()
        yield app
    finally:
        stop.set()
        await task
