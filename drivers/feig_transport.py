"""The byte path to a FEIG ISC reader: one asyncio.Protocol for serial and TCP, one request in flight.

The reader only ever answers (no unsolicited frames in host mode) and its frames carry no sequence number, so
the link allows one request at a time, matches the next reply with the same CONTROL byte to it, and, when no
complete reply comes in time, flushes the FrameReader so the next exchange starts on a clean stream.
A reader that stays quiet is, to the caller, gone: a powered-off Ethernet reader sends no TCP reset, and only
the timeout notices it. Hence ReaderTimeout is a ReaderLost; the link itself stays usable for a retry.
"""

import asyncio
import logging
import os
import stat
import termios
from typing import Any

import serial
import serial_asyncio_fast

from tagd.drivers.base import ReaderLost
from tagd.protocols.feig.frames import MAX_ADVANCED_LENGTH, FrameReader, Garbage, Reply, Request

_log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 2.0
"""How long close() waits for the transport to report the line gone (a serial close runs in a thread)."""


class ReaderTimeout(ReaderLost):
    """The reader sent no complete answer in time; the link stays open, so a retry may succeed."""


class FeigLink(asyncio.Protocol):
    """Cuts the reader's byte stream into reply frames and hands each to the one request waiting for it.

    Counters for logs and tests: `garbage_bytes` (skipped while resyncing), `stray_replies` (frames nobody
    waited for, e.g. a late answer after a timeout) and `timeouts`.
    """

    def __init__(self, name: str, answer_timeout: float) -> None:
        self.name = name
        self.answer_timeout = answer_timeout
        self.garbage_bytes = 0
        self.stray_replies = 0
        self.timeouts = 0
        self._frames = FrameReader(Reply, max_length=MAX_ADVANCED_LENGTH)
        self._transport: asyncio.WriteTransport | None = None
        self._waiter: asyncio.Future[Reply] | None = None
        self._expected_control: int | None = None
        self._lost: str | None = None
        self._closed = asyncio.Event()
        self._lock = asyncio.Lock()

    # -- asyncio.Protocol ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._dispatch(self._frames.feed(data))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost is None:
            self._lost = f"{self.name}: connection lost" + (f" ({exc})" if exc is not None else "")
            _log.warning("%s", self._lost)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ReaderLost(self._lost))
        self._closed.set()

    # -- requests --------------------------------------------------------------------------------------

    async def exchange(self, request: Request) -> Reply:
        """Send one request, return its reply; ReaderLost when the line is gone, ReaderTimeout when quiet."""
        timeout = self.answer_timeout
        async with self._lock:
            transport = self._transport
            if self._lost is not None or transport is None or transport.is_closing():
                raise ReaderLost(self._lost or f"{self.name}: not connected")
            self._dispatch(self._frames.flush())  # what is left over from before can only be noise or stale
            waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
            self._waiter, self._expected_control = waiter, request.control
            try:
                transport.write(request.encode())
                await asyncio.wait({waiter}, timeout=timeout)
                if not waiter.done():
                    # A noise byte may claim a long frame and hold the reply back: resync through it first.
                    self._dispatch(self._frames.flush())
                if not waiter.done():
                    self.timeouts += 1
                    raise ReaderTimeout(f"{self.name}: the reader did not answer within {timeout:g} s")
                return waiter.result()
            finally:
                self._waiter = self._expected_control = None
                if not waiter.done():
                    waiter.cancel()

    def _dispatch(self, events: list[Reply | Garbage]) -> None:
        for event in events:
            if isinstance(event, Garbage):
                self.garbage_bytes += len(event.data)
                reason = event.reason.value
                _log.info("%s: skipped %d byte(s) of line noise (%s)", self.name, len(event.data), reason)
                continue
            waiter = self._waiter
            if waiter is None or waiter.done() or event.control != self._expected_control:
                self.stray_replies += 1
                _log.info("%s: dropped a reply nobody waited for: %r", self.name, event)
                continue
            waiter.set_result(event)

    async def close(self) -> None:
        """Close the line and wait (bounded) until the transport has let go of the port or socket."""
        if self._lost is None:
            self._lost = f"{self.name}: closed"
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()
        if self._transport is not None:
            try:
                await asyncio.wait_for(self._closed.wait(), CLOSE_TIMEOUT)
            except TimeoutError:
                _log.warning("%s: the transport did not report its close in %g s", self.name, CLOSE_TIMEOUT)


async def connect_tcp(host: str, port: int, name: str, answer_timeout: float) -> FeigLink:
    """A link over TCP (FEIG's LAN readers listen on 10001); refusals and timeouts are ReaderLost."""
    loop = asyncio.get_running_loop()
    connecting = loop.create_connection(lambda: FeigLink(name, answer_timeout), host, port)
    try:
        _, link = await asyncio.wait_for(connecting, answer_timeout)
    except (OSError, TimeoutError) as exc:
        raise ReaderLost(f"{name}: cannot connect to {host}:{port}: {exc or 'timed out'}") from exc
    return link


async def connect_serial(port: str, name: str, answer_timeout: float, **settings: Any) -> FeigLink:
    """A link over a serial port or any pyserial URL (serial_for_url); stale input is discarded on open.

    A pty has no line coding and Linux refuses parity on it (EINVAL), so there the port opens without parity.
    """
    loop = asyncio.get_running_loop()
    if settings.get("parity", serial.PARITY_NONE) != serial.PARITY_NONE and _is_pty(port):
        _log.info("%s: %s is a pty, which takes no parity: opening it without", name, port)
        settings = {**settings, "parity": serial.PARITY_NONE}
    try:
        transport, link = await serial_asyncio_fast.create_serial_connection(
            loop, lambda: FeigLink(name, answer_timeout), port, **settings
        )
        port_handle = transport.serial  # socket:// leaves it unopened: asyncio owns that socket
        if port_handle is not None and port_handle.is_open:
            await loop.run_in_executor(None, port_handle.reset_input_buffer)
    except (OSError, ValueError, serial.SerialException, termios.error) as exc:
        raise ReaderLost(f"{name}: cannot open {port}: {exc}") from exc
    assert isinstance(link, FeigLink)
    return link


def _is_pty(path: str) -> bool:
    """Unix98 pty slaves: character devices with majors 136-143 (Linux devices.txt)."""
    try:
        mode = os.stat(path)
    except OSError:
        return False
    return stat.S_ISCHR(mode.st_mode) and 136 <= os.major(mode.st_rdev) <= 143
