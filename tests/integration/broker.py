"""A real mosquitto for tests: start on a free loopback port, SIGKILL, restart on the same port, stop.

Also a subscriber that collects what a circulation system would see, and a TCP relay that can hold new
connections back (so a test can re-subscribe before tagd reconnects after a broker restart: the broker
keeps nothing across a kill, and a message published before anyone subscribes is gone for everyone).
"""

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

from . import contract

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
READY_TIMEOUT_S = 5.0


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, so no broker outlives a killed run."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int, process: "subprocess.Popen[bytes]", timeout: float = READY_TIMEOUT_S) -> None:
    """Until `port` accepts a connection; OSError if it does not in time or the process has ended."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise
            time.sleep(0.01)


@dataclass
class Broker:
    """One mosquitto process. `extra` is added to its configuration (e.g. an acl_file line)."""

    directory: Path
    port: int = field(default_factory=free_port)
    extra: str = ""
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def log(self) -> Path:
        return self.directory / "mosquitto.log"

    def start(self) -> "Broker":
        assert self.process is None, "already running"
        conf = self.directory / "mosquitto.conf"
        # max_queued_messages 0: a slow test subscriber must not make mosquitto drop QoS 1 messages.
        # user root: started by root, mosquitto would drop to its own user and not read the test's files.
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"max_queued_messages 0\nuser root\nlog_dest stderr\nlog_type error\nlog_type warning\n"
            f"{self.extra}\n"
        )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [MOSQUITTO, "-c", str(conf)],
                stdout=log,
                stderr=log,
                preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
        try:
            wait_listening(self.port, self.process)
        except OSError:
            self.stop()
            raise RuntimeError(
                f"mosquitto did not listen on {self.port}: {self.log.read_text()[-2000:]}"
            ) from None
        self.starts += 1
        return self

    def kill(self) -> None:
        """SIGKILL: no will messages, no goodbye, nothing kept (persistence is off)."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def restart(self) -> None:
        """On the same port, as a broker that came back would be."""
        self.kill()
        self.start()

    def _end(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, sig)
        self.process.wait(timeout=5)
        self.process = None


class Brokers:
    """Session-wide factory; every broker it started is stopped at the end of the session."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._all: list[Broker] = []

    def start(self, extra: str = "") -> Broker:
        directory = self._root / f"broker{len(self._all)}"
        directory.mkdir()
        broker = Broker(directory, extra=extra)
        self._all.append(broker)
        return broker.start()

    def stop_all(self) -> None:
        for broker in self._all:
            broker.stop()


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    content_type: str | None


class Subscriber:
    """Collects every message on `topics`, across reconnections (`connect` again after a broker restart)."""

    def __init__(self, port: int, topics: list[str], *, protocol: str = "5") -> None:
        self.port, self.topics, self.protocol = port, topics, protocol
        self.messages: list[Received] = []
        self._arrived = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[aiomqtt.Client]:
        version = aiomqtt.ProtocolVersion.V5 if self.protocol == "5" else aiomqtt.ProtocolVersion.V311
        async with aiomqtt.Client("127.0.0.1", self.port, protocol=version) as client:
            for topic in self.topics:
                await client.subscribe(topic, qos=1)
            reader = asyncio.create_task(self._read(client))
            try:
                yield client
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await reader

    async def _read(self, client: aiomqtt.Client) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                content_type = getattr(message.properties, "ContentType", None)
                contract.note(message.topic.value, payload)
                async with self._arrived:
                    self.messages.append(Received(message.topic.value, payload, message.retain, content_type))
                    self._arrived.notify_all()

    async def wait_for(self, predicate: Callable[[list[Received]], bool], within: float = 10.0) -> None:
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: predicate(self.messages))

    def on(self, suffix: str) -> list[Received]:
        return [m for m in self.messages if m.topic.endswith(suffix)]


class Relay:
    """A loopback TCP relay to a broker port. While `held`, new connections wait before reaching it.
    `freeze_uplink` stalls what the current connections send to the broker (a half-open link: nothing is
    refused, nothing arrives) and `reset` aborts them; new connections flow as usual."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._open = asyncio.Event()
        self._open.set()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._connections: list[tuple[asyncio.Event, asyncio.StreamWriter, asyncio.StreamWriter]] = []

    async def start(self) -> "Relay":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def freeze_uplink(self) -> None:
        for flowing, _, _ in self._connections:
            flowing.clear()

    def reset(self) -> None:
        for _, client, upstream in self._connections:
            for end in (client, upstream):
                end.transport.abort()
        self._connections.clear()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = asyncio.current_task()
        if me is not None:
            self._pipes.add(me)
        try:
            await self._open.wait()
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        flowing = asyncio.Event()
        flowing.set()
        connection = (flowing, writer, up_writer)
        self._connections.append(connection)
        pipes = [
            asyncio.create_task(_pump(reader, up_writer, flowing)),
            asyncio.create_task(_pump(up_reader, writer)),
        ]
        self._pipes.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for pipe in pipes:
            pipe.cancel()
            self._pipes.discard(pipe)
        if connection in self._connections:
            self._connections.remove(connection)
        for end in (writer, up_writer):
            end.close()


async def _pump(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, flowing: asyncio.Event | None = None
) -> None:
    with contextlib.suppress(OSError):
        while data := await source.read(65536):
            if flowing is not None:
                await flowing.wait()
            sink.write(data)
            await sink.drain()
