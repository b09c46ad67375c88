"""`tagd demo`: the demo branch on simulated hardware, an embedded broker, a scripted day and the live feed.

The stations are the ones `tagd run` starts (run_app on config/demo.toml), pointed at an embedded broker
(which speaks MQTT 3.1.1 only) and at a fresh temporary state directory, so every demo starts from an empty
outbox and a freshly imported catalog. The scripted day (demo_day) drives them only through the documented
sim/ and cmd/ topics, as a circulation system and its staff would; the feed shows every status and event.
Afterwards the stations keep running for anyone to drive (until Ctrl-C), unless `once`.
"""

import asyncio
import contextlib
import functools
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path
from tempfile import TemporaryDirectory

from tagd.daemon.app import run_app
from tagd.daemon.config.model import Config, load_config
from tagd.daemon.demo.broker import HOST, PROTOCOL, EmbeddedBroker
from tagd.daemon.demo.day import Day, Stations
from tagd.daemon.demo.desk import DemoClient, DemoStepError
from tagd.daemon.monitor.follow import Connection, follow
from tagd.daemon.monitor.render import EventPrinter, use_language
from tagd.daemon.signals import stop_on_signals
from tagd.protocols import events as ev
from tagd.protocols.i18n import Language

__all__ = ["DemoOptions", "DemoStepError", "demo_config", "run_demo"]

DEMO_CONFIG = "demo.toml"
STEP_TIMEOUT_S = 20.0
"""How long a step waits for the event it must produce (the first also waits for the stations to start)."""
SHUTDOWN_TIMEOUT_S = 10.0
_NOISY_LIBRARIES = ("amqtt", "transitions")
"""Their logs are silenced: the broker's per-connection chatter is not the demo's story, and a failed start is
reported by tagd itself."""


@dataclass(frozen=True)
class DemoOptions:
    port: int = 0
    """The embedded broker's port on 127.0.0.1; 0 picks a free one."""
    speed: float = 1.0
    """Pace of the narration: 2 is twice as fast; 0 runs the steps back to back."""
    once: bool = False
    """Stop after the scripted day instead of running on until Ctrl-C."""
    display_listen: str = "127.0.0.1:8080"
    """Where the station pages listen ("off": no pages); a port taken falls back to a free one."""
    language: Language = "ja"
    """What the pages and the feed say things in."""


def demo_config(
    broker_url: str, state_dir: Path, display_listen: str = "off", language: Language = "ja"
) -> Config:
    """config/demo.toml (shipped in tagd.config), on the given broker and state directory."""
    overrides = {
        "mqtt": {"url": broker_url, "protocol": PROTOCOL},
        "state_dir": str(state_dir),
        "log": {"level": "warning"},
        "display": {"listen": display_listen, "language": language},
    }
    with as_file(files("tagd.config").joinpath(DEMO_CONFIG)) as path:
        return load_config(path, overrides)


async def run_demo(
    options: DemoOptions, *, printer: EventPrinter | None = None, stop: asyncio.Event | None = None
) -> list[ev.Envelope]:
    """The demo until the day is done (`once`) or `stop` is set; the events seen. Raises DemoStepError when a
    step did not produce its events, BrokerStartError when the port is taken."""
    printer = printer or EventPrinter()
    use_language(options.language)
    stop = stop or asyncio.Event()
    for name in _NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    with stop_on_signals(stop), TemporaryDirectory(prefix="tagd-demo-") as state_dir:
        async with EmbeddedBroker(options.port) as broker:
            listen = _free_listen(options.display_listen)
            config = demo_config(broker.url, Path(state_dir), listen, options.language)
            stations = Stations.by_role({station.role: station.name for station in config.stations})
            pages = _pages(config)
            _banner(printer, broker.port, options, pages)
            connection = Connection(HOST, broker.port, prefix=config.mqtt.topic_prefix)
            async with connection.client() as client:
                desk = DemoClient(client, printer, prefix=connection.prefix, timeout=STEP_TIMEOUT_S)
                subscribed = asyncio.Event()
                listener = asyncio.create_task(
                    follow(connection, desk.topics, desk.receive, subscribed=subscribed)
                )
                try:
                    await asyncio.wait_for(subscribed.wait(), STEP_TIMEOUT_S)
                    day = Day(desk, stations, printer, options.speed, pages)
                    after = functools.partial(_afterword, printer, day, options, broker.port)
                    await _run_day(config, day, stop, once=options.once, after=after)
                    with contextlib.suppress(DemoStepError):
                        await desk.wait_offline(stations.all())
                    printer.say("The demo has stopped.", style="bold")
                finally:
                    listener.cancel()
                    await asyncio.gather(listener, return_exceptions=True)
    return desk.events


async def _run_day(
    config: Config, day: Day, stop: asyncio.Event, *, once: bool, after: Callable[[], None]
) -> None:
    """The stations, the day alongside them, `after` it, then (unless once) the stations until `stop`."""
    app = asyncio.create_task(run_app(config, stop=stop), name="stations")
    script = asyncio.create_task(day.run(), name="scripted day")
    stopped = asyncio.create_task(stop.wait(), name="stop")
    try:
        await asyncio.wait([app, script, stopped], return_when=asyncio.FIRST_COMPLETED)
        if script.done() and not stop.is_set():
            script.result()
            after()
            if not once:
                await asyncio.wait([app, stopped], return_when=asyncio.FIRST_COMPLETED)
        if app.done() and not stop.is_set():
            app.result()
            raise DemoStepError("the stations stopped on their own")
    finally:
        stop.set()
        for task in (script, stopped):
            task.cancel()
        await asyncio.gather(script, stopped, return_exceptions=True)
        async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
            await app


def _free_listen(listen: str) -> str:
    """`listen`, or the same host on a free port when its port is taken (a second demo, a busy 8080)."""
    if listen == "off":
        return listen
    host, _, port = listen.rpartition(":")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host.strip("[]"), int(port)))
        except OSError:
            probe.bind((host.strip("[]"), 0))
            return f"{host}:{probe.getsockname()[1]}"
    return listen


def _pages(config: Config) -> dict[str, str]:
    display = config.display
    if not display.enabled:
        return {}
    host = f"[{display.host}]" if ":" in display.host else display.host
    base = f"http://{host}:{display.port}"
    return {station.name: f"{base}/stations/{station.name}" for station in config.stations}


def _banner(printer: EventPrinter, port: int, options: DemoOptions, pages: dict[str, str]) -> None:
    printer.say("tagd demo: a library branch on simulated RFID hardware", style="bold underline")
    lines = [
        f"An embedded MQTT broker on mqtt://{HOST}:{port} (MQTT {PROTOCOL}). Each feed line is an event or a",
        "retained status as any subscriber sees it (`tagd monitor` shows the same). The story drives the",
        f"stations only through their sim/ and cmd/ topics, shown as ⇢.  Speed {options.speed:g}.",
    ]
    for line in lines:
        printer.say(line, style="")
    if pages:
        printer.say("The station pages, what staff at each desk see (open them in a browser):", style="bold")
        for name, url in pages.items():
            printer.say(f"  {name:<16} {url}", style="")


def _afterword(printer: EventPrinter, day: Day, options: DemoOptions, port: int) -> None:
    printer.say("")
    printer.say(f"End of the scripted day: {len(day.desk.events)} events.", style="bold")
    if options.once:
        return
    topic = f"{day.desk.prefix}/{day.at.encoder}/sim"
    publish = f"mosquitto_pub -V mqttv311 -p {port} -t {topic}"
    holds = f"mosquitto_pub -V mqttv311 -p {port} -r -t {day.desk.prefix}/holds/100000017"
    hold = (
        '{"holds": [{"hold_id": "H-2", "patron_ref": "p-0007", "pickup_library": "demo", "notify": "phone",'
        ' "placed_at": "2026-11-21T10:00:00+09:00", "type": "single"}]}'
    )
    checkin = f"mosquitto_pub -V mqttv311 -p {port} -t {day.desk.prefix}/{day.at.checkin}/sim/scan"
    hints = [
        "The stations keep running: drive them yourself, e.g. scan ごんぎつね and lay a new tag on the pad:",
        f'  {publish}/scan -m \'{{"raw": "A100000090A"}}\'',
        f'  {publish}/place -m \'{{"profile": "U-TAG-L301"}}\'',
        "place a hold on 吾輩は猫である and return it at check-in (docs/holds.md):",
        f"  {holds} -m '{hold}'",
        f'  {checkin} -m \'{{"raw": "A100000017A"}}\'',
        f"or follow them from another terminal: tagd monitor --mqtt-url mqtt://{HOST}:{port}",
        "Ctrl-C stops the demo.",
    ]
    for line in hints:
        printer.say(line, style="")
