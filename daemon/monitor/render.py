"""The live feed: each event and status message as one line a person can follow at a glance.

`tagd monitor` and `tagd demo` print it. A line is the time, the station, what happened and its key facts
(item, tag, product, reason, hold), coloured by kind: green done, red rejected or alarming, yellow needs
someone's attention, cyan for information. Off a terminal rich prints the same text without colour.
Every event type has its own renderer (`RENDERERS`): the tests fail when a new type has none.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tagd.protocols import events as ev
from tagd.protocols.tagtypes import REASON_TEXTS

__all__ = [
    "RENDERERS",
    "Entry",
    "EventPrinter",
    "Kind",
    "describe",
    "entry_for_envelope",
    "entry_for_message",
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


def _item(item_id: str | None, uid: str | None) -> str:
    """An item by its number, with its tag in brackets when known; a bare tag otherwise."""
    if item_id is None:
        return f"tag {uid}" if uid else "an unread tag"
    return f"item {item_id}" + (f" [{uid}]" if uid else "")


def _words(value: str) -> str:
    return value.replace("_", " ")


@_renders(ev.ItemDetected)
def _detected(data: ev.ItemDetected) -> Rendered:
    if data.content is ev.TagContent.ITEM:
        facts = [_item(data.item_id, data.uid) + " arrived"]
        if data.parts > 1:
            facts.append(f"part {data.part} of {data.parts}")
        if data.product:
            facts.append(str(data.product))
        if data.secured is not None:
            facts.append("secured" if data.secured else "on loan (not secured)")
        return Kind.INFO, " · ".join(facts)
    product = f" {data.product or data.profile}" if data.product or data.profile else ""
    if data.content is ev.TagContent.BLANK:
        return Kind.INFO, f"blank{product} tag {data.uid} arrived"
    return Kind.WARNING, f"{data.content.value} tag {data.uid} arrived: not one of our items"


@_renders(ev.ItemRemoved)
def _removed(data: ev.ItemRemoved) -> Rendered:
    return Kind.INFO, f"{_item(data.item_id, data.uid)} left"


@_renders(ev.ItemEncoded)
def _encoded(data: ev.ItemEncoded) -> Rendered:
    title = f" 『{data.title}』" if data.title else ""
    verb = "already carried" if data.already else "overwritten with" if data.forced else "encoded on"
    facts = [f"{data.item_id}{title} {verb} {data.product or data.profile} [{data.uid}]"]
    facts.append(REASON_TEXTS[data.rule_reason][0])
    if data.placement is not None:
        cover = f" + {_words(data.cover.value)}" if data.cover else ""
        facts.append("tag: " + _words(data.placement.value) + cover)
    return Kind.SUCCESS, " · ".join(facts)


_ATTENTION = frozenset({ev.RejectReason.ASK_LIBRARIAN, ev.RejectReason.SUPERSEDED})
"""Rejections that are not a fault: the desk hands the item over, or a newer scan took its place."""


@_renders(ev.ItemEncodeRejected)
def _rejected(data: ev.ItemEncodeRejected) -> Rendered:
    facts = [data.reason.value.upper().replace("_", " ")]
    if data.item_id or data.uid:
        facts.append(_item(data.item_id, data.uid))
    named = all(str(product) in data.detail for product in (data.required, data.found))
    if (data.required or data.found) and not named:
        facts.append(f"needs {data.required or '?'}, found {data.found or '?'}")
    if data.existing_item_id and data.existing_item_id not in data.detail:
        facts.append(f"the tag carries item {data.existing_item_id}")
    facts.append(data.detail)
    return (Kind.WARNING if data.reason in _ATTENTION else Kind.ALARM), " · ".join(facts)


@_renders(ev.BarcodeScanned)
def _scanned(data: ev.BarcodeScanned) -> Rendered:
    if data.item_id is not None:
        return Kind.INFO, f"scanned {data.raw} → item {data.item_id}"
    why = data.detail or (data.reason.value if data.reason else "not a registration number")
    return Kind.WARNING, f"bad scan {data.raw!r}: {why}"


@_renders(ev.SecurityChanged)
def _security(data: ev.SecurityChanged) -> Rendered:
    state = "secured" if data.secured else "released for loan"
    eas = "on" if data.eas else "off"
    asked = f" (request {data.request_id})" if data.request_id else ""
    return Kind.SUCCESS, f"{_item(data.item_id, data.uid)} {state}: AFI 0x{data.afi:02X}, EAS {eas}{asked}"


@_renders(ev.GateAlarm)
def _alarm(data: ev.GateAlarm) -> Rendered:
    what = _item(data.item_id, data.uid) if data.uid or data.item_id else "a secured tag (EAS only, unread)"
    return Kind.ALARM, f"ALARM: {what} is still secured (found by {data.detected_by.value.upper()})"


@_renders(ev.GateIdentified)
def _identified(data: ev.GateIdentified) -> Rendered:
    title = f" 「{data.title}」" if data.title else ""
    return Kind.ALARM, f"ALARM {data.alarm_id}: {_item(data.item_id, data.uid)}{title} identified"


@_renders(ev.SetIncomplete)
def _incomplete(data: ev.SetIncomplete) -> Rendered:
    missing = ", ".join(map(str, data.missing))
    present = f"{len(data.present)} of {data.parts} parts here"
    return Kind.WARNING, f"item {data.item_id}: {present}, missing part {missing}"


@_renders(ev.HoldArrived)
def _arrived(data: ev.HoldArrived) -> Rendered:
    facts = [
        f"hold {data.hold_id} for {data.patron_ref}: {_item(data.item_id, data.uid)} to the hold shelf"
        f" at {data.pickup_library} until {data.hold_until.isoformat()}",
        "do not notify" if data.notify is ev.Notify.NONE else f"notify by {data.notify.value}",
    ]
    if data.set_id:
        facts.append(f"set {data.set_id} volume {data.position}")
    if data.group_id:
        facts.append(f"group {data.group_id}")
    if data.release:
        facts.append(f"release {', '.join(data.release)}")
    if data.memo:
        facts.append(f"memo: {data.memo}")
    return Kind.SUCCESS, " · ".join(facts)


@_renders(ev.HoldTransit)
def _transit(data: ev.HoldTransit) -> Rendered:
    item = _item(data.item_id, data.uid)
    route = f"send {item} from {data.from_library} to {data.to_library}"
    return Kind.WARNING, f"hold {data.hold_id} for {data.patron_ref}: {route}"


@_renders(ev.HoldDeferred)
def _deferred(data: ev.HoldDeferred) -> Rendered:
    item = _item(data.item_id, data.uid)
    waiting = ", ".join(map(str, data.waiting_for))
    why = f"set {data.set_id} volume {data.position} waits for volume {waiting}"
    return Kind.WARNING, f"hold {data.hold_id}: {item} held back: {why}"


@_renders(ev.PatronCard)
def _card(data: ev.PatronCard) -> Rendered:
    return Kind.INFO, f"patron card {data.card_id}"


@_renders(ev.ReaderConnected)
def _connected(data: ev.ReaderConnected) -> Rendered:
    return Kind.INFO, f"{data.reader} connected ({data.url})"


@_renders(ev.ReaderLostEvent)
def _lost(data: ev.ReaderLostEvent) -> Rendered:
    return Kind.WARNING, f"{data.reader} lost ({data.url}): {data.error}; retrying in {data.retry_in_s:.1f} s"


@_renders(ev.CommandRejected)
def _command_rejected(data: ev.CommandRejected) -> Rendered:
    return Kind.ALARM, f"refused {data.topic}: {data.error}"


@_renders(ev.HoldsRejected)
def _holds_rejected(data: ev.HoldsRejected) -> Rendered:
    return Kind.ALARM, f"holds feed {data.topic} not applied: {data.error}"


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


def entry_for_status(station: str, status: ev.Status, at: datetime) -> Entry:
    online = status.state == "online"
    devices = [f"{name} {reader.state.value}" for name, reader in status.readers.items() if online]
    facts = [f"{status.state} · {status.role.value} at {status.library}", *devices]
    if status.outbox_full:
        # The depth is as of this status; it is republished when `full` changes, not with every event.
        full = f"OUTBOX FULL ({status.outbox_depth} events waiting): refusing work"
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
