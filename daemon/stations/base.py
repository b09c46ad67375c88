"""The station base: one role at one desk, its devices supervised, its events reported.

A station never stops for a device: a reader, scanner or card reader that goes away (ReaderLost: a pty
closed, a TCP reset, a PC/SC reader pulled out, the simulator's `unplugged`) is reported as `reader.lost`,
reopened with capped exponential backoff and reported as `reader.connected` again, while the station and
the process go on. A role's class implements `run()` and the `on_scan` / `on_card` hooks, and does every
reader operation inside `async with self.use_reader() as reader:`, which serialises access to the reader
and hands a ReaderLost to the supervisor. The base knows no role: the registry (stations/__init__.py)
names them, and the composition root (daemon/app.py) builds them, with the hold trap and the sim/ topics.

A station that cannot report (the outbox is full) takes no new work: `refusal()` says why, and `emit`
raises OutboxFull, which the router turns into an `outbox_full` reply for commands.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tagd.daemon.config.model import Config, StationConfig
from tagd.daemon.i18n import render
from tagd.daemon.logs import get_logger
from tagd.daemon.mqtt.link import MqttLink
from tagd.daemon.retry import Backoff
from tagd.daemon.store.catalog import Catalog
from tagd.drivers import (
    CardRead,
    DriverError,
    Reader,
    ReaderLost,
    open_card_reader,
    open_reader,
    open_scanner,
)
from tagd.protocols.display import DisplayCode, DisplayMessage, DisplayState, english
from tagd.protocols.events import (
    Envelope,
    EventData,
    ReaderConnected,
    ReaderLostEvent,
    ReaderState,
    ReaderStatus,
    Role,
)
from tagd.protocols.profiles import ProfileSet

__all__ = ["CARD_READER", "READER", "SCANNER", "Station", "StationContext"]

log = get_logger(__name__)

READER, SCANNER, CARD_READER = "reader", "scanner", "card_reader"
"""The names a station gives its devices in status and in reader.* events."""
RUN_RESTART_SECONDS = 1.0


@dataclass(frozen=True)
class StationContext:
    """Everything the composition root hands a station; every station class takes exactly this."""

    config: Config
    settings: StationConfig
    link: MqttLink
    catalog: Catalog
    profiles: ProfileSet


class Station:
    """The base every role builds on: devices kept and supervised, events reported, the desk's line.

    The `[devices]` config section gives the reopen backoff (`retry_min_seconds` / `retry_max_seconds`)
    and `probe_seconds` (how often an idle reader is checked, so a loss shows without work).
    """

    def __init__(self, context: StationContext) -> None:
        settings = context.settings
        devices = context.config.devices
        self.retry_min_seconds = devices.reconnect_min_seconds
        self.retry_max_seconds = devices.reconnect_max_seconds
        self.probe_seconds = devices.probe_seconds
        self.context = context
        self.config = context.config
        self.settings = settings
        self.name: str = settings.name
        self.role: Role = settings.role
        self.library: str = settings.library
        self.isil: str = settings.isil
        self.link = context.link
        self.router = context.link.router
        self.catalog = context.catalog
        self.profiles = context.profiles
        self.display_state = DisplayState.of(DisplayCode.IDLE)
        self.display_line = english(self.display_state)
        self.started = asyncio.Event()
        """Set once every device has had its first opening attempt (successful or not)."""
        self._display_watchers: list[Callable[[Station, DisplayState], None]] = []
        configured = {READER: settings.reader, SCANNER: settings.scanner, CARD_READER: settings.card_reader}
        self._devices: dict[str, ReaderStatus] = {
            device: ReaderStatus(url=url, state=ReaderState.CONNECTING)
            for device, url in configured.items()
            if url is not None
        }
        """Every configured device from the start, so the status (and the will) always lists them all."""
        self.link.set_readers(self._devices)
        self._reader: Reader | None = None
        self._reader_ready = asyncio.Event()
        self._reader_lock = asyncio.Lock()
        self._reader_gone: asyncio.Future[str] | None = None
        self._last_use = time.monotonic()
        self._first_attempts: set[str] = set()

    # -- what subclasses implement ------------------------------------------------------------------

    async def run(self) -> None:
        """The station's own loop (polling a pad, a gate); the base has none and just waits."""
        await asyncio.Event().wait()

    async def on_scan(self, raw: str) -> None:
        """A raw barcode scan from the station's scanner; return quickly (start work, do not wait it out)."""
        log.info("station.scan_ignored", station=self.name, raw=raw)

    async def on_card(self, card: CardRead) -> None:
        """A patron card from the station's card reader; return quickly."""
        log.info("station.card_ignored", station=self.name, technology=card.technology)

    # -- reporting and the desk -------------------------------------------------------------------------

    async def emit(self, data: EventData) -> Envelope:
        """Store the event (the link publishes it). Raises OutboxFull: the caller refuses the work."""
        return await self.link.emit(data)

    async def report(self, data: EventData) -> None:
        """For events about the station itself (devices): never raises; an unstored event is logged."""
        try:
            await self.link.report(data)
        except Exception:  # a device's supervision must outlive a fault in reporting it
            log.exception("station.report_failed", station=self.name, type=data.TYPE)

    def refusal(self) -> str | None:
        """Why the station takes no new work now, or None: it cannot report while the outbox is full."""
        outbox = self.link.reporter.outbox
        if outbox.full or outbox.depth >= outbox.settings.max_events:
            return "the outbox is full: events cannot be stored, so no new work is taken"
        return None

    async def refused_for_outbox(self) -> bool:
        """For work that has no reply topic (a scan, a tag on a pad): show the refusal at the desk."""
        if self.refusal() is not None:
            self.display(DisplayState.of(DisplayCode.OUTBOX_FULL))
            return True
        return False

    def display(self, state: DisplayState) -> None:
        """What staff at the desk see now: logged in English, published retained on `{station}/display`
        in the configured language, and handed to the watchers (the station page, tests)."""
        self.display_state = state
        self.display_line = english(state)
        log.info(
            "station.display", station=self.name, code=str(state.code), display_level=str(state.level),
            line=self.display_line,
        )
        language = self.config.display.language
        now = datetime.now(UTC)
        self.link.show(DisplayMessage.of(state, render(state, language), language, now))
        for watcher in self._display_watchers:
            watcher(self, state)

    def watch_display(self, callback: Callable[["Station", DisplayState], None]) -> None:
        self._display_watchers.append(callback)

    # -- the reader ---------------------------------------------------------------------------------------

    @property
    def reader_connected(self) -> bool:
        return self._reader_ready.is_set()

    @contextlib.asynccontextmanager
    async def use_reader(self) -> AsyncIterator[Reader]:
        """The reader, once connected, for this caller alone; a ReaderLost inside is reported and re-raised.

        Waits (unbounded) while the reader is away: wrap it in asyncio.timeout where a deadline applies.
        """
        async with self._reader_lock:
            await self._reader_ready.wait()
            reader = self._reader
            assert reader is not None
            try:
                yield reader
            except ReaderLost as exc:
                self.reader_failed(reader, exc)
                raise
            finally:
                self._last_use = time.monotonic()

    def reader_failed(self, reader: Reader, error: BaseException) -> None:
        """Tell the supervisor this reader is gone (idempotent; an older reader's failure is ignored)."""
        gone = self._reader_gone
        if reader is self._reader and gone is not None and not gone.done():
            self._reader_ready.clear()
            gone.set_result(str(error) or type(error).__name__)

    # -- running ------------------------------------------------------------------------------------------

    async def serve(self) -> None:
        """Devices, their supervision and `run()`, until cancelled; the devices are closed on the way out."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._keep_open(READER, self.settings.reader, open_reader, self._use_reader))
            for device, url, opener, handle in (
                (SCANNER, self.settings.scanner, open_scanner, self.on_scan),
                (CARD_READER, self.settings.card_reader, open_card_reader, self.on_card),
            ):
                if url is not None:
                    use = self._feed_user(device, url, handle)
                    group.create_task(self._keep_open(device, url, opener, use))
            group.create_task(self._run_guarded())

    async def _run_guarded(self) -> None:
        """A bug in a station's loop is logged and the loop restarted: the desk keeps a working station."""
        while True:
            try:
                await self.run()
            except Exception:
                log.exception("station.run_failed", station=self.name)
                await asyncio.sleep(RUN_RESTART_SECONDS)
            else:
                log.info("station.run_ended", station=self.name)
                await asyncio.Event().wait()

    def _attempted(self, device: str) -> None:
        self._first_attempts.add(device)
        wanted = {READER}
        wanted |= {SCANNER} if self.settings.scanner else set()
        wanted |= {CARD_READER} if self.settings.card_reader else set()
        if wanted <= self._first_attempts:
            self.started.set()

    def _set_state(self, device: str, url: str, state: ReaderState) -> None:
        self._devices[device] = ReaderStatus(url=url, state=state)
        self.link.set_readers(self._devices)

    async def _connected(self, device: str, url: str) -> None:
        self._set_state(device, url, ReaderState.CONNECTED)
        log.info("device.connected", station=self.name, device=device, url=url)
        await self.report(ReaderConnected(reader=device, url=url))

    async def _lost(self, device: str, url: str, error: str, retry_in: float) -> None:
        self._set_state(device, url, ReaderState.LOST)
        log.warning(
            "device.lost", station=self.name, device=device, url=url, error=error, retry_in_s=retry_in
        )
        await self.report(
            ReaderLostEvent(reader=device, url=url, error=error[:500], retry_in_s=round(retry_in, 3))
        )

    async def _keep_open(
        self,
        device: str,
        url: str,
        opener: Callable[[str], Awaitable[Any]],
        use: Callable[[Any], Awaitable[str]],
    ) -> None:
        """Open the device and hand it to `use` until it is gone (`use` returns why), forever.

        A device that cannot be opened is reported lost once, then retried with backoff; one that goes away
        is closed, reported lost with the delay before the next try, and opened again.
        """
        backoff = Backoff(self.retry_min_seconds, self.retry_max_seconds)
        reported = False
        self._set_state(device, url, ReaderState.CONNECTING)
        while True:
            try:
                opened = await opener(url)
            except DriverError as exc:
                delay = backoff.next()
                if not reported:
                    await self._lost(device, url, str(exc), delay)
                    reported = True
                self._attempted(device)
                await asyncio.sleep(delay)
                continue
            try:
                error = await use(opened)
            finally:
                with contextlib.suppress(DriverError, OSError):
                    await opened.close()
            answered = self._devices[device].state is ReaderState.CONNECTED
            if answered:
                backoff.reset()
            delay = backoff.next()
            if answered or not reported:  # one loss is one reader.lost, not one per unanswered try
                await self._lost(device, url, error, delay)
            reported = True
            await asyncio.sleep(delay)

    async def _opened(self, device: str, url: str) -> None:
        await self._connected(device, url)
        self._attempted(device)

    async def _use_reader(self, reader: Reader) -> str:
        """The reader serves `use_reader` until found gone; returns why. "Connected" means it answered: a
        reader that accepts the connection but answers nothing (hung) is not reported connected."""
        try:
            await reader.inventory()
        except DriverError as exc:
            self._attempted(READER)
            return f"it does not answer: {exc}"
        gone: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._reader, self._reader_gone = reader, gone
        self._reader_ready.set()
        try:
            await self._opened(READER, self.settings.reader)
            return await self._watch(gone)
        finally:
            self._reader_ready.clear()

    async def _watch(self, gone: "asyncio.Future[str]") -> str:
        """Until the reader is found gone: by its users, or by an inventory probe while nobody uses it."""
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(gone), self.probe_seconds)
            except TimeoutError:
                pass
            idle = time.monotonic() - self._last_use >= self.probe_seconds
            if idle and self._reader_ready.is_set() and not self._reader_lock.locked():
                with contextlib.suppress(DriverError):
                    async with self.use_reader() as probed:
                        await probed.inventory()

    def _feed_user(
        self, device: str, url: str, handle: Callable[[Any], Awaitable[None]]
    ) -> Callable[[Any], Awaitable[str]]:
        """A scanner's or card reader's use: each read goes to `handle` until the device stops, then why."""

        async def use(source: Any) -> str:
            await self._opened(device, url)
            try:
                async for read in source:
                    await self._handle_read(device, handle, read)
            except DriverError as exc:
                return str(exc) or type(exc).__name__
            return "the device stopped"

        return use

    async def _handle_read(self, device: str, handle: Callable[[Any], Awaitable[None]], read: object) -> None:
        try:
            await handle(read)
        except Exception:
            log.exception("station.read_failed", station=self.name, device=device, read=str(read))
