"""The back-to-back contract for `pcsc:` through real pcscd, vpcd and our virtual card; then PC/SC's own.

One pcscd runs for the session with a vpcd reader; one VirtualCard stays connected to it and serves the
Field of each test's fresh World, so every APDU really crosses pyscard, libpcsclite, pcscd, vpcd and a TCP
socket.
"""

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from tagd.drivers import open_reader
from tagd.drivers.base import DriverError, Reader, ReaderLost, TagLost
from tagd.drivers.iso15693_host import CorruptReply
from tagd.drivers.pcsc import PcscReader, open_pcsc_reader, pick_reader
from tagd.drivers.sim.vpcd_card import VirtualCard
from tagd.drivers.sim.world import Field, World
from tagd.protocols.iso15693 import CrcError, Inventory, answer_deadline_us, check_crc, decode_request
from tagd.protocols.pcsc_part3 import END_SESSION, START_SESSION, SWITCH_TO_ISO15693

from .pcscd import Pcscd, Unavailable, free_port_pair, wait_for_card
from .reader_contract import ReaderContract, bounded

pytest.importorskip("smartcard", reason="pyscard (tagd[pcsc]) is not installed")


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    daemon = Pcscd(tmp_path_factory.mktemp("pcscd"), free_port_pair())
    try:
        daemon.start()
    except Unavailable as exc:
        pytest.skip(f"no private pcscd here: {exc}")
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def card(pcscd: Pcscd) -> Iterator[VirtualCard]:
    card = VirtualCard(World().field("idle"), port=pcscd.port)
    yield card
    card.remove()


async def plug_in(card: VirtualCard, pcscd: Pcscd) -> None:
    """The card in its reader, as pcscd sees it: after a removal, pcscd must first notice it gone."""
    if not card.inserted:
        await asyncio.to_thread(wait_for_card, pcscd.reader, present=False)
        card.insert()
    await asyncio.to_thread(wait_for_card, pcscd.reader, present=True)


@dataclass
class PcscRig:
    reader: Reader
    world: World
    field: Field
    card: VirtualCard
    pcscd: Pcscd

    async def reopen(self) -> Reader:
        await self.reader.close()
        await plug_in(self.card, self.pcscd)
        self.reader = await open_pcsc_reader(self.reader.url)
        return self.reader


@pytest.fixture
async def rig(world: World, pcscd: Pcscd, card: VirtualCard) -> AsyncIterator[PcscRig]:
    field = world.field("pad1")
    card.field = field
    await plug_in(card, pcscd)
    rig = PcscRig(await open_pcsc_reader(f"pcsc:{pcscd.reader}"), world, field, card, pcscd)
    yield rig
    await rig.reader.close()


class TestPcscReader(ReaderContract):
    """The contract, through pcscd."""


def sent_frames(card: VirtualCard) -> list[bytes]:
    """The ISO 15693 frames the card got in transceive APDUs (FF C2 00 01 Lc 5F46 04 <timer> 95 n <frame> 00),
    each with the timer the air-time model gives it."""
    frames = []
    for apdu in card.apdus:
        if apdu[:4] == bytes([0xFF, 0xC2, 0x00, 0x01]):
            assert apdu[5:8] == bytes.fromhex("5F4604")
            assert apdu[12] == 0x95
            assert apdu[13] == len(apdu) - 15
            assert apdu[-1] == 0x00
            frame = apdu[14:-1]
            assert int.from_bytes(apdu[8:12], "big") == answer_deadline_us(frame)
            frames.append(frame)
    return frames


async def test_opening_starts_a_session_and_closing_ends_it(pcscd: Pcscd, card: VirtualCard) -> None:
    await plug_in(card, pcscd)
    card.apdus.clear()
    reader = await bounded(open_pcsc_reader(f"pcsc:{pcscd.reader}"))
    assert list(card.apdus) == [START_SESSION, SWITCH_TO_ISO15693]
    await reader.close()
    assert card.apdus[-1] == END_SESSION


async def test_sixteen_slot_inventories_go_out_as_one_slot_inventories(rig: PcscRig) -> None:
    tag = rig.world.new_tag("slix2")
    rig.world.place(tag.uid, rig.field.name)
    rig.card.apdus.clear()
    assert [found.uid for found in await bounded(rig.reader.inventory())] == [tag.uid]
    frames = sent_frames(rig.card)
    assert len(frames) == 16
    sent = [decode_request(frame) for frame in frames]  # without CRC: the reader adds it
    masks = [request.body for request in sent if isinstance(request.body, Inventory)]
    assert [(body.one_slot, body.mask_len, body.mask) for body in masks] == [(True, 4, s) for s in range(16)]
    with pytest.raises(CrcError):
        check_crc(frames[0])


async def test_a_reply_damaged_on_the_air_is_a_corrupt_reply(rig: PcscRig) -> None:
    tag = rig.world.new_tag("slix2")
    rig.world.place(tag.uid, rig.field.name)
    rig.field.corrupt_next(1)
    with pytest.raises(CorruptReply):
        await bounded(rig.reader.system_info(tag.uid))
    assert (await bounded(rig.reader.system_info(tag.uid))).uid == tag.uid


async def test_a_damaged_inventory_slot_is_searched_again(rig: PcscRig) -> None:
    tag = rig.world.new_tag("slix2")
    rig.world.place(tag.uid, rig.field.name)
    rig.field.corrupt_next(1)
    assert [found.uid for found in await bounded(rig.reader.inventory())] == [tag.uid]


async def test_a_silent_reader_loses_the_tag(rig: PcscRig) -> None:
    tag = rig.world.new_tag("slix2")
    rig.world.place(tag.uid, rig.field.name)
    rig.field.silent = True
    assert await bounded(rig.reader.inventory()) == []
    with pytest.raises(TagLost):
        await bounded(rig.reader.system_info(tag.uid))


async def test_a_card_pulled_out_of_the_reader_is_a_lost_reader(rig: PcscRig) -> None:
    tag = rig.world.new_tag("slix")
    rig.world.place(tag.uid, rig.field.name)
    rig.card.remove()
    with pytest.raises(ReaderLost):
        await bounded(rig.reader.inventory())
    with pytest.raises(ReaderLost):
        await bounded(rig.reader.system_info(tag.uid))
    reader = await bounded(rig.reopen())
    assert (await bounded(reader.system_info(tag.uid))).uid == tag.uid


async def test_opening_with_no_card_in_the_reader_is_a_lost_reader(pcscd: Pcscd, card: VirtualCard) -> None:
    card.remove()
    await asyncio.to_thread(wait_for_card, pcscd.reader, present=False)
    with pytest.raises(ReaderLost, match="cannot connect"):
        await bounded(open_pcsc_reader(f"pcsc:{pcscd.reader}"))


async def test_the_entry_point_opens_a_pcsc_reader(pcscd: Pcscd, card: VirtualCard) -> None:
    await plug_in(card, pcscd)
    reader = await bounded(open_reader(f"pcsc:{pcscd.reader}"))
    try:
        assert isinstance(reader, PcscReader)
        assert reader.session.name == pcscd.reader
    finally:
        await reader.close()


READERS = ["ACS ACR1552 1S CL Reader PICC 00 00", "OMNIKEY 5022 00 00"]


@pytest.mark.parametrize("wanted", [READERS[0], "ACS ACR1552", "ACS"])
def test_a_reader_is_named_exactly_or_by_a_unique_prefix(wanted: str) -> None:
    assert pick_reader(wanted, READERS) == READERS[0]


async def test_an_ambiguous_or_unknown_reader_name_is_a_lost_reader_naming_the_readers(pcscd: Pcscd) -> None:
    with pytest.raises(ReaderLost, match=r"ambiguous.*tagd vpcd 00 01"):
        await bounded(open_pcsc_reader(f"pcsc:{pcscd.friendly_name}"))
    with pytest.raises(ReaderLost, match=r"not connected.*tagd vpcd 00 00"):
        await bounded(open_pcsc_reader("pcsc:No Such Reader"))


@pytest.mark.parametrize("url", ["pcsc:", "feig:x"])
async def test_a_url_without_a_reader_name_is_refused(url: str) -> None:
    with pytest.raises(DriverError, match="pcsc:<reader name>"):
        await open_pcsc_reader(url)


async def test_without_pyscard_the_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "smartcard", None)  # what `import smartcard` meets when it is absent
    with pytest.raises(DriverError, match=r"tagd\[pcsc\]"):
        await open_pcsc_reader("pcsc:Any Reader")
