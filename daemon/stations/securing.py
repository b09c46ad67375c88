"""Setting and clearing an item's security (AFI and EAS) on its tag, read back, with bounded retry.

A tag on a self-check pad may be nudged out of the field mid-command, so a lost tag is tried again up to
`attempts` times; a tag that refuses (locked AFI, a password it wants) is not, since asking again cannot
change its answer. Success means the AFI (and the EAS bit, when the reader can ask one tag for its EAS
alarm) read back as written. Used by the checkout and checkin stations.

NXP tags whose EAS/AFI are password protected (issue 6 §7) refuse the change with 0x0F; the configured
[security] eas_afi_password is then given and the change made again. It is given only on that refusal, never
up front: an NXP tag goes silent until it leaves the field after a wrong password, and an unprotected tag
still has its factory password, so giving ours first would silence every tag not yet protected.
"""

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from tagd.daemon.config.sections import Security
from tagd.daemon.logs import get_logger
from tagd.drivers.base import PasswordRefused, Reader, TagError, TagLost
from tagd.protocols.events import SecurityFailed, SecurityFailure
from tagd.protocols.iso15693 import ErrorCode, PasswordId, format_uid
from tagd.protocols.payload_types import SECURITY_FAILURE_TEXTS

log = get_logger(__name__)

FACTORY_PASSWORD = 0x00000000
"""The EAS/AFI password of a new NXP ICODE tag (SLIX data sheet; NXP community answers)."""


Failure = SecurityFailure
"""Why an item's security could not be set: a per-item result's `code` and security.failed's (the contract's
enum, in tagd.protocols)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The security on one tag after trying. `eas` is the bit read back, or the one written when the
    reader cannot ask a single tag; `failure` and `detail` are set when `ok` is false."""

    uid: int
    secured: bool
    ok: bool
    afi: int | None = None
    eas: bool = False
    failure: Failure | None = None
    detail: str | None = None


def security_failed(
    station: str,
    reader: str,
    *,
    item_id: str | None,
    uid: int | None,
    secured: bool,
    failure: Failure,
    detail: str | None = None,
    request_id: str | None = None,
) -> SecurityFailed:
    """The one report of an item whose security could not be set or cleared (checkout and check-in emit
    it): logged here, and the event for the station to emit. Its text is the failure's, with the detail."""
    text = SECURITY_FAILURE_TEXTS[failure] + (f": {detail}" if detail else "")
    log.warning(
        "security.failed",
        station=station,
        item_id=item_id,
        uid=None if uid is None else format_uid(uid),
        secured=secured,
        code=failure,
        detail=detail,
    )
    return SecurityFailed(
        reader=reader,
        item_id=item_id,
        uid=None if uid is None else format_uid(uid),
        secured=secured,
        code=failure,
        text=text[:500],
        request_id=request_id,
    )


def addressed_eas_alarm(reader: Reader) -> Callable[[int], Awaitable[bool]] | None:
    """The reader's EAS alarm for one tag (`eas_alarm(uid)`) when it has one; the Reader interface only
    promises the whole field's alarm, which cannot tell one tag's bit on a pad full of books."""
    try:
        parameters = inspect.signature(reader.eas_alarm).parameters
    except (TypeError, ValueError):
        return None
    return cast("Callable[[int], Awaitable[bool]]", reader.eas_alarm) if "uid" in parameters else None


def eas_afi_password(settings: Security) -> int | None:
    """The configured EAS/AFI password: its hex is the 4 bytes in air order (as NXP's reader library and
    Flipper take it), held as their big-endian number (iso15693 xor_password); never log it."""
    secret = settings.eas_afi_password
    return None if secret is None else int(secret.get_secret_value(), 16)


class PasswordNeeded(Exception):  # noqa: N818 - an outcome
    """A tag refused an AFI/EAS change with NXP's 0x0F (password protected) and no password is configured."""


async def write_security(
    reader: Reader, uid: int, afi: int, *, eas: bool | None, password: int | None
) -> bool:
    """Writes the AFI and sets (eas True) or resets (False) EAS, or leaves it (None); a tag that refuses with
    0x0F is given the EAS/AFI password and asked again (PasswordNeeded without one, PasswordRefused when it
    is not the tag's). True when the password was given (it holds until the tag leaves the field)."""
    try:
        await _write_security(reader, uid, afi, eas=eas)
    except TagError as exc:
        if exc.code != ErrorCode.UNKNOWN:
            raise
        if password is None:
            raise PasswordNeeded(f"{exc}: its AFI/EAS are password protected") from None
    else:
        return False
    await reader.set_password(uid, PasswordId.EAS_AFI, password)
    await _write_security(reader, uid, afi, eas=eas)
    return True


async def _write_security(reader: Reader, uid: int, afi: int, *, eas: bool | None) -> None:
    await reader.write_afi(uid, afi)
    if eas is not None:
        await (reader.set_eas(uid) if eas else reader.reset_eas(uid))


async def set_security(
    reader: Reader, uid: int, *, secured: bool, settings: Security, attempts: int
) -> Outcome:
    """Writes AFI (secured or on loan) and, when `settings.eas`, sets or resets EAS; then reads back.

    Raises ReaderLost only; every other failure is in the Outcome.
    """
    afi = settings.afi_secured if secured else settings.afi_on_loan
    eas_of = addressed_eas_alarm(reader)
    password = eas_afi_password(settings)
    failure, detail = Failure.TAG_LOST, "no attempt made"
    for _ in range(attempts):
        try:
            await write_security(reader, uid, afi, eas=secured if settings.eas else None, password=password)
            info = await reader.system_info(uid)
            eas = await eas_of(uid) if eas_of is not None else settings.eas and secured
        except PasswordNeeded as exc:
            detail = f"{exc}; set [security] eas_afi_password"
            return Outcome(uid, secured, ok=False, failure=Failure.PASSWORD_NEEDED, detail=detail)
        except PasswordRefused:
            detail = "it answers again once it has left the pad"
            return Outcome(uid, secured, ok=False, failure=Failure.WRONG_PASSWORD, detail=detail)
        except TagError as exc:
            return Outcome(uid, secured, ok=False, failure=Failure.TAG_ERROR, detail=str(exc))
        except TagLost as exc:
            failure, detail = Failure.TAG_LOST, str(exc)
            continue
        wrong = []
        if info.afi != afi:
            wrong.append(f"AFI reads {_byte(info.afi)}, wrote 0x{afi:02X}")
        if settings.eas and eas != secured:
            wrong.append(f"EAS reads {'set' if eas else 'reset'}")
        if not wrong:
            return Outcome(uid, secured, ok=True, afi=afi, eas=eas)
        failure, detail = Failure.VERIFY_FAILED, "; ".join(wrong)
    return Outcome(uid, secured, ok=False, failure=failure, detail=f"{detail} (after {attempts} attempts)")


def _byte(value: int | None) -> str:
    return "nothing" if value is None else f"0x{value:02X}"
