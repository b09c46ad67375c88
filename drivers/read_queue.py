"""A read queue: the hand-over from whatever produces scans or card reads (a serial protocol, an nfcpy
thread, the simulator) to the one coroutine iterating a Scanner or CardReader.

A queue ends cleanly when its driver is closed and ends with a typed error when the device goes away, so a
consumer's `async for` either finishes or raises ReaderLost. It is bounded: a consumer that stalls loses the
oldest reads (logged), never the process's memory.
"""

import asyncio
import logging
from typing import Generic, TypeVar

from tagd.drivers.base import DriverError

T = TypeVar("T")
DEFAULT_DEPTH = 256
_log = logging.getLogger(__name__)


class _End:
    """Queued after the last item: the consumer stops, or raises `error`."""

    def __init__(self, error: DriverError | None) -> None:
        self.error = error


class ReadQueue(Generic[T]):
    """Items in order, then the end; `put`, `fail` and `end` are called on the event loop's thread."""

    def __init__(self, name: str, depth: int = DEFAULT_DEPTH) -> None:
        self.name = name
        self._depth = depth
        self._queue: asyncio.Queue[T | _End] = asyncio.Queue()
        self._end: _End | None = None

    @property
    def ended(self) -> bool:
        return self._end is not None

    def put(self, item: T) -> None:
        """Queues an item; after the end it is dropped (the device is closed or gone)."""
        if self._end is not None:
            _log.warning("%s: dropped %r, read after the device was closed", self.name, item)
            return
        if self._queue.qsize() >= self._depth:
            _log.warning("%s: nobody is reading; dropped the oldest of %d reads", self.name, self._depth)
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    def end(self) -> None:
        """The driver was closed: the consumer gets what is queued, then StopAsyncIteration."""
        self._finish(_End(None))

    def fail(self, error: DriverError) -> None:
        """The device is gone: the consumer gets what is queued, then `error`."""
        self._finish(_End(error))

    def _finish(self, end: _End) -> None:
        if self._end is None:
            self._end = end
            self._queue.put_nowait(end)

    async def next(self) -> T:
        item = await self._queue.get()
        if isinstance(item, _End):
            self._queue.put_nowait(item)  # every later call ends the same way
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        return item
