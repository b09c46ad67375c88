"""Helpers for the pad and gate station tests: tag memory for an item, and one station driven through its
documented sim/ and cmd/ topics."""

import asyncio
from dataclasses import dataclass
from typing import Any

from tagd.drivers.air import SlotReply
from tagd.drivers.sim.reader import default_world
from tagd.drivers.sim.world import Field, World
from tagd.protocols.iso28560 import encode_basic_block

from .stations import ISIL, Circulation


def memory(item_id: str, parts: int = 1, part: int = 1) -> str:
    """A tag's memory (hex) carrying the item, as the encoder writes it."""
    return encode_basic_block(item_id, ISIL, parts, part).hex()


class WatchedField(Field):
    """A simulated field that lets a test wait until the station's reader has sent it more requests."""

    def __init__(self, world: World, name: str) -> None:
        super().__init__(world, name)
        self._sent = asyncio.Event()

    def transceive(self, frame: bytes) -> list[SlotReply]:
        replies = super().transceive(frame)
        self._sent.set()  # the sim: reader calls this on the event loop's thread
        return replies

    async def polled(self, requests: int) -> None:
        """Until `requests` more requests arrived (every poll sends at least one); bounded."""
        target = self.exchanges + requests
        async with asyncio.timeout(5.0):
            while self.exchanges < target:
                self._sent.clear()
                await self._sent.wait()


def watch_field(name: str) -> WatchedField:
    """Puts a WatchedField into the world under `name`; call it before the station opens its reader."""
    world = default_world()
    with world.lock:
        field = world.fields[name] = WatchedField(world, name)
    return field


@dataclass
class Desk:
    """One station as the circulation system drives it."""

    desk: Circulation
    name: str

    async def place(self, **fields: Any) -> str:
        """sim/place; the tag's UID."""
        reply = await self.desk.sim(self.name, "place", **fields)
        assert reply["ok"], reply
        return str(reply["uid"])

    async def remove(self, uid: str) -> None:
        reply = await self.desk.sim(self.name, "remove", uid=uid)
        assert reply["ok"], reply

    async def scan(self, raw: str) -> None:
        reply = await self.desk.sim(self.name, "scan", raw=raw)
        assert reply["ok"], reply

    async def security(self, items: list[str], *, secured: bool) -> dict[str, Any]:
        """cmd/security; the reply."""
        request_id = await self.desk.cmd(self.name, "security", items=items, secured=secured)
        return await self.desk.wait_reply(request_id)
