"""A virtual card for vsmartcard's vpcd: a contactless reader front end answering from a simulated Field.

vpcd (the pcscd driver of Debian's vsmartcard-vpcd) listens on a TCP port per virtual reader; a card
connects to it, and pcscd reports a card in that reader for as long as the connection lasts. Every message
either way is a 2-byte big-endian length and a payload. From vpcd a 1-byte payload is a control code (00
power off, 01 power on, 02 reset, 04 send the ATR: the only one answered); anything longer is an APDU,
answered with data + SW1 SW2 (frankmorgner/vsmartcard, virtualsmartcard/src/vpcd/vpcd.c and docs "Creating a
virtual smart card").

This card plays the reader's RF side of a PC/SC part 3 transparent session (see pcsc_part3): it appends the
CRC to each frame, sends it into the Field, and reports what it heard as a reader does: no answer (C0 ..
64 01), a collision or a CRC error (96 status bits), or the reply without its CRC (97). Like a real reader in
transparent mode it sends no EOFs, so of a 16-slot inventory only slot 1 is heard. When the Field's reader
is unplugged the card drops its connection, which pcscd sees as the card taken out.

It answers from its own thread (plain blocking sockets), so a test's event loop, pyscard's thread and pcscd
can all be busy at once; the Field's world lock keeps the tags consistent.
"""

import argparse
import contextlib
import socket
import sys
import threading
from collections import deque
from pathlib import Path

from tagd.drivers.air import Collision
from tagd.drivers.sim.world import Field, ReaderUnplugged, World
from tagd.protocols.iso15693 import CrcError, append_crc, check_crc
from tagd.protocols.pcsc_part3 import (
    CLA,
    INS,
    ISO15693_LAYER3,
    ErrorStatus,
    Function,
    Heard,
    Part3Error,
    ResponseStatus,
    Tag,
    decode_objects,
    heard_reply,
    status_reply,
)

POWER_OFF, POWER_ON, RESET, GET_ATR = 0x00, 0x01, 0x02, 0x04


def _atr() -> bytes:
    """PC/SC part 3 ATR of a contactless storage card: standard 0B (ISO 15693 part 3), card name 00 14 (ICODE
    SLI), as ACS and SpringCard readers report an ICODE SLIX; the last byte is the XOR check of T0 onwards."""
    body = bytes.fromhex("8F8001804F0CA0000003060B001400000000")
    check = 0
    for byte in body:
        check ^= byte
    return b"\x3b" + body + bytes([check])


ATR = _atr()

SW_CLASS_NOT_SUPPORTED = bytes([0x6E, 0x00])
SW_INS_NOT_SUPPORTED = bytes([0x6D, 0x00])
SW_WRONG_P1P2 = bytes([0x6A, 0x86])
SW_WRONG_LENGTH = bytes([0x67, 0x00])


class VirtualCard:
    """The card in one vpcd reader: `insert()` connects it, `remove()` takes it out; `field` may be swapped.

    `apdus` keeps the last command APDUs received (for tests that check what crossed pcscd).
    """

    def __init__(self, field: Field, *, port: int, host: str = "127.0.0.1") -> None:
        self.field = field
        self.host = host
        self.port = port
        self.apdus: deque[bytes] = deque(maxlen=256)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._session = False
        self._iso15693 = False

    @property
    def inserted(self) -> bool:
        return self._socket is not None

    def insert(self) -> None:
        """Connects to vpcd (OSError when it does not listen); pcscd notices the card at its next poll."""
        if self._socket is not None:
            return
        connection = socket.create_connection((self.host, self.port), timeout=5.0)
        connection.settimeout(None)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket = connection
        self._session = self._iso15693 = False
        self._thread = threading.Thread(target=self._serve, args=(connection,), name="vpcd-card", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        """Drops the connection, as if the card were pulled out, and waits for the serving thread."""
        connection, thread = self._socket, self._thread
        self._socket = None
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def serve_forever(self) -> None:
        """Blocks until the connection ends (for the command line)."""
        if self._thread is not None:
            self._thread.join()

    # -- vpcd messages -------------------------------------------------------------------------------

    def answer(self, message: bytes) -> bytes | None:
        """One message from vpcd in, the card's reply out (None for the control codes that take none)."""
        if len(message) == 1:
            if message[0] == GET_ATR:
                return ATR
            if message[0] in (POWER_OFF, POWER_ON, RESET):
                self._session = self._iso15693 = False
            return None
        self.apdus.append(message)
        return self._apdu(message)

    def _apdu(self, apdu: bytes) -> bytes:
        refused = _refusal(apdu)
        if refused is not None:
            return refused
        try:
            objects = decode_objects(apdu[5 : 5 + apdu[4]] if len(apdu) > 4 else b"")
        except Part3Error:
            return status_reply(0, ErrorStatus.UNEXPECTED_LENGTH)
        return self._objects(Function(apdu[3]), objects)

    def _objects(self, function: Function, objects: list[tuple[int, bytes]]) -> bytes:  # noqa: PLR0911
        """Runs the data objects in order; the first that fails stops the rest, as part 3 has it (one
        return per answer a reader gives)."""
        for number, (tag, value) in enumerate(objects, start=1):
            if function == Function.MANAGE_SESSION and tag in (Tag.START_SESSION, Tag.END_SESSION):
                self._session = tag == Tag.START_SESSION
                self._iso15693 = False
            elif not self._session:
                return status_reply(number, ErrorStatus.NO_INFORMATION)
            elif function == Function.SWITCH_PROTOCOL and tag == Tag.SWITCH_PROTOCOL:
                if value != ISO15693_LAYER3:
                    return status_reply(number, ErrorStatus.UNEXPECTED_VALUE)
                self._iso15693 = True
            elif function == Function.TRANSPARENT_EXCHANGE and tag == Tag.TIMER:
                continue  # the simulated tags answer at once
            elif function == Function.TRANSPARENT_EXCHANGE and tag == Tag.FLAGS:
                if any(value):  # only the default: the reader handles the CRC
                    return status_reply(number, ErrorStatus.UNEXPECTED_VALUE)
            elif function == Function.TRANSPARENT_EXCHANGE and tag == Tag.TRANSCEIVE and self._iso15693:
                heard = self._transceive(value)
                if heard is None:
                    return status_reply(number, ErrorStatus.NO_RESPONSE_FROM_ICC)
                return heard_reply(heard)
            else:
                return status_reply(number, ErrorStatus.NOT_SUPPORTED)
        return status_reply(0, ErrorStatus.OK)

    def _transceive(self, frame: bytes) -> Heard | None:
        """The frame on the air with its CRC; ReaderUnplugged goes up and takes the card out."""
        reply = self.field.transceive(append_crc(frame))[0]
        if reply is None:
            return None
        if isinstance(reply, Collision):
            return Heard(ResponseStatus.COLLISION, b"")
        try:
            return Heard(ResponseStatus(0), check_crc(reply))
        except CrcError:
            return Heard(ResponseStatus.CRC_ERROR, reply[:-2])

    # -- the connection --------------------------------------------------------------------------------

    def _serve(self, connection: socket.socket) -> None:
        try:
            while (message := _receive(connection)) is not None:
                reply = self.answer(message)
                if reply is not None:
                    connection.sendall(len(reply).to_bytes(2, "big") + reply)
        except (OSError, ReaderUnplugged):
            pass  # the card is out: vpcd sees the connection end
        finally:
            if self._socket is connection:
                self._socket = None
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


def _refusal(apdu: bytes) -> bytes | None:
    """The status word for an APDU that is no well-formed part 3 command; None for one that is."""
    if len(apdu) < 4 or (len(apdu) > 4 and len(apdu) < 5 + apdu[4]):
        return SW_WRONG_LENGTH
    if apdu[0] != CLA:
        return SW_CLASS_NOT_SUPPORTED
    if apdu[1] != INS:
        return SW_INS_NOT_SUPPORTED
    if apdu[2] != 0x00 or apdu[3] not in set(Function):
        return SW_WRONG_P1P2
    return None


def _receive(connection: socket.socket) -> bytes | None:
    """One length-prefixed message, None when vpcd closed the connection."""
    header = _exactly(connection, 2)
    if header is None:
        return None
    return _exactly(connection, int.from_bytes(header, "big"))


def _exactly(connection: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        # vpcd writes a message's length and its payload separately: acknowledging at once saves the 40 ms
        # that Nagle's algorithm on its side would otherwise wait for our delayed ACK on every message.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def main(argv: list[str] | None = None) -> int:
    """`python -m tagd.drivers.sim.vpcd_card --port P [--field NAME] [--tags FILE]`: serves until vpcd
    lets go."""
    parser = argparse.ArgumentParser(prog="python -m tagd.drivers.sim.vpcd_card", description=main.__doc__)
    parser.add_argument("--port", type=int, required=True, help="vpcd's port (reader.conf CHANNELID)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--field", default="pcsc", help="name of the simulated field")
    parser.add_argument("--tags", type=Path, help="a JSON tag file placed in the field")
    options = parser.parse_args(argv)
    world = World()
    try:
        if options.tags is not None:
            world.load_tags(options.tags.read_text(encoding="utf-8"), options.field)
        card = VirtualCard(world.field(options.field), port=options.port, host=options.host)
        card.insert()
    except (OSError, ValueError) as exc:
        print(f"vpcd_card: {exc}", file=sys.stderr)
        return 1
    print(
        f"card in vpcd {options.host}:{options.port}, field {options.field!r}, {len(world.tags)} tag(s)",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        card.serve_forever()
    card.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
