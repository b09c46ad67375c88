"""[B0]/[B1] command layouts and reply data: trace and manual vectors, round trips, malformed input."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols.errors import ProtocolError
from tagd.protocols.feig import commands as fc
from tagd.protocols.feig import frames as feig

MSB, LSB = fc.ByteOrder.MSB_FIRST, fc.ByteOrder.LSB_FIRST
AS_SENT = fc.Dialect(block_order=LSB, mem_size_order=LSB)
UID = 0xE004010012345678
UID_BYTES = bytes.fromhex("E0 04 01 00 12 34 56 78")

# LR1002 trace, ST community thread "Error 0x12 when writing multiple blocks on ST25DV16KC"
TRACE_INVENTORY_REPLY = bytes.fromhex(
    "02 00 1D 00 B0 00 02 03 00 E0 02 51 00 02 56 4A A4 03 00 E0 02 23 00 18 89 2B 09 E3 00"
)
TRACE_WRITE = bytes.fromhex(
    "02 00 34 FF B0 24 01 E0 02 51 00 02 56 4A A4 00 08 04 04 03 02 01 70 60 00 05 0B A0 90 80"
    "0F 0E 0D 0C 13 12 11 10 00 16 15 14 00 00 00 00 00 00 00 00 18 18"
)
TRACE_ISO_ERROR_REPLY = bytes.fromhex("02 00 0A 00 B0 95 12 00 94 29")


def test_inventory_gives_the_public_vectors():
    assert fc.to_request(fc.Inventory(), advanced=True).encode() == bytes.fromhex(
        "02 00 09 FF B0 01 00 18 43"
    )
    assert fc.to_request(fc.Inventory()).encode() == bytes.fromhex("07 FF B0 01 00 1C 56")
    assert fc.encode_command(fc.Inventory(more=True)) == b"\x01\x80"


def test_trace_inventory_reply():
    data = feig.decode_reply(TRACE_INVENTORY_REPLY).data
    expected = fc.InventoryData(
        (fc.InventoryEntry(0xE002510002564AA4, 0x00, 0x03), fc.InventoryEntry(0xE002230018892B09, 0x00, 0x03))
    )
    assert fc.InventoryData.decode(data) == expected
    assert expected.encode() == data


def test_trace_write_carries_each_block_msb_first():
    command = fc.decode_command(feig.decode_request(TRACE_WRITE))
    memory = bytes.fromhex("01020304 05006070 8090A00B 0C0D0E0F 10111213 14151600 00000000 00000000")
    assert command == fc.WriteBlocks(uid=0xE002510002564AA4, first=0, block_size=4, data=memory)
    assert fc.to_request(command, advanced=True).encode() == TRACE_WRITE
    as_sent = fc.decode_command(feig.decode_request(TRACE_WRITE), AS_SENT)
    assert isinstance(as_sent, fc.WriteBlocks)
    assert as_sent.data == TRACE_WRITE[18:50]


def test_trace_write_failure():
    reply = feig.decode_reply(TRACE_ISO_ERROR_REPLY)
    failure = fc.BlockFailure.decode(reply)
    assert failure == fc.BlockFailure(block=0, iso_error=0x12)
    assert (failure.status, failure.encode()) == (feig.FeigStatus.ISO_ERROR, b"\x12\x00")


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        # Biblio-RFID CPRM02.pm: "B0 23 01 $tag %02x 04", "B0 2B 01 $tag", "B0 27 01 $tag $afi"
        (fc.ReadBlocks(uid=UID, first=0, count=4), b"\x23\x01" + UID_BYTES + b"\x00\x04"),
        (fc.PlainCommand(code=fc.IsoCode.GET_SYSTEM_INFO, uid=UID), b"\x2b\x01" + UID_BYTES),
        (fc.WriteAfi(uid=UID, afi=0x07), b"\x27\x01" + UID_BYTES + b"\x07"),
        (fc.ReadBlocks(uid=UID, first=4, count=2, security=True), b"\x23\x09" + UID_BYTES + b"\x04\x02"),
        (fc.ReadBlocks(selected=True, first=0, count=1), b"\x23\x02\x00\x01"),
        (fc.LockBlocks(uid=UID, first=5, count=2), b"\x22\x01" + UID_BYTES + b"\x05\x02"),
        (fc.GetBlockSecurity(first=0, count=28), b"\x2c\x00\x00\x1c"),
        (fc.WriteAfi(afi=0xC2), b"\x27\x00\xc2"),
        (fc.PlainCommand(code=fc.IsoCode.LOCK_AFI, uid=UID), b"\x28\x01" + UID_BYTES),
        (fc.PlainCommand(code=fc.IsoCode.STAY_QUIET, uid=UID), b"\x02\x01" + UID_BYTES),
        (fc.PlainCommand(code=fc.IsoCode.SELECT, uid=UID), b"\x25\x01" + UID_BYTES),
        (fc.PlainCommand(code=fc.IsoCode.RESET_TO_READY), b"\x26\x00"),
        (fc.PlainCommand(code=fc.IsoCode.GET_SYSTEM_INFO, selected=True), b"\x2b\x02"),
        (
            fc.WriteBlocks(uid=UID, first=1, block_size=4, data=bytes.fromhex("11223344 55667788")),
            b"\x24\x01" + UID_BYTES + bytes.fromhex("01 02 04 44332211 88776655"),
        ),
    ],
)
def test_iso_host_request_layouts(command, expected):
    assert fc.to_request(command) == feig.Request(0xB0, expected)
    assert fc.decode_command(feig.Request(0xB0, expected)) == command


@pytest.mark.parametrize(
    ("code", "byte"),
    [
        (fc.NxpCode.SET_EAS, 0xA2),
        (fc.NxpCode.RESET_EAS, 0xA3),
        (fc.NxpCode.LOCK_EAS, 0xA4),
        (fc.NxpCode.EAS_ALARM, 0xA5),
    ],
)
def test_nxp_eas_requests_put_the_manufacturer_first(code, byte):
    command = fc.NxpCommand(code=code, uid=UID)
    expected = feig.Request(0xB1, bytes([0x04, byte, 0x01]) + UID_BYTES)
    assert fc.to_request(command) == expected
    assert fc.decode_command(expected) == command
    assert fc.decode_command(feig.Request(0xB1, bytes([0x04, byte, 0x00]))) == fc.NxpCommand(code=code)


def test_inventory_afi_needs_the_readers_mode_bit():
    with pytest.raises(ProtocolError, match="inventory_afi_flag"):
        fc.encode_command(fc.Inventory(afi=0x07))
    dialect = fc.Dialect(inventory_afi_flag=0x10)
    assert fc.encode_command(fc.Inventory(afi=0x07), dialect) == b"\x01\x10\x07"
    assert fc.decode_command(feig.Request(0xB0, b"\x01\x90\x07"), dialect) == fc.Inventory(more=True, afi=7)
    with pytest.raises(ProtocolError, match="MODE 0x10"):
        fc.decode_command(feig.Request(0xB0, b"\x01\x10\x07"))
    with pytest.raises(ProtocolError, match="one bit"):
        fc.Dialect(inventory_afi_flag=0x80)


# The ISO 15693 worked example of protocol-notes.md: E00401008A5C982E, 28 blocks of 4 bytes, IC ref 01.
SYSTEM_INFO = fc.SystemInfo(uid=0xE00401008A5C982E, dsfid=0, afi=0, block_size=4, block_count=28, ic_ref=1)


@pytest.mark.parametrize(
    ("dialect", "data"),
    [
        (fc.DEFAULT_DIALECT, bytes.fromhex("00 E0 04 01 00 8A 5C 98 2E 00 03 1B 01")),
        (AS_SENT, bytes.fromhex("00 E0 04 01 00 8A 5C 98 2E 00 1B 03 01")),
    ],
)
def test_system_info_layout(dialect, data):
    assert fc.SystemInfo.decode(data, dialect) == SYSTEM_INFO
    assert SYSTEM_INFO.encode(dialect) == data


def test_system_info_ignores_the_rfu_bits_of_the_block_size():
    data = bytes.fromhex("00 E0 04 01 00 8A 5C 98 2E 00 E3 1B 01")
    assert fc.SystemInfo.decode(data) == SYSTEM_INFO


@pytest.mark.parametrize(
    ("dialect", "memory"),
    [(fc.DEFAULT_DIALECT, "1122334455667788"), (AS_SENT, "4433221188776655")],
)
def test_read_blocks_reply_layout(dialect, memory):
    data = bytes.fromhex("02 04 00 44332211 01 88776655")
    expected = fc.BlockData(block_size=4, data=bytes.fromhex(memory), security=(0, 1))
    assert fc.BlockData.decode(data, dialect) == expected
    assert expected.encode(dialect) == data


def test_block_security_and_write_error_layouts():
    assert fc.BlockSecurity.decode(b"\x03\x00\x01\x00") == fc.BlockSecurity((0, 1, 0))
    assert fc.BlockSecurity((1,)).encode() == b"\x01\x01"
    failure = fc.BlockFailure.decode(feig.Reply(0xB0, 0x03, b"\x05"))
    assert (failure, failure.status, failure.encode()) == (
        fc.BlockFailure(5),
        feig.FeigStatus.WRITE_ERROR,
        b"\x05",
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: fc.ReadBlocks(first=256, count=1), "DB-ADR"),
        (lambda: fc.ReadBlocks(first=0, count=0), "DB-N"),
        (lambda: fc.LockBlocks(first=0, count=256), "DB-N"),
        (lambda: fc.ReadBlocks(uid=UID, selected=True, first=0, count=1), "not both"),
        (lambda: fc.ReadBlocks(uid=1 << 64, first=0, count=1), "UID"),
        (lambda: fc.WriteBlocks(first=0, block_size=4, data=b""), "DB-N"),
        (lambda: fc.WriteBlocks(first=0, block_size=4, data=b"\x00" * 6), "whole 4-byte blocks"),
        (lambda: fc.WriteBlocks(first=0, block_size=33, data=b"\x00" * 33), "DB-SIZE"),
        (lambda: fc.WriteBlocks(first=0, block_size=1, data=b"\x00" * 256), "DB-N"),
        (lambda: fc.WriteAfi(afi=256), "AFI"),
        (lambda: fc.Inventory(afi=-1), "AFI"),
        (lambda: fc.PlainCommand(code=fc.IsoCode.READ_BLOCKS), "without parameters"),
        (lambda: fc.PlainCommand(code=fc.IsoCode.SELECT), "addressed by UID"),
        (lambda: fc.NxpCommand(code=0x10), "0x10 is not supported"),
        (lambda: fc.InventoryEntry(uid=-1), "UID"),
        (lambda: fc.InventoryEntry(uid=0, dsfid=256), "DSFID"),
        (lambda: fc.InventoryData((fc.InventoryEntry(0),) * 256), "DATA-SETS"),
        (lambda: fc.BlockData(block_size=4, data=b"\x00" * 8, security=(0,)), "1 security bytes for 2"),
        (lambda: fc.BlockData(block_size=1, data=b"\x00", security=(256,)), "SEC-STATUS"),
        (lambda: fc.BlockSecurity(()), "DB-N"),
        (lambda: fc.BlockSecurity((0, 300)), "SEC-STATUS"),
        (lambda: fc.SystemInfo(uid=0, dsfid=0, afi=0, block_size=0, block_count=1, ic_ref=0), "block size"),
        (lambda: fc.SystemInfo(uid=0, dsfid=0, afi=256, block_size=4, block_count=1, ic_ref=0), "AFI"),
        (lambda: fc.SystemInfo(uid=0, dsfid=0, afi=0, block_size=4, block_count=65537, ic_ref=0), "count"),
        (lambda: fc.BlockFailure(block=256), "DB-ADR-E"),
        (lambda: fc.BlockFailure(block=0, iso_error=256), "ISO error"),
    ],
)
def test_values_out_of_range_are_refused(build, message):
    with pytest.raises(ProtocolError, match=message):
        build()


@pytest.mark.parametrize(
    ("control", "data", "message"),
    [
        (0xB0, b"", "command missing"),
        (0xB0, b"\x20\x00", "0x20 is not supported"),
        (0xB0, b"\x23", "MODE missing"),
        (0xB0, b"\x23\x20\x00\x01", "MODE 0x20"),
        (0xB0, b"\x23\x03\x00\x01", "MODE 0x03"),
        (0xB0, b"\x22\x08\x00\x01", "MODE 0x08"),
        (0xB0, b"\x23\x01\xe0\x04", "UID missing"),
        (0xB0, b"\x23\x00\x00\x01\x00", "1 unexpected bytes"),
        (0xB0, b"\x01\x01", "MODE 0x01"),
        (0xB0, b"\x24\x00\x00\x01\x00", "DB-SIZE must be 1..32"),
        (0xB0, b"\x24\x00\x00\x02\x04\x00\x00\x00\x00", "DB missing"),
        (0xB0, b"\x24\x00\x00\x00\x04", "DB-N"),
        (0xB0, b"\x25\x00", "addressed by UID"),
        (0xB1, b"\x07\xa2\x00", "manufacturer 0x07"),
        (0xB1, b"\x04\xb9\x00", "0xB9 is not supported"),
        (0x65, b"", "neither"),
    ],
)
def test_malformed_requests_are_refused(control, data, message):
    with pytest.raises(ProtocolError, match=message):
        fc.decode_command(feig.Request(control, data))


@pytest.mark.parametrize(
    ("decode", "data", "message"),
    [
        (fc.InventoryData.decode, b"", "0 bytes"),
        (fc.InventoryData.decode, b"\x01" + bytes(9), "10 bytes"),
        (fc.BlockData.decode, b"\x01\x04\x00\x11\x22", "DB missing"),
        (fc.BlockData.decode, b"\x00\x04", "DB-N"),
        (fc.BlockData.decode, b"\x01\x00\x00", "DB-SIZE"),
        (fc.BlockData.decode, b"\x01\x01\x00\x11\x22", "unexpected"),
        (fc.BlockSecurity.decode, b"\x02\x00", "SEC-STATUS missing"),
        (fc.SystemInfo.decode, bytes(12), "IC-REF missing"),
    ],
)
def test_malformed_reply_data_is_refused(decode, data, message):
    with pytest.raises(ProtocolError, match=message):
        decode(data)


def test_block_failure_needs_a_failure_status():
    with pytest.raises(ProtocolError, match="names no failed block"):
        fc.BlockFailure.decode(feig.Reply(0xB0, 0x00))
    with pytest.raises(ProtocolError, match="unexpected"):
        fc.BlockFailure.decode(feig.Reply(0xB0, 0x03, b"\x01\x02"))


uids = st.none() | st.integers(0, (1 << 64) - 1)
blocks = st.integers(0, 255)
counts = st.integers(1, 255)
dialects = st.builds(
    fc.Dialect,
    block_order=st.sampled_from(fc.ByteOrder),
    mem_size_order=st.sampled_from(fc.ByteOrder),
    inventory_afi_flag=st.sampled_from([None, 0x08, 0x10, 0x20, 0x40]),
)


@st.composite
def write_blocks(draw):
    size = draw(st.integers(1, 32))
    data = draw(st.binary(min_size=size, max_size=size * draw(st.integers(1, 8))))
    return fc.WriteBlocks(
        uid=draw(uids), first=draw(blocks), block_size=size, data=data[: len(data) // size * size]
    )


def addressed(kind, **fields):
    return st.one_of(
        st.builds(kind, uid=st.integers(0, (1 << 64) - 1), **fields),
        st.builds(kind, selected=st.booleans(), **fields),
    )


commands = st.one_of(
    st.builds(fc.Inventory, more=st.booleans()),
    addressed(fc.ReadBlocks, first=blocks, count=counts, security=st.booleans()),
    addressed(fc.LockBlocks, first=blocks, count=counts),
    addressed(fc.GetBlockSecurity, first=blocks, count=counts),
    addressed(fc.WriteAfi, afi=blocks),
    addressed(fc.NxpCommand, code=st.sampled_from(fc.NxpCode)),
    st.builds(
        fc.PlainCommand,
        code=st.sampled_from([fc.IsoCode.RESET_TO_READY, fc.IsoCode.LOCK_AFI, fc.IsoCode.GET_SYSTEM_INFO]),
        uid=uids,
    ),
    st.builds(
        fc.PlainCommand,
        code=st.sampled_from([fc.IsoCode.STAY_QUIET, fc.IsoCode.SELECT]),
        uid=st.integers(0, (1 << 64) - 1),
    ),
    write_blocks(),
)


@given(commands, dialects, st.booleans())
def test_commands_round_trip_through_frames(command, dialect, advanced):
    frame = fc.to_request(command, advanced=advanced or None, dialect=dialect).encode()
    assert fc.decode_command(feig.decode_request(frame), dialect) == command


@given(st.builds(fc.Inventory, more=st.booleans(), afi=blocks), st.sampled_from([0x08, 0x10, 0x20, 0x40]))
def test_inventory_with_afi_round_trips_with_a_flag(command, flag):
    dialect = fc.Dialect(inventory_afi_flag=flag)
    assert fc.decode_command(fc.to_request(command, dialect=dialect), dialect) == command


entries = st.builds(fc.InventoryEntry, uid=st.integers(0, (1 << 64) - 1), dsfid=blocks, tr_type=blocks)


@st.composite
def block_data(draw):
    size, count = draw(st.integers(1, 32)), draw(st.integers(1, 8))
    data = draw(st.binary(min_size=size * count, max_size=size * count))
    return fc.BlockData(size, data, tuple(draw(st.lists(blocks, min_size=count, max_size=count))))


@given(st.lists(entries, max_size=30), block_data(), st.lists(blocks, min_size=1, max_size=255), dialects)
def test_reply_data_round_trips(inventory, read, security, dialect):
    assert fc.InventoryData.decode(fc.InventoryData(tuple(inventory)).encode()) == fc.InventoryData(
        tuple(inventory)
    )
    assert fc.BlockData.decode(read.encode(dialect), dialect) == read
    assert fc.BlockSecurity.decode(fc.BlockSecurity(tuple(security)).encode()) == fc.BlockSecurity(
        tuple(security)
    )


@given(
    st.builds(
        fc.SystemInfo,
        uid=st.integers(0, (1 << 64) - 1),
        dsfid=blocks,
        afi=blocks,
        block_size=st.integers(1, 32),
        block_count=st.integers(1, 256),
        ic_ref=blocks,
    ),
    st.builds(fc.BlockFailure, block=blocks, iso_error=st.none() | blocks),
    dialects,
)
def test_system_info_and_failures_round_trip(info, failure, dialect):
    assert fc.SystemInfo.decode(info.encode(dialect), dialect) == info
    assert fc.BlockFailure.decode(feig.Reply(0xB0, failure.status, failure.encode())) == failure


@given(st.sampled_from([0xB0, 0xB1, 0x65]), st.binary(max_size=48), dialects)
def test_fuzz_request_data_decodes_or_is_refused(control, data, dialect):
    with contextlib.suppress(ProtocolError):
        command = fc.decode_command(feig.Request(control, data), dialect)
        assert fc.decode_command(fc.to_request(command, dialect=dialect), dialect) == command


@given(st.binary(max_size=48), st.integers(0, 255), dialects)
def test_fuzz_reply_data_decodes_or_is_refused(data, status, dialect):
    for decode in (
        fc.InventoryData.decode,
        fc.BlockSecurity.decode,
        lambda d: fc.BlockData.decode(d, dialect),
        lambda d: fc.SystemInfo.decode(d, dialect),
        lambda d: fc.BlockFailure.decode(feig.Reply(0xB0, status, d)),
    ):
        with contextlib.suppress(ProtocolError):
            decode(data)


def test_host_and_emulator_talk_through_stream_readers():
    """A read as a driver sends it, answered as the emulator will, with both sides cutting byte streams."""
    emulator, host = feig.FrameReader(feig.Request), feig.FrameReader(feig.Reply)
    wire = fc.to_request(fc.ReadBlocks(uid=UID, first=2, count=2, security=True)).encode()
    (request,) = [e for b in wire for e in emulator.feed(bytes([b]))]
    assert isinstance(request, feig.Request)
    command = fc.decode_command(request)
    assert command == fc.ReadBlocks(uid=UID, first=2, count=2, security=True)
    data = fc.BlockData(block_size=4, data=bytes.fromhex("11223344 55667788"), security=(1, 0))
    answer = feig.reply_to(request, feig.FeigStatus.OK, data.encode()).encode()
    assert answer[4:8] == bytes.fromhex("02 04 01 44")
    (reply,) = host.feed(b"\x00" + answer)[1:]
    assert isinstance(reply, feig.Reply)
    assert feig.classify(reply).kind is feig.StatusKind.OK
    assert fc.BlockData.decode(reply.data) == data
