"""The gate against a real mosquitto. Items get their security the way patrons' books do, at a checkout
station in the same process (cmd/security), and then walk through the gate (sim/place moves a tag from one
field to another). Only the EAS-only case changes a simulated tag directly: a tag whose EAS was left on is
a fault of the world, not something a topic can do.

The alarm comes from the tag's inventory answer; `gate.identified` follows with the alarm's id and the item.
"""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tagd.drivers.sim.reader import default_world
from tagd.drivers.sim.tag import TagState
from tagd.protocols.events import Envelope
from tagd.protocols.iso15693 import Command, parse_uid
from tagd.protocols.nw7 import with_check_digit

from .broker import Broker
from .pads import Desk, memory
from .stations import Circulation, running, sim_station, station_config


@contextlib.asynccontextmanager
async def branch(tmp_path: Path, broker: Broker, repeat_s: float) -> AsyncIterator[tuple[Desk, Desk]]:
    """A checkout station and a gate that stays quiet about an item for `repeat_s` after its alarm."""
    checkout, gate = sim_station("checkout"), sim_station("gate")
    config = station_config(
        tmp_path,
        broker.port,
        [checkout, gate],
        checkout={"debounce_seconds": 0.0, "poll_seconds": 0.02},
        gate={"alarm_repeat_seconds": repeat_s, "poll_seconds": 0.02},
    )
    async with Circulation(broker.port) as desk, running(config):
        for table in (checkout, gate):
            await desk.wait_for("reader.connected", station=table["name"])
        yield Desk(desk, checkout["name"]), Desk(desk, gate["name"])


async def item_at_checkout(checkout: Desk, number: str, *, secured: bool) -> tuple[str, str]:
    """A book that was secured (returned) or released (lent) at the checkout: its item id and tag UID."""
    item_id = with_check_digit(number)
    uid = await checkout.place(memory_hex=memory(item_id))
    await checkout.desk.wait_for("item.detected", lambda e: e.data.uid == uid)
    reply = await checkout.security([item_id], secured=secured)
    assert reply["ok"], reply
    return item_id, uid


async def identified(gate: Desk, alarm: Envelope) -> Envelope:
    """The follow-up naming `alarm`'s item."""
    return await gate.desk.wait_for(
        "gate.identified", lambda e: e.data.alarm_id == alarm.id, station=gate.name
    )


async def test_a_secured_item_alarms_once_and_a_lent_one_passes(tmp_path: Path, broker: Broker) -> None:
    async with branch(tmp_path, broker, repeat_s=60.0) as (checkout, gate):
        stolen, stolen_uid = await item_at_checkout(checkout, "20000001", secured=True)
        lent, lent_uid = await item_at_checkout(checkout, "20000002", secured=False)
        await gate.place(uid=stolen_uid)
        alarm = await gate.desk.wait_for("gate.alarm", station=gate.name)
        assert (alarm.data.uid, alarm.data.item_id, alarm.data.detected_by) == (stolen_uid, None, "afi")
        follow = await identified(gate, alarm)
        assert (follow.data.uid, follow.data.item_id) == (stolen_uid, stolen)
        assert gate.desk.events.index(alarm) < gate.desk.events.index(follow)

        await gate.remove(stolen_uid)  # back through the gate within the repeat time
        await gate.place(uid=stolen_uid)
        await gate.place(uid=lent_uid)
        other, other_uid = await item_at_checkout(checkout, "20000003", secured=True)
        await gate.place(uid=other_uid)  # the barrier: its alarm comes from a poll that saw all three
        other_alarm = await gate.desk.wait_for(
            "gate.alarm", lambda e: e.data.uid == other_uid, station=gate.name
        )
        await identified(gate, other_alarm)

        alarms = gate.desk.of("gate.alarm", gate.name)
        assert [a.data.uid for a in alarms] == [stolen_uid, other_uid]
        assert [i.data.item_id for i in gate.desk.of("gate.identified", gate.name)] == [stolen, other]
        assert lent_uid not in {a.data.uid for a in alarms}
        assert lent not in {i.data.item_id for i in gate.desk.of("gate.identified", gate.name)}


async def test_an_alarmed_tag_is_told_to_stay_quiet_and_its_alarm_does_not_wait_for_its_memory(
    tmp_path: Path, broker: Broker
) -> None:
    async with branch(tmp_path, broker, repeat_s=60.0) as (checkout, gate):
        _, uid = await item_at_checkout(checkout, "20000006", secured=True)
        tag = default_world().tags[parse_uid(uid)]
        tag.unsupported |= {Command.READ_SINGLE_BLOCK, Command.READ_MULTIPLE_BLOCKS}  # its memory unreadable
        await gate.place(uid=uid)
        alarm = await gate.desk.wait_for("gate.alarm", station=gate.name)
        assert (alarm.data.uid, alarm.data.item_id) == (uid, None)
        assert tag.state is TagState.QUIET  # muted right after its alarm: later rounds do not hear it
        _, barrier = await item_at_checkout(checkout, "20000007", secured=True)
        await gate.place(uid=barrier)
        await identified(gate, await gate.desk.wait_for("gate.alarm", lambda e: e.data.uid == barrier))
        assert gate.desk.of("gate.identified", gate.name)[0].data.uid == barrier  # none for the unreadable


async def test_an_item_left_in_the_gate_alarms_again_after_the_repeat_time(
    tmp_path: Path, broker: Broker
) -> None:
    async with branch(tmp_path, broker, repeat_s=0.3) as (checkout, gate):
        item_id, uid = await item_at_checkout(checkout, "20000004", secured=True)
        await gate.place(uid=uid)
        first = await gate.desk.wait_for("gate.alarm", station=gate.name)
        assert (await identified(gate, first)).data.item_id == item_id
        second = await gate.desk.wait_for("gate.alarm", lambda e: e.id != first.id, station=gate.name)
        assert (second.data.uid, second.data.item_id) == (uid, item_id)  # known from the first: no read
        assert (second.time - first.time).total_seconds() >= 0.3 - 0.001  # envelope times are in ms


async def test_an_eas_tag_the_afi_misses_still_alarms_with_its_item(tmp_path: Path, broker: Broker) -> None:
    async with branch(tmp_path, broker, repeat_s=60.0) as (checkout, gate):
        item_id, uid = await item_at_checkout(checkout, "20000005", secured=False)
        default_world().tags[parse_uid(uid)].eas = True  # released for loan, but its EAS bit stayed on
        await gate.place(uid=uid)
        alarm = await gate.desk.wait_for("gate.alarm", station=gate.name)
        assert (alarm.data.uid, alarm.data.detected_by) == (uid, "eas")
        assert (await identified(gate, alarm)).data.item_id == item_id
