"""Setting and clearing an item's security (AFI and EAS) on its tag, read back, with bounded retry.

A tag on a self-check pad may be nudged out of the field mid-command, so a lost tag is tried again up to
`attempts` times; a tag that refuses (locked AFI, a password it wants) is not, since asking again cannot
change its answer. Success means the AFI (and the EAS bit, when the reader can ask one tag for its EAS
alarm) read back as written. Used by the checkout and checkin stations.
"""

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from tagd.daemon.config_sections import Security
from tagd.drivers.base import Reader, TagError, TagLost


class Failure(StrEnum):
    """Why an item's security could not be set; the first word of its error in a cmd/security reply."""

    NOT_ON_PAD = "not_on_pad"
    TAG_LOST = "tag_lost"
    TAG_ERROR = "tag_error"
    VERIFY_FAILED = "verify_failed"
    READER_LOST = "reader_lost"


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


def addressed_eas_alarm(reader: Reader) -> Callable[[int], Awaitable[bool]] | None:
    """The reader's EAS alarm for one tag (`eas_alarm(uid)`) when it has one; the Reader interface only
    promises the whole field's alarm, which cannot tell one tag's bit on a pad full of books."""
    try:
        parameters = inspect.signature(reader.eas_alarm).parameters
    except (TypeError, ValueError):
        return None
    return cast("Callable[[int], Awaitable[bool]]", reader.eas_alarm) if "uid" in parameters else None


async def set_security(
    reader: Reader, uid: int, *, secured: bool, settings: Security, attempts: int
) -> Outcome:
    """Writes AFI (secured or on loan) and, when `settings.eas`, sets or resets EAS; then reads back.

    Raises ReaderLost only; every other failure is in the Outcome.
    """
    afi = settings.afi_secured if secured else settings.afi_on_loan
    eas_of = addressed_eas_alarm(reader)
    failure, detail = Failure.TAG_LOST, "no attempt made"
    for _ in range(attempts):
        try:
            await reader.write_afi(uid, afi)
            if settings.eas:
                await (reader.set_eas(uid) if secured else reader.reset_eas(uid))
            info = await reader.system_info(uid)
            eas = await eas_of(uid) if eas_of is not None else settings.eas and secured
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
