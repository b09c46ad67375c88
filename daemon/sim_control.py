"""Simulator control for a station on sim: hardware: `sim/place`, `sim/remove`, `sim/scan`, `sim/card`.

Registered only when the station's reader is `sim:NAME`, so a station on real hardware answers sim/ with
`not_simulated` (the router's reply). The tags are the process-wide simulated world's: a tag keeps its UID
and memory wherever it is placed. Each handler is quick (the router runs sim/ messages in order).
"""

from tagd.daemon.logs import get_logger
from tagd.daemon.stations.base import Station
from tagd.drivers import CardRead
from tagd.drivers.nfc_cards import sim_card_reader
from tagd.drivers.scanner import sim_scanner
from tagd.drivers.sim.reader import DEFAULT_FIELD, default_world
from tagd.protocols.commands import (
    Reply,
    ReplyCode,
    SimCard,
    SimCommand,
    SimPlace,
    SimPlaceReply,
    SimRemove,
    SimScan,
)
from tagd.protocols.events import CommandRejected
from tagd.protocols.iso15693 import format_uid, parse_uid

__all__ = ["DEFAULT_SIM_PROFILE", "SimControl", "sim_name"]

log = get_logger(__name__)

DEFAULT_SIM_PROFILE = "U-TAG-L301"
"""sim/place of a new tag without a profile: the library's default book tag."""
_TEXT_MAX = 500


def sim_name(url: str | None, prefix: str) -> str | None:
    """The simulator's name in `sim:NAME[?options]` (prefix "sim:") or `scanner:sim:NAME`; None if not sim."""
    if url is None or not url.startswith(prefix):
        return None
    return url.removeprefix(prefix).partition("?")[0] or DEFAULT_FIELD


class SimControl:
    """The sim/ handlers of one station; `for_station` registers them when its reader is simulated."""

    def __init__(self, station: Station, field: str) -> None:
        settings = station.settings
        self.station = station
        self.field = field
        self.scanner = sim_name(settings.scanner, "scanner:sim:")
        self.card_reader = sim_name(settings.card_reader, "sim:")

    @classmethod
    def for_station(cls, station: Station) -> "SimControl | None":
        field = sim_name(station.settings.reader, "sim:")
        if field is None:
            return None
        control = cls(station, field)
        station.router.sim(SimPlace, control.place)
        station.router.sim(SimRemove, control.remove)
        station.router.sim(SimScan, control.scan)
        station.router.sim(SimCard, control.card)
        return control

    async def place(self, request: SimPlace) -> Reply:
        world = default_world()
        uid = None if request.uid is None else parse_uid(request.uid)
        if uid is not None and uid in world.tags:
            if request.memory_hex is not None:
                return await self._refuse(
                    request, ReplyCode.REJECTED, f"tag {request.uid} exists: no memory_hex"
                )
            tag = world.place(uid, self.field)
        else:
            memory = None if request.memory_hex is None else bytes.fromhex(request.memory_hex)
            try:
                tag = world.new_tag(request.profile or DEFAULT_SIM_PROFILE, uid, memory)
            except ValueError as exc:
                return await self._refuse(request, ReplyCode.REJECTED, str(exc))
            world.place(tag.uid, self.field)
        log.info("sim.placed", station=self.station.name, uid=format_uid(tag.uid), profile=tag.profile)
        return SimPlaceReply(ok=True, uid=format_uid(tag.uid), profile=tag.profile)

    async def remove(self, request: SimRemove) -> Reply:
        world = default_world()
        uid = parse_uid(request.uid)
        if uid not in world.tags:
            return await self._refuse(request, ReplyCode.REJECTED, f"no simulated tag {request.uid}")
        where = world.where(uid)
        if where not in (None, self.field):
            return await self._refuse(request, ReplyCode.REJECTED, f"tag {request.uid} is in field {where!r}")
        world.remove(uid)
        return Reply(ok=True)

    async def scan(self, request: SimScan) -> Reply:
        if self.scanner is None:
            error = f"station {self.station.name} has no simulated scanner"
            return await self._refuse(request, ReplyCode.NOT_SIMULATED, error)
        refusal = self.station.refusal()
        sim_scanner(self.scanner).push(request.raw)
        return await self._refused_work(request, refusal)

    async def card(self, request: SimCard) -> Reply:
        """A hex id goes through the simulated card reader as a FeliCa IDm; any other card number (a
        barcode-style library card) is handed to the station as read, as a keyboard-wedge reader would."""
        if self.card_reader is None:
            error = f"station {self.station.name} has no simulated card reader"
            return await self._refuse(request, ReplyCode.NOT_SIMULATED, error)
        refusal = self.station.refusal()
        try:
            sim_card_reader(self.card_reader).present("felica", request.id)
        except ValueError:
            try:
                await self.station.on_card(CardRead("number", request.id))
            except Exception:
                log.exception("sim.card_failed", station=self.station.name)
                raise
        return await self._refused_work(request, refusal)

    async def _refused_work(self, request: SimCommand, refusal: str | None) -> Reply:
        """The read went to the station as a real device's would; while the station refuses work (its outbox
        is full) nothing is reported for it, and the reply says so rather than `ok`."""
        if refusal is None:
            return Reply(ok=True)
        return await self._refuse(request, ReplyCode.OUTBOX_FULL, f"read, but not handled: {refusal}")

    async def _refuse(self, request: SimCommand, code: ReplyCode, error: str) -> Reply:
        """An error reply; without a request_id nobody gets a reply, so it is reported as command.rejected."""
        log.warning("sim.refused", station=self.station.name, action=request.NAME, error=error)
        if request.request_id is None:
            topic = f"{self.station.link.topics.prefix}/{self.station.name}/sim/{request.NAME}"
            await self.station.report(CommandRejected(topic=topic, error=error[:_TEXT_MAX]))
        return request.REPLY(ok=False, code=code, error=error[:_TEXT_MAX])
