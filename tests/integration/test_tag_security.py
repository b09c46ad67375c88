"""Tag security end to end (issue 6 §7): the NXP EAS/AFI password keeps a patron's phone from switching an
item's security off, while tagd's own stations, holding the password, still can.

Stations are driven only through their topics (cmd/, sim/) against a real mosquitto. The phone, and tags
protected by another library, have no topic: they are made through the simulated world directly.
"""

import io
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog

from tagd.daemon.config.model import Config
from tagd.daemon.logs import configure_logging
from tagd.drivers.sim.reader import default_world
from tagd.drivers.sim.tag import SimTag
from tagd.protocols import iso15693 as iso
from tagd.protocols.iso15693 import PasswordId, parse_uid
from tagd.protocols.nw7 import with_check_digit

from .broker import Broker
from .pads import Desk, memory
from .stations import Circulation, Displays, running, sim_station, station_config, unique

CONFIG_DIR = Path(__file__).parents[2] / "config"
PASSWORD = 0x5EC0DE42
OTHER_PASSWORD = 0x0BADF00D
L301, L1000M = "U-TAG-L301", "U-TAG-L1000M"
BOTCHAN = "100000025"  # hardcover: the white L1000M (an ICODE SLIX2, as the shipped profile assumes)
CAT = "100000017"  # softcover: the transparent L301 (an ICODE SLIX)
BOOKS = {L1000M: (BOTCHAN, "hardcover"), L301: (CAT, "softcover")}
DEBOUNCE_S = 0.3
POLL_S = 0.02


@dataclass
class Library:
    """An encoder and a checkout station sharing one [security] section."""

    desk: Circulation
    encoder: str
    checkout: Desk
    displays: Displays

    async def encode(self, product: str, **fields: object) -> tuple[str, dict[str, object]]:
        """A new tag of `product` on the encoder's pad, encoded by cmd/encode; its UID and the reply."""
        item_id, binding = BOOKS[product]
        placed = await self.desk.sim(self.encoder, "place", profile=product)
        assert placed["ok"], placed
        request = await self.desk.cmd(
            self.encoder, "encode", item_id=item_id, kind="book", binding=binding, **fields
        )
        return str(placed["uid"]), await self.desk.wait_reply(request)

    async def to_checkout(self, uid: str) -> None:
        """The tag is carried to the checkout pad (sim/place of a known UID moves it: a new power-on)."""
        mark = self.desk.mark()
        assert (await self.desk.sim(self.checkout.name, "place", uid=uid))["ok"]
        await self.desk.wait_for("item.detected", lambda e: e.data.uid == uid, after=mark)


def config_for(
    tmp_path: Path, port: int, encoder: dict[str, Any], checkout: dict[str, Any], **security: object
) -> Config:
    return station_config(
        tmp_path,
        port,
        [encoder, checkout],
        catalog={"load": str(CONFIG_DIR / "demo-delivery.csv")},
        encoder={"tag_return_seconds": 1.5, "poll_seconds": 0.02, "retry_delay_seconds": 0.01},
        checkout={"debounce_seconds": DEBOUNCE_S, "poll_seconds": POLL_S},
        security=security,
    )


@pytest.fixture
async def library(tmp_path: Path, broker: Broker) -> AsyncIterator[Library]:
    encoder, checkout = sim_station("encoder"), sim_station("checkout")
    config = config_for(tmp_path, broker.port, encoder, checkout, eas_afi_password=f"{PASSWORD:08X}")
    async with Circulation(broker.port) as desk, running(config) as app:
        displays = Displays(app.station(str(encoder["name"])))
        yield Library(desk, str(encoder["name"]), Desk(desk, str(checkout["name"])), displays)


def tag_of(uid: str) -> SimTag:
    return default_world().tags[parse_uid(uid)]


def protected_by(tag: SimTag, password: int) -> SimTag:
    """A tag another system protected: its own EAS/AFI password, EAS and the AFI guarded by it."""
    tag.passwords[PasswordId.EAS_AFI] = password
    tag.eas_protected = tag.afi_protected = True
    return tag


def phone(uid: str) -> dict[str, int | None]:
    """A patron's phone, modelled through the simulated world directly (tagd takes no part): the tag goes
    into a field of its own (a new power-on session, as when it leaves the library's pad) and gets plain
    write AFI, lock AFI and reset EAS frames without any password, then tries the factory password.
    Each answer: the tag's error code, None for success, -1 for silence."""
    world, name = default_world(), unique("phone")
    tag = world.place(parse_uid(uid), name)
    field = world.field(name)

    def send(frame: bytes) -> bytes | None:
        (reply,) = field.transceive(iso.append_crc(frame))
        assert reply is None or isinstance(reply, bytes)
        return None if reply is None else iso.check_crc(reply)

    def code(reply: bytes | None) -> int | None:
        return -1 if reply is None else (reply[1] if reply[0] & iso.ResponseFlag.ERROR else None)

    answers = {
        "write_afi": code(send(iso.write_afi(tag.uid, 0xC2))),
        "lock_afi": code(send(iso.lock_afi(tag.uid))),
        "reset_eas": code(send(iso.reset_eas(tag.uid))),
    }
    random = iso.decode_response(iso.Command.GET_RANDOM_NUMBER, send(iso.get_random_number(tag.uid)) or b"")
    assert isinstance(random, iso.RandomNumber)
    answers["factory_password"] = code(send(iso.set_password(tag.uid, PasswordId.EAS_AFI, 0, random.value)))
    world.remove(tag.uid)
    return answers


REFUSED = {"write_afi": 0x0F, "lock_afi": 0x0F, "reset_eas": 0x0F, "factory_password": -1}


@pytest.mark.parametrize("product", [L1000M, L301])
async def test_an_encoded_tag_keeps_its_security_from_a_phone_and_checkout_still_changes_it(
    library: Library, product: str
) -> None:
    uid, reply = await library.encode(product)
    assert reply["ok"], reply
    tag = tag_of(uid)
    assert (tag.afi, tag.eas, tag.eas_protected, tag.afi_protected) == (0x07, True, True, True)
    assert tag.passwords[PasswordId.EAS_AFI] == PASSWORD
    assert not tag.afi_locked  # ISO 28560-1: a security AFI stays changeable
    assert not tag.eas_locked

    assert phone(uid) == REFUSED
    assert (tag.afi, tag.eas, tag.afi_locked) == (0x07, True, False)

    await library.to_checkout(uid)
    item_id = BOOKS[product][0]
    mark = library.desk.mark()
    released = await library.checkout.security([item_id], secured=False)
    assert released["ok"], released
    changed = await library.desk.wait_for("security.changed", lambda e: e.data.uid == uid, after=mark)
    assert (changed.data.secured, changed.data.afi, changed.data.eas) == (False, 0xC2, False)
    assert (tag.afi, tag.eas) == (0xC2, False)

    mark = library.desk.mark()
    assert phone(uid) == REFUSED  # on loan now: the phone cannot switch it back on either
    assert (tag.afi, tag.eas) == (0xC2, False)
    await library.desk.wait_for("item.removed", lambda e: e.data.uid == uid, after=mark)

    await library.to_checkout(uid)
    secured = await library.checkout.security([item_id], secured=True)
    assert secured["ok"], secured
    assert (tag.afi, tag.eas, tag.afi_locked, tag.afi_protected) == (0x07, True, False, True)


async def test_a_wrong_password_is_a_clear_failure_and_the_station_goes_on(library: Library) -> None:
    foreign_item, plain_item = with_check_digit("20000001"), with_check_digit("20000002")
    foreign = await library.checkout.place(profile=L1000M, memory_hex=memory(foreign_item))
    protected_by(tag_of(foreign), OTHER_PASSWORD).afi = 0x07
    await library.desk.wait_for("item.detected", lambda e: e.data.uid == foreign)
    mark = library.desk.mark()
    reply = await library.checkout.security([foreign_item], secured=False)
    assert (reply["ok"], reply["code"]) == (False, "rejected")
    (result,) = reply["results"]
    assert result["code"] == "wrong_password", result
    assert "not this tag's" in result["error"]
    assert tag_of(foreign).afi == 0x07
    assert not library.desk.of("security.changed", library.checkout.name, after=mark)

    plain = await library.checkout.place(profile=L1000M, memory_hex=memory(plain_item))
    await library.desk.wait_for("item.detected", lambda e: e.data.uid == plain)
    reply = await library.checkout.security([plain_item], secured=False)
    assert reply["ok"], reply  # unprotected: written without a password, and the station works on


async def test_the_encoder_refuses_a_tag_protected_by_another_password(library: Library) -> None:
    placed = await library.desk.sim(library.encoder, "place", profile=L1000M)
    tag = protected_by(tag_of(str(placed["uid"])), OTHER_PASSWORD)
    request = await library.desk.cmd(
        library.encoder, "encode", item_id=BOTCHAN, kind="book", binding="hardcover"
    )
    reply = await library.desk.wait_reply(request)
    assert (reply["ok"], reply["reason"]) == (False, "write_failed"), reply
    assert "other than the configured one" in str(reply["error"])
    assert (tag.afi, tag.passwords[PasswordId.EAS_AFI]) == (0, OTHER_PASSWORD)
    _, ok = await library.encode(L1000M)
    assert ok["ok"], ok  # the next tag is encoded as usual


async def test_without_a_configured_password_a_protected_tag_says_what_is_missing(
    tmp_path: Path, broker: Broker
) -> None:
    encoder, checkout = sim_station("encoder"), sim_station("checkout")
    config = config_for(tmp_path, broker.port, encoder, checkout)
    async with Circulation(broker.port) as desk, running(config):
        station = Desk(desk, str(checkout["name"]))
        item_id = with_check_digit("20000003")
        uid = await station.place(profile=L1000M, memory_hex=memory(item_id))
        protected_by(tag_of(uid), OTHER_PASSWORD)
        await desk.wait_for("item.detected", lambda e: e.data.uid == uid)
        (result,) = (await station.security([item_id], secured=False))["results"]
        assert result["code"] == "password_needed", result
        assert "eas_afi_password" in result["error"]

        placed = await desk.sim(str(encoder["name"]), "place", profile=L1000M)
        unprotected = tag_of(str(placed["uid"]))
        request = await desk.cmd(
            str(encoder["name"]), "encode", item_id=BOTCHAN, kind="book", binding="hardcover"
        )
        assert (await desk.wait_reply(request))["ok"]
        assert (unprotected.eas_protected, unprotected.afi_protected) == (False, False)  # no password to use


async def test_a_tag_pulled_at_any_step_ends_up_protected_by_our_password(library: Library) -> None:
    """leave_after(k) for every k until an encoding goes through untouched: once put back (and lifted and
    put back when it went silent at a password guessed wrong), the job finishes with the tag protected."""
    world = default_world()
    k, finished_untouched, wrong_guesses = 0, False, 0
    while not finished_untouched:
        k += 1
        assert k < 80, "the encoding never went through"
        tag = world.new_tag(L1000M)
        uid = f"{tag.uid:016X}"
        displayed = library.displays.mark()
        request = await library.desk.cmd(
            library.encoder, "encode", item_id=BOTCHAN, kind="book", binding="hardcover"
        )
        await library.displays.wait_for(lambda line: line.startswith(f"{BOTCHAN}: put one"), after=displayed)
        world.place(tag.uid, library.encoder)
        tag.leave_after(k)
        seen, interrupted = displayed, False
        while True:
            line = await library.displays.wait_for(
                lambda line: "left the pad" in line or "now carries" in line or "did not take" in line,
                after=seen,
            )
            seen = library.displays.lines.index(line, seen) + 1
            if "now carries" in line:
                break
            interrupted = True
            if "did not take" in line:
                wrong_guesses += 1
                world.remove(tag.uid)  # lifted off the pad: the silenced tag powers down
            if world.where(tag.uid) is None:
                assert (await library.desk.sim(library.encoder, "place", uid=uid))["ok"]
        finished_untouched = not interrupted
        reply = await library.desk.wait_reply(request)
        assert (reply["ok"], reply["uid"]) == (True, uid), (k, reply)
        protection = (tag.eas_protected, tag.afi_protected, tag.passwords[PasswordId.EAS_AFI])
        assert protection == (True, True, PASSWORD), k
        assert (tag.afi, tag.eas, tag.afi_locked) == (0x07, True, False)
        world.remove(tag.uid)
    assert wrong_guesses >= 1  # the tag left before Write Password: ours was guessed, then the factory one


async def test_the_password_never_reaches_logs_events_or_replies(tmp_path: Path, broker: Broker) -> None:
    """Logs at debug level, without the redactor's help (no secrets given to it), and every event, reply and
    status of an encode, a phone, security changes and a wrong-password failure: no trace of the password,
    in any case, in either byte order, nor as a decimal number."""
    stream = io.StringIO()
    configure_logging("json", "debug", stream=stream)
    try:
        encoder, checkout = sim_station("encoder"), sim_station("checkout")
        config = config_for(tmp_path, broker.port, encoder, checkout, eas_afi_password=f"{PASSWORD:08x}")
        async with Circulation(broker.port) as desk, running(config) as app:
            displays = Displays(app.station(str(encoder["name"])))
            library = Library(desk, str(encoder["name"]), Desk(desk, str(checkout["name"])), displays)
            uid, reply = await library.encode(L1000M)
            assert reply["ok"], reply
            assert phone(uid) == REFUSED
            await library.to_checkout(uid)
            assert (await library.checkout.security([BOTCHAN], secured=False))["ok"]
            foreign_item = with_check_digit("20000004")
            foreign = await library.checkout.place(profile=L1000M, memory_hex=memory(foreign_item))
            protected_by(tag_of(foreign), OTHER_PASSWORD)
            await desk.wait_for("item.detected", lambda e: e.data.uid == foreign)
            assert not (await library.checkout.security([foreign_item], secured=False))["ok"]
            published = [event.model_dump_json() for event in desk.events]
            published += [json.dumps(reply) for reply in desk.replies.values()]
            published += [json.dumps(status) for status in desk.statuses.values()]
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    logs = stream.getvalue()
    assert "security.changed" in "".join(published)  # what was published was captured
    assert "encoder.encoded" in logs  # and so were the logs
    wire = PASSWORD.to_bytes(4, "little").hex()
    for text in (logs, *published):
        lowered = text.lower()
        for trace in (f"{PASSWORD:08x}", wire, str(PASSWORD)):
            assert trace not in lowered
