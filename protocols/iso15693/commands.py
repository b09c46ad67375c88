"""One function per command for hosts: arguments in, request frame (without CRC) out.

uid=None sends the request to every tag in the field (or, with select=True, to the selected one);
a UID addresses that tag alone. Frames use the high data rate and one subcarrier, as readers do.
"""

from tagd.protocols.iso15693.bodies import (
    GetMultipleBlockSecurityStatus,
    GetSystemInfo,
    Inventory,
    LockAfi,
    LockBlock,
    LockDsfid,
    ReadMultipleBlocks,
    ReadSingleBlock,
    ResetToReady,
    Select,
    StayQuiet,
    WriteAfi,
    WriteDsfid,
    WriteMultipleBlocks,
    WriteSingleBlock,
)
from tagd.protocols.iso15693.frames import PasswordId, xor_password
from tagd.protocols.iso15693.nxp import (
    EasAlarm,
    GetRandomNumber,
    LockEas,
    LockPassword,
    PasswordProtectEasAfi,
    ResetEas,
    SetEas,
    SetPassword,
    WritePassword,
)
from tagd.protocols.iso15693.requests import Request, RequestBody, encode_request


def _frame(body: RequestBody, uid: int | None, *, option: bool = False, select: bool = False) -> bytes:
    return encode_request(Request(body, uid=uid, select=select, option=option))


def inventory(afi: int | None = None, mask: int = 0, mask_len: int = 0, *, one_slot: bool = True) -> bytes:
    """Flags 0x26 (one slot) or 0x06 (16 slots), plus 0x10 when an AFI is given."""
    return encode_request(Request(Inventory(afi, mask_len, mask, one_slot=one_slot)))


def stay_quiet(uid: int) -> bytes:
    return _frame(StayQuiet(), uid)


def read_single_block(uid: int | None, block: int, *, option: bool = False, select: bool = False) -> bytes:
    """With option=True the tag sends the block's security status byte before its data."""
    return _frame(ReadSingleBlock(block), uid, option=option, select=select)


def write_single_block(
    uid: int | None, block: int, data: bytes, *, option: bool = False, select: bool = False
) -> bytes:
    return _frame(WriteSingleBlock(block, data), uid, option=option, select=select)


def lock_block(uid: int | None, block: int, *, option: bool = False, select: bool = False) -> bytes:
    return _frame(LockBlock(block), uid, option=option, select=select)


def read_multiple_blocks(
    uid: int | None, first: int, count: int, *, option: bool = False, select: bool = False
) -> bytes:
    """`count` is the number of blocks; the frame carries count - 1."""
    return _frame(ReadMultipleBlocks(first, count), uid, option=option, select=select)


def write_multiple_blocks(
    uid: int | None, first: int, count: int, data: bytes, *, option: bool = False, select: bool = False
) -> bytes:
    return _frame(WriteMultipleBlocks(first, count, data), uid, option=option, select=select)


def select(uid: int) -> bytes:
    return _frame(Select(), uid)


def reset_to_ready(uid: int | None, *, select: bool = False) -> bytes:
    return _frame(ResetToReady(), uid, select=select)


def write_afi(uid: int | None, afi: int, *, option: bool = False, select: bool = False) -> bytes:
    return _frame(WriteAfi(afi), uid, option=option, select=select)


def lock_afi(uid: int | None, *, option: bool = False, select: bool = False) -> bytes:
    return _frame(LockAfi(), uid, option=option, select=select)


def write_dsfid(uid: int | None, dsfid: int, *, option: bool = False, select: bool = False) -> bytes:
    return _frame(WriteDsfid(dsfid), uid, option=option, select=select)


def lock_dsfid(uid: int | None, *, option: bool = False, select: bool = False) -> bytes:
    return _frame(LockDsfid(), uid, option=option, select=select)


def get_system_info(uid: int | None, *, select: bool = False) -> bytes:
    return _frame(GetSystemInfo(), uid, select=select)


def get_multiple_block_security_status(
    uid: int | None, first: int, count: int, *, select: bool = False
) -> bytes:
    return _frame(GetMultipleBlockSecurityStatus(first, count), uid, select=select)


def set_eas(uid: int | None, *, select: bool = False) -> bytes:
    return _frame(SetEas(), uid, select=select)


def reset_eas(uid: int | None, *, select: bool = False) -> bytes:
    return _frame(ResetEas(), uid, select=select)


def lock_eas(uid: int | None, *, select: bool = False) -> bytes:
    return _frame(LockEas(), uid, select=select)


def eas_alarm(
    uid: int | None = None, *, eas_id_mask_len: int | None = None, eas_id_mask: int = 0, select: bool = False
) -> bytes:
    """Without a mask every tag with EAS set answers; a mask (option flag) limits it to matching EAS IDs."""
    body = EasAlarm(eas_id_mask_len, eas_id_mask)
    return _frame(body, uid, option=eas_id_mask_len is not None, select=select)


def password_protect_eas_afi(uid: int | None, *, afi: bool = False, select: bool = False) -> bytes:
    """Protects EAS, or with afi=True the AFI (sent as the option flag), by the EAS/AFI password."""
    return _frame(PasswordProtectEasAfi(), uid, option=afi, select=select)


def get_random_number(uid: int | None, *, select: bool = False) -> bytes:
    return _frame(GetRandomNumber(), uid, select=select)


def set_password(
    uid: int | None, password_id: PasswordId | int, password: int, random: int, *, select: bool = False
) -> bytes:
    """`random` is the tag's last Get Random Number answer; the password travels XORed with it."""
    return _frame(SetPassword(password_id, xor_password(password, random)), uid, select=select)


def write_password(
    uid: int | None, password_id: PasswordId | int, password: int, *, select: bool = False
) -> bytes:
    return _frame(WritePassword(password_id, password), uid, select=select)


def lock_password(uid: int | None, password_id: PasswordId | int, *, select: bool = False) -> bytes:
    return _frame(LockPassword(password_id), uid, select=select)
