"""The field types, enums and the status payload that events and commands share.

Identifiers are checked where a payload is made or read: a UID is 16 upper-case hex digits, MSB first; an
item is its 9-digit registration number with the check digit; names used in topics cannot hold '/', '+'
or '#'. Split from `events` to keep each module short; `events` re-exports what stations use.
"""

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tagd.protocols.i18n import N_

ItemId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{9}$"),
    Field(description="registration number with its check digit: 9 digits"),
]
Uid = Annotated[
    str,
    StringConstraints(pattern=r"^E0[0-9A-F]{14}$"),
    Field(description="tag UID: 16 upper-case hex digits, most significant byte first"),
]
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
"""The one rule for station and reader names, in events and in the config: 1-64 letters, digits, '_', '.'
or '-', starting with a letter or digit. Safe inside an MQTT topic (no '/', '+', '#' or spaces)."""
Name = Annotated[str, StringConstraints(pattern=f"^{NAME_PATTERN}$")]
"""Station and reader names (`NAME_PATTERN`)."""
LibraryCode = Annotated[str, StringConstraints(min_length=1, max_length=32), Field(description="branch code")]
ReaderName = Annotated[Name, Field(description="the station's name for the reader, scanner or card reader")]
Text = Annotated[str, StringConstraints(max_length=500)]
Ref = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,64}$")]
"""Identifiers from the circulation system (hold, patron, set, group): printable ASCII, no spaces."""
HoldId = Annotated[Ref, Field(description="the circulation system's id of the hold")]
PatronRef = Annotated[Ref, Field(description="opaque patron token from the holds feed; never a name")]
SetId = Annotated[Ref, Field(description="for a set hold: the set")]
GroupId = Annotated[Ref, Field(description="for a group hold: the group")]
Position = Annotated[int, Field(ge=1, description="for a set hold: this volume's place in the order")]
Url = Annotated[Text, Field(description="the device's driver URL, as configured")]
RequestId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$"),
    Field(description="the command's request_id (letters, digits, . _ : -); it names the reply topic"),
]


class Model(BaseModel):
    """Frozen and strict about unknown keys, so a typo in a field name fails where it is made.

    JSON parsing caches keys only: pydantic's default also caches string values, and the request ids and
    UIDs of a long run filled that process-wide cache by ~0.9 MB (bench/bench_footprint.py, the soak).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", cache_strings="keys")


class Role(StrEnum):
    ENCODER = "encoder"
    CHECKOUT = "checkout"
    GATE = "gate"
    CHECKIN = "checkin"


class RejectReason(StrEnum):
    """Why an item was not encoded; `REJECT_REASON_TEXTS` says it for people (and docs/events.md)."""

    ASK_LIBRARIAN = "ask_librarian"
    WRONG_TAG_TYPE = "wrong_tag_type"
    TAG_IN_USE = "tag_in_use"
    NO_TAG = "no_tag"
    SEVERAL_TAGS = "several_tags"
    UNKNOWN_TAG = "unknown_tag"
    WRITE_FAILED = "write_failed"
    VERIFY_FAILED = "verify_failed"
    TAG_LOST = "tag_lost"
    READER_LOST = "reader_lost"
    BAD_BARCODE = "bad_barcode"
    UNKNOWN_ITEM = "unknown_item"
    SUPERSEDED = "superseded"


REJECT_REASON_TEXTS: dict[RejectReason, str] = {
    RejectReason.ASK_LIBRARIAN: N_(
        "the tag rule cannot decide (rule_reason): a librarian must say which tag"
    ),
    RejectReason.WRONG_TAG_TYPE: N_(
        "the tag on the pad is not the product the rule requires (required/found)"
    ),
    RejectReason.TAG_IN_USE: N_(
        "the tag carries another item (existing_item_id); cmd/encode force overwrites"
    ),
    RejectReason.NO_TAG: N_("no tag came onto the pad in time"),
    RejectReason.SEVERAL_TAGS: N_("more than one tag is on the pad: encode one at a time"),
    RejectReason.UNKNOWN_TAG: N_("no tag profile recognises the tag (see detail)"),
    RejectReason.WRITE_FAILED: N_("the tag refused a write or a lock (see detail)"),
    RejectReason.VERIFY_FAILED: N_("the read-back differs from what was written"),
    RejectReason.TAG_LOST: N_("the tag left the field mid-write and did not come back in time"),
    RejectReason.READER_LOST: N_("the reader went away during the encoding"),
    RejectReason.BAD_BARCODE: N_("the scan is not a valid registration number (barcode_reason, raw)"),
    RejectReason.UNKNOWN_ITEM: N_("the item is not in the station catalog and no cmd/encode named it"),
    RejectReason.SUPERSEDED: N_("a newer scan or command replaced this one before a tag was written"),
}


class SecurityFailure(StrEnum):
    """Why an item's RFID security (AFI/EAS) could not be set or cleared: a per-item result's `code`, and
    `security.failed`'s. `SECURITY_FAILURE_TEXTS` says each for people (and docs/events.md)."""

    NOT_ON_PAD = "not_on_pad"
    TAG_LOST = "tag_lost"
    TAG_ERROR = "tag_error"
    VERIFY_FAILED = "verify_failed"
    READER_LOST = "reader_lost"
    PASSWORD_NEEDED = "password_needed"  # noqa: S105 - a failure's name, not a password
    WRONG_PASSWORD = "wrong_password"  # noqa: S105 - a failure's name, not a password


SECURITY_FAILURE_TEXTS: dict[SecurityFailure, str] = {
    SecurityFailure.NOT_ON_PAD: "the tag is not on the pad",
    SecurityFailure.TAG_LOST: "the tag left the field and did not come back in time",
    SecurityFailure.TAG_ERROR: "the tag refused the change (e.g. its AFI is locked)",
    SecurityFailure.VERIFY_FAILED: "the AFI or EAS read back differs from what was written",
    SecurityFailure.READER_LOST: "the reader went away",
    SecurityFailure.PASSWORD_NEEDED: "the tag's AFI/EAS are password protected and no password is configured",
    SecurityFailure.WRONG_PASSWORD: "the tag went silent at the configured EAS/AFI password: not this tag's",
}


class TagContent(StrEnum):
    """What a detected tag holds."""

    ITEM = "item"
    BLANK = "blank"
    FOREIGN = "foreign"
    UNREADABLE = "unreadable"


class DetectedBy(StrEnum):
    AFI = "afi"
    EAS = "eas"


class Notify(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    NONE = "none"


class HoldType(StrEnum):
    SINGLE = "single"
    SET = "set"
    GROUP = "group"


class ReaderState(StrEnum):
    CONNECTED = "connected"
    LOST = "lost"
    CONNECTING = "connecting"
    UNKNOWN = "unknown"


class ReaderStatus(Model):
    url: Url
    state: ReaderState = Field(
        description="connected (it answered); lost (reconnecting with backoff); connecting (not yet"
        " answered); unknown (in an `offline` status: the station is not running)"
    )


class Status(Model):
    """The retained `tagd/{station}/status`: `offline` is also the will the broker publishes for tagd."""

    state: Literal["online", "offline"] = Field(
        description="offline: stopped, or its process died (the will)"
    )
    role: Role = Field(description="the station's role")
    library: LibraryCode
    readers: dict[str, ReaderStatus] = Field(
        default_factory=dict,
        description="every configured device by name (`reader`, `scanner`, `card_reader`); in `offline`"
        " each is `unknown`",
    )
    outbox_depth: int = Field(
        default=0, ge=0, description="events stored and not yet acknowledged by the broker"
    )
    outbox_full: bool = Field(
        default=False, description="the outbox refuses events: the station refuses work"
    )
    display: Text | None = Field(
        default=None, description="the URL of the station's page (null when the pages are off)"
    )

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()
