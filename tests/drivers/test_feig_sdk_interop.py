"""FEIG ISC frames as FEIG's own SDK sends and accepts them (libfeisc 07.03.01), against tagd's codec,
driver and emulator.

Facts from the SDK (as the issue 12 report gives them; the SDK's source is not public here):
- FedmIscTagHandler_ISO15693_NXP_ICODE_SLIX::PasswordProtectAFI sends [0xB1][0xA6] with MODE bit 4 (0x10)
  as the AFI flag: `10 FF B1 04 A6 11 E0...` (standard frame, addressed, the UID MSB first, CRC).
- An inventory reply with status 0x02 still has its data sets taken.
- A 14-byte Get System Information reply (3-byte MEM-SIZE, tags with more than 256 blocks) is accepted.
Status 0x02 is "Data False: CRC16 data error at received data" in FEIG's index of status bytes (manual
ID ISC.MR102, H01113-4e-ID-B, Annex E).
"""

import pytest

from tagd.drivers.sim.feig_emulator import FeigEmulator
from tagd.drivers.sim.world import World
from tagd.protocols.crc import crc16_mcrf4xx
from tagd.protocols.feig.commands import (
    InventoryData,
    InventoryEntry,
    NxpCode,
    NxpCommand,
    PasswordCode,
    PasswordCommand,
    ProtectEasAfi,
    RandomNumber,
    SystemInfo,
    to_request,
)
from tagd.protocols.feig.frames import FeigStatus, Reply, Request, decode_request, reply_to
from tagd.protocols.iso15693 import PasswordId, xor_password

from .fake_transports import Line
from .reader_contract import bounded
from .test_feig import open_fake_line

UID = 0xE004010012345678


def sdk_protect_afi(uid: int) -> bytes:
    """The SDK's PasswordProtectAFI frame: 10 FF B1 04 A6 11, the UID MSB first, then the CRC (LSB first)."""
    frame = bytes.fromhex("10FFB104A611") + uid.to_bytes(8, "big")
    return frame + crc16_mcrf4xx(frame).to_bytes(2, "little")


def test_tagd_sends_protect_afi_as_the_sdk_does() -> None:
    assert to_request(ProtectEasAfi(uid=UID, afi=True)).encode() == sdk_protect_afi(UID)
    eas = to_request(ProtectEasAfi(uid=UID, afi=False)).encode()
    assert eas[:6] == bytes.fromhex("10FFB104A601")  # EAS: the flag clear


def test_the_emulator_carries_out_the_sdks_protect_afi_frame() -> None:
    world = World()
    emulator = FeigEmulator(world.field("pad"))
    tag = world.new_tag("slix2")
    world.place(tag.uid, "pad")
    ask = emulator.handle
    reply = ask(to_request(NxpCommand(code=NxpCode.GET_RANDOM_NUMBER, uid=tag.uid)))
    assert reply is not None
    random = RandomNumber.decode(reply.data).value
    factory = xor_password(0, random)  # password 00000000 XOR the random number twice
    set_password = PasswordCommand(
        code=PasswordCode.SET_PASSWORD, uid=tag.uid, password_id=PasswordId.EAS_AFI, password=factory
    )
    reply = ask(to_request(set_password))
    assert reply is not None
    assert reply.status == FeigStatus.OK
    reply = ask(decode_request(sdk_protect_afi(tag.uid)))
    assert reply is not None
    assert reply.status == FeigStatus.OK  # before issue 12: 0x11, the MODE bit refused
    assert (tag.afi_protected, tag.eas_protected) == (True, False)


def test_bit_3_is_no_longer_the_afi_flag() -> None:
    old = Request(0xB1, bytes.fromhex("04A609") + UID.to_bytes(8, "big"))
    reply = FeigEmulator(World().field("pad")).handle(old)
    assert reply is not None
    assert reply.status == FeigStatus.PARAMETER_RANGE_ERROR


@pytest.mark.parametrize(
    ("data", "blocks", "size"),
    [
        # 13 bytes: DSFID, UID, AFI, MEM-SIZE (block size - 1, blocks - 1: MSB first), IC-REF
        ("00" + "E004010012345678" + "07" + "031B" + "01", 28, 4),
        # 14 bytes: a 3-byte MEM-SIZE for 2048 blocks of 4 bytes (block size, then 0x07FF MSB first)
        ("00" + "E004010012345678" + "07" + "0307FF" + "01", 2048, 4),
    ],
)
def test_system_information_with_a_2_or_3_byte_mem_size(data: str, blocks: int, size: int) -> None:
    info = SystemInfo.decode(bytes.fromhex(data))
    assert (info.uid, info.afi, info.block_count, info.block_size, info.ic_ref) == (UID, 7, blocks, size, 1)
    assert info.encode().hex().upper() == data


class DataFalseInventory(FeigEmulator):
    """A reader that heard a garbled answer in one slot: status 0x02, with the data sets it did hear."""

    def handle(self, request: Request) -> Reply | None:
        data = InventoryData((InventoryEntry(UID, 0), InventoryEntry(UID + 1, 0))).encode()
        return reply_to(request, FeigStatus.DATA_FALSE, data)


async def test_an_inventory_with_status_0x02_keeps_its_data_sets() -> None:
    reader = open_fake_line(DataFalseInventory(World().field("pad")), Line(), Line(), timeout=2)
    try:
        tags = await bounded(reader.inventory())
    finally:
        await reader.close()
    assert sorted(tag.uid for tag in tags) == [UID, UID + 1]


class DataFalseEmpty(FeigEmulator):
    def handle(self, request: Request) -> Reply | None:
        return reply_to(request, FeigStatus.DATA_FALSE)


async def test_an_inventory_with_status_0x02_and_no_data_is_no_tags() -> None:
    reader = open_fake_line(DataFalseEmpty(World().field("pad")), Line(), Line(), timeout=2)
    try:
        assert await bounded(reader.inventory()) == []
    finally:
        await reader.close()
