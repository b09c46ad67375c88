"""The FEIG emulator's byte side: loopback TCP (as FEIG's LAN readers on port 10001) and a real pty (as a
USB-serial reader), with the faults a host must survive: the line dropped (TCP reset, pty closed).

A reader discards a request whose bytes stop arriving, so a host that lost a byte is not stuck behind a
half-frame: a session flushes its FrameReader once the line has been quiet for `gap` seconds.
"""

import asyncio
import contextlib
import logging
import os
import tty
from collections.abc import Callable

from tagd.drivers.sim.feig_emulator import FeigEmulator
from tagd.drivers.sim.world import ReaderUnplugged
from tagd.protocols.feig.frames import FrameReader, Garbage, Request

_log = logging.getLogger(__name__)

DEFAULT_GAP = 0.1
"""Seconds of quiet after which a partial request is dropped; far above a byte's time at 9600 baud."""


class EmulatorSession(asyncio.Protocol):
    """One host line into the emulated reader: cuts request frames and writes each reply back.

    When the field's reader is unplugged, `on_unplugged` drops the line, as a reader that lost power does.
    """

    def __init__(
        self,
        emulator: FeigEmulator,
        on_unplugged: Callable[["EmulatorSession"], None],
        *,
        gap: float = DEFAULT_GAP,
    ) -> None:
        self.emulator = emulator
        self.transport: asyncio.BaseTransport | None = None
        self.writer: asyncio.WriteTransport | None = None
        self.closed = asyncio.Event()
        self._on_unplugged = on_unplugged
        self._gap = gap
        self._frames = FrameReader(Request)
        self._quiet: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if self.writer is None and isinstance(transport, asyncio.WriteTransport):
            self.writer = transport

    def data_received(self, data: bytes) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
            self._quiet = None
        self._answer(self._frames.feed(data))
        if self._frames.pending:
            self._quiet = asyncio.get_running_loop().call_later(self._gap, self._line_quiet)

    def _line_quiet(self) -> None:
        self._quiet = None
        self._answer(self._frames.flush())

    def _answer(self, events: list[Request | Garbage]) -> None:
        for event in events:
            if isinstance(event, Garbage):
                self.emulator.garbage_bytes += len(event.data)
                continue
            try:
                reply = self.emulator.handle(event)
            except ReaderUnplugged:
                _log.info("the field's reader is unplugged: dropping the line")
                self._on_unplugged(self)
                return
            if reply is not None and self.writer is not None and not self.writer.is_closing():
                self.writer.write(reply.encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            _log.info("host line closed: %s", exc)
        if self._quiet is not None:
            self._quiet.cancel()
        self.closed.set()

    def abort(self) -> None:
        """Drop the line at once (for TCP: the socket closes without a goodbye)."""
        for transport in (self.writer, self.transport):
            if transport is None or transport.is_closing():
                continue
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()
            else:
                transport.close()  # a read pipe holds nothing back to discard


class FeigTcpServer:
    """The emulator on a TCP port; `reset_connections()` drops every host line (the TCP reset fault)."""

    def __init__(self, emulator: FeigEmulator, *, gap: float = DEFAULT_GAP) -> None:
        self.emulator = emulator
        self.sessions: set[EmulatorSession] = set()
        self._gap = gap
        self._server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen (port 0 picks a free one) and return the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._session, host, port)
        return self.port

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def _session(self) -> EmulatorSession:
        session = EmulatorSession(self.emulator, lambda s: s.abort(), gap=self._gap)
        self.sessions.add(session)
        return session

    def reset_connections(self) -> None:
        for session in self.sessions:
            session.abort()
        self.sessions.clear()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self.reset_connections()
            await self._server.wait_closed()


class FeigPtyServer:
    """The emulator on a pty, as a USB-serial reader: hosts open `path`; `unplug()` closes the pty.

    The emulator keeps the slave side open too, so a host closing and reopening the port finds the reader
    still there; `replug()` serves a fresh pty (a new path) after an unplug.
    """

    def __init__(self, emulator: FeigEmulator, *, gap: float = DEFAULT_GAP) -> None:
        self.emulator = emulator
        self.path: str | None = None
        self.session: EmulatorSession | None = None
        self._gap = gap
        self._slave: int | None = None

    @property
    def plugged(self) -> bool:
        return self._slave is not None

    async def replug(self) -> str:
        """Open a new pty and serve it; returns the path hosts open (e.g. /dev/pts/7)."""
        self.unplug()
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing: binary frames pass untouched before the host sets it
        loop = asyncio.get_running_loop()
        session = EmulatorSession(self.emulator, lambda _: self.unplug(), gap=self._gap)
        reading = os.fdopen(master, "rb", buffering=0)
        writing = os.fdopen(os.dup(master), "wb", buffering=0)
        await loop.connect_read_pipe(lambda: session, reading)
        write_transport, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, writing)
        session.writer = write_transport
        self.session, self._slave, self.path = session, slave, os.ttyname(slave)
        return self.path

    def unplug(self) -> None:
        """Close the pty: the host's next read fails (EIO), as when a USB reader is pulled."""
        if self.session is not None:
            self.session.abort()
            self.session = None
        if self._slave is not None:
            with contextlib.suppress(OSError):
                os.close(self._slave)
            self._slave = None

    async def close(self) -> None:
        session = self.session
        self.unplug()
        if session is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.closed.wait(), 1.0)
