"""The events tagd reports, as values, and their CloudEvents 1.0 envelope (structured JSON).

The models are the contract: docs/events.md is generated from them, and the daemon builds every payload
through them, so an event that does not match its documentation cannot be published. No I/O here; the
clock and the randomness for event ids are passed in.
"""

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, Field, SerializeAsAny, model_serializer, model_validator

from tagd.protocols.iso28560 import DataModel
from tagd.protocols.nw7 import BarcodeReason
from tagd.protocols.payload_types import (
    NAME_PATTERN,
    REJECT_REASON_TEXTS,
    DetectedBy,
    GroupId,
    HoldId,
    HoldType,
    ItemId,
    LibraryCode,
    Model,
    Name,
    Notify,
    PatronRef,
    Position,
    ReaderName,
    ReaderState,
    ReaderStatus,
    Ref,
    RejectReason,
    RequestId,
    Role,
    SecurityFailure,
    SetId,
    Status,
    TagContent,
    Text,
    Uid,
    Url,
)
from tagd.protocols.tagtypes import Placement, ProtectiveCover, Reason, TagProduct

# The shared types are re-exported: stations import everything about events from here.
__all__ = [
    "EVENT_TYPES",
    "REJECT_REASON_TEXTS",
    "SOURCE_PREFIX",
    "TYPE_PREFIX",
    "BarcodeScanned",
    "CommandRejected",
    "DetectedBy",
    "Envelope",
    "EventData",
    "EventIds",
    "GateAlarm",
    "GateIdentified",
    "HoldArrived",
    "HoldDeferred",
    "HoldTransit",
    "HoldType",
    "HoldsRejected",
    "ItemDetected",
    "ItemEncodeRejected",
    "ItemEncoded",
    "ItemId",
    "ItemRemoved",
    "Notify",
    "PatronCard",
    "ReaderConnected",
    "ReaderLostEvent",
    "ReaderState",
    "ReaderStatus",
    "RejectReason",
    "RequestId",
    "Role",
    "SecurityChanged",
    "SecurityFailed",
    "SecurityFailure",
    "SetIncomplete",
    "Status",
    "TagContent",
    "Uid",
    "envelope",
    "parse_envelope",
    "uuid7",
]

TYPE_PREFIX = "jp.tagd."
SOURCE_PREFIX = "tagd/"


class EventData(Model):
    """An event's `data`. `TYPE` is the short type (topic suffix); the envelope's type adds `jp.tagd.`."""

    TYPE: ClassVar[str]
    ROLES: ClassVar[tuple[Role, ...]]
    """The roles whose stations report it (docs/events.md's table; a test reads the stations' code)."""

    def subject(self) -> str | None:
        """The CloudEvents `subject`: the item when known, else the tag, so consumers can filter on it."""
        item_id = getattr(self, "item_id", None)
        uid = getattr(self, "uid", None)
        return item_id if isinstance(item_id, str) else uid if isinstance(uid, str) else None


class ItemDetected(EventData):
    """A tag came onto the station's pad or field (debounced): what it is and what it carries."""

    TYPE = "item.detected"
    ROLES = (Role.CHECKOUT, Role.CHECKIN)
    reader: ReaderName
    uid: Uid
    content: TagContent = Field(description="item; blank; foreign (another data model or id); unreadable")
    item_id: ItemId | None = None
    product: TagProduct | None = Field(default=None, description="the product its tag profile names, if any")
    profile: Text | None = Field(default=None, description="the tag profile that recognised it")
    isil: Text | None = Field(default=None, description="owner library ISIL from the tag")
    part: int = Field(default=1, ge=1, description="this part's number in a multi-part item")
    parts: int = Field(default=1, ge=1, description="parts in the item")
    secured: bool | None = Field(default=None, description="AFI/EAS say the item is secured (not on loan)")


class ItemRemoved(EventData):
    """A tag left the pad (debounced)."""

    TYPE = "item.removed"
    ROLES = (Role.CHECKOUT, Role.CHECKIN)
    reader: ReaderName
    uid: Uid
    item_id: ItemId | None = None


class ItemEncoded(EventData):
    """The tag was written, locked as its profile says, read back and verified."""

    TYPE = "item.encoded"
    ROLES = (Role.ENCODER,)
    item_id: ItemId
    uid: Uid
    product: TagProduct | None = Field(description="the tag product written (null for a plain chip profile)")
    profile: Text = Field(description="the tag profile used")
    data_model: DataModel = Field(description="the data model written, from the tag profile")
    rule_reason: Reason = Field(description="why the tag rule chose this product")
    placement: Placement | None = Field(default=None, description="where the tag goes on the item")
    cover: ProtectiveCover | None = Field(default=None, description="film or seal over the tag")
    already: bool = Field(default=False, description="the tag already carried this item: nothing was written")
    forced: bool = Field(default=False, description="another item's data was overwritten on command (force)")
    request_id: RequestId | None = Field(
        default=None, description="the cmd/encode this answers; null after a scan"
    )
    title: Text | None = Field(default=None, description="from the station catalog, when known")
    operator: Text | None = Field(default=None, description="who was signed in at the desk (cmd/operator)")
    override_by: Text | None = Field(
        default=None, description="who decided the librarian's override (cmd/encode override_by), if any"
    )


class ItemEncodeRejected(EventData):
    """Nothing usable was written; `reason` says why and what the desk should do."""

    TYPE = "item.encode_rejected"
    ROLES = (Role.ENCODER,)
    reason: RejectReason
    detail: Text = Field(description="one line for the person at the desk")
    item_id: ItemId | None = None
    uid: Uid | None = None
    request_id: RequestId | None = Field(
        default=None, description="the cmd/encode this answers; null after a scan"
    )
    rule_reason: Reason | None = Field(
        default=None, description="for ask_librarian: why the rule could not decide"
    )
    required: TagProduct | None = Field(
        default=None, description="for wrong_tag_type: the product the rule requires"
    )
    found: TagProduct | None = Field(default=None, description="for wrong_tag_type: the product on the pad")
    existing_item_id: Text | None = Field(
        default=None, description="for tag_in_use: the item already on the tag"
    )
    barcode_reason: BarcodeReason | None = Field(default=None, description="for bad_barcode")
    raw: Text | None = Field(default=None, description="for bad_barcode: the scan as read")
    operator: Text | None = Field(default=None, description="who was signed in at the desk (cmd/operator)")


class BarcodeScanned(EventData):
    """A barcode scan at the station, valid or not (an invalid one has `reason`)."""

    TYPE = "barcode.scanned"
    ROLES = (Role.ENCODER, Role.CHECKIN)
    scanner: ReaderName
    raw: Text = Field(description="the scan as read, normalised (NFKC, stripped)")
    item_id: ItemId | None = Field(
        default=None, description="the registration number, when the scan is valid"
    )
    reason: BarcodeReason | None = Field(default=None, description="why the scan is not valid")
    detail: Text | None = Field(default=None, description="why, in words")


class SecurityChanged(EventData):
    """An item's security (AFI and EAS) was set or cleared and read back."""

    TYPE = "security.changed"
    ROLES = (Role.CHECKOUT, Role.CHECKIN)
    reader: ReaderName
    uid: Uid
    item_id: ItemId | None = None
    secured: bool = Field(description="true: secured; false: released for loan")
    afi: int = Field(ge=0, le=255, description="the AFI now on the tag")
    eas: bool = Field(description="the EAS bit now on the tag")
    request_id: RequestId | None = Field(
        default=None, description="the cmd/security that asked for it, if any"
    )


class SecurityFailed(EventData):
    """A station could not set or clear an item's RFID security (AFI/EAS) as a command asked or as its role
    requires (check-in secures every returned item): the item may set off the gate, or pass it unnoticed.

    RFID security is not the hold's 確保 (an item kept for a hold): a hold memo is revealed when the item is
    kept for its hold, whatever its AFI/EAS.
    """

    TYPE = "security.failed"
    ROLES = (Role.CHECKOUT, Role.CHECKIN)
    reader: ReaderName
    item_id: ItemId | None = Field(default=None, description="the item, when known")
    uid: Uid | None = Field(default=None, description="its tag, when known (not for an item not on the pad)")
    secured: bool = Field(description="the security asked for: true secure, false release for loan")
    code: SecurityFailure = Field(description="why, for machines (see the security failure codes)")
    text: Text = Field(description="why, for people")
    request_id: RequestId | None = Field(
        default=None, description="the cmd/security that asked for it; null when the role required it"
    )


class GateAlarm(EventData):
    """A secured item passed the gate. Raised from the tag's inventory answer (or EAS alarm reply) at once,
    before its memory is read: the item follows in a `gate.identified` with this event's id. Repeats for
    the same tag are suppressed for a set time."""

    TYPE = "gate.alarm"
    ROLES = (Role.GATE,)
    reader: ReaderName
    uid: Uid | None = Field(default=None, description="null when only the EAS alarm answered")
    item_id: ItemId | None = Field(
        default=None,
        description="set only on a repeat alarm for a tag already identified; else see gate.identified",
    )
    detected_by: DetectedBy = Field(
        description="afi: found by the AFI-filtered inventory; eas: EAS alarm only"
    )


class GateIdentified(EventData):
    """The item behind a `gate.alarm`: the tag's basic block, read after the alarm between inventory rounds.

    Follows the alarm it names (`alarm_id`, the alarm's event id), usually within tens of milliseconds.
    None follows for a tag that left the field before it could be read, or that carries no item id: that
    alarm stands on its UID (the UID maps to the item through `item.encoded`)."""

    TYPE = "gate.identified"
    ROLES = (Role.GATE,)
    reader: ReaderName
    alarm_id: str = Field(min_length=1, description="the id of the gate.alarm event this identifies")
    uid: Uid
    item_id: ItemId
    title: Text | None = Field(default=None, description="from the station catalog, when known")


class SetIncomplete(EventData):
    """A multi-part item is on the pad with parts missing."""

    TYPE = "set.incomplete"
    ROLES = (Role.CHECKOUT,)
    reader: ReaderName
    item_id: ItemId
    parts: int = Field(ge=2, description="parts in the item")
    present: list[int] = Field(description="part numbers on the pad")
    missing: list[int] = Field(description="part numbers not on the pad")


class HoldArrived(EventData):
    """A held item was identified at its pickup library: tell the patron, start the hold-shelf clock.

    The one event that carries the patron's memo (shown to staff once the item is kept for the hold, 確保;
    not its RFID security, AFI/EAS). For a group hold,
    `release` lists the other members: any one fills the hold, so theirs are released.
    """

    TYPE = "hold.arrived"
    ROLES = (Role.CHECKIN,)
    item_id: ItemId
    uid: Uid | None = None
    hold_id: HoldId
    patron_ref: PatronRef
    pickup_library: LibraryCode
    notify: Notify = Field(description="how the patron is told: by e-mail, by phone, or not (watches online)")
    hold_type: HoldType = Field(description="single; set (volumes in order); group (any one member fills it)")
    memo: Text | None = Field(
        default=None, description="the patron's hold memo, for staff now the item is kept for the hold (確保)"
    )
    set_id: SetId | None = None
    position: Position | None = None
    group_id: GroupId | None = None
    release: list[ItemId] = Field(
        default_factory=list, description="for a group hold: the other members, no longer needed for it"
    )
    placed_at: AwareDatetime = Field(description="when the patron placed the hold")
    ready_at: AwareDatetime = Field(
        description="when it was ready at the pickup library: identified there, or released from set order"
    )
    hold_until: date = Field(
        description="last day on the hold shelf: ready_at's date in the library's time zone + hold-shelf days"
    )


class HoldTransit(EventData):
    """A held item was identified at another library than its pickup library: send it there."""

    TYPE = "hold.transit"
    ROLES = (Role.CHECKIN,)
    item_id: ItemId
    uid: Uid | None = None
    hold_id: HoldId
    patron_ref: PatronRef
    hold_type: HoldType = Field(description="single; set (volumes in order); group (any one member fills it)")
    from_library: LibraryCode = Field(description="where the item is now (the station's library)")
    to_library: LibraryCode = Field(description="the pickup library it goes to")
    set_id: SetId | None = None
    position: Position | None = None
    group_id: GroupId | None = None
    release: list[ItemId] = Field(
        default_factory=list, description="for a group hold: the other members, no longer needed for it"
    )


class HoldDeferred(EventData):
    """A set volume reached its pickup library before the volumes due first: it waits, not on the hold shelf.

    It is released (hold.arrived) when the volumes before it are filled: reported arrived by tagd or marked
    `filled` in the holds feed, or no longer in the feed.
    """

    TYPE = "hold.deferred"
    ROLES = (Role.CHECKIN,)
    item_id: ItemId
    uid: Uid | None = None
    hold_id: HoldId
    patron_ref: PatronRef
    set_id: SetId
    position: Position
    waiting_for: list[Position] = Field(description="the set positions due first, not yet filled")
    waiting_items: list[ItemId] = Field(description="the items of those positions")


class PatronCard(EventData):
    """A patron card was read. Only the card number: tagd knows no patron."""

    TYPE = "patron.card"
    ROLES = (Role.CHECKOUT,)
    reader: ReaderName
    card_id: Ref = Field(description="the card number as read")


class ReaderConnected(EventData):
    """A reader, scanner or card reader is working (at start and after each reconnection)."""

    TYPE = "reader.connected"
    ROLES = (Role.ENCODER, Role.CHECKOUT, Role.GATE, Role.CHECKIN)
    reader: ReaderName
    url: Url


class ReaderLostEvent(EventData):
    """A reader stopped answering; tagd retries with capped backoff and reports reader.connected."""

    TYPE = "reader.lost"
    ROLES = (Role.ENCODER, Role.CHECKOUT, Role.GATE, Role.CHECKIN)
    reader: ReaderName
    url: Url
    error: Text = Field(description="what failed")
    retry_in_s: float = Field(ge=0, description="seconds until the next attempt")


class CommandRejected(EventData):
    """A message on cmd/ or sim/ that could not be answered on reply/ (no usable request_id)."""

    TYPE = "command.rejected"
    ROLES = (Role.ENCODER, Role.CHECKOUT, Role.GATE, Role.CHECKIN)
    topic: Text = Field(description="the topic the message came on")
    error: Text = Field(description="what is wrong with it")


class HoldsRejected(EventData):
    """A holds-feed message (tagd/holds/{item_id}) that is not valid; the previous holds stay."""

    TYPE = "holds.rejected"
    ROLES = (Role.CHECKIN,)
    topic: Text = Field(description="the topic the message came on")
    error: Text = Field(description="what is wrong with it")


EVENT_TYPES: dict[str, type[EventData]] = {
    cls.TYPE: cls
    for cls in (
        ItemDetected,
        ItemRemoved,
        ItemEncoded,
        ItemEncodeRejected,
        BarcodeScanned,
        SecurityChanged,
        SecurityFailed,
        GateAlarm,
        GateIdentified,
        SetIncomplete,
        HoldArrived,
        HoldTransit,
        HoldDeferred,
        PatronCard,
        ReaderConnected,
        ReaderLostEvent,
        CommandRejected,
        HoldsRejected,
    )
}


class Envelope(Model):
    """CloudEvents 1.0, structured JSON. `station` and `library` are extension attributes."""

    specversion: Literal["1.0"] = Field(default="1.0", description="CloudEvents 1.0")
    id: str = Field(min_length=1, description="unique per event, the same on every re-send (UUIDv7)")
    source: str = Field(pattern=f"^tagd/{NAME_PATTERN}$", description="tagd/{station}")
    type: str = Field(description="jp.tagd.<event>, e.g. jp.tagd.item.detected")
    time: AwareDatetime = Field(description="when it happened: RFC 3339, UTC")
    datacontenttype: Literal["application/json"] = Field(
        default="application/json", description="data is JSON"
    )
    subject: str | None = Field(
        default=None, description="the item_id, else the tag UID, if the event has one"
    )
    station: Name = Field(description="extension attribute: the station's name")
    library: LibraryCode = Field(description="extension attribute: the station's library (branch) code")
    data: SerializeAsAny[EventData] = Field(description="the event's fields: see each event below")

    @property
    def short_type(self) -> str:
        return self.type.removeprefix(TYPE_PREFIX)

    @model_validator(mode="before")
    @classmethod
    def _typed_data(cls, value: Any) -> Any:
        """Validate `data` against the model its `type` names; an unknown type is an error."""
        if not isinstance(value, dict) or isinstance(value.get("data"), EventData):
            return value
        kind = value.get("type")
        model = None
        if isinstance(kind, str) and kind.startswith(TYPE_PREFIX):
            model = EVENT_TYPES.get(kind.removeprefix(TYPE_PREFIX))
        if model is None:
            raise ValueError(f"type {kind!r} is not a tagd event type")
        return {**value, "data": model.model_validate(value.get("data"))}

    @model_validator(mode="after")
    def _consistent(self) -> "Envelope":
        if self.type != TYPE_PREFIX + self.data.TYPE:
            raise ValueError(f"type {self.type!r} does not match data of {self.data.TYPE!r}")
        if self.source != SOURCE_PREFIX + self.station:
            raise ValueError(f"source {self.source!r} is not tagd/{self.station}")
        return self

    @model_serializer(mode="wrap")
    def _without_empty_subject(self, handler: Any) -> dict[str, Any]:
        """CloudEvents optional attributes are left out, not null."""
        out: dict[str, Any] = handler(self)
        if out.get("subject") is None:
            out.pop("subject", None)
        return out

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def envelope(data: EventData, *, station: str, library: str, event_id: str, time: datetime) -> Envelope:
    """The envelope for `data` as `station` reports it; id and time come from the caller."""
    return Envelope(
        id=event_id,
        source=SOURCE_PREFIX + station,
        type=TYPE_PREFIX + data.TYPE,
        time=time,
        subject=data.subject(),
        station=station,
        library=library,
        data=data,
    )


def parse_envelope(payload: bytes | str) -> Envelope:
    """An envelope as a subscriber receives it; raises pydantic's ValidationError when it is not one."""
    return Envelope.model_validate_json(payload)


def uuid7(unix_ms: int, counter: int, rand: bytes) -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, a 12-bit counter in rand_a, 62 random bits.

    The counter keeps ids made within one millisecond in order (RFC 9562 §6.2, method 1).
    """
    if not 0 <= unix_ms < 1 << 48 or not 0 <= counter < 1 << 12 or len(rand) < 8:
        raise ValueError("uuid7 needs 48-bit milliseconds, a 12-bit counter and 8 random bytes")
    tail = int.from_bytes(rand[:8], "big") & ((1 << 62) - 1)
    value = unix_ms << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | tail
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class EventIds:
    """Time-ordered event ids: strictly increasing within a process, even when the clock steps back."""

    def __init__(self) -> None:
        self._last_ms = -1
        self._counter = 0

    def next(self, unix_ms: int, rand: bytes) -> str:
        if unix_ms > self._last_ms:
            self._last_ms, self._counter = unix_ms, 0
        else:
            self._counter += 1
            if self._counter >= 1 << 12:
                self._last_ms, self._counter = self._last_ms + 1, 0
        return uuid7(self._last_ms, self._counter, rand)
