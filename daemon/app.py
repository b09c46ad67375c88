"""The composition root: one configuration in, the outbox, catalog, tag profiles and every station running.

Nothing else in tagd wires parts together, so what runs under systemd (`tagd run`), in the demo and in the
integration tests is the same object graph. Each station gets its own MQTT link (its own will), one
shared outbox and catalog, and the class its role names in the registry (stations/__init__.py); check-in
stations share the process's hold trap, and a station on sim: hardware answers the sim/ topics.

systemd hears READY once every station has tried its devices, STATUS lines as things change, WATCHDOG while
the loop runs and STOPPING on the way out; SIGTERM or SIGINT stop tagd cleanly: stations first, then the
links, which publish the retained `offline` status before they disconnect.
"""

import asyncio
from collections.abc import Iterable

from tagd.daemon.config.model import Config, load_tag_profiles
from tagd.daemon.display.server import DisplayServer
from tagd.daemon.holds.ledger import HoldLedger
from tagd.daemon.holds.trap import Clock, HoldDesk
from tagd.daemon.logs import configure_logging, get_logger
from tagd.daemon.mqtt.link import MqttLink
from tagd.daemon.notify import Notifier
from tagd.daemon.signals import stop_on_signals
from tagd.daemon.sim_control import SimControl
from tagd.daemon.stations import station_class
from tagd.daemon.stations.base import Station, StationContext
from tagd.daemon.stations.checkin import CheckinStation
from tagd.daemon.store.catalog import Catalog, open_configured
from tagd.daemon.store.outbox import Outbox, OutboxSettings, Reporter
from tagd.protocols.payload_types import Role
from tagd.protocols.profiles import ProfileSet

__all__ = ["App", "run_app"]

log = get_logger(__name__)

STATUS_SECONDS = 5.0


class App:
    """Build with a Config, then `await app.run(stop)`; `stations` and `links` are there for tests and the
    demo once `ready` is set."""

    def __init__(
        self, config: Config, *, notifier: Notifier | None = None, clock: Clock | None = None
    ) -> None:
        """`clock` (aware datetimes) dates hold arrivals; tests pass one to cross a month end."""
        self.config = config
        self.clock = clock
        self.notifier = notifier or Notifier.from_environ()
        self.stations: dict[str, Station] = {}
        self.links: dict[str, MqttLink] = {}
        self.outbox: Outbox | None = None
        self.catalog: Catalog | None = None
        self.holds: HoldDesk | None = None
        self.sims: dict[str, SimControl] = {}
        """The sim/ handlers of each station on sim: hardware."""
        self.display: DisplayServer | None = None
        """The station pages (daemon/display), unless `[display] listen` is off."""
        self.ready = asyncio.Event()

    def station(self, name: str) -> Station:
        return self.stations[name]

    async def wait_connected(self) -> None:
        """Until every station's link has a broker session (tests wait on this; the daemon need not)."""
        await asyncio.gather(*(link.wait_connected() for link in self.links.values()))

    def status_line(self) -> str:
        connected = sum(link.connected for link in self.links.values())
        outbox = self.outbox
        depth = 0 if outbox is None else outbox.depth
        full = ", OUTBOX FULL" if outbox is not None and outbox.full else ""
        lost = sum(
            any(state.state != "connected" for state in link.status().readers.values())
            for link in self.links.values()
        )
        return (
            f"{len(self.stations)} stations, MQTT {connected}/{len(self.links)} connected, "
            f"{lost} with a device away, outbox {depth} waiting{full}"
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Everything, until `stop` is set; then a clean shutdown. A task that dies unexpectedly ends it."""
        profiles = load_tag_profiles(self.config)
        self.outbox = await Outbox.open(
            OutboxSettings(
                path=self.config.outbox_path,
                max_events=self.config.outbox.max_events,
                max_bytes=int(self.config.outbox.max_bytes),
                synchronous=self.config.outbox.synchronous,
            )
        )
        ledger: HoldLedger | None = None
        try:
            self.catalog = open_configured(self.config)
            if any(station.role is Role.CHECKIN for station in self.config.stations):
                ledger = await HoldLedger.open(self.config.holds_path)
                self.holds = HoldDesk(ledger, self.config.holds, self.clock)
            self._build(self.outbox, self.catalog, profiles)
            if self.config.display.enabled:
                self.display = DisplayServer(self.config.display, self.stations, self.outbox)
                await self.display.start()
            await self._serve(stop)
        finally:
            if self.display is not None:
                await self.display.close()
            if ledger is not None:
                await ledger.close()
            await self.outbox.close()
            if self.catalog is not None:
                self.catalog.close()
            self.notifier.close()
            log.info("tagd.stopped")

    def _build(self, outbox: Outbox, catalog: Catalog, profiles: ProfileSet) -> None:
        shared = self.config.mqtt
        for station in self.config.stations:
            reporter = Reporter(outbox, station=station.name, library=station.library)
            settings = shared
            if station.mqtt_username is not None:  # a broker user of its own (an ACL per station)
                own = {"username": station.mqtt_username, "password": station.mqtt_password}
                settings = shared.model_copy(update=own)
            link = MqttLink(settings, reporter, role=station.role, scheme=self.config.barcode.scheme)
            context = StationContext(self.config, station, link, catalog, profiles)
            built = self._station(context)
            self.links[station.name] = link
            self.stations[station.name] = built
            control = SimControl.for_station(built)
            if control is not None:
                self.sims[station.name] = control

    def _station(self, context: StationContext) -> Station:
        """The role's station; a check-in station gets the process's hold trap, and joins it."""
        cls = station_class(context.settings.role)
        if not issubclass(cls, CheckinStation) or self.holds is None:
            return cls(context)
        station = cls(context, trap=self.holds)
        self.holds.attach(station)
        return station

    async def _serve(self, stop: asyncio.Event) -> None:
        links = [asyncio.create_task(link.run(), name=f"link {name}") for name, link in self.links.items()]
        stations = [
            asyncio.create_task(s.serve(), name=f"station {name}") for name, s in self.stations.items()
        ]
        helpers = [asyncio.create_task(self.notifier.keep_alive(), name="watchdog")]
        stopping = asyncio.create_task(_wait(stop), name="stop")
        started = asyncio.create_task(_all_started(self.stations.values()), name="started")
        failed: BaseException | None = None
        try:
            await asyncio.wait([stopping, started, *links, *stations], return_when=asyncio.FIRST_COMPLETED)
            if started.done():
                self.notifier.ready(self.status_line())
                self.ready.set()
                log.info("tagd.ready", stations=list(self.stations))
                helpers.append(asyncio.create_task(self._report_status(), name="status"))
                await asyncio.wait([stopping, *links, *stations], return_when=asyncio.FIRST_COMPLETED)
            failed = _failure([*links, *stations])
        finally:
            self.notifier.stopping("stopping: stations first, then the MQTT links")
            await _cancel([stopping, started, *helpers])
            await _cancel(stations)
            await _cancel(links)
        if failed is not None:
            raise failed

    async def _report_status(self) -> None:
        last = ""
        while True:
            line = self.status_line()
            if line != last:
                self.notifier.status(line)
                last = line
            await asyncio.sleep(STATUS_SECONDS)


async def _wait(event: asyncio.Event) -> None:
    await event.wait()


async def _all_started(stations: Iterable[Station]) -> None:
    await asyncio.gather(*(station.started.wait() for station in stations))


def _failure(tasks: list["asyncio.Task[None]"]) -> BaseException | None:
    """The error of a task that ended by itself (they run until cancelled); logged."""
    for task in tasks:
        if task.done() and not task.cancelled():
            error = task.exception() or RuntimeError(f"{task.get_name()} ended")
            log.error("tagd.task_ended", task=task.get_name(), error=str(error) or repr(error))
            return error
    return None


async def _cancel(tasks: list["asyncio.Task[None]"]) -> None:
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for task, result in zip(tasks, results, strict=True):
        if isinstance(result, Exception):
            log.error("tagd.task_failed_on_stop", task=task.get_name(), error=str(result) or repr(result))


async def run_app(config: Config, *, stop: asyncio.Event | None = None) -> None:
    """The daemon: logging as configured, every station, until SIGTERM/SIGINT (or `stop`) ends it."""
    configure_logging(
        config.log.format, config.log.level, secrets=[config.mqtt.password, config.security.eas_afi_password]
    )
    stop = stop or asyncio.Event()
    log.info("tagd.starting", stations=[station.name for station in config.stations], mqtt=config.mqtt.url)
    with stop_on_signals(stop):
        await App(config).run(stop)
