"""The demo's stand-in for the circulation system and the staff: it drives the stations over MQTT only.

It publishes on the documented `sim/` and `cmd/` topics (always with a request_id, and waits for the
reply), shows every status and event on the feed as it arrives, and lets the script wait for the event a
step should produce, so the demo shows (and, with --once, checks) that each step did what it says.
"""

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import aiomqtt
from pydantic import ValidationError

from tagd.daemon.monitor.follow import Received
from tagd.daemon.monitor.render import EventPrinter, entry_for_message
from tagd.protocols import events as ev

__all__ = ["DemoClient", "DemoStepError"]

ACTION_STYLE = "dim"
T = TypeVar("T")


class DemoStepError(Exception):
    """A step of the scripted day did not give what it should (the message says which and what)."""


class DemoClient:
    """Give it a connected client to publish with, and feed it every message received (`receive`)."""

    def __init__(
        self, client: aiomqtt.Client, printer: EventPrinter, *, prefix: str = "tagd", timeout: float = 15.0
    ) -> None:
        self.client, self.printer, self.prefix, self.timeout = client, printer, prefix, timeout
        self.events: list[ev.Envelope] = []
        self.statuses: dict[str, ev.Status] = {}
        self._changed = asyncio.Event()
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    @property
    def topics(self) -> list[str]:
        """What the desk subscribes to: the feed and the replies to its requests."""
        return [f"{self.prefix}/+/status", f"{self.prefix}/+/events/#", f"{self.prefix}/+/reply/+"]

    # -- what arrives ---------------------------------------------------------------------------------------

    def receive(self, message: Received) -> None:
        levels = message.topic.removeprefix(self.prefix + "/").split("/")
        if len(levels) == 3 and levels[1] == "reply":
            self._reply(levels[2], message.payload)
            return
        entry = entry_for_message(message.topic, message.payload, prefix=self.prefix)
        if entry is None:
            return
        self.printer.show(entry)
        if entry.envelope is not None:
            self.events.append(entry.envelope)
        elif levels[1:] == ["status"]:
            with contextlib.suppress(ValidationError):
                self.statuses[levels[0]] = ev.Status.model_validate_json(message.payload)
        self._changed.set()

    def _reply(self, request_id: str, payload: bytes) -> None:
        waiting = self._replies.pop(request_id, None)
        if waiting is None or waiting.done():
            return
        try:
            reply = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            waiting.set_exception(DemoStepError(f"reply {request_id} is not JSON: {exc}"))
            return
        waiting.set_result(reply if isinstance(reply, dict) else {"ok": False, "error": "not an object"})

    # -- waiting for what a step should produce -------------------------------------------------------------

    def mark(self) -> int:
        """Where the events seen so far end: `expect` looks at what comes after."""
        return len(self.events)

    async def expect(
        self,
        station: str,
        kind: type[ev.EventData],
        *,
        since: int,
        where: Callable[[Any], bool] = lambda _: True,
        what: str = "",
    ) -> ev.Envelope:
        """The first `kind` event from `station` after `since` that `where` accepts; DemoStepError in time."""

        def found() -> ev.Envelope | None:
            for envelope in self.events[since:]:
                if envelope.station == station and isinstance(envelope.data, kind) and where(envelope.data):
                    return envelope
            return None

        described = f"{kind.TYPE} from {station}" + (f" ({what})" if what else "")
        return await self._until(found, described)

    async def wait_online(self, stations: list[str]) -> None:
        """Until every station's retained status says online, with every device connected."""

        def ready(name: str) -> bool:
            status = self.statuses.get(name)
            return (
                status is not None
                and status.state == "online"
                and bool(status.readers)
                and all(reader.state is ev.ReaderState.CONNECTED for reader in status.readers.values())
            )

        await self._until(lambda: all(map(ready, stations)) or None, "every station online")

    async def wait_offline(self, stations: list[str]) -> None:
        """Until every station that was seen has said offline (so its last status is on the feed)."""
        states = self.statuses
        await self._until(
            lambda: all(name not in states or states[name].state == "offline" for name in stations) or None,
            "every station offline",
        )

    async def _until(self, check: Callable[[], T | None], described: str) -> T:
        try:
            async with asyncio.timeout(self.timeout):
                while (result := check()) is None:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise DemoStepError(f"no {described} within {self.timeout:g} s") from None
        return result

    # -- what the desk sends --------------------------------------------------------------------------------

    async def holds(self, item_id: str, holds: list[dict[str, object]]) -> None:
        """Publish the item's holds (retained) on the holds feed, as the circulation system does."""
        topic = f"{self.prefix}/holds/{item_id}"
        body = json.dumps({"holds": holds}, ensure_ascii=False)
        self.printer.say(f"    ⇢ {topic} {body}", style=ACTION_STYLE)
        await self.client.publish(topic, body.encode(), qos=1, retain=True)

    async def sim(self, station: str, action: str, **payload: object) -> dict[str, Any]:
        """A simulator action (sim/place, sim/remove, sim/scan, sim/card); its reply, which must be ok."""
        return await self._request(station, "sim", action, payload)

    async def command(self, station: str, name: str, **payload: object) -> dict[str, Any]:
        """A command as the circulation system sends it; its reply, which must be ok."""
        reply = await self._request(station, "cmd", name, payload)
        results = reply.get("results")
        done = f": {len(results)} item(s)" if isinstance(results, list) else ""
        self.printer.say(f"    ⇠ reply ok{done}", style=ACTION_STYLE)
        return reply

    async def _request(
        self, station: str, kind: str, name: str, payload: dict[str, object]
    ) -> dict[str, Any]:
        request_id = f"demo-{next(self._ids)}"
        body = {"request_id": request_id, **payload}
        topic = f"{self.prefix}/{station}/{kind}/{name}"
        shown = json.dumps(payload, ensure_ascii=False)
        self.printer.say(f"    ⇢ {station} {kind}/{name} {shown}", style=ACTION_STYLE)
        waiting: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[request_id] = waiting
        try:
            await self.client.publish(topic, json.dumps(body).encode(), qos=1)
            async with asyncio.timeout(self.timeout):
                reply = await waiting
        except TimeoutError:
            raise DemoStepError(f"no reply to {topic} within {self.timeout:g} s") from None
        finally:
            self._replies.pop(request_id, None)
        if reply.get("ok") is not True:
            raise DemoStepError(f"{topic} was refused: {reply.get('error') or reply}")
        return reply
