"""Stack reading: a pad of N tags inventoried through the simulated field (issue 7, figure 3).

Prints the anticollision rounds, slots and modelled air time per N, and the ratio of that air time
to N x the air time of one single-tag inventory (1 slot, one tag answering). Goal at 10 tags: <= 2.0x.
Medians over RUNS random pads (seeded, so runs are repeatable).
"""

import asyncio
import random
import statistics

from tagd.drivers.sim.reader import SimReader
from tagd.drivers.sim.world import World
from tagd.protocols.iso15693 import air_time

RUNS = 25
SIZES = (1, 5, 10, 20, 50)
INVENTORY_REQUEST = 3 + 2  # flags, command, mask length; CRC
INVENTORY_REPLY = 10 + 2  # flags, DSFID, UID; CRC
GOAL_AT_10 = 2.0


async def one_pad(n: int, rng: random.Random) -> tuple[int, int, float]:
    world = World()
    field = world.field("pad")
    for _ in range(n):
        uid = 0xE004_0100_0000_0000 | rng.getrandbits(40)
        world.new_tag("slix", uid=uid)
        world.place(uid, "pad")
    reader = SimReader(field, url="sim:pad")
    found = await reader.inventory()
    assert len(found) == n, f"found {len(found)} of {n} tags"
    return reader.counters.inventory_rounds, reader.counters.inventory_slots, field.air_time


async def main() -> None:
    single = air_time(INVENTORY_REQUEST, INVENTORY_REPLY)
    print(f"stack reading, {RUNS} random pads a size; one single-tag inventory: {single * 1e3:.2f} ms on air")
    print(f"{'tags':>5} {'rounds':>7} {'slots':>6} {'air ms':>8} {'N x single ms':>14} {'ratio':>6}")
    for n in SIZES:
        rng = random.Random(n)
        results = [await one_pad(n, rng) for _ in range(RUNS)]
        rounds = statistics.median(r[0] for r in results)
        slots = statistics.median(r[1] for r in results)
        air = statistics.median(r[2] for r in results)
        ratio = air / (n * single)
        verdict = "met" if ratio <= GOAL_AT_10 else "MISSED"
        goal = f"  (goal <= {GOAL_AT_10:.1f}x: {verdict})" if n == 10 else ""
        figures = f"{rounds:>7.0f} {slots:>6.0f} {air * 1e3:>8.2f} {n * single * 1e3:>14.2f} {ratio:>6.2f}"
        print(f"{n:>5} {figures}{goal}")


if __name__ == "__main__":
    asyncio.run(main())
