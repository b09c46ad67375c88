"""Bellows-style fake transports: the byte path between the FEIG driver and its emulator, in memory, with the
line's misbehaviour modelled (one byte at a time, delays, dropped bytes).

A mock at a boundary that cannot exist here: a real pty or loopback socket hands over each write whole and
never loses a byte, so a misbehaving line cannot be had from them on demand. Both ends are the real code (the
driver's FeigLink and the emulator's session) exchanging the real frames; only the wire between is modelled.
Delays are the event loop's own timers (call_later), so nothing sleeps.
"""

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def keep_every_byte(index: int) -> bool:
    return False


@dataclass(frozen=True)
class Line:
    """How one direction of the wire behaves.

    chunk: bytes per delivery (0: each write whole); delay: seconds before each delivery;
    drop: called with each byte's index in this direction's stream, True loses that byte.
    """

    chunk: int = 0
    delay: float = 0.0
    drop: Callable[[int], bool] = field(default=keep_every_byte)


def drop_at(*indexes: int) -> Callable[[int], bool]:
    """A drop rule losing exactly the bytes at these positions of the stream."""
    lost = frozenset(indexes)
    return lambda index: index in lost


class FakeTransport(asyncio.Transport):
    """One end of an in-memory wire: write() delivers to the other end's protocol as its Line says."""

    def __init__(self, protocol: asyncio.Protocol, line: Line) -> None:
        super().__init__()
        self._loop = asyncio.get_running_loop()
        self._protocol = protocol
        self._line = line
        self.peer: FakeTransport | None = None
        self.sent = 0
        self.dropped = 0
        self._queue: deque[bytes] = deque()
        self._pumping = False
        self._closing = False

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("fake-line", 0)}.get(name, default)

    def is_closing(self) -> bool:
        return self._closing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        data = bytes(data)
        kept = bytes(byte for index, byte in enumerate(data, self.sent) if not self._line.drop(index))
        self.sent += len(data)
        self.dropped += len(data) - len(kept)
        size = self._line.chunk or len(kept) or 1
        self._queue.extend(kept[start : start + size] for start in range(0, len(kept), size))
        if self._queue and not self._pumping:
            self._pumping = True
            self._loop.call_later(self._line.delay, self._deliver)

    def _deliver(self) -> None:
        if self._closing or self.peer is None or not self._queue:
            self._pumping = False
            return
        self.peer._protocol.data_received(self._queue.popleft())
        if self._queue:
            self._loop.call_later(self._line.delay, self._deliver)
        else:
            self._pumping = False

    def close(self) -> None:
        """Both ends see the line go (a socket's close reaches the peer as end of stream)."""
        for end in (self, self.peer):
            if end is not None and not end._closing:
                end._closing = True
                end._queue.clear()
                self._loop.call_soon(end._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


def connect(
    host: asyncio.Protocol, device: asyncio.Protocol, *, to_device: Line = Line(), to_host: Line = Line()
) -> tuple[FakeTransport, FakeTransport]:
    """Wire a host protocol to a device protocol; returns (host's transport, device's transport)."""
    host_end, device_end = FakeTransport(host, to_device), FakeTransport(device, to_host)
    host_end.peer, device_end.peer = device_end, host_end
    host.connection_made(host_end)
    device.connection_made(device_end)
    return host_end, device_end
