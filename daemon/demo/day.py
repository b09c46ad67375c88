"""The scripted day of `tagd demo`: what happens at a branch, told in a line each, driven over MQTT.

New books are encoded at the processing desk (one given the wrong tag first, one that needs a librarian),
a patron borrows two at the self-checkout, a visitor carries a still-secured item through the gate,
another patron places a hold on one of the borrowed books, and both come back at check-in: one to the hold
shelf. Every step waits for the events it must produce, so a step that
goes wrong stops the demo with a DemoStepError naming it, instead of scrolling past.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tagd.daemon.demo.desk import DemoClient
from tagd.daemon.monitor.render import EventPrinter
from tagd.protocols import events as ev
from tagd.protocols.payload_types import Role
from tagd.protocols.tagtypes import TagProduct

__all__ = ["Book", "Day", "Stations"]

PATRON_CARD = "2100012345678"
HOLD: dict[str, object] = {
    "hold_id": "H-DEMO-1",
    "patron_ref": "p-demo-0042",
    "pickup_library": "demo",
    "notify": "email",
    "memo": "表紙の汚れは前からです",
    "placed_at": "2026-11-20T05:05:00+00:00",
    "type": "single",
}
"""The demo's hold: its pickup library is the demo branch's, so the return at check-in fills it."""
NARRATION_STYLE = "bold"
STEP_PAUSE_S, LINE_PAUSE_S = 2.5, 1.2
"""At speed 1: before each step, and after each line of the story (time to read the feed)."""


@dataclass(frozen=True)
class Book:
    """An item of config/demo-delivery.csv: its registration number with the check digit, and title."""

    item_id: str
    title: str

    @property
    def scan(self) -> str:
        """The NW-7 label as a scanner reads it, start and stop characters included."""
        return f"A{self.item_id}A"

    def __str__(self) -> str:
        return f"『{self.title}』 ({self.item_id})"


PAPERBACK = Book("100000017", "吾輩は猫である")
HARDCOVER = Book("100000025", "坊っちゃん")
KAMISHIBAI = Book("100000041", "てぶくろを買いに")
CLOTH_BOOK = Book("100000058", "ぬのえほん どうぶつ")


@dataclass(frozen=True)
class Stations:
    """The demo branch's station names, by role."""

    encoder: str
    checkout: str
    gate: str
    checkin: str

    @classmethod
    def by_role(cls, names: dict[Role, str]) -> "Stations":
        return cls(names[Role.ENCODER], names[Role.CHECKOUT], names[Role.GATE], names[Role.CHECKIN])

    def all(self) -> list[str]:
        return [self.encoder, self.checkout, self.gate, self.checkin]


def _item(book: Book) -> Callable[[Any], bool]:
    return lambda data: getattr(data, "item_id", None) == book.item_id


def _device(name: str) -> Callable[[Any], bool]:
    return lambda data: getattr(data, "reader", None) == name


class Day:
    """`await Day(desk, stations, printer, speed).run()`; speed 0 runs the steps back to back."""

    def __init__(
        self,
        desk: DemoClient,
        stations: Stations,
        printer: EventPrinter,
        speed: float = 1.0,
        pages: dict[str, str] | None = None,
    ) -> None:
        self.desk, self.at, self.printer, self.speed = desk, stations, printer, speed
        self.pages = pages or {}
        """Each station's page (the station pages are on): the day says which one to watch."""
        self._watching: str | None = None
        self.tags: dict[str, str] = {}
        """Each encoded book's tag UID, by item id: the books travel from desk to desk with their tags."""

    async def run(self) -> None:
        await self.opening()
        await self.encode(PAPERBACK, TagProduct.L301, "09:02", "A new paperback reaches the processing desk:")
        await self.wrong_tag_first()
        await self.encode(
            KAMISHIBAI, TagProduct.L1000M, "09:18", "A kamishibai: the white tag goes on the back cover."
        )
        await self.ask_librarian()
        await self.checkout()
        await self.gate_alarm()
        await self.hold_placed()
        await self.checkin()

    # -- the steps -----------------------------------------------------------------------------------------

    async def opening(self) -> None:
        await self.narrate("08:55", "The branch opens: the four stations come online.", first=True)
        await self.desk.wait_online(self.at.all())
        for station in self.at.all():
            for device in self.desk.statuses[station].readers:
                connected = _device(device)
                await self.desk.expect(station, ev.ReaderConnected, since=0, where=connected, what=device)

    async def encode(self, book: Book, tag: TagProduct, clock: str, story: str) -> None:
        await self.narrate(clock, f"{story} {book}")
        await self.watch(self.at.encoder)
        await self.say(f"Staff scan its label and lay it on the pad with a new {tag.value} tag.")
        mark = await self.scan_and_place(book, tag)
        await self.expect_after(mark, self.at.encoder, ev.ItemEncoded, book)
        await self.take_away(self.at.encoder, book)

    async def wrong_tag_first(self) -> None:
        await self.narrate("09:10", f"A hardcover novel: {HARDCOVER}. Hardcovers take the white tag (rule ①)")
        await self.say(f"Staff reach for a transparent {TagProduct.L301.value} tag by mistake.")
        mark = await self.scan_and_place(HARDCOVER, TagProduct.L301)
        wrong_tag = ev.RejectReason.WRONG_TAG_TYPE
        await self.expect_after(
            mark, self.at.encoder, ev.ItemEncodeRejected, HARDCOVER, lambda data: data.reason is wrong_tag
        )
        await self.take_away(self.at.encoder, HARDCOVER)
        await self.say(f"Nothing was written. They fetch a white {TagProduct.L1000M.value} and scan again.")
        mark = await self.scan_and_place(HARDCOVER, TagProduct.L1000M)
        await self.expect_after(mark, self.at.encoder, ev.ItemEncoded, HARDCOVER)
        await self.take_away(self.at.encoder, HARDCOVER)

    async def ask_librarian(self) -> None:
        await self.narrate("09:25", f"A cloth picture book: {CLOTH_BOOK}. Where does a tag go on fabric?")
        mark = self.desk.mark()
        await self.desk.sim(self.at.encoder, "scan", raw=CLOTH_BOOK.scan)
        ask = ev.RejectReason.ASK_LIBRARIAN
        await self.expect_after(
            mark, self.at.encoder, ev.ItemEncodeRejected, CLOTH_BOOK, lambda data: data.reason is ask
        )
        await self.say("The desk says: ask a librarian. The book waits on the librarian's trolley, untagged.")

    async def checkout(self) -> None:
        books = [PAPERBACK, HARDCOVER]
        titles = " and ".join(f"『{book.title}』" for book in books)
        await self.narrate("10:30", f"A patron borrows {titles} at the self-checkout.")
        await self.watch(self.at.checkout)
        mark = self.desk.mark()
        await self.desk.sim(self.at.checkout, "card", id=PATRON_CARD)
        await self.desk.expect(self.at.checkout, ev.PatronCard, since=mark)
        for book in books:
            await self.desk.sim(self.at.checkout, "place", uid=self.tags[book.item_id])
        for book in books:
            await self.desk.expect(self.at.checkout, ev.ItemDetected, since=mark, where=_item(book))
        await self.say("The circulation system records the loans and releases the books' security.")
        items = [book.item_id for book in books]
        await self.desk.command(self.at.checkout, "security", items=items, secured=False)
        for book in books:
            await self.expect_after(mark, self.at.checkout, ev.SecurityChanged, book, lambda d: not d.secured)
        await self.pause()
        await self.take_away_all(self.at.checkout, books)

    async def gate_alarm(self) -> None:
        await self.narrate("11:15", f"A visitor walks out with the kamishibai {KAMISHIBAI}, not checked out.")
        await self.watch(self.at.gate)
        mark = self.desk.mark()
        await self.desk.sim(self.at.gate, "place", uid=self.tags[KAMISHIBAI.item_id])
        tag = self.tags[KAMISHIBAI.item_id]
        alarm = await self.desk.expect(
            self.at.gate, ev.GateAlarm, since=mark, where=lambda data: data.uid == tag, what=tag
        )
        await self.say("The gate sounds at the tag's answer; the item it carries follows, read after it.")
        await self.expect_after(
            mark, self.at.gate, ev.GateIdentified, KAMISHIBAI, lambda d: d.alarm_id == alarm.id
        )
        await self.say("Staff walk over, and the kamishibai goes back to its shelf.")
        await self.desk.sim(self.at.gate, "remove", uid=self.tags[KAMISHIBAI.item_id])

    async def hold_placed(self) -> None:
        await self.narrate("14:05", f"Another patron places a hold on {HARDCOVER}, to collect it here.")
        await self.desk.holds(HARDCOVER.item_id, [HOLD])
        await self.say("The circulation system publishes the book's holds; tagd keeps them in its ledger.")

    async def checkin(self) -> None:
        await self.narrate("16:40", "The patron returns both books at the check-in desk.")
        await self.watch(self.at.checkin)
        books = [PAPERBACK, HARDCOVER]
        mark = self.desk.mark()
        for book in books:
            await self.desk.sim(self.at.checkin, "place", uid=self.tags[book.item_id])
        for book in books:
            await self.expect_after(mark, self.at.checkin, ev.SecurityChanged, book, lambda d: d.secured)
        arrived = await self.expect_after(mark, self.at.checkin, ev.HoldArrived, HARDCOVER)
        assert isinstance(arrived.data, ev.HoldArrived)
        until = arrived.data.hold_until.isoformat()
        await self.say(f"Both are secured again. The paperback goes back on its shelf, {HARDCOVER.title} to")
        await self.say(f"the hold shelf until {until}; the circulation system e-mails the patron.")
        await self.take_away_all(self.at.checkin, books)

    # -- helpers --------------------------------------------------------------------------------------------

    async def scan_and_place(self, book: Book, tag: TagProduct) -> int:
        """Scan the label, then (once the desk has the scan) lay the book with a new tag on the pad; the
        mark to expect the outcome after."""
        mark = self.desk.mark()
        await self.desk.sim(self.at.encoder, "scan", raw=book.scan)
        await self.desk.expect(self.at.encoder, ev.BarcodeScanned, since=mark, where=_item(book))
        reply = await self.desk.sim(self.at.encoder, "place", profile=tag.value)
        self.tags[book.item_id] = str(reply["uid"])
        return mark

    async def expect_after(
        self,
        mark: int,
        station: str,
        kind: type[ev.EventData],
        book: Book,
        where: Callable[[Any], bool] = lambda _: True,
    ) -> ev.Envelope:
        """The first `kind` event for `book` from `station` after `mark` that `where` accepts."""
        about = _item(book)
        return await self.desk.expect(
            station, kind, since=mark, where=lambda data: about(data) and where(data), what=book.item_id
        )

    async def take_away(self, station: str, book: Book) -> None:
        await self.desk.sim(station, "remove", uid=self.tags[book.item_id])

    async def take_away_all(self, station: str, books: list[Book]) -> None:
        """Off a pad that reports what is on it: until it has reported each book gone."""
        mark = self.desk.mark()
        for book in books:
            await self.take_away(station, book)
        for book in books:
            await self.expect_after(mark, station, ev.ItemRemoved, book)

    async def narrate(self, clock: str, text: str, *, first: bool = False) -> None:
        if not first:
            await self.pause(STEP_PAUSE_S)
        self.printer.say("")
        self.printer.say(f"{clock}  {text}", style=NARRATION_STYLE)
        await self.pause(LINE_PAUSE_S)

    async def watch(self, station: str) -> None:
        """Name the page that shows this step, when the desk changes."""
        url = self.pages.get(station)
        if url is not None and station != self._watching:
            self._watching = station
            await self.say(f"Watch the page of {station}: {url}")

    async def say(self, text: str) -> None:
        self.printer.say(f"       {text}", style="italic")
        await self.pause(LINE_PAUSE_S)

    async def pause(self, seconds: float = LINE_PAUSE_S) -> None:
        """Time for a person to read the feed; nothing waits on it."""
        if self.speed > 0:
            await asyncio.sleep(seconds / self.speed)
