"""What the staff at a desk see now: a display state (a code, its parameters, a level), sans-IO.

A station shows one state at a time. Machines read the code and the parameters; people read the text, which
the daemon renders per language from the English template of the code (TEMPLATES, translated through the
gettext catalogs). The current state is published retained on `tagd/{station}/display` as a
`DisplayMessage`. `english()` renders without catalogs: the log line and the tests read it.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, Field

from tagd.protocols.i18n import N_, Language
from tagd.protocols.payload_types import Model

__all__ = [
    "SUFFIXES",
    "TEMPLATES",
    "DisplayCode",
    "DisplayMessage",
    "DisplayState",
    "Level",
    "Param",
    "english",
]

Param = str | int | bool | None


class Level(StrEnum):
    """How the desk shows it: colour, icon and sound."""

    INFO = "info"
    SUCCESS = "success"
    ATTENTION = "attention"
    ALARM = "alarm"


class DisplayCode(StrEnum):
    """Every state a desk can show; TEMPLATES says each in English."""

    IDLE = "idle"
    OUTBOX_FULL = "outbox_full"
    OUTBOX_FULL_ITEM = "outbox_full_item"
    NOT_REPORTED = "not_reported"
    INTERNAL_ERROR = "internal_error"
    # encoder
    OPERATOR = "operator"
    PUT_TAG = "put_tag"
    SCANNED_AGAIN = "scanned_again"
    SEVERAL_TAGS = "several_tags"
    TAG_LEFT = "tag_left"
    READER_AWAY = "reader_away"
    PASSWORD_REFUSED = "password_refused"  # noqa: S105 - a display code, not a password
    WRITING = "writing"
    VERIFYING = "verifying"
    TAG_LEFT_WRITING = "tag_left_writing"
    TAG_BACK = "tag_back"
    ENCODED = "encoded"
    ALREADY_ENCODED = "already_encoded"
    REJECTED = "rejected"
    ASK_LIBRARIAN = "ask_librarian"
    TAG_IN_USE = "tag_in_use"
    # checkout
    ON_PAD = "on_pad"
    SECURED = "secured"
    RELEASED = "released"
    # gate
    GATE_ALARM = "gate_alarm"
    # checkin
    NOT_AN_ITEM = "not_an_item"
    BAD_BARCODE = "bad_barcode"
    ALREADY_CHECKED_IN = "already_checked_in"
    TO_SHELF = "to_shelf"
    TO_HOLD_SHELF = "to_hold_shelf"
    TO_HOLD_SHELF_AGAIN = "to_hold_shelf_again"
    HOLD_FILLED = "hold_filled"
    TRANSIT = "transit"
    TRANSIT_AGAIN = "transit_again"
    DEFERRED = "deferred"
    DEFERRED_AGAIN = "deferred_again"
    RELEASED_TO_HOLD_SHELF = "released_to_hold_shelf"
    RELEASED_TO_TRANSIT = "released_to_transit"
    GROUP_FILLED = "group_filled"
    HOLD_CHECK_FAILED = "hold_check_failed"


TEMPLATES: dict[DisplayCode, str] = {
    DisplayCode.IDLE: N_("ready"),
    DisplayCode.OUTBOX_FULL: N_(
        "not working: the outbox is full: events cannot be stored, so no new work is taken"
    ),
    DisplayCode.OUTBOX_FULL_ITEM: N_(
        "not working: the outbox is full: events cannot be stored ({item_id}: its tag was not written)"
    ),
    DisplayCode.NOT_REPORTED: N_(
        "could not report {event}: the outbox refuses events; stop and call for help"
    ),
    DisplayCode.INTERNAL_ERROR: N_("{item_id}: internal error, see the log; scan it again"),
    DisplayCode.OPERATOR: N_("operator {operator} signed in"),
    DisplayCode.PUT_TAG: N_("{item_id}: put one {product} tag on the pad"),
    DisplayCode.SCANNED_AGAIN: N_("{item_id}: scanned again; still waiting for its tag"),
    DisplayCode.SEVERAL_TAGS: N_("{count} tags on the pad: leave only the one for {item_id}"),
    DisplayCode.TAG_LEFT: N_("tag {uid} left the pad before writing: put it back"),
    DisplayCode.READER_AWAY: N_("the reader went away before writing: waiting for it"),
    DisplayCode.PASSWORD_REFUSED: N_("tag {uid} did not take the EAS/AFI password: lift it off the pad"),
    DisplayCode.WRITING: N_("{item_id}: writing tag {uid}"),
    DisplayCode.VERIFYING: N_("{item_id}: verifying tag {uid}"),
    DisplayCode.TAG_LEFT_WRITING: N_(
        "tag {uid} left the pad while being written: put it back within {wait} s"
    ),
    DisplayCode.TAG_BACK: N_("tag {uid} is back: writing it again"),
    DisplayCode.ENCODED: N_("tag {uid} now carries {item_id}"),
    DisplayCode.ALREADY_ENCODED: N_("tag {uid} already carries {item_id}"),
    DisplayCode.REJECTED: N_("not encoded ({reason}): {detail}"),
    DisplayCode.ASK_LIBRARIAN: N_("not encoded (ask_librarian): {detail}"),
    DisplayCode.TAG_IN_USE: N_("not encoded (tag_in_use): {detail}"),
    DisplayCode.ON_PAD: N_("{count} items on the pad"),
    DisplayCode.SECURED: N_("{done} of {count} items secured"),
    DisplayCode.RELEASED: N_("{done} of {count} items released"),
    DisplayCode.GATE_ALARM: N_("ALARM: {what}"),
    DisplayCode.NOT_AN_ITEM: N_("tag {uid} carries no item ({content}): {problem}"),
    DisplayCode.BAD_BARCODE: N_("barcode '{raw}' refused: {detail}"),
    DisplayCode.ALREADY_CHECKED_IN: N_("{item_id}: already checked in"),
    DisplayCode.TO_SHELF: N_("{item_id}: checked in"),
    DisplayCode.TO_HOLD_SHELF: N_("{item_id}: to the hold shelf (hold {hold_id}, until {hold_until})"),
    DisplayCode.TO_HOLD_SHELF_AGAIN: N_("{item_id}: to the hold shelf (hold {hold_id}, already reported)"),
    DisplayCode.HOLD_FILLED: N_("{item_id}: to the hold shelf (hold {hold_id}, already filled)"),
    DisplayCode.TRANSIT: N_("{item_id}: transit to {to_library} (hold {hold_id})"),
    DisplayCode.TRANSIT_AGAIN: N_("{item_id}: transit to {to_library} (hold {hold_id}, already reported)"),
    DisplayCode.DEFERRED: N_(
        "{item_id}: wait for volume {first} (set {set_id}, this is volume {position}): keep it back"
    ),
    DisplayCode.DEFERRED_AGAIN: N_("{item_id}: wait for volume {first} (set {set_id}, already reported)"),
    DisplayCode.RELEASED_TO_HOLD_SHELF: N_(
        "{item_id}: released from waiting: to the hold shelf (hold {hold_id}, until {hold_until})"
    ),
    DisplayCode.RELEASED_TO_TRANSIT: N_(
        "{item_id}: released from waiting: transit to {to_library} (hold {hold_id})"
    ),
    DisplayCode.GROUP_FILLED: N_("{item_id}: not held: group hold {group_id} already filled by {taker}"),
    DisplayCode.HOLD_CHECK_FAILED: N_("{item_id}: hold check failed ({error}): ask a librarian"),
}
"""The English of each code, with {param} placeholders: the msgids of the catalogs."""

SUFFIXES: dict[str, str] = {
    "cover": N_("cover it with the {cover_text}"),
    "memo": N_("has a memo"),
    "release": N_("release {release}"),
    "not_reported": N_("not reported: {not_reported}"),
    "not_secured": N_("NOT secured ({failure}: {failure_detail}): place it again"),
    "not_on_pad": N_("NOT secured: its tag is not on the pad"),
}
"""Notes added after the line ("; "-separated) when their parameter is set."""

COVER_TEXTS = {"protective_film": N_("protective film"), "protective_seal": N_("protective seal")}

_LEVELS: dict[DisplayCode, Level] = {
    DisplayCode.IDLE: Level.INFO,
    DisplayCode.OUTBOX_FULL: Level.ALARM,
    DisplayCode.OUTBOX_FULL_ITEM: Level.ALARM,
    DisplayCode.NOT_REPORTED: Level.ALARM,
    DisplayCode.INTERNAL_ERROR: Level.ALARM,
    DisplayCode.OPERATOR: Level.INFO,
    DisplayCode.PUT_TAG: Level.INFO,
    DisplayCode.SCANNED_AGAIN: Level.INFO,
    DisplayCode.SEVERAL_TAGS: Level.ATTENTION,
    DisplayCode.TAG_LEFT: Level.ATTENTION,
    DisplayCode.READER_AWAY: Level.ALARM,
    DisplayCode.PASSWORD_REFUSED: Level.ATTENTION,
    DisplayCode.WRITING: Level.INFO,
    DisplayCode.VERIFYING: Level.INFO,
    DisplayCode.TAG_LEFT_WRITING: Level.ATTENTION,
    DisplayCode.TAG_BACK: Level.INFO,
    DisplayCode.ENCODED: Level.SUCCESS,
    DisplayCode.ALREADY_ENCODED: Level.SUCCESS,
    DisplayCode.REJECTED: Level.ATTENTION,
    DisplayCode.ASK_LIBRARIAN: Level.ATTENTION,
    DisplayCode.TAG_IN_USE: Level.ATTENTION,
    DisplayCode.ON_PAD: Level.INFO,
    DisplayCode.SECURED: Level.SUCCESS,
    DisplayCode.RELEASED: Level.SUCCESS,
    DisplayCode.GATE_ALARM: Level.ALARM,
    DisplayCode.NOT_AN_ITEM: Level.ATTENTION,
    DisplayCode.BAD_BARCODE: Level.ATTENTION,
    DisplayCode.ALREADY_CHECKED_IN: Level.INFO,
    DisplayCode.TO_SHELF: Level.SUCCESS,
    DisplayCode.TO_HOLD_SHELF: Level.ATTENTION,
    DisplayCode.TO_HOLD_SHELF_AGAIN: Level.ATTENTION,
    DisplayCode.HOLD_FILLED: Level.ATTENTION,
    DisplayCode.TRANSIT: Level.ATTENTION,
    DisplayCode.TRANSIT_AGAIN: Level.ATTENTION,
    DisplayCode.DEFERRED: Level.ATTENTION,
    DisplayCode.DEFERRED_AGAIN: Level.ATTENTION,
    DisplayCode.RELEASED_TO_HOLD_SHELF: Level.ATTENTION,
    DisplayCode.RELEASED_TO_TRANSIT: Level.ATTENTION,
    DisplayCode.GROUP_FILLED: Level.INFO,
    DisplayCode.HOLD_CHECK_FAILED: Level.ALARM,
}


class DisplayState(Model):
    """One state of a desk: the code, its parameters and how loud it is (the code's level by default)."""

    code: DisplayCode
    params: dict[str, Param] = Field(default_factory=dict, description="what the code's text names")
    level: Level = Field(description="info, success, attention or alarm: colour, icon and sound")

    @classmethod
    def of(cls, code: DisplayCode, *, level: Level | None = None, **params: Param) -> "DisplayState":
        """The state `code` with its parameters (None values are left out)."""
        kept: dict[str, Param] = {key: value for key, value in params.items() if value is not None}
        return cls(code=code, params=kept, level=level or _LEVELS[code])

    def with_params(self, **params: Param) -> "DisplayState":
        kept: dict[str, Param] = {key: value for key, value in params.items() if value is not None}
        return self.model_copy(update={"params": {**self.params, **kept}})


class DisplayMessage(Model):
    """The retained `tagd/{station}/display`: the state and its text in the station's language."""

    code: DisplayCode
    params: dict[str, Param] = Field(default_factory=dict, description="what the code's text names")
    level: Level = Field(description="info, success, attention or alarm")
    text: str = Field(description="the line as staff read it, rendered from the code")
    language: Language = Field(description="the language of `text`: ja (default) or en")
    time: AwareDatetime = Field(description="when the desk started showing it (RFC 3339)")

    @classmethod
    def of(cls, state: DisplayState, text: str, language: Language, time: datetime) -> "DisplayMessage":
        return cls(
            code=state.code, params=state.params, level=state.level, text=text, language=language, time=time
        )

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


class _Blank(dict[str, Any]):
    """Formatting values: a parameter the state lacks shows empty rather than failing."""

    def __missing__(self, key: str) -> str:
        return ""


def english(state: DisplayState) -> str:
    """The line in English, without catalogs: for the log (and tests)."""
    values = _Blank(state.params)
    cover = state.params.get("cover")
    if isinstance(cover, str):
        values["cover_text"] = COVER_TEXTS.get(cover, cover)
    line = TEMPLATES[state.code].format_map(values)
    notes = [SUFFIXES[key].format_map(values) for key in SUFFIXES if state.params.get(key)]
    return "; ".join([line, *notes])
