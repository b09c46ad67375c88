"""What the circulation system sends tagd (commands, simulator control, the holds feed) and the replies.

Every payload is checked here, strictly (JSON types as documented, no unknown keys), and any failure
becomes a `PayloadError` whose message names the field and the problem, e.g.
"items[2]: 'E00X12' is neither a 9-digit item id nor a 16-hex UID". Nothing else escapes `parse_payload`,
whatever the bytes, so one bad message can never stop a station.
"""

import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from tagd.protocols.errors import ProtocolError, key_path
from tagd.protocols.nw7 import BarcodeError, parse_scan
from tagd.protocols.payload_types import (
    GroupId,
    HoldId,
    HoldType,
    LibraryCode,
    Model,
    Notify,
    PatronRef,
    Position,
    Ref,
    RejectReason,
    RequestId,
    SecurityFailure,
    SetId,
    Text,
    Uid,
)
from tagd.protocols.tagtypes import Binding, InsideCover, ItemKind, PlacementProblem, TagProduct

MAX_PAYLOAD = 64 * 1024
"""Larger payloads are refused before parsing: no command or holds list needs more."""
_MAX_ERRORS = 3
_ITEM_ID = re.compile(r"[0-9]{9}")
_UID = re.compile(r"E0[0-9A-F]{14}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_JSON_KINDS: dict[type, str] = {list: "an array", str: "a string", int: "a number", float: "a number"}
_JSON_KINDS |= {bool: "a boolean", type(None): "null"}


class PayloadError(ProtocolError):
    """A refused payload. `request_id` is the one found in it, if any, so the error can be replied to."""

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(message.encode("utf-8", "backslashreplace").decode("utf-8"))
        self.request_id = request_id


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _checked(item_id: str, info: ValidationInfo) -> str:
    """The check digit, under the installation's scheme when the caller names it in the context."""
    scheme = info.context.get("scheme") if isinstance(info.context, dict) else None
    if isinstance(scheme, str):
        try:
            parse_scan(item_id, scheme, 8)
        except BarcodeError as exc:
            raise ValueError(str(exc)) from None
    return item_id


def _item_ref(value: object) -> object:
    if isinstance(value, str) and (_ITEM_ID.fullmatch(value) or _UID.fullmatch(value)):
        return value
    raise ValueError(f"{_show(value)} is neither a 9-digit item id nor a 16-hex UID")


def _checked_ref(value: str, info: ValidationInfo) -> str:
    return _checked(value, info) if len(value) == 9 else value


def _product(value: object) -> object:
    """Librarians say "L301"; the contract's product names are accepted as well."""
    return f"U-TAG-{value}" if value in ("L301", "L1000M") else value


CheckedItemId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{9}$"),
    AfterValidator(_checked),
    Field(description="registration number with its check digit: 9 digits, check digit verified"),
]
ItemRef = Annotated[
    str,
    BeforeValidator(_item_ref),
    AfterValidator(_checked_ref),
    Field(description="a 9-digit item id or a 16-hex tag UID"),
]


class ReplyCode(StrEnum):
    """Why a command failed, for machines; `error` says it for people."""

    INVALID = "invalid"
    UNKNOWN_COMMAND = "unknown_command"
    REJECTED = "rejected"
    BUSY = "busy"
    OUTBOX_FULL = "outbox_full"
    NOT_SIMULATED = "not_simulated"
    INTERNAL_ERROR = "internal_error"


class Reply(Model):
    """Published on `tagd/{station}/reply/{request_id}`. Absent fields are left out of the JSON."""

    request_id: RequestId | None = None
    ok: bool = Field(description="true: done as asked")
    error: Text | None = Field(default=None, description="what went wrong, for people")
    code: ReplyCode | None = Field(default=None, description="what went wrong, for machines")

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class EncodeReply(Reply):
    item_id: str | None = Field(default=None, description="the item")
    uid: Uid | None = Field(default=None, description="the tag written")
    product: TagProduct | None = Field(default=None, description="the product written")
    reason: RejectReason | None = Field(default=None, description="as in item.encode_rejected")
    already: bool | None = Field(default=None, description="the tag already carried this item")


class SecurityResult(Model):
    item: str = Field(description="the item id or UID as given in the command")
    ok: bool = Field(description="true: the tag now has the security asked for, read back")
    uid: Uid | None = Field(default=None, description="the item's tag")
    item_id: str | None = Field(default=None, description="the item on the tag")
    secured: bool | None = Field(default=None, description="the security now on the tag")
    afi: int | None = Field(default=None, ge=0, le=255, description="the AFI now on the tag")
    code: SecurityFailure | None = Field(default=None, description="why this item failed, for machines")
    error: Text | None = Field(default=None, description="why this item failed, for people")


class SecurityReply(Reply):
    results: list[SecurityResult] = Field(default_factory=list, description="one per item, in order")


class Request(Model):
    """A payload on `tagd/{station}/cmd/{NAME}` or `.../sim/{NAME}`; `REPLY` is the model of its reply."""

    NAME: ClassVar[str]
    REPLY: ClassVar[type[Reply]] = Reply

    @property
    def reply_to(self) -> str | None:
        return getattr(self, "request_id", None)


class Command(Request):
    """A `cmd/` payload: it always has a request_id, and always gets a reply."""

    request_id: RequestId


class EncodeCommand(Command):
    """Encode the next tag put on the encoder's pad for this item (instead of a scan and the catalog)."""

    NAME = "encode"
    REPLY = EncodeReply
    item_id: CheckedItemId
    kind: ItemKind | None = Field(default=None, description="null: taken from the call number")
    binding: Binding = Field(default=Binding.UNKNOWN, description="hardcover takes the white tag")
    inside_cover: InsideCover = Field(
        default=InsideCover.UNKNOWN, description="white: a large picture book takes the white tag"
    )
    call_number: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="with its shelving marks, e.g. 'E エ' (a large picture book)"
    )
    placement_problem: PlacementProblem = Field(
        default=PlacementProblem.NONE, description="what the operator found placing the tag: ask a librarian"
    )
    override_tag: Annotated[TagProduct, BeforeValidator(_product)] | None = Field(
        default=None, description="a librarian's instruction: this product, whatever the rule says"
    )
    force: bool = Field(default=False, description="overwrite a tag that carries another item")
    title: Text | None = Field(default=None, description="shown at the desk and in item.encoded")
    override_by: Text | None = Field(
        default=None, description="who decided override_tag (a librarian's name or staff code); recorded"
    )


class SecurityCommand(Command):
    """Set (secured: true) or clear security on each item on the pad; the reply has a result per item."""

    NAME = "security"
    REPLY = SecurityReply
    items: list[ItemRef] = Field(min_length=1, max_length=100)
    secured: bool = Field(description="true: secure (AFI secured, EAS on); false: release for loan")


class OperatorCommand(Command):
    """Who works at this encoder desk now (a name or staff code: counted, not authenticated); null signs out.
    `item.encoded` and `item.encode_rejected` carry it."""

    NAME = "operator"
    operator: Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)] | None = (
        Field(description="the operator's name or staff code; null: nobody signed in")
    )


class SimCommand(Request):
    """Simulator control: only for `sim:` stations. With a request_id it gets a reply, as a command does."""

    request_id: RequestId | None = None


class SimPlaceReply(Reply):
    """The reply to sim/place: which tag is now in the field (a new tag's UID is made up by the world)."""

    uid: Uid | None = Field(default=None, description="the tag now in the field: use it in sim/remove")
    profile: Text | None = Field(default=None, description="its tag profile")


class SimPlace(SimCommand):
    """Put a tag into the station's field: a known UID, or a new blank tag of `profile`."""

    NAME = "place"
    REPLY = SimPlaceReply
    uid: Uid | None = Field(
        default=None, description="a tag of the simulated world; none or unknown: a new one"
    )
    profile: Text | None = Field(default=None, description="the tag profile of a new tag")
    memory_hex: Annotated[str, StringConstraints(pattern=r"^(?:[0-9A-Fa-f]{2}){0,8192}$")] | None = Field(
        default=None, description="a new tag's memory, in hex"
    )


class SimRemove(SimCommand):
    NAME = "remove"
    uid: Uid


class SimScan(SimCommand):
    NAME = "scan"
    raw: Annotated[str, StringConstraints(max_length=200)] = Field(
        description="the scan as a scanner sends it"
    )


class SimCard(SimCommand):
    NAME = "card"
    id: Ref = Field(description="the card number")


COMMANDS: dict[str, type[Command]] = {
    cls.NAME: cls for cls in (EncodeCommand, SecurityCommand, OperatorCommand)
}
SIM_COMMANDS: dict[str, type[SimCommand]] = {cls.NAME: cls for cls in (SimPlace, SimRemove, SimScan, SimCard)}


_FEED_TIME = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})?$"
)


def _feed_time(value: object) -> object:
    """An RFC 3339 date-time string, the offset optional (see Hold.placed_at); a datetime is taken as is."""
    if not isinstance(value, str):
        return value
    if not re.fullmatch(_FEED_TIME, value):
        raise ValueError(f"{_show(value)} is not an RFC 3339 date-time such as 2026-11-01T10:00:00+09:00")
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:  # e.g. month 13
        raise ValueError(f"{_show(value)} is not a date-time: {exc}") from None


FeedTime = Annotated[
    datetime,
    BeforeValidator(_feed_time),
    WithJsonSchema({"type": "string", "pattern": _FEED_TIME}),
]


class Hold(Model):
    hold_id: HoldId
    patron_ref: PatronRef
    pickup_library: LibraryCode = Field(description="where the patron collects it")
    notify: Notify = Field(description="how the patron is told: by e-mail, by phone, or not (watches online)")
    memo: Text | None = Field(
        default=None, description="the patron's memo, shown to staff once the item is kept for it (確保)"
    )
    placed_at: FeedTime = Field(
        description="when the patron placed the hold: RFC 3339 date-time; with an offset (Z or ±hh:mm), or"
        " without one for the library's local time ([holds] timezone); hold.arrived gives it with one"
    )
    type: HoldType = Field(description="single; set (volumes in order); group (any one member fills it)")
    set_id: SetId | None = None
    position: Position | None = None
    group_id: GroupId | None = None
    members: list[CheckedItemId] | None = Field(
        default=None, max_length=100, description="for a group: the item ids any one of which fills it"
    )
    filled: bool = Field(
        default=False,
        description="the circulation system counts this hold filled (the item is on its hold shelf): "
        "earlier set volumes and group members marked so release or close the others",
    )

    @model_validator(mode="after")
    def _complete(self) -> "Hold":
        if self.type is HoldType.SET and (self.set_id is None or self.position is None):
            raise ValueError(f"hold {self.hold_id}: a set hold needs set_id and position")
        if self.type is HoldType.GROUP and self.group_id is None:
            raise ValueError(f"hold {self.hold_id}: a group hold needs group_id")
        return self


class HoldsFeed(Model):
    """The retained `tagd/holds/{item_id}`: every hold on the item. An empty payload clears them."""

    holds: list[Hold] = Field(max_length=1000, description="every hold on the item")


M = TypeVar("M", bound=Model)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _where(loc: tuple[int | str, ...]) -> str:
    return key_path(loc, bare=_IDENTIFIER, other=lambda key, _first: f"[{key!r}]", empty="payload")


def _message(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    parts = []
    for error in errors[:_MAX_ERRORS]:
        text = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            text = "is required"
        elif error["type"] == "extra_forbidden":
            text = "is not a known field"
        elif not error["type"].startswith("value_error"):
            text += f" (got {_show(error.get('input'))})"
        parts.append(f"{_where(tuple(error['loc']))}: {text}")
    more = len(errors) - _MAX_ERRORS
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def decode_object(payload: bytes) -> dict[str, Any]:
    """The payload as a JSON object, or a PayloadError saying why it is not one."""
    if len(payload) > MAX_PAYLOAD:
        raise PayloadError(f"payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"payload is not UTF-8: byte {payload[exc.start]:#04x} at {exc.start}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise PayloadError(f"payload is not JSON: {exc.msg} at {where}") from None
    except RecursionError:
        raise PayloadError("payload is not usable JSON: nested too deeply") from None
    except ValueError as exc:  # a number of more digits than int() converts; the advice after ';' is Python's
        raise PayloadError(f"payload is not usable JSON: {str(exc).partition(';')[0]}") from None
    if not isinstance(value, dict):
        raise PayloadError(f"payload must be a JSON object, not {_JSON_KINDS[type(value)]}")
    return value


_HEAD_REQUEST_ID = re.compile(rb'\A\s*\{\s*"request_id"\s*:\s*"([A-Za-z0-9._:-]{1,128})"\s*[,}]')


def request_id_at_head(payload: bytes) -> str | None:
    """The request_id of a payload that cannot be parsed (too large, nested too deeply), when it is the
    object's first key: read from the first bytes only, so that such a command still gets its reply."""
    found = _HEAD_REQUEST_ID.match(payload[:256])
    return found.group(1).decode("ascii") if found else None


def request_id_of(value: dict[str, Any]) -> str | None:
    """The request_id to reply to, when the payload carries a usable one (even if the rest is bad)."""
    found = value.get("request_id")
    return found if isinstance(found, str) and _REQUEST_ID.fullmatch(found) else None


def parse_payload(model: type[M], payload: bytes, *, scheme: str | None = None) -> M:
    """`payload` validated as `model`. `scheme` (e.g. "m10w21") also verifies item ids' check digits."""
    try:
        value = decode_object(payload)
    except PayloadError as exc:
        raise PayloadError(str(exc), request_id_at_head(payload)) from None
    try:
        return model.model_validate_json(payload, strict=True, context={"scheme": scheme})
    except ValidationError as exc:
        raise PayloadError(_message(exc), request_id_of(value)) from None
    except ValueError as exc:  # the JSON parser's own limits, e.g. recursion
        raise PayloadError(f"payload is not usable JSON: {exc}", request_id_of(value)) from None


def parse_holds(payload: bytes, *, scheme: str | None = None) -> HoldsFeed | None:
    """The holds on an item; None when the payload is empty (the circulation system cleared them).
    `scheme` also verifies the members' check digits."""
    return None if not payload else parse_payload(HoldsFeed, payload, scheme=scheme)


def checked_item_id(item_id: str, scheme: str | None, where: str = "") -> str:
    """`item_id` (e.g. from a topic: `where` " in the topic") when it is 9 digits with a correct check
    digit under `scheme`."""
    if not _ITEM_ID.fullmatch(item_id):
        raise PayloadError(f"{_show(item_id)}{where} is not a 9-digit item id")
    if scheme is not None:
        try:
            parse_scan(item_id, scheme, 8)
        except BarcodeError as exc:
            raise PayloadError(f"item id {item_id}{where}: {exc}") from None
    return item_id
