"""Bodies of the NXP ICODE custom requests (SLIX, SLIX2, SLIX-S, SLIX-L): EAS, AFI protection, passwords.

On the air each carries the IC manufacturer code 04 after the command byte; requests adds it.
"""

from dataclasses import dataclass
from typing import ClassVar, Self

from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693.bodies import NoParams
from tagd.protocols.iso15693.frames import Command, Cursor, PasswordId, RequestFlag, check_byte, password_id


@dataclass(frozen=True)
class SetEas(NoParams):
    command: ClassVar[Command] = Command.SET_EAS


@dataclass(frozen=True)
class ResetEas(NoParams):
    command: ClassVar[Command] = Command.RESET_EAS


@dataclass(frozen=True)
class LockEas(NoParams):
    command: ClassVar[Command] = Command.LOCK_EAS


@dataclass(frozen=True)
class EasAlarm:
    """Without a mask (option flag clear) every EAS-armed tag answers; with one, only matching EAS IDs.

    The mask (SLIX2, SLIX-S, SLI-S: selective EAS) is 0, 8 or 16 bits; a 0-bit mask asks for the EAS ID.
    """

    command: ClassVar[Command] = Command.EAS_ALARM
    eas_id_mask_len: int | None = None
    eas_id_mask: int = 0

    def __post_init__(self) -> None:
        if self.eas_id_mask_len is None:
            if self.eas_id_mask:
                raise ProtocolError("an EAS ID mask value needs a mask length")
            return
        if self.eas_id_mask_len not in (0, 8, 16):
            raise ProtocolError(f"an EAS ID mask is 0, 8 or 16 bits, not {self.eas_id_mask_len}")
        if not 0 <= self.eas_id_mask < 1 << self.eas_id_mask_len:
            raise ProtocolError(
                f"EAS ID mask {self.eas_id_mask:#x} is longer than {self.eas_id_mask_len} bits"
            )

    def params(self) -> bytes:
        if self.eas_id_mask_len is None:
            return b""
        return bytes([self.eas_id_mask_len]) + self.eas_id_mask.to_bytes(self.eas_id_mask_len // 8, "little")

    @classmethod
    def parse(cls, cursor: Cursor, flags: int) -> Self:
        if not flags & RequestFlag.OPTION:
            return cls()
        mask_len = cursor.byte("EAS ID mask length")
        return cls(mask_len, int.from_bytes(cursor.take(mask_len // 8, "EAS ID mask"), "little"))


@dataclass(frozen=True)
class PasswordProtectEasAfi(NoParams):
    """The option flag picks what gets protected: clear for EAS, set for AFI."""

    command: ClassVar[Command] = Command.PASSWORD_PROTECT_EAS_AFI


@dataclass(frozen=True)
class GetRandomNumber(NoParams):
    command: ClassVar[Command] = Command.GET_RANDOM_NUMBER


@dataclass(frozen=True)
class _Password:
    """Password commands: an identifier, then the 4 password bytes; `password` holds them in air order, read
    big-endian (the hex "0A1B2C3D" is sent 0A 1B 2C 3D; see frames.xor_password)."""

    password_id: PasswordId | int
    password: int

    def __post_init__(self) -> None:
        check_byte(self.password_id, "password identifier")
        if not 0 <= self.password <= 0xFFFFFFFF:
            raise ProtocolError(f"a password is 32 bits; {self.password:#x} is out of range")

    def params(self) -> bytes:
        return bytes([self.password_id]) + self.password.to_bytes(4, "big")

    @classmethod
    def parse(cls, cursor: Cursor, flags: int) -> Self:  # noqa: ARG003 - one signature for every body
        ident = password_id(cursor.byte("password identifier"))
        return cls(ident, int.from_bytes(cursor.take(4, "password"), "big"))


@dataclass(frozen=True)
class SetPassword(_Password):
    """`password` is the value on the air: the password XORed with the random number (xor_password)."""

    command: ClassVar[Command] = Command.SET_PASSWORD


@dataclass(frozen=True)
class WritePassword(_Password):
    command: ClassVar[Command] = Command.WRITE_PASSWORD


@dataclass(frozen=True)
class LockPassword:
    command: ClassVar[Command] = Command.LOCK_PASSWORD
    password_id: PasswordId | int

    def __post_init__(self) -> None:
        check_byte(self.password_id, "password identifier")

    def params(self) -> bytes:
        return bytes([self.password_id])

    @classmethod
    def parse(cls, cursor: Cursor, flags: int) -> Self:  # noqa: ARG003 - one signature for every body
        return cls(password_id(cursor.byte("password identifier")))
