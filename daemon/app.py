"""The composition root: one configuration in, the outbox, catalog, tag profiles and every station running.

Nothing else in tagd wires parts together, so what runs under systemd (`tagd run`), in the demo and in the
integration tests is the same object graph. Each station gets its own MQTT link (its own will), one
shared outbox and catalog, and the class its role names in ROLE_CLASSES. systemd hears READY once every
station has tried its devices, STATUS lines as things change, WATCHDOG while the loop runs and STOPPING on
the way out; SIGTERM or SIGINT stop tagd cleanly: stations first, then the links, which publish the
retained `offline` status before they disconnect.
"""

import asyncio
import contextlib
import importlib
import signal
from collections.abc import Iterable, Iterator

from tagd.daemon.catalog import Catalog, open_configured
from tagd.daemon.config import Config, Role, load_tag_profiles
from tagd.daemon.config_sections import Mqtt
from tagd.daemon.hold_desk import Clock, HoldDesk
from tagd.daemon.holds_ledger import HoldLedger
from tagd.daemon.logs import configure_logging, get_logger
from tagd.daemon.mqtt_client import MqttSettings, TlsSettings
from tagd.daemon.mqtt_link import MqttLink
from tagd.daemon.notify import Notifier
from tagd.daemon.outbox import Outbox, OutboxSettings, Reporter
from tagd.daemon.station import Station, StationContext
from tagd.protocols.events import Role as EventRole
from tagd.protocols.profiles import ProfileSet

__all__ = ["ROLE_CLASSES", "App", "mqtt_settings", "run_app", "station_class"]

log = get_logger(__name__)

ROLE_CLASSES: dict[Role, str] = {
    Role.ENCODER: "tagd.daemon.encoder:EncoderStation",
    Role.CHECKOUT: "tagd.daemon.checkout:CheckoutStation",
    Role.GATE: "tagd.daemon.gate:GateStation",
    Role.CHECKIN: "tagd.daemon.checkin:CheckinStation",
}
"""Role -> "module:class"; every class takes a StationContext. Imported when a station of the role runs."""
STATUS_SECONDS = 5.0
_CLIENT_ID_MAX = 32


def station_class(role: Role) -> type[Station]:
    """The class for `role`; the plain Station (devices and sim/ only) while a role's module is not built."""
    module_name, _, class_name = ROLE_CLASSES[role].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        log.warning("station.role_not_available", role=str(role), module=module_name)
        return Station
    found = getattr(module, class_name)
    if not (isinstance(found, type) and issubclass(found, Station)):
        raise TypeError(f"{ROLE_CLASSES[role]} is not a Station class")
    return found


def mqtt_settings(mqtt: Mqtt) -> MqttSettings:
    """The link's settings from the `[mqtt]` section."""
    tls = None
    if mqtt.secure:
        tls = TlsSettings(ca_file=mqtt.tls.ca_file, cert_file=mqtt.tls.cert_file, key_file=mqtt.tls.key_file)
    client_id = (mqtt.client_id or "tagd").replace(".", "-")[:_CLIENT_ID_MAX]
    return MqttSettings(
        host=mqtt.host,
        port=mqtt.port,
        protocol=mqtt.protocol,
        username=mqtt.username,
        password=mqtt.password,
        tls=tls,
        topic_prefix=mqtt.topic_prefix,
        client_id=client_id,
        keepalive=min(mqtt.keepalive, 3600),
        reconnect_min_seconds=mqtt.reconnect_min_seconds,
        reconnect_max_seconds=mqtt.reconnect_max_seconds,
        connect_timeout_seconds=mqtt.connect_timeout_seconds,
        inflight=mqtt.inflight,
        replay_window_seconds=mqtt.replay_window_seconds,
    )


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
            await self._serve(stop)
        finally:
            if ledger is not None:
                await ledger.close()
            await self.outbox.close()
            if self.catalog is not None:
                self.catalog.close()
            self.notifier.close()
            log.info("tagd.stopped")

    def _build(self, outbox: Outbox, catalog: Catalog, profiles: ProfileSet) -> None:
        shared = mqtt_settings(self.config.mqtt)
        for station in self.config.stations:
            reporter = Reporter(outbox, station=station.name, library=station.library)
            settings = shared
            if station.mqtt_username is not None:  # a broker user of its own (an ACL per station)
                own = {"username": station.mqtt_username, "password": station.mqtt_password}
                settings = shared.model_copy(update=own)
            link = MqttLink(
                settings, reporter, role=EventRole(station.role.value), scheme=self.config.barcode.scheme
            )
            cls = station_class(station.role)
            context = StationContext(self.config, station, link, catalog, profiles, self.holds)
            self.links[station.name] = link
            self.stations[station.name] = cls(context)

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


@contextlib.contextmanager
def _signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop` (where the loop can take signals: the main thread)."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def run_app(config: Config, *, stop: asyncio.Event | None = None) -> None:
    """The daemon: logging as configured, every station, until SIGTERM/SIGINT (or `stop`) ends it."""
    configure_logging(
        config.log.format, config.log.level, secrets=[config.mqtt.password, config.security.eas_afi_password]
    )
    stop = stop or asyncio.Event()
    log.info("tagd.starting", stations=[station.name for station in config.stations], mqtt=config.mqtt.url)
    with _signals(stop):
        await App(config).run(stop)
