"""Encoding: air commands, modelled air time and whole-item wall time an item (issue 7, figure 4).

The daemon's App runs in this process against a real mosquitto, an encoder station per data model and write
mode on `sim:NAME?realtime=1` readers (each exchange lasts its modelled air time, so the wall time includes
the air). Per item: a blank tag goes on the pad with sim/place, the item is scanned with sim/scan, and the
clock runs from publishing the scan until `item.encoded` reaches this subscriber. The commands are the
requests the station's field received in between, by command code; the air time is the field's model.

MINIMUM per item (a blank tag, no locks, no EAS/AFI password configured), what the data model needs:
  1 inventory (one round: the tag is alone on the pad)
  + 1 Get System Info (which product: the block count and size)
  + ceil(M / R) reads before writing (M: the blocks from the profile's first block; R = 32 blocks per Read
    Multiple Blocks, the host's chunk): the overwrite guard must see every block, to refuse another item
    and to find stale blocks that would corrupt the new data
  + ceil(D / W) writes (D: blocks of encoded data; W = 1 block per write, 4 with Write Multiple Blocks)
  + 1 Write AFI + 1 Set EAS (security on, as configured)
  + ceil(D / R) reads back of the blocks written (the verify)
  + 1 Get System Info (the AFI read back)
The shipped profiles (ICODE SLIX, SLIX2) lack Write Multiple Blocks, so W = 1; the "wmb" rows are a what-if
with tags that take it and the reader URL's write_multiple=1. There the safety order costs one command
more than ceil(D / W): the first block is written alone and last (encoder_steps), so the writes are
1 + ceil((D - 1) / W). Each row prints its ratio to the bare minimum (min) and to the minimum with that
order (min*).

Each row runs again on readers without the air delay (realtime=0): that wall time is the daemon's own
share, MQTT both ways included. mosquitto runs with `set_tcp_nodelay true` (docs/performance.md says why).
"""

import asyncio
import math
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _broker import Broker
from _desk import Desk, app_running

from tagd.daemon.config.model import Config, load_config_data
from tagd.daemon.logs import configure_logging
from tagd.daemon.stations.encoder_steps import tag_data
from tagd.drivers.air import SlotReply
from tagd.drivers.sim.reader import SimReader, default_world
from tagd.drivers.sim.world import Field
from tagd.protocols.iso15693 import Command, parse_uid
from tagd.protocols.iso28560 import BASIC_BLOCK, DataModel
from tagd.protocols.iso28560 import part2 as iso28560_2
from tagd.protocols.profiles import TagProfile, load_profiles

ITEMS = 12
CONFIG = Path(__file__).parents[1] / "config"
ISIL = "JP-1000001"
SCANS = {"U-TAG-L301": "A100000017B", "U-TAG-L1000M": "A100000025B"}
"""Each product the encoder writes, and a demo catalog item whose tag rule asks for it."""
_HOST = SimReader(default_world().field("bench-chunks"), url="sim:bench-chunks")
READ_CHUNK, WRITE_CHUNK = _HOST.read_chunk, _HOST.write_chunk
"""Blocks per Read Multiple and per Write Multiple Blocks: the host's own (32 and 4)."""
GOAL_RATIO = 1.1
GOAL_WALL_MS = 250.0
NO_STALLS = "set_tcp_nodelay true"
"""The broker sends small packets at once; by default each can wait ~40 ms for a delayed TCP ACK."""
SHORT = {
    Command.INVENTORY: "inv",
    Command.GET_SYSTEM_INFO: "info",
    Command.READ_MULTIPLE_BLOCKS: "read",
    Command.WRITE_SINGLE_BLOCK: "write",
    Command.WRITE_MULTIPLE_BLOCKS: "wmb",
    Command.WRITE_AFI: "afi",
    Command.SET_EAS: "eas",
}


@dataclass(frozen=True)
class Item:
    commands: int
    air: float
    wall: float
    by_code: Counter[int]


class Tally:
    """Counts the requests a field receives by command code; the field still answers every one."""

    def __init__(self, field: Field) -> None:
        self.codes: Counter[int] = Counter()
        answer = field.transceive

        def counted(frame: bytes) -> list[SlotReply]:
            self.codes[frame[1]] += 1
            return answer(frame)

        field.transceive = counted  # type: ignore[method-assign]


def data_blocks(model: DataModel, block_size: int) -> int:
    """Blocks the encoder writes for an item (the same length for every 9-digit item id)."""
    data = tag_data("100000017", ISIL, model)
    if model is DataModel.ISO28560_2:
        return math.ceil(len(iso28560_2.encode(data, block_size=block_size)) / block_size)
    return math.ceil(BASIC_BLOCK / block_size)


def minimum(profile: TagProfile, data: int, write_chunk: int, *, safe_order: bool) -> int:
    memory = profile.recognition.block_count - profile.writing.first_block
    writes = math.ceil(data / write_chunk)
    if safe_order and write_chunk > 1:
        writes = 1 + math.ceil((data - 1) / write_chunk)
    return 1 + 1 + math.ceil(memory / READ_CHUNK) + writes + 1 + 1 + math.ceil(data / READ_CHUNK) + 1


async def encode_items(desk: Desk, station: str, product: str, *, wmb: bool) -> list[Item]:
    """ITEMS blank tags encoded one after another, each put on the pad, scanned for, and taken away."""
    world = default_world()
    field = world.field(station)
    tally = Tally(field)
    results = []
    for _ in range(ITEMS):
        tag = world.new_tag(product)
        if wmb:
            tag.unsupported.discard(Command.WRITE_MULTIPLE_BLOCKS)
        await desk.request(station, "sim", "place", uid=f"{tag.uid:016X}")
        mark, exchanges, air = len(desk.events), field.exchanges, field.air_time
        tally.codes.clear()
        started = time.perf_counter()
        await desk.send(station, "sim", "scan", raw=SCANS[product])
        arrived, event = await desk.wait_event(
            lambda e: e.station == station and e.short_type.startswith("item.encode"), after=mark
        )
        if event.short_type != "item.encoded" or parse_uid(event.data.uid) != tag.uid:
            raise RuntimeError(f"{station}: {event.short_type} {event.data}")
        spent = Item(field.exchanges - exchanges, field.air_time - air, arrived - started, tally.codes.copy())
        results.append(spent)
        await desk.request(station, "sim", "remove", uid=f"{tag.uid:016X}")
    return results


def encoder(name: str, *, wmb: bool, realtime: bool) -> dict[str, Any]:
    reader = f"sim:{name}?realtime={int(realtime)}&write_multiple={int(wmb)}"
    table = {"name": name, "role": "encoder", "library": "bench", "isil": ISIL, "reader": reader}
    return table | {"scanner": f"scanner:sim:{name}"}


def config(tmp: Path, port: int, model: DataModel, stations: list[dict[str, Any]]) -> Config:
    """The stations on the demo catalog, with the shipped tag profiles rewritten to `model`."""
    shipped = (CONFIG / "tag-profiles.toml").read_text(encoding="utf-8")
    profiles = tmp / f"profiles-{model.value}.toml"
    profiles.write_text(shipped.replace('"iso28560-3"', f'"{model.value}"'), encoding="utf-8")
    document = {
        "state_dir": str(tmp / f"state-{port}-{model.value}"),
        "stations": stations,
        "mqtt": {"url": f"mqtt://127.0.0.1:{port}"},
        "data_model": model.value,
        "tag_profiles": str(profiles),
        "catalog": {"load": str(CONFIG / "demo-delivery.csv")},
        "log": {"format": "json", "level": "warning"},
    }
    return load_config_data(document, source="bench config", base=tmp)


def row(label: str, items: list[Item], no_air: list[Item], floor: int, safe: int) -> str:
    commands = statistics.median(i.commands for i in items)
    air = statistics.median(i.air for i in items) * 1e3
    wall = statistics.median(i.wall for i in items) * 1e3
    software = statistics.median(i.wall for i in no_air) * 1e3
    ratio, safe_ratio = commands / floor, commands / safe
    verdict = "met" if ratio <= GOAL_RATIO else "MISSED"
    wall_verdict = "met" if wall <= GOAL_WALL_MS else "MISSED"
    typical = min(items, key=lambda i: abs(i.commands - commands)).by_code
    split = " ".join(f"{SHORT.get(Command(code), hex(code))}:{n}" for code, n in sorted(typical.items()))
    return (
        f"{label:<22} {commands:>4.0f} {floor:>4} {ratio:>5.2f}x {verdict:<6} {safe:>4} {safe_ratio:>5.2f}x"
        f" {air:>7.1f} {wall:>7.1f} {wall_verdict:<6} {software:>6.1f}  {split}"
    )


async def main() -> None:
    configure_logging("json", "warning")
    profiles = {p.name: p for p in load_profiles((CONFIG / "tag-profiles.toml").read_text("utf-8")).profiles}
    print(f"encoding: {ITEMS} blank tags a row, scan -> item.encoded at a subscriber; medians; {NO_STALLS}")
    print(f"goals: commands <= {GOAL_RATIO}x the minimum (min); wall <= {GOAL_WALL_MS:.0f} ms an item")
    print(
        f"{'model, product, writes':<22} {'cmds':>4} {'min':>4} {'ratio':>6} {'':<6} {'min*':>4} {'ratio':>6}"
        f" {'air ms':>7} {'wall ms':>7} {'':<6} {'no-air':>6}  commands"
    )
    with tempfile.TemporaryDirectory(prefix="tagd-bench-encoding-") as tmp, Broker(NO_STALLS) as broker:
        for model in (DataModel.ISO28560_3, DataModel.ISO28560_2):
            names = {
                (wmb, realtime): f"bench-enc{model.value[-1]}-{'wmb' if wmb else 'single'}-{int(realtime)}"
                for wmb in (False, True)
                for realtime in (True, False)
            }
            stations = [encoder(name, wmb=wmb, realtime=realtime) for (wmb, realtime), name in names.items()]
            settings = config(Path(tmp), broker.port, model, stations)
            async with app_running(settings), Desk(broker.port) as desk:
                for product in SCANS:
                    profile = profiles[product]
                    data = data_blocks(model, profile.recognition.block_size)
                    for wmb in (False, True):
                        items = await encode_items(desk, names[wmb, True], product, wmb=wmb)
                        no_air = await encode_items(desk, names[wmb, False], product, wmb=wmb)
                        chunk = WRITE_CHUNK if wmb else 1
                        floor = minimum(profile, data, chunk, safe_order=False)
                        safe = minimum(profile, data, chunk, safe_order=True)
                        label = f"{model.value[-7:]} {product[6:]} {'wmb' if wmb else 'single'}"
                        print(row(label, items, no_air, floor, safe))
    print("min*: the minimum with the first block written alone and last (the safety order)")
    print("no-air: the same wall time with readers that do not wait out the air time (daemon + MQTT only)")


if __name__ == "__main__":
    asyncio.run(main())
