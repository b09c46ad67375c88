"""ISO 15693 UIDs: an int whose hex form, MSB first, is the identifier tagd shows everywhere (E004...).

On the air the same 8 bytes travel LSB first; uid_to_bytes/uid_from_bytes convert between the two.
"""

import re
from enum import Enum, IntEnum

from tagd.protocols.errors import ProtocolError

UID_BITS = 64
_UID_TEXT = re.compile(r"[0-9A-F]{16}")


def check_uid(uid: int) -> int:
    """The UID itself, once it is known to fit in 64 bits."""
    if not 0 <= uid < 1 << UID_BITS:
        raise ProtocolError(f"a UID is 64 bits; {uid:#x} is out of range")
    return uid


def uid_to_bytes(uid: int) -> bytes:
    """The 8 bytes as sent on the air: LSB first."""
    return check_uid(uid).to_bytes(8, "little")


def uid_from_bytes(data: bytes) -> int:
    """The UID from its 8 air bytes (LSB first)."""
    if len(data) != 8:
        raise ProtocolError(f"a UID is 8 bytes, got {len(data)}")
    return int.from_bytes(data, "little")


def format_uid(uid: int) -> str:
    """16 upper-case hex digits, most significant byte first: the form used in events, logs and the CLI."""
    return f"{check_uid(uid):016X}"


def parse_uid(text: str) -> int:
    """The UID from its displayed form; anything but 16 upper-case hex digits starting E0 is refused."""
    if not _UID_TEXT.fullmatch(text):
        raise ProtocolError(
            f"a UID is written as 16 upper-case hex digits, MSB first (E004...), not {text!r}"
        )
    if not text.startswith("E0"):
        raise ProtocolError(f"an ISO 15693 UID starts with E0, {text!r} does not")
    return int(text, 16)


class Manufacturer(IntEnum):
    """IC manufacturer codes (ISO/IEC 7816-6) seen on library tags: the UID's second byte."""

    ST = 0x02
    NXP = 0x04
    INFINEON = 0x05
    TI = 0x07
    EM = 0x16


MANUFACTURER_NAMES = {
    Manufacturer.ST: "STMicroelectronics",
    Manufacturer.NXP: "NXP Semiconductors",
    Manufacturer.INFINEON: "Infineon Technologies",
    Manufacturer.TI: "Texas Instruments",
    Manufacturer.EM: "EM Microelectronic-Marin",
}


def manufacturer(uid: int) -> Manufacturer | int:
    """The manufacturer code; codes this table does not name stay plain ints."""
    code = check_uid(uid) >> 48 & 0xFF
    try:
        return Manufacturer(code)
    except ValueError:
        return code


def manufacturer_name(uid: int) -> str:
    """A readable manufacturer name, or the bare code when unknown."""
    code = manufacturer(uid)
    if isinstance(code, Manufacturer):
        return MANUFACTURER_NAMES[code]
    return f"unknown manufacturer 0x{code:02X}"


class NxpChip(Enum):
    """NXP ICODE chips told apart by the UID alone."""

    ICODE_SLI = "ICODE SLI"
    ICODE_SLIX = "ICODE SLIX"
    ICODE_SLIX2 = "ICODE SLIX2"
    ICODE_SLIX_S = "ICODE SLIX-S"
    ICODE_SLIX_L = "ICODE SLIX-L"


# E0 04 01 covers SLI, SLIX and SLIX2: bits 4..3 of the UID's 4th byte (MSB first) are a type indicator.
# Source: NXP AN10787 "ICODE UID format", as applied in the Flipper Zero firmware
# (lib/nfc/protocols/slix: SLIX_TYPE_INDICATOR_SLIX = 2, SLIX2 = 1, read as (uid[3] >> 3) & 3, uid[0] = E0);
# protocol-notes.md (ISO/IEC 15693-3 section) states the same bits.
_TYPE_INDICATOR = {0b10: NxpChip.ICODE_SLIX, 0b01: NxpChip.ICODE_SLIX2, 0b00: NxpChip.ICODE_SLI}
_IC_TYPE = {0x02: NxpChip.ICODE_SLIX_S, 0x03: NxpChip.ICODE_SLIX_L}


def nxp_chip(uid: int) -> NxpChip | None:
    """The ICODE chip an NXP UID names, or None (another maker, another NXP type, or reserved bits 11)."""
    prefix = check_uid(uid) >> 40
    if prefix == 0xE00401:
        return _TYPE_INDICATOR.get(uid >> 35 & 0b11)
    if prefix >> 8 == 0xE004:
        return _IC_TYPE.get(prefix & 0xFF)
    return None
