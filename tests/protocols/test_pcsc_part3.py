"""The PC/SC part 3 codec both ends share: the exact pseudo-APDUs, BER-TLV both ways, and reading replies."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols import iso15693 as iso
from tagd.protocols.iso15693.airtime import T1_MAX, WRITE_TIMEOUT
from tagd.protocols.pcsc_part3 import (
    END_SESSION,
    START_SESSION,
    SWITCH_TO_ISO15693,
    ErrorStatus,
    Function,
    Heard,
    Part3Error,
    ResponseStatus,
    Tag,
    command,
    decode_objects,
    encode_objects,
    error_status,
    heard_reply,
    split_reply,
    status_reply,
    transceive_command,
    transceive_result,
)


def test_the_session_apdus_are_the_published_ones() -> None:
    assert bytes.fromhex("FFC2000002810000") == START_SESSION
    assert bytes.fromhex("FFC2000002820000") == END_SESSION
    assert bytes.fromhex("FFC20002048F020203" + "00") == SWITCH_TO_ISO15693


def test_a_frame_goes_out_in_a_transceive_object_without_its_crc() -> None:
    inventory = bytes.fromhex("260100")
    assert transceive_command(inventory) == bytes.fromhex("FFC2000105" + "9503260100" + "00")


def test_the_timer_object_is_the_acr1552_drivers_bytes() -> None:
    # The public ACR1552 ISO 15693 driver sends 5F46 04 000F4240 (1,000,000 us, MSB first) ahead of the
    # transceive object; Microsoft's NFC class extension (storage card / transparent exchange) lists the
    # 5F46 timer as required there.
    inventory = bytes.fromhex("260100")
    assert transceive_command(inventory, 1_000_000) == bytes.fromhex(
        "FFC200010C" + "5F4604000F4240" + "9503260100" + "00"
    )
    assert decode_objects(transceive_command(inventory, 1_000_000)[5:-1])[0] == (0x5F46, b"\x00\x0f\x42\x40")


@pytest.mark.parametrize("microseconds", [0, 1 << 32])
def test_a_timer_out_of_range_is_refused(microseconds: int) -> None:
    with pytest.raises(Part3Error, match="timer"):
        transceive_command(b"\x26\x01\x00", microseconds)


def test_the_driver_timer_follows_the_air_time_model() -> None:
    uid = 0xE004010012345678
    inventory = iso.inventory()
    # request (3 + CRC bytes) + t1max + an inventory answer (12 bytes), twice over: 11,748 us
    expected = 2 * (iso.request_time(5) + T1_MAX + iso.response_time(12))
    assert iso.answer_deadline_us(inventory) == math.ceil(expected * 1_000_000) == 11_748
    write = iso.write_single_block(uid, 0, b"abcd")
    assert iso.answer_deadline(write) == 2 * (iso.request_time(len(write) + 2) + WRITE_TIMEOUT)
    read = iso.read_multiple_blocks(uid, 0, 28)
    assert iso.answer_deadline(read) > iso.answer_deadline(iso.read_multiple_blocks(uid, 0, 1))
    apdu = transceive_command(inventory, iso.answer_deadline_us(inventory))
    assert apdu == bytes.fromhex("FFC200010C" + "5F460400002DE4" + "9503260100" + "00")


@given(st.binary(max_size=40))
def test_any_frame_gets_a_timer_that_fits(frame: bytes) -> None:
    assert 0 < iso.answer_deadline_us(frame) <= 0xFFFFFFFF


objects = st.lists(
    st.tuples(st.sampled_from([0x80, 0x95, 0x97, 0xC0, 0x5F46, 0xFF6D]), st.binary(max_size=600)), max_size=4
)


@given(objects)
def test_data_objects_read_back_as_written(written: list[tuple[int, bytes]]) -> None:
    assert decode_objects(encode_objects(written)) == written


@pytest.mark.parametrize(
    ("size", "header"),
    [(0x7F, bytes([0x97, 0x7F])), (0x80, bytes([0x97, 0x81, 0x80])), (0x100, b"\x97\x82\x01\x00")],
)
def test_long_objects_take_the_long_length_forms(size: int, header: bytes) -> None:
    assert encode_objects([(Tag.ICC_RESPONSE, bytes(size))]) == header + bytes(size)


@pytest.mark.parametrize("broken", ["5F", "95", "9503AA", "9584000000", "9581"])
def test_cut_or_malformed_objects_are_refused(broken: str) -> None:
    with pytest.raises(Part3Error):
        decode_objects(bytes.fromhex(broken))


def test_a_heard_reply_reads_back() -> None:
    reply = heard_reply(Heard(ResponseStatus.CRC_ERROR, b"\x00\x01"))
    assert reply == bytes.fromhex("C003009000" + "920100" + "96020100" + "97020001" + "9000")
    assert transceive_result(reply) == Heard(ResponseStatus.CRC_ERROR, b"\x00\x01")


def test_no_answer_from_the_icc_is_none_and_other_errors_raise() -> None:
    assert transceive_result(status_reply(1, ErrorStatus.NO_RESPONSE_FROM_ICC)) is None
    with pytest.raises(Part3Error, match="6A81"):
        transceive_result(status_reply(1, ErrorStatus.NOT_SUPPORTED))
    with pytest.raises(Part3Error, match="97"):
        transceive_result(status_reply(0, ErrorStatus.OK))


def test_a_status_word_other_than_9000_is_refused() -> None:
    with pytest.raises(Part3Error, match="6D 00"):
        split_reply(bytes.fromhex("6D00"))
    with pytest.raises(Part3Error):
        split_reply(b"\x90")


def test_the_generic_error_status_names_the_failing_object() -> None:
    assert error_status(decode_objects(bytes.fromhex("C003026700"))) == (2, ErrorStatus.UNEXPECTED_LENGTH)
    assert error_status(decode_objects(bytes.fromhex("C003016999"))) == (1, 0x6999)
    assert error_status([]) == (0, ErrorStatus.OK)
    with pytest.raises(Part3Error):
        error_status(decode_objects(bytes.fromhex("C0029000")))


def test_damage_is_told_apart_from_a_collision() -> None:
    assert ResponseStatus.CRC_ERROR.damaged
    assert ResponseStatus.FRAMING_ERROR.damaged
    assert not ResponseStatus.COLLISION.damaged
    assert not ResponseStatus(0).damaged


def test_oversized_objects_are_refused_with_a_reason():
    with pytest.raises(Part3Error, match="too long"):
        encode_objects([(0x97, bytes(0x10000))])
    with pytest.raises(Part3Error, match="do not fit a short APDU"):
        command(Function.TRANSPARENT_EXCHANGE, [(0x95, bytes(300))])
