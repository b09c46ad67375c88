"""The virtual card on its own: a loopback listener plays vpcd's end of the protocol, message by message.

The listener speaks exactly what vpcd sends (length-prefixed control codes and APDUs), so these tests pin the
card's answers byte for byte; test_pcsc_reader runs the same card behind the real vpcd and pcscd.
"""

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tagd.drivers.sim.vpcd_card import ATR, GET_ATR, POWER_OFF, POWER_ON, RESET, VirtualCard
from tagd.drivers.sim.world import Field, World
from tagd.protocols.iso15693 import (
    Command,
    InventoryResponse,
    answer_deadline_us,
    decode_response,
    get_system_info,
    inventory,
)
from tagd.protocols.pcsc_part3 import (
    START_SESSION,
    SWITCH_TO_ISO15693,
    ErrorStatus,
    Function,
    Heard,
    ResponseStatus,
    Tag,
    command,
    error_status,
    split_reply,
    transceive_command,
    transceive_result,
)

TIMEOUT = 5.0
SLIX2 = 0xE004010800000000


class VpcdEnd:
    """vpcd's side of one card connection, over a real loopback socket."""

    def __init__(self, connection: socket.socket) -> None:
        connection.settimeout(TIMEOUT)
        self.connection = connection

    def send(self, message: bytes) -> None:
        self.connection.sendall(len(message).to_bytes(2, "big") + message)

    def receive(self) -> bytes | None:
        header = self._exactly(2)
        return None if header is None else self._exactly(int.from_bytes(header, "big"))

    def exchange(self, message: bytes) -> bytes:
        self.send(message)
        reply = self.receive()
        assert reply is not None, "the card hung up"
        return reply

    def _exactly(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            chunk = self.connection.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(TIMEOUT)
    yield server
    server.close()


@pytest.fixture
def field(world: World) -> Field:
    return world.field("pad")


@pytest.fixture
def vpcd(listener: socket.socket, field: Field) -> Iterator[tuple[VirtualCard, VpcdEnd]]:
    card = VirtualCard(field, port=listener.getsockname()[1])
    card.insert()
    end = VpcdEnd(listener.accept()[0])
    yield card, end
    card.remove()
    end.connection.close()


def in_session(end: VpcdEnd) -> None:
    for apdu in (START_SESSION, SWITCH_TO_ISO15693):
        assert end.exchange(apdu) == bytes.fromhex("C003009000" + "9000")


def transceive(end: VpcdEnd, frame: bytes) -> Heard | None:
    return transceive_result(end.exchange(transceive_command(frame)))


def place(world: World, uid: int) -> int:
    world.place(world.new_tag("slix2", uid).uid, "pad")
    return uid


def test_the_atr_is_an_iso15693_storage_card_with_a_good_check_byte(
    vpcd: tuple[VirtualCard, VpcdEnd],
) -> None:
    _, end = vpcd
    for control in (POWER_OFF, POWER_ON, RESET):
        end.send(bytes([control]))  # answered by nothing: the next message back is the ATR
    assert end.exchange(bytes([GET_ATR])) == ATR == bytes.fromhex("3B8F8001804F0CA0000003060B00140000000077")
    check = 0
    for byte in ATR[1:]:
        check ^= byte
    assert check == 0


def test_a_tag_answers_through_a_transparent_session(world: World, vpcd: tuple[VirtualCard, VpcdEnd]) -> None:
    _, end = vpcd
    uid = place(world, SLIX2 | 0x1234)
    in_session(end)
    heard = transceive(end, inventory())
    assert heard is not None
    assert heard.status == ResponseStatus(0)
    assert decode_response(Command.INVENTORY, heard.data) == InventoryResponse(uid, 0)  # the CRC is stripped


def test_silence_is_no_response_from_the_icc(vpcd: tuple[VirtualCard, VpcdEnd]) -> None:
    _, end = vpcd
    in_session(end)
    reply = end.exchange(transceive_command(get_system_info(SLIX2)))
    assert error_status(split_reply(reply)) == (1, ErrorStatus.NO_RESPONSE_FROM_ICC)


def test_two_tags_in_one_slot_are_a_collision(world: World, vpcd: tuple[VirtualCard, VpcdEnd]) -> None:
    _, end = vpcd
    place(world, SLIX2 | 1)
    place(world, SLIX2 | 2)
    in_session(end)
    assert transceive(end, inventory()) == Heard(ResponseStatus.COLLISION, b"")


def test_a_damaged_reply_is_a_crc_error_with_its_bytes(
    world: World, field: Field, vpcd: tuple[VirtualCard, VpcdEnd]
) -> None:
    _, end = vpcd
    uid = place(world, SLIX2 | 7)
    in_session(end)
    field.corrupt_next(1)
    heard = transceive(end, get_system_info(uid))
    assert heard is not None
    assert heard.status == ResponseStatus.CRC_ERROR
    assert heard.data[:1] == b"\x00"
    assert len(heard.data) == 15


def test_of_a_sixteen_slot_inventory_only_the_first_slot_is_heard(
    world: World, vpcd: tuple[VirtualCard, VpcdEnd]
) -> None:
    _, end = vpcd
    first = place(world, SLIX2 | 0x10)  # low nibble 0: slot 1
    place(world, SLIX2 | 0x05)  # slot 6, never opened: a transparent reader sends no EOF
    in_session(end)
    heard = transceive(end, inventory(one_slot=False))
    assert heard is not None
    assert decode_response(Command.INVENTORY, heard.data).uid == first


@pytest.mark.parametrize(
    ("apdu", "status"),
    [
        (transceive_command(b"\x26\x01\x00"), (1, ErrorStatus.NO_INFORMATION)),  # no session yet
        (
            command(Function.SWITCH_PROTOCOL, [(Tag.SWITCH_PROTOCOL, b"\x01\x03")]),
            (1, ErrorStatus.NO_INFORMATION),
        ),
    ],
)
def test_nothing_but_session_management_works_outside_a_session(
    vpcd: tuple[VirtualCard, VpcdEnd], apdu: bytes, status: tuple[int, ErrorStatus]
) -> None:
    _, end = vpcd
    assert error_status(split_reply(end.exchange(apdu))) == status


@pytest.mark.parametrize(
    ("objects", "function", "status"),
    [
        ([(0x93, b"\x26\x01\x00")], Function.TRANSPARENT_EXCHANGE, (1, ErrorStatus.NOT_SUPPORTED)),
        ([(Tag.SWITCH_PROTOCOL, b"\x01\x03")], Function.SWITCH_PROTOCOL, (1, ErrorStatus.UNEXPECTED_VALUE)),
        ([(Tag.FLAGS, b"\x00\x03")], Function.TRANSPARENT_EXCHANGE, (1, ErrorStatus.UNEXPECTED_VALUE)),
        (
            [(Tag.TIMER, b"\x00\x01\x86\xa0"), (Tag.FLAGS, b"\x00\x00")],
            Function.TRANSPARENT_EXCHANGE,
            (0, ErrorStatus.OK),
        ),
        (
            [(Tag.TIMER, b"\x00\x01\x86\xa0"), (Tag.TRANSCEIVE, b"\x22\x2b" + bytes(8))],
            Function.TRANSPARENT_EXCHANGE,
            (2, ErrorStatus.NO_RESPONSE_FROM_ICC),
        ),
    ],
)
def test_data_objects_the_card_refuses_or_takes(
    vpcd: tuple[VirtualCard, VpcdEnd],
    objects: list[tuple[int, bytes]],
    function: Function,
    status: tuple[int, int],
) -> None:
    _, end = vpcd
    in_session(end)
    assert error_status(split_reply(end.exchange(command(function, objects)))) == status


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00C2000002810000", "6E00"),
        ("FFCA000000", "6D00"),
        ("FFC2010002810000", "6A86"),
        ("FFC20000058100", "6700"),
    ],
)
def test_apdus_that_are_not_part_3_get_a_status_word(
    vpcd: tuple[VirtualCard, VpcdEnd], apdu: str, sw: str
) -> None:
    _, end = vpcd
    assert end.exchange(bytes.fromhex(apdu)) == bytes.fromhex(sw)


def test_an_unplugged_reader_takes_the_card_out(field: Field, vpcd: tuple[VirtualCard, VpcdEnd]) -> None:
    card, end = vpcd
    in_session(end)
    field.unplugged = True
    end.send(transceive_command(b"\x26\x01\x00"))
    assert end.receive() is None
    card.remove()  # joins the serving thread, which ended by itself
    assert not card.inserted


def test_removing_the_card_hangs_up_on_vpcd(vpcd: tuple[VirtualCard, VpcdEnd]) -> None:
    card, end = vpcd
    card.remove()
    assert end.receive() is None


def test_the_command_line_serves_a_tag_file(listener: socket.socket, tmp_path: Path) -> None:
    uid = SLIX2 | 0xBEEF
    tags = tmp_path / "tags.json"
    tags.write_text(json.dumps([{"uid": f"{uid:016X}", "profile": "slix2"}]), encoding="utf-8")
    port = str(listener.getsockname()[1])
    card = [
        sys.executable,
        "-m",
        "tagd.drivers.sim.vpcd_card",
        "--port",
        port,
        "--field",
        "desk",
        "--tags",
        str(tags),
    ]
    with subprocess.Popen(card, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            end = VpcdEnd(listener.accept()[0])
            in_session(end)
            heard = transceive(end, inventory())
            assert heard is not None
            assert decode_response(Command.INVENTORY, heard.data).uid == uid
            end.connection.close()  # vpcd lets go: the card exits
            out, err = process.communicate(timeout=TIMEOUT)
        finally:
            process.kill()
    assert process.returncode == 0, err
    assert "1 tag(s)" in out


def test_the_command_line_says_when_vpcd_is_not_there(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = str(closed.getsockname()[1])
    run = subprocess.run(
        [sys.executable, "-m", "tagd.drivers.sim.vpcd_card", "--port", port],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert run.returncode == 1
    assert "vpcd_card:" in run.stderr


def test_the_card_takes_the_timer_ahead_of_the_transceive_as_the_driver_sends_it(
    world: World, vpcd: tuple[VirtualCard, VpcdEnd]
) -> None:
    _, end = vpcd
    uid = place(world, SLIX2 | 0x1234)
    in_session(end)
    frame = inventory()
    heard = transceive_result(end.exchange(transceive_command(frame, answer_deadline_us(frame))))
    assert heard is not None
    assert decode_response(Command.INVENTORY, heard.data) == InventoryResponse(uid, 0)
