"""Shared helpers for station integration tests: a config on sim: hardware, the app running in-process
against the mosquitto fixture, and a circulation-system client that drives stations only through the
documented topics (`sim/`, `cmd/`) and collects what they publish.

    config = station_config(tmp_path, broker.port, [sim_station("encoder")])
    async with running(config) as app, Circulation(broker.port) as desk:
        await desk.sim(name, "place", profile="U-TAG-L301")
        event = await desk.wait_for("item.encoded", lambda e: e.data.item_id == "100000015")

Station names are made unique per test (the simulated world, scanners and card readers are process-wide).
"""

import asyncio
import contextlib
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import aiomqtt

from tagd.daemon.app import App
from tagd.daemon.config.model import Config, load_config_data
from tagd.daemon.notify import Notifier
from tagd.daemon.stations.base import Station
from tagd.protocols.display import DisplayState, english
from tagd.protocols.events import Envelope, parse_envelope

from . import contract

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
WAIT_S = 5.0
ISIL = "JP-1000001"
LIBRARY = "test"
_TAKES_SCANNER = ("encoder", "checkin")
_requests = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sim_station(role: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
    """A station table on sim: devices named after the station (scanner for encoder/checkin, card reader
    for checkout); `extra` adds or overrides keys."""
    name = name or unique(role)
    table: dict[str, Any] = {
        "name": name,
        "role": role,
        "library": LIBRARY,
        "isil": ISIL,
        "reader": f"sim:{name}",
    }
    if role in _TAKES_SCANNER:
        table["scanner"] = f"scanner:sim:{name}"
    if role == "checkout":
        table["card_reader"] = f"sim:{name}"
    return {**table, **extra}


def station_config(
    tmp_path: Path, port: int, stations: list[dict[str, Any]], **sections: Mapping[str, Any] | Any
) -> Config:
    """A validated Config: state in tmp_path, the broker on loopback `port`, quick reconnects.

    `sections` are top-level tables or keys, e.g. encoder={"tag_return_seconds": 2}, catalog={"load": p}.
    """
    document: dict[str, Any] = {
        "state_dir": str(tmp_path / "state"),
        "stations": stations,
        "mqtt": {
            "url": f"mqtt://127.0.0.1:{port}",
            "reconnect_min_seconds": 0.1,
            "reconnect_max_seconds": 1.0,
        },
        "log": {"format": "json", "level": "debug"},
        "display": {"listen": "off"},  # the pages' own tests (test_pages.py) pick a free port
    }
    for key, value in sections.items():
        if isinstance(value, Mapping) and isinstance(document.get(key), dict):
            document[key] = {**document[key], **value}
        else:
            document[key] = value
    return load_config_data(document, source="test config", base=tmp_path)


@contextlib.asynccontextmanager
async def running(
    config: Config, *, connected: bool = True, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[App]:
    """The app of `config` running in this event loop; ready (and, by default, every link connected).
    `clock` dates hold arrivals."""
    app = App(config, notifier=Notifier(None), clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(app.run(stop))
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            ready = asyncio.create_task(app.ready.wait())
            await asyncio.wait([task, ready], return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                ready.cancel()
                task.result()
                raise AssertionError("the app stopped before it was ready")
            if connected:
                await app.wait_connected()
        yield app
    finally:
        stop.set()
        async with asyncio.timeout(STOP_TIMEOUT_S):
            await asyncio.gather(task, return_exceptions=True)
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise AssertionError("the app failed") from task.exception()


class Circulation:
    """What a circulation system sees and does: every event, reply and status under `prefix`, and
    publishes on cmd/ and sim/. Use as `async with Circulation(port) as desk:`."""

    def __init__(self, port: int, prefix: str = "tagd") -> None:
        self.port, self.prefix = port, prefix
        self.events: list[Envelope] = []
        self.replies: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self._client: aiomqtt.Client | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> "Circulation":
        self._client = aiomqtt.Client("127.0.0.1", self.port, protocol=aiomqtt.ProtocolVersion.V5)
        await self._client.__aenter__()
        for suffix in ("+/events/#", "+/reply/+", "+/status"):
            await self._client.subscribe(f"{self.prefix}/{suffix}", qos=1)
        self._reader = asyncio.create_task(self._read(self._client))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._reader
        if self._client is not None:
            await self._client.__aexit__(kind, exc, tb)

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            contract.note(message.topic.value, payload)
            _, station, kind, *rest = message.topic.value.split("/")
            async with self._changed:
                if kind == "events":
                    self.events.append(parse_envelope(payload))
                elif kind == "reply":
                    self.replies[rest[0]] = json.loads(payload)
                elif kind == "status" and payload:
                    self.statuses[station] = json.loads(payload)
                self._changed.notify_all()

    # -- waiting ------------------------------------------------------------------------------------------

    def mark(self) -> int:
        """The number of events so far: pass it as `after` to wait only for newer ones."""
        return len(self.events)

    def of(self, kind: str, station: str | None = None, after: int = 0) -> list[Envelope]:
        """Events of short type `kind` (e.g. "item.encoded"), of one station if given, after a mark."""
        return [
            event
            for event in self.events[after:]
            if event.short_type == kind and (station is None or event.station == station)
        ]

    async def wait_for(
        self,
        kind: str,
        predicate: Callable[[Envelope], bool] = lambda _: True,
        within: float = WAIT_S,
        *,
        station: str | None = None,
        after: int = 0,
    ) -> Envelope:
        """The first event of `kind` (after the mark) that `predicate` accepts, within `within` seconds."""

        def found() -> Envelope | None:
            return next((e for e in self.of(kind, station, after) if predicate(e)), None)

        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: found() is not None)
        except TimeoutError:
            seen = [
                f"{e.short_type}@{e.station}: {e.data.model_dump(exclude_none=True)}" for e in self.events
            ]
            raise AssertionError(f"no {kind} within {within} s; events seen: {seen}") from None
        event = found()
        assert event is not None
        return event

    async def wait_status(
        self, station: str, predicate: Callable[[dict[str, Any]], bool], within: float = WAIT_S
    ) -> dict[str, Any]:
        """The station's retained status once `predicate` accepts it."""
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(
                    lambda: station in self.statuses and predicate(self.statuses[station])
                )
        except TimeoutError:
            raise AssertionError(f"status of {station}: {self.statuses.get(station)}") from None
        return self.statuses[station]

    async def wait_reply(self, request_id: str, within: float = WAIT_S) -> dict[str, Any]:
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: request_id in self.replies)
        except TimeoutError:
            raise AssertionError(f"no reply to {request_id} within {within} s") from None
        return self.replies[request_id]

    # -- driving --------------------------------------------------------------------------------------------

    async def publish(self, topic: str, payload: Mapping[str, Any] | bytes, *, retain: bool = False) -> None:
        assert self._client is not None
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        await self._client.publish(topic, body, qos=1, retain=retain)

    async def send(self, station: str, kind: str, name: str, payload: Mapping[str, Any]) -> None:
        """Publish on tagd/{station}/{kind}/{name} (kind: cmd or sim) without waiting for anything."""
        await self.publish(f"{self.prefix}/{station}/{kind}/{name}", payload)

    async def sim(self, station: str, action: str, within: float = WAIT_S, **fields: Any) -> dict[str, Any]:
        """sim/{action} with a fresh request_id; returns the reply (sim/place's names the tag's uid)."""
        request_id = f"sim-{next(_requests)}"
        await self.send(station, "sim", action, {"request_id": request_id, **fields})
        return await self.wait_reply(request_id, within)

    async def cmd(self, station: str, name: str, **fields: Any) -> str:
        """cmd/{name} with a fresh request_id (unless given); returns the request_id (see wait_reply)."""
        request_id = fields.pop("request_id", None) or f"cmd-{next(_requests)}"
        await self.send(station, "cmd", name, {"request_id": request_id, **fields})
        return str(request_id)


class Displays:
    """The display lines of one in-process station (what staff at the desk read), to wait on."""

    def __init__(self, station: Station) -> None:
        self.lines: list[str] = []
        self._changed = asyncio.Event()
        station.watch_display(self._show)

    def _show(self, _station: Station, state: DisplayState) -> None:
        self.lines.append(english(state))
        self._changed.set()

    def mark(self) -> int:
        return len(self.lines)

    async def wait_for(self, predicate: Callable[[str], bool], within: float = WAIT_S, after: int = 0) -> str:
        """The first line after the mark that `predicate` accepts."""
        try:
            async with asyncio.timeout(within):
                while True:
                    found = next((line for line in self.lines[after:] if predicate(line)), None)
                    if found is not None:
                        return found
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"no such display line within {within} s; shown: {self.lines}") from None
