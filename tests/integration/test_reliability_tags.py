"""docs/reliability.md §3, a tag pulled mid-write, where test_encoder's every-k test stops: the tag does not
come back in time. For every block boundary k (the tag answers k commands, then leaves), both data models
and both tag products: the tag never decodes as a valid but wrong item, the desk and `item.encode_rejected`
say what happened, and when the same tag is put back and scanned again (no force) it is finished and
verified. A tag pulled once its data was complete is finished like one never pulled: blocks locked and EAS/AFI
protected, where the profile and [security] say so. Driven like a processing desk: sim/scan and sim/place
on a real mosquitto; the tag leaving uses the simulated world's fault injection (no topic does that).
"""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tagd.drivers.sim.reader import default_world
from tagd.drivers.sim.tag import SimTag
from tagd.protocols import iso28560
from tagd.protocols.iso15693 import PasswordId
from tagd.protocols.iso28560 import BlankTagError, Iso28560Error

from .broker import Broker
from .stations import ISIL, Circulation, Displays, running
from .test_encoder import encoder_config

RETURN_S = 0.3
"""tag_return_seconds: how long the encoder waits for a tag that left; short, the tag is not coming."""
WAIT_S = RETURN_S + 10.0
CASES = [
    ("iso28560-3", "U-TAG-L301", "100000017"),  # softcover: the transparent L301
    ("iso28560-3", "U-TAG-L1000M", "100000025"),  # hardcover: the white L1000M
    ("iso28560-2", "U-TAG-L301", "100000017"),
    ("iso28560-2", "U-TAG-L1000M", "100000025"),
]
MAX_K = 80
PASSWORD = 0x5EC0DE42


@dataclass
class Encoder:
    desk: Circulation
    name: str
    displays: Displays
    model: str


@contextlib.asynccontextmanager
async def encoder_desk(
    tmp_path: Path, broker: Broker, model: str, *, lock: str = "none", **sections: object
) -> AsyncIterator[Encoder]:
    """An encoder on sim: hardware, the shipped tag profiles rewritten to `model` and `lock`."""
    config, name = encoder_config(tmp_path, broker, model, return_s=RETURN_S, lock=lock, **sections)
    async with Circulation(broker.port) as desk, running(config) as app:
        yield Encoder(desk, name, Displays(app.station(name)), model)


@pytest.fixture
async def encoder(request: pytest.FixtureRequest, tmp_path: Path, broker: Broker) -> AsyncIterator[Encoder]:
    async with encoder_desk(tmp_path, broker, request.param[0]) as desk:
        yield desk


@pytest.mark.parametrize("encoder", CASES, indirect=True, ids=[f"{m}-{p}" for m, p, _ in CASES])
async def test_a_tag_pulled_at_every_step_and_kept_away_is_reported_and_finished_when_it_returns(
    encoder: Encoder, request: pytest.FixtureRequest
) -> None:
    model, product, item_id = request.node.callspec.params["encoder"]
    world = default_world()
    desk, name, displays = encoder.desk, encoder.name, encoder.displays
    k, interrupted_mid_write, untouched, complete = 0, 0, 0, 0
    while True:
        k += 1
        assert k < MAX_K, "the encoding never went through"
        tag = world.new_tag(product)  # blank, as tags come from the supplier
        uid = f"{tag.uid:016X}"
        displayed, seen = displays.mark(), desk.mark()
        await desk.sim(name, "scan", raw=item_id)
        await displays.wait_for(lambda line: line.startswith(f"{item_id}: put one"), WAIT_S, after=displayed)
        world.place(tag.uid, name)
        tag.leave_after(k)
        line = await displays.wait_for(
            lambda line: "left the pad" in line or "now carries" in line, WAIT_S, after=displayed
        )
        if "now carries" in line:
            event = await desk.wait_for(
                "item.encoded", lambda e, uid=uid: e.data.uid == uid, WAIT_S, after=seen
            )
            assert (event.data.item_id, event.data.already) == (item_id, False)
            break

        memory = bytes(tag.memory)
        try:
            found = iso28560.decode(memory)
        except Iso28560Error:
            found = None  # nothing valid: what an interrupted write must leave
        assert found is None or (found.item_id, found.isil) == (item_id, ISIL), (k, found)
        rejected = await desk.wait_for("item.encode_rejected", within=WAIT_S, station=name, after=seen)
        data = rejected.data
        assert data.item_id == item_id, k
        if any(memory):  # written to, then gone: the job names the tag
            assert (data.reason, data.uid) == ("tag_lost", uid), (k, data)
            assert uid in data.detail, data.detail
        else:  # gone before the first write: as if it never came
            assert data.reason in ("tag_lost", "no_tag"), (k, data)
        await displays.wait_for(
            lambda line, why=data.reason: line.startswith(f"not encoded ({why})"), after=displayed
        )
        interrupted_mid_write += any(memory)
        untouched += not any(memory)
        complete += found is not None

        returned, shown = desk.mark(), displays.mark()
        assert (await desk.sim(name, "place", uid=uid))["ok"]  # the same tag, back on the pad
        await desk.sim(name, "scan", raw=item_id)
        line = await displays.wait_for(
            lambda line: " carries " in line or line.startswith("not encoded"), WAIT_S, after=shown
        )
        assert "now carries" in line, (k, line)  # torn by tagd: finished by a scan, no force, nothing skipped
        event = await desk.wait_for(
            "item.encoded", lambda e, uid=uid: e.data.uid == uid, WAIT_S, after=returned
        )
        assert (event.data.item_id, event.data.already, event.data.forced) == (item_id, False, False), k
        finished = iso28560.decode(bytes(tag.memory))
        assert (finished.model, finished.item_id, finished.isil) == (model, item_id, ISIL), k
        assert (tag.afi, tag.eas) == (0x07, True), k
        world.remove(tag.uid)
    print(
        f"{model} {product}: k = 1..{k}, {interrupted_mid_write} torn mid-write ({complete} with the data"
        f" complete), {untouched} left blank; every one finished by a scan, none needed force"
    )
    assert interrupted_mid_write >= 5, interrupted_mid_write


@pytest.mark.parametrize("encoder", CASES[:1], indirect=True, ids=["iso28560-3-U-TAG-L301"])
async def test_a_tag_torn_by_tagd_is_finished_by_scanning_it_again(encoder: Encoder) -> None:
    product, item_id = CASES[0][1:]
    tag = await tear(encoder, product, item_id)
    assert "now carries" in await put_back_and_scan(encoder, tag, item_id)


async def test_a_tag_torn_before_a_restart_is_finished_by_a_scan_after_it(
    tmp_path: Path, broker: Broker
) -> None:
    """The torn tags are kept with the catalog in state_dir: a daemon started again still knows them."""
    product, item_id = CASES[0][1:]
    async with encoder_desk(tmp_path, broker, "iso28560-3") as encoder:
        tag = await tear(encoder, product, item_id)
    async with encoder_desk(tmp_path, broker, "iso28560-3") as encoder:
        assert "now carries" in await put_back_and_scan(encoder, tag, item_id)
        assert iso28560.decode(bytes(tag.memory)).item_id == item_id


async def tear(encoder: Encoder, product: str, item_id: str) -> SimTag:
    """A new tag this encoder tore: pulled mid-write (the smallest k that leaves it reading as nothing, not
    blank) and kept away until the job gave up with tag_lost."""
    world = default_world()
    desk, name, displays = encoder.desk, encoder.name, encoder.displays
    for k in range(1, MAX_K):
        tag = world.new_tag(product)
        displayed = displays.mark()
        await desk.sim(name, "scan", raw=item_id)
        await displays.wait_for(lambda line: line.startswith(f"{item_id}: put one"), WAIT_S, after=displayed)
        world.place(tag.uid, name)
        tag.leave_after(k)
        line = await displays.wait_for(
            lambda line: line.startswith("not encoded") or " carries " in line, WAIT_S, after=displayed
        )
        try:
            iso28560.decode(bytes(tag.memory))
        except BlankTagError:
            pass
        except Iso28560Error:
            if "tag_lost" in line:
                return tag
        world.remove(tag.uid)
    raise AssertionError("no pull left a torn tag")


async def put_back_and_scan(encoder: Encoder, tag: SimTag, item_id: str) -> str:
    """The same tag on the pad again (a new power-on) and its item scanned: the desk line it ends with."""
    shown = encoder.displays.mark()
    assert (await encoder.desk.sim(encoder.name, "place", uid=f"{tag.uid:016X}"))["ok"]
    await encoder.desk.sim(encoder.name, "scan", raw=item_id)
    return await encoder.displays.wait_for(
        lambda line: " carries " in line or line.startswith("not encoded"), WAIT_S, after=shown
    )


def finish(tag: SimTag) -> tuple[object, ...]:
    """What encoding leaves besides the data: locks, AFI and EAS, their protection and password."""
    password = tag.passwords[PasswordId.EAS_AFI]
    return (sorted(tag.locked_blocks), tag.afi, tag.eas, tag.afi_protected, tag.eas_protected, password)


async def test_a_tag_pulled_once_its_data_is_complete_is_finished_locked_and_protected_on_the_next_scan(
    tmp_path: Path, broker: Broker
) -> None:
    """Data blocks locked and the EAS/AFI password set: for every k until an encoding goes through untouched,
    a tag pulled after the last block write (and during the read-back, the protection or the locks) is
    scanned again and ends up exactly as the untouched one: not accepted as `already` half-finished."""
    world = default_world()
    product, item_id = CASES[0][1:]
    security = {"eas_afi_password": f"{PASSWORD:08X}"}
    async with encoder_desk(tmp_path, broker, "iso28560-3", lock="data-blocks", security=security) as encoder:
        desk, name, displays = encoder.desk, encoder.name, encoder.displays
        finished, reference = [], None
        for k in range(1, MAX_K):
            tag = world.new_tag(product)
            displayed, seen = displays.mark(), desk.mark()
            await desk.sim(name, "scan", raw=item_id)
            await displays.wait_for(lambda line: line.startswith(f"{item_id}: put one"), after=displayed)
            world.place(tag.uid, name)
            tag.leave_after(k)
            line = await displays.wait_for(
                lambda line: "left the pad" in line or "now carries" in line, WAIT_S, after=displayed
            )
            if "now carries" in line:
                reference = finish(tag)
                break
            await desk.wait_for("item.encode_rejected", within=WAIT_S, station=name, after=seen)
            try:
                torn = iso28560.decode(bytes(tag.memory))
            except Iso28560Error:
                torn = None
            if torn is not None:
                assert (torn.item_id, torn.isil) == (item_id, ISIL), k
                finished.append((k, finish(tag), await scanned_again(encoder, tag, item_id)))
            world.remove(tag.uid)
    assert reference is not None, "the encoding never went through"
    assert reference[0], reference  # data blocks locked
    assert reference[3:] == (True, True, PASSWORD), reference  # EAS and AFI protected by our password
    assert len(finished) >= 3, finished  # after the last block write, in the read-back, in the locks
    for k, when_pulled, after in finished:
        assert after == reference, (k, when_pulled, after)
    partly = sum(bool(when_pulled[0]) for _, when_pulled, _ in finished)
    print(
        f"{product} locked, with a password: pulled with the data complete at k = "
        f"{', '.join(str(k) for k, _, _ in finished)} ({partly} with some blocks locked); "
        "each finished like the untouched one"
    )
    assert partly >= 1  # the tag left among the locks: the others locked on return, the locked passed over


async def scanned_again(encoder: Encoder, tag: SimTag, item_id: str) -> tuple[object, ...]:
    """The torn tag back on the pad and its item scanned: finished without force (lifted off and put back
    when it went silent at a password guessed wrong); what the encoding left on it."""
    world, desk, name, displays = default_world(), encoder.desk, encoder.name, encoder.displays
    returned, shown = desk.mark(), displays.mark()
    world.place(tag.uid, name)
    await desk.sim(name, "scan", raw=item_id)
    while True:
        line = await displays.wait_for(
            lambda line: " carries " in line or "not encoded" in line or "did not take" in line, after=shown
        )
        shown = displays.lines.index(line, shown) + 1
        if "did not take" not in line:
            break
        world.remove(tag.uid)  # lifted off the pad: the silenced tag powers down
        world.place(tag.uid, name)
    assert "now carries" in line, line
    uid = f"{tag.uid:016X}"
    event = await desk.wait_for("item.encoded", lambda e: e.data.uid == uid, WAIT_S, after=returned)
    assert (event.data.already, event.data.forced) == (False, False)
    return finish(tag)
