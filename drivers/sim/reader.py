"""The `sim:NAME` reader: the ISO 15693 host over a field of the process-wide simulated world.

`sim:pad1` talks to default_world().field("pad1"), a bare `sim:` to its field "default". Query options:
`realtime=1` makes each exchange take its modelled air time (a modelled delay, not a synchronisation),
`write_multiple=1` writes with Write Multiple Blocks where tags take it.
"""

import asyncio
from urllib.parse import parse_qs

from tagd.drivers.air import SlotReply
from tagd.drivers.base import DriverError, ReaderLost
from tagd.drivers.iso15693_host import Iso15693Host
from tagd.drivers.sim.world import Field, World

DEFAULT_FIELD = "default"
"""The field of a bare `sim:` URL."""

_default_world: World | None = None


def default_world() -> World:
    """The one world every `sim:` URL of this process shares (stations, the FEIG emulator, the demo)."""
    global _default_world  # noqa: PLW0603 - the process-wide world is the point
    if _default_world is None:
        _default_world = World()
    return _default_world


class FieldLink:
    """A Transceiver over a Field; with `realtime` each exchange lasts its modelled air time."""

    def __init__(self, field: Field, *, realtime: bool = False) -> None:
        self.field = field
        self.realtime = realtime

    @property
    def air_time(self) -> float:
        return self.field.air_time

    async def transceive(self, frame: bytes) -> list[SlotReply]:
        before = self.field.air_time
        replies = self.field.transceive(frame)
        if self.realtime:
            await asyncio.sleep(self.field.air_time - before)
        return replies


class SimReader(Iso15693Host):
    """A Reader on a simulated field; the field's `unplugged` fault makes it ReaderLost."""

    def __init__(
        self, field: Field, *, url: str, realtime: bool = False, write_multiple: bool = False
    ) -> None:
        super().__init__(FieldLink(field, realtime=realtime), url=url, write_multiple=write_multiple)
        self.field = field


def _flag(options: dict[str, list[str]], name: str, url: str) -> bool:
    value = options.pop(name, ["0"])[-1]
    if value not in ("0", "1"):
        raise DriverError(f"{url}: {name} is 0 or 1, not {value!r}")
    return value == "1"


async def open_sim_reader(url: str, *, world: World | None = None) -> SimReader:
    """`sim:[NAME][?realtime=1&write_multiple=1]` on `world` (the default world unless given)."""
    scheme, _, rest = url.partition(":")
    name, _, query = rest.partition("?")
    if scheme != "sim":
        raise DriverError(f"a simulated reader URL is sim:NAME, not {url!r}")
    options = parse_qs(query, keep_blank_values=True)
    realtime = _flag(options, "realtime", url)
    write_multiple = _flag(options, "write_multiple", url)
    if options:
        raise DriverError(f"{url}: unknown option(s) {', '.join(sorted(options))}")
    field = (world or default_world()).field(name or DEFAULT_FIELD)
    if field.unplugged:
        raise ReaderLost(f"{url}: the reader is unplugged")
    return SimReader(field, url=url, realtime=realtime, write_multiple=write_multiple)
