"""FEIG frames and status codes: public vectors, an independent frame builder, and malformed input."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols.errors import ProtocolError
from tagd.protocols.feig import frames as feig

# protocol-notes.md
ADVANCED_INVENTORY = bytes.fromhex("02 00 09 FF B0 01 00 18 43")
STANDARD_INVENTORY = bytes.fromhex("07 FF B0 01 00 1C 56")
# LR1002 trace, ST community thread "Error 0x12 when writing multiple blocks on ST25DV16KC"
TRACE_INVENTORY_REPLY = bytes.fromhex(
    "02 00 1D 00 B0 00 02 03 00 E0 02 51 00 02 56 4A A4 03 00 E0 02 23 00 18 89 2B 09 E3 00"
)
TRACE_ISO_ERROR_REPLY = bytes.fromhex("02 00 0A 00 B0 95 12 00 94 29")


def reference_crc(data: bytes) -> int:
    """Bit by bit, as FEIG's manuals print it: preset 0xFFFF, polynomial 0x8408, shift right."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def reference_frame(address: int, body: bytes, *, advanced: bool) -> bytes:
    if advanced:
        head = bytes([0x02, (len(body) + 6) >> 8, (len(body) + 6) & 0xFF, address])
    else:
        head = bytes([len(body) + 4, address])
    frame = head + body
    crc = reference_crc(frame)
    return frame + bytes([crc & 0xFF, crc >> 8])


def test_public_inventory_vectors():
    assert feig.encode_request(0xB0, b"\x01\x00", advanced=True) == ADVANCED_INVENTORY
    assert feig.encode_request(0xB0, b"\x01\x00") == STANDARD_INVENTORY
    assert feig.decode_request(ADVANCED_INVENTORY) == feig.Request(0xB0, b"\x01\x00", 0xFF, advanced=True)
    assert feig.decode_request(STANDARD_INVENTORY) == feig.Request(0xB0, b"\x01\x00", 0xFF, advanced=False)


def test_trace_replies_decode_and_reencode():
    reply = feig.decode_reply(TRACE_INVENTORY_REPLY)
    assert (reply.address, reply.control, reply.status, reply.advanced) == (0x00, 0xB0, 0x00, True)
    assert reply.data == TRACE_INVENTORY_REPLY[6:-2]
    assert reply.encode() == TRACE_INVENTORY_REPLY
    error = feig.decode_reply(TRACE_ISO_ERROR_REPLY)
    assert (error.status, error.data) == (0x95, b"\x12\x00")


def test_form_is_standard_up_to_255_bytes_then_advanced():
    fits = feig.encode_request(0xB0, bytes(250))  # 5 + 250 = 255
    assert fits[0] == 0xFF
    assert feig.encode_request(0xB0, bytes(251))[:3] == b"\x02\x01\x02"  # 7 + 251 = 258
    assert feig.encode_reply(0xB0, 0, bytes(249))[0] == 0xFF
    assert feig.encode_reply(0xB0, 0, bytes(250))[:3] == b"\x02\x01\x02"
    with pytest.raises(ProtocolError, match="over 255"):
        feig.encode_request(0xB0, bytes(251), advanced=False)
    with pytest.raises(ProtocolError, match="65535"):
        feig.encode_request(0xB0, bytes(65535 - 6), advanced=True)
    assert len(feig.encode_request(0xB0, bytes(65535 - 7))) == 65535


def test_reply_to_keeps_the_hosts_form():
    assert feig.reply_to(feig.decode_request(ADVANCED_INVENTORY), 0x01).advanced
    assert not feig.reply_to(feig.decode_request(STANDARD_INVENTORY), 0x01).advanced
    big = feig.reply_to(feig.decode_request(STANDARD_INVENTORY), 0x00, bytes(300), address=7)
    assert big.advanced
    assert big.address == 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"control": 256}, "CONTROL"),
        ({"control": 0xB0, "address": -1}, "COM-ADR"),
    ],
)
def test_request_fields_must_be_bytes(kwargs, message):
    with pytest.raises(ProtocolError, match=message):
        feig.Request(**kwargs)


def test_reply_status_must_be_a_byte():
    with pytest.raises(ProtocolError, match="STATUS"):
        feig.Reply(0xB0, 0x100)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"", "empty"),
        (b"\x02\x00", "ALENGTH"),
        (STANDARD_INVENTORY[:-1], "length field says 7"),
        (ADVANCED_INVENTORY + b"\x00", "length field says 9"),
        (STANDARD_INVENTORY[:-1] + b"\x57", "CRC16 is 571C"),
        (bytes([4, 0xFF]) + reference_crc(bytes([4, 0xFF])).to_bytes(2, "little"), "minimum of 5"),
    ],
)
def test_decode_request_rejects(frame, message):
    with pytest.raises(ProtocolError, match=message):
        feig.decode_request(frame)


def test_a_request_is_too_short_for_a_reply():
    with pytest.raises(ProtocolError, match="minimum of 6"):
        feig.decode_reply(reference_frame(0xFF, b"\xb0", advanced=False))


frame_parts = st.tuples(
    st.integers(0, 255), st.integers(0, 255), st.binary(max_size=300), st.booleans() | st.none()
)


@given(frame_parts)
def test_request_matches_reference_and_round_trips(parts):
    control, address, data, advanced = parts
    encoded = feig.encode_request(control, data, address=address, advanced=advanced)
    long = len(data) + 5 > 255
    assert encoded == reference_frame(address, bytes([control]) + data, advanced=bool(advanced) or long)
    decoded = feig.decode_request(encoded)
    assert (decoded.control, decoded.data, decoded.address) == (control, data, address)
    assert decoded.encode() == encoded


@given(frame_parts, st.integers(0, 255))
def test_reply_matches_reference_and_round_trips(parts, status):
    control, address, data, advanced = parts
    encoded = feig.encode_reply(control, status, data, address=address, advanced=advanced)
    form = bool(advanced) or len(data) + 6 > 255
    assert encoded == reference_frame(address, bytes([control, status]) + data, advanced=form)
    decoded = feig.decode_reply(encoded)
    assert (decoded.control, decoded.status, decoded.data) == (control, status, data)
    assert decoded.address == address


@given(st.binary(max_size=64))
def test_fuzz_decoders_raise_only_protocol_errors(data):
    for decode in (feig.decode_request, feig.decode_reply):
        with contextlib.suppress(ProtocolError):
            decode(data)


@given(st.integers(0, 255), st.binary(min_size=2, max_size=64), st.booleans())
def test_any_body_in_a_well_formed_frame_decodes(address, body, advanced):
    reply = feig.decode_reply(reference_frame(address, body, advanced=advanced))
    assert (reply.address, reply.control, reply.status, reply.data) == (address, body[0], body[1], body[2:])


def test_status_values_from_the_manual():
    assert feig.FeigStatus.OK == 0x00
    assert feig.FeigStatus.NO_TRANSPONDER == 0x01
    assert feig.FeigStatus.GENERAL_ERROR == 0x0E
    assert feig.FeigStatus.LENGTH_ERROR == 0x81
    assert feig.FeigStatus.RF_COMMUNICATION_ERROR == 0x83
    assert feig.FeigStatus.DATA_BUFFER_OVERFLOW == 0x93
    assert feig.FeigStatus.MORE_DATA == 0x94
    assert feig.FeigStatus.ISO_ERROR == 0x95


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (0x00, feig.StatusKind.OK),
        (0x94, feig.StatusKind.MORE_DATA),
        (0x01, feig.StatusKind.NO_TAG),
        (0x02, feig.StatusKind.RF_ERROR),
        (0x83, feig.StatusKind.RF_ERROR),
        (0x84, feig.StatusKind.RF_ERROR),
        (0x03, feig.StatusKind.TAG_ERROR),
        (0x04, feig.StatusKind.TAG_ERROR),
        (0x05, feig.StatusKind.TAG_ERROR),
        (0x80, feig.StatusKind.READER_ERROR),
        (0x81, feig.StatusKind.READER_ERROR),
        (0x93, feig.StatusKind.READER_ERROR),
        (0x0B, feig.StatusKind.READER_ERROR),
    ],
)
def test_classify_sorts_statuses(status, kind):
    outcome = feig.classify(feig.Reply(0xB0, status))
    assert (outcome.kind, outcome.iso_error) == (kind, None)


def test_classify_carries_the_tags_iso_error():
    outcome = feig.classify(feig.decode_reply(TRACE_ISO_ERROR_REPLY))
    assert (outcome.kind, outcome.iso_error, outcome.name) == (feig.StatusKind.TAG_ERROR, 0x12, "ISO_ERROR")
    with pytest.raises(ProtocolError, match="without the tag's error byte"):
        feig.classify(feig.Reply(0xB0, 0x95))


def test_outcome_names_unknown_statuses_by_value():
    assert feig.classify(feig.Reply(0xB0, 0x0B)).name == "status 0x0B"
    assert feig.classify(feig.Reply(0xB0, 0x94)).name == "MORE_DATA"
