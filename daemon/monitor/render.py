"""The live feed: each event and status message as one line a person can follow at a glance.

`tagd monitor` and `tagd demo` print it. A line is the time, the station, what happened and its key facts
(item, tag, product, reason, hold), coloured by kind: green done, red rejected or alarming, yellow needs
someone's attention, cyan for information. Off a terminal rich prints the same text without colour.
Every event type has its own renderer (`RENDERERS`): the tests fail when a new type has none.
"""

import json
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tagd.daemon.i18n import gettext_for
from tagd.daemon.i18n.texts import words
from tagd.protocols import events as ev
from tagd.protocols.i18n import N_, Language
from tagd.protocols.tagtypes import REASON_TEXTS

__all__ = [
    "RENDERERS",
    "Entry",
    "EventPrinter",
    "Kind",
    "describe",
    "entry_for_envelope",
    "entry_for_message",
    "use_language",
]


class Kind(StrEnum):
    SUCCESS = "success"
    ALARM = "alarm"
    WARNING = "warning"
    INFO = "info"


STYLES = {Kind.SUCCESS: "green", Kind.ALARM: "bold red", Kind.WARNING: "yellow", Kind.INFO: "cyan"}
MARKS = {Kind.SUCCESS: "✔", Kind.ALARM: "✖", Kind.WARNING: "!", Kind.INFO: "·"}
STATION_WIDTH, WHAT_WIDTH = 14, 20
STATUS = "status"
FEED_LANGUAGE: ContextVar[Language] = ContextVar("tagd_feed_language", default="en")
"""The feed's language: the CLI sets it (--lang, Japanese by default); the library default is English."""


@dataclass(frozen=True)
class Entry:
    """One feed line. `envelope` is the event it shows, if it shows one (the demo waits on those)."""

    time: datetime
    station: str
    what: str
    kind: Kind
    text: str
    envelope: ev.Envelope | None = None

    def _columns(self) -> tuple[str, str, str, str]:
        clock = self.time.astimezone().strftime("%H:%M:%S")
        return clock, MARKS[self.kind], self.station.ljust(STATION_WIDTH), self.what.ljust(WHAT_WIDTH)

    def plain(self) -> str:
        clock, mark, station, what = self._columns()
        return f"{clock} {mark} {station} {what} {self.text}"

    def rich(self) -> Table:
        """For a terminal: the columns of `plain`, long facts wrapped under their own column."""
        clock, mark, station, what = self._columns()
        style = STYLES[self.kind]
        grid = Table.grid(padding=(0, 1))
        for width in (len(clock), len(mark), STATION_WIDTH, WHAT_WIDTH):
            grid.add_column(width=width, no_wrap=True)
        grid.add_column(ratio=1, overflow="fold")
        body = style if self.kind is Kind.ALARM else ""
        cells = [(clock, "dim"), (mark, style), (station, "bold"), (what, style), (self.text, body)]
        grid.add_row(*(Text(text, cell_style) for text, cell_style in cells))
        return grid


# -- one renderer per event type ----------------------------------------------------------------------------

Rendered = tuple[Kind, str]
E = TypeVar("E", bound=ev.EventData)
RENDERERS: dict[type[ev.EventData], Callable[[Any], Rendered]] = {}


def _renders(cls: type[E]) -> Callable[[Callable[[E], Rendered]], Callable[[E], Rendered]]:
    def register(function: Callable[[E], Rendered]) -> Callable[[E], Rendered]:
        RENDERERS[cls] = function
        return function

    return register


def _t(text: str) -> str:
    """`text` in the feed's language (use_language)."""
    return gettext_for(FEED_LANGUAGE.get())(text)


def use_language(language: Language) -> None:
    """The feed's language from now on in this context (`tagd monitor --lang`, `tagd demo --lang`)."""
    FEED_LANGUAGE.set(language)


def _item(item_id: str | None, uid: str | None) -> str:
    """An item by its number, with its tag in brackets when known; a bare tag otherwise."""
    if item_id is None:
        return _t("tag {uid}").format(uid=uid) if uid else _t("an unread tag")
    return _t("item {item_id}").format(item_id=item_id) + (f" [{uid}]" if uid else "")


def _words(kind: str, value: str) -> str:
    """A code in words: in English the code itself, spaced (the feed is terse); otherwise translated."""
    return value.replace("_", " ") if FEED_LANGUAGE.get() == "en" else words(kind, value, _t)


@_renders(ev.ItemDetected)
def _detected(data: ev.ItemDetected) -> Rendered:
    if data.content is ev.TagContent.ITEM:
        facts = [_t("{item} arrived").format(item=_item(data.item_id, data.uid))]
        if data.parts > 1:
            facts.append(_t("part {part} of {parts}").format(part=data.part, parts=data.parts))
        if data.product:
            facts.append(str(data.product))
        if data.secured is not None:
            facts.append(_t("secured") if data.secured else _t("on loan (not secured)"))
        return Kind.INFO, " · ".join(facts)
    product = f" {data.product or data.profile}" if data.product or data.profile else ""
    if data.content is ev.TagContent.BLANK:
        return Kind.INFO, _t("blank{product} tag {uid} arrived").format(product=product, uid=data.uid)
    what = _t("{content} tag {uid} arrived: not one of our items")
    return Kind.WARNING, what.format(content=_words("content", data.content.value), uid=data.uid)


@_renders(ev.ItemRemoved)
def _removed(data: ev.ItemRemoved) -> Rendered:
    return Kind.INFO, _t("{item} left").format(item=_item(data.item_id, data.uid))


@_renders(ev.ItemEncoded)
def _encoded(data: ev.ItemEncoded) -> Rendered:
    title = f" 『{data.title}』" if data.title else ""
    if data.already:
        verb = _t("{item_id}{title} already carried {product} [{uid}]")
    elif data.forced:
        verb = _t("{item_id}{title} overwritten with {product} [{uid}]")
    else:
        verb = _t("{item_id}{title} encoded on {product} [{uid}]")
    product = data.product or data.profile
    facts = [verb.format(item_id=data.item_id, title=title, product=product, uid=data.uid)]
    facts.append(_t(REASON_TEXTS[data.rule_reason][0]))
    if data.placement is not None:
        cover = f" + {_words('cover', data.cover.value)}" if data.cover else ""
        placement = _words("placement", data.placement.value)
        facts.append(_t("tag: {placement}").format(placement=placement) + cover)
    if data.operator:
        facts.append(_t("operator {operator}").format(operator=data.operator))
    return Kind.SUCCESS, " · ".join(facts)


_ATTENTION = frozenset({ev.RejectReason.ASK_LIBRARIAN, ev.RejectReason.SUPERSEDED})
"""Rejections that are not a fault: the desk hands the item over, or a newer scan took its place."""


@_renders(ev.ItemEncodeRejected)
def _rejected(data: ev.ItemEncodeRejected) -> Rendered:
    facts = [data.reason.value.upper().replace("_", " ")]  # the code itself, as machines and manuals name it
    if data.item_id or data.uid:
        facts.append(_item(data.item_id, data.uid))
    named = all(str(product) in data.detail for product in (data.required, data.found))
    if (data.required or data.found) and not named:
        needs = _t("needs {required}, found {found}")
        facts.append(needs.format(required=data.required or "?", found=data.found or "?"))
    if data.existing_item_id and data.existing_item_id not in data.detail:
        facts.append(_t("the tag carries item {item_id}").format(item_id=data.existing_item_id))
    if FEED_LANGUAGE.get() == "en":
        facts.append(data.detail)
    else:
        facts.append(_words("rule_reason" if data.rule_reason else "reason", data.rule_reason or data.reason))
    return (Kind.WARNING if data.reason in _ATTENTION else Kind.ALARM), " · ".join(facts)


@_renders(ev.BarcodeScanned)
def _scanned(data: ev.BarcodeScanned) -> Rendered:
    if data.item_id is not None:
        return Kind.INFO, _t("scanned {raw} → item {item_id}").format(raw=data.raw, item_id=data.item_id)
    why = data.detail or (data.reason.value if data.reason else "not a registration number")
    return Kind.WARNING, _t("bad scan {raw}: {why}").format(raw=repr(data.raw), why=why)


@_renders(ev.SecurityChanged)
def _security(data: ev.SecurityChanged) -> Rendered:
    state = _t("secured") if data.secured else _t("released for loan")
    eas = "on" if data.eas else "off"
    asked = _t(" (request {request_id})").format(request_id=data.request_id) if data.request_id else ""
    line = _t("{item} {state}: AFI 0x{afi}, EAS {eas}{asked}")
    item = _item(data.item_id, data.uid)
    return Kind.SUCCESS, line.format(item=item, state=state, afi=f"{data.afi:02X}", eas=eas, asked=asked)


@_renders(ev.SecurityFailed)
def _security_failed(data: ev.SecurityFailed) -> Rendered:
    state = "secured" if data.secured else "released for loan"
    asked = f" (request {data.request_id})" if data.request_id else ""
    return Kind.ALARM, f"NOT {state}: {_item(data.item_id, data.uid)}: {data.code} ({data.text}){asked}"


@_renders(ev.GateAlarm)
def _alarm(data: ev.GateAlarm) -> Rendered:
    unread = _t("a secured tag (EAS only, unread)")
    what = _item(data.item_id, data.uid) if data.uid or data.item_id else unread
    line = _t("ALARM: {what} is still secured (found by {by})")
    return Kind.ALARM, line.format(what=what, by=data.detected_by.value.upper())


@_renders(ev.GateIdentified)
def _identified(data: ev.GateIdentified) -> Rendered:
    title = f" 「{data.title}」" if data.title else ""
    line = _t("ALARM {alarm_id}: {what}{title} identified")
    return Kind.ALARM, line.format(alarm_id=data.alarm_id, what=_item(data.item_id, data.uid), title=title)


@_renders(ev.SetIncomplete)
def _incomplete(data: ev.SetIncomplete) -> Rendered:
    missing = ", ".join(map(str, data.missing))
    line = _t("item {item_id}: {present} of {parts} parts here, missing part {missing}")
    return Kind.WARNING, line.format(
        item_id=data.item_id, present=len(data.present), parts=data.parts, missing=missing
    )


@_renders(ev.HoldArrived)
def _arrived(data: ev.HoldArrived) -> Rendered:
    line = _t(
        "hold {hold_id} for {patron_ref}: {item} to the hold shelf at {pickup_library} until {hold_until}"
    )
    facts = [
        line.format(
            hold_id=data.hold_id,
            patron_ref=data.patron_ref,
            item=_item(data.item_id, data.uid),
            pickup_library=data.pickup_library,
            hold_until=data.hold_until.isoformat(),
        ),
        _t("do not notify") if data.notify is ev.Notify.NONE else _notify(data.notify.value),
    ]
    if data.set_id:
        facts.append(_t("set {set_id} volume {position}").format(set_id=data.set_id, position=data.position))
    if data.group_id:
        facts.append(_t("group {group_id}").format(group_id=data.group_id))
    if data.release:
        facts.append(_t("release {release}").format(release=", ".join(data.release)))
    if data.memo:
        facts.append(_t("memo: {memo}").format(memo=data.memo))
    return Kind.SUCCESS, " · ".join(facts)


def _notify(how: str) -> str:
    return f"notify by {how}" if FEED_LANGUAGE.get() == "en" else words("notify", how, _t)


@_renders(ev.HoldTransit)
def _transit(data: ev.HoldTransit) -> Rendered:
    line = _t("hold {hold_id} for {patron_ref}: send {item} from {from_library} to {to_library}")
    item = _item(data.item_id, data.uid)
    return Kind.WARNING, line.format(
        hold_id=data.hold_id,
        patron_ref=data.patron_ref,
        item=item,
        from_library=data.from_library,
        to_library=data.to_library,
    )


@_renders(ev.HoldDeferred)
def _deferred(data: ev.HoldDeferred) -> Rendered:
    line = _t("hold {hold_id}: {item} held back: set {set_id} volume {position} waits for volume {waiting}")
    return Kind.WARNING, line.format(
        hold_id=data.hold_id,
        item=_item(data.item_id, data.uid),
        set_id=data.set_id,
        position=data.position,
        waiting=", ".join(map(str, data.waiting_for)),
    )


@_renders(ev.PatronCard)
def _card(data: ev.PatronCard) -> Rendered:
    return Kind.INFO, _t("patron card {card_id}").format(card_id=data.card_id)


@_renders(ev.ReaderConnected)
def _connected(data: ev.ReaderConnected) -> Rendered:
    return Kind.INFO, _t("{reader} connected ({url})").format(reader=data.reader, url=data.url)


@_renders(ev.ReaderLostEvent)
def _lost(data: ev.ReaderLostEvent) -> Rendered:
    line = _t("{reader} lost ({url}): {error}; retrying in {seconds} s")
    return Kind.WARNING, line.format(
        reader=data.reader, url=data.url, error=data.error, seconds=f"{data.retry_in_s:.1f}"
    )


@_renders(ev.CommandRejected)
def _command_rejected(data: ev.CommandRejected) -> Rendered:
    return Kind.ALARM, _t("refused {topic}: {error}").format(topic=data.topic, error=data.error)


@_renders(ev.HoldsRejected)
def _holds_rejected(data: ev.HoldsRejected) -> Rendered:
    line = _t("holds feed {topic} not applied: {error}")
    return Kind.ALARM, line.format(topic=data.topic, error=data.error)


def describe(data: ev.EventData) -> Rendered:
    """The kind and the facts of one event."""
    renderer = RENDERERS.get(type(data))
    if renderer is None:
        return Kind.INFO, data.model_dump_json()
    return renderer(data)


# -- messages to entries -------------------------------------------------------------------------------------


def entry_for_envelope(envelope: ev.Envelope) -> Entry:
    kind, text = describe(envelope.data)
    return Entry(envelope.time, envelope.station, envelope.short_type, kind, text, envelope)


_STATUS_WORDS = {
    "online": N_("online"),
    "offline": N_("offline"),
    ev.ReaderState.CONNECTED: N_("connected"),
    ev.ReaderState.LOST: N_("lost"),
    ev.ReaderState.CONNECTING: N_("connecting"),
    ev.ReaderState.UNKNOWN: N_("unknown"),
}
"""A status's words for people; the payload keeps the codes."""


def entry_for_status(station: str, status: ev.Status, at: datetime) -> Entry:
    online = status.state == "online"
    readers = status.readers.items() if online else ()
    devices = [f"{name} {_t(_STATUS_WORDS[reader.state])}" for name, reader in readers]
    where = _t("{state} · {role} at {library}")
    state = _t(_STATUS_WORDS[status.state])
    facts = [where.format(state=state, role=status.role.value, library=status.library), *devices]
    if status.outbox_full:
        # The depth is as of this status; it is republished when `full` changes, not with every event.
        full = _t("OUTBOX FULL ({depth} events waiting): refusing work").format(depth=status.outbox_depth)
        return Entry(at, station, STATUS, Kind.ALARM, " · ".join([*facts, full]))
    away = any(reader.state is not ev.ReaderState.CONNECTED for reader in status.readers.values())
    kind = Kind.WARNING if status.state == "offline" or away else Kind.SUCCESS
    return Entry(at, station, STATUS, kind, " · ".join(facts))


def entry_for_message(
    topic: str, payload: bytes, *, prefix: str = "tagd", now: datetime | None = None
) -> Entry | None:
    """The entry for a message on `{prefix}/{station}/status` or `.../events/{type}`; None for any other
    topic and for a cleared retained status. A payload that does not parse is shown as a warning."""
    now = now or datetime.now(UTC)
    levels = topic.removeprefix(prefix + "/").split("/") if topic.startswith(prefix + "/") else []
    if len(levels) == 2 and levels[1] == STATUS:  # {station}/status
        if not payload:
            return None
        try:
            return entry_for_status(levels[0], ev.Status.model_validate_json(payload), now)
        except ValidationError as exc:
            return Entry(now, levels[0], STATUS, Kind.WARNING, f"unreadable status: {_first_error(exc)}")
    if len(levels) == 3 and levels[1] == "events":  # {station}/events/{type}
        try:
            return entry_for_envelope(ev.parse_envelope(payload))
        except ValidationError as exc:
            return Entry(now, levels[0], levels[2], Kind.WARNING, f"unreadable event: {_first_error(exc)}")
    return None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(map(str, error["loc"]))
    return f"{where}: {error['msg']}" if where else error["msg"]


def message_json(topic: str, payload: bytes, *, retain: bool) -> str:
    """One JSON line per message for `tagd monitor --json`: the payload as JSON when it is JSON."""
    try:
        body: object = json.loads(payload) if payload else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = payload.decode("utf-8", "backslashreplace")
    return json.dumps({"topic": topic, "retain": retain, "payload": body}, ensure_ascii=False)


class EventPrinter:
    """Prints entries and (for the demo) narration; colour on a terminal, plain text elsewhere."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True, emoji=False)

    def show(self, entry: Entry) -> None:
        self.console.print(entry.rich() if self.console.is_terminal else entry.plain())

    def say(self, text: str, style: str = "bold magenta") -> None:
        self.console.print(Text(text, style=style))
