"""The holds ledger on disk with a real outbox: holds and reports survive a restart, and an event recorded but
refused by a full outbox is stored later with the id it was recorded with (never decided a second time)."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tagd.daemon.config.sections import Holds, Mqtt
from tagd.daemon.holds.handover import IdentifiedBy, IdentifiedItem
from tagd.daemon.holds.ledger import HoldLedger, LedgerError
from tagd.daemon.holds.trap import HoldDesk
from tagd.daemon.mqtt.link import MqttLink
from tagd.daemon.mqtt.router import Router
from tagd.daemon.store.outbox import Outbox, OutboxFull, OutboxSettings, Reporter
from tagd.protocols.commands import HoldsFeed, parse_holds
from tagd.protocols.display import DisplayState, english
from tagd.protocols.events import HoldArrived, ItemRemoved, Role, parse_envelope

BOOK = "100000017"
NOW = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
FEED = HoldsFeed.model_validate(
    {
        "holds": [
            {
                "hold_id": "H-1",
                "patron_ref": "p-1",
                "pickup_library": "central",
                "notify": "email",
                "placed_at": NOW,
                "type": "single",
            }
        ]
    }
)


@dataclass
class CheckinDesk:
    """A check-in station as the hold desk sees it, built on a real (unconnected) MqttLink: no broker is
    needed to record and store events, only to publish them."""

    link: MqttLink
    name: str = "desk"
    library: str = "central"
    lines: list[str] = field(default_factory=list)

    @property
    def router(self) -> Router:
        return self.link.router

    @property
    def reporter(self) -> Reporter:
        return self.link.reporter

    def display(self, state: DisplayState) -> None:
        self.lines.append(english(state))


async def opened(path: Path, max_events: int = 10) -> tuple[Outbox, HoldLedger, HoldDesk, CheckinDesk]:
    outbox = await Outbox.open(OutboxSettings(path=path / "outbox.sqlite3", max_events=max_events))
    ledger = await HoldLedger.open(path / "holds.sqlite3")
    reporter = Reporter(outbox, station="desk", library="central")
    desk = CheckinDesk(MqttLink(Mqtt(url="mqtt://127.0.0.1:1"), reporter, role=Role.CHECKIN))
    holds = HoldDesk(ledger, Holds(), clock=lambda: NOW)
    holds.attach(desk)
    return outbox, ledger, holds, desk


def returned() -> IdentifiedItem:
    return IdentifiedItem(BOOK, None, IdentifiedBy.BARCODE, False, "desk", "central")


async def test_holds_and_reports_survive_a_restart(tmp_path: Path) -> None:
    outbox, ledger, holds, _ = await opened(tmp_path)
    await holds.on_feed(BOOK, FEED)
    result = await holds.trap(returned())
    assert result is not None
    assert result.display.startswith(f"{BOOK}: to the hold shelf (hold H-1, until 2026-11-29)")
    await ledger.close()
    await outbox.close()

    outbox, ledger, holds, _ = await opened(tmp_path)
    assert ledger.book.holds_on(BOOK) == FEED.holds
    again = await holds.trap(returned())
    assert again is not None
    assert again.display == f"{BOOK}: to the hold shelf (hold H-1, already reported)"
    stored = await outbox.pending()
    assert [event.kind for event in stored] == ["hold.arrived"]
    await ledger.close()
    await outbox.close()


async def test_an_event_the_outbox_refused_is_stored_later_with_its_recorded_id(tmp_path: Path) -> None:
    outbox, ledger, holds, desk = await opened(tmp_path, max_events=1)
    await holds.on_feed(BOOK, FEED)
    await desk.reporter.emit(ItemRemoved(reader="reader", uid="E004010000000001"))  # the outbox is full now
    with pytest.raises(OutboxFull):
        await holds.trap(returned())
    ((recorded,),) = [list(ledger.pending.values())]
    assert isinstance(recorded.data, HoldArrived)
    await ledger.close()
    await outbox.close()  # as if tagd stopped here: the arrival is decided and recorded, not stored

    outbox, ledger, holds, _ = await opened(tmp_path, max_events=2)
    result = await holds.trap(returned())  # the item read again once there is room
    assert result is not None
    assert result.display == f"{BOOK}: to the hold shelf (hold H-1, already reported)"
    stored = [parse_envelope(event.payload) for event in await outbox.pending()]
    assert [(event.short_type, event.id) for event in stored] == [
        ("item.removed", stored[0].id),
        ("hold.arrived", recorded.id),
    ]
    assert stored[1] == recorded
    assert ledger.pending == {}
    await ledger.close()
    await outbox.close()


async def test_an_unusable_ledger_path_is_a_specific_error(tmp_path: Path) -> None:
    (tmp_path / "holds.sqlite3").write_bytes(b"not a database, just junk " * 100)
    with pytest.raises(LedgerError, match=r"holds ledger .*holds\.sqlite3"):
        await HoldLedger.open(tmp_path / "holds.sqlite3")


async def test_placed_at_without_an_offset_is_the_library_local_time(tmp_path: Path) -> None:
    """09:00 with no offset is 09:00 in Tokyo, which is before 00:30 UTC (09:30 in Tokyo)."""
    outbox, ledger, holds, _ = await opened(tmp_path)
    entry = {"patron_ref": "p", "pickup_library": "central", "notify": "none", "type": "single"}
    feed = parse_holds(
        json.dumps(
            {
                "holds": [
                    {**entry, "hold_id": "AWARE", "placed_at": "2026-11-01T00:30:00Z"},
                    {**entry, "hold_id": "LOCAL", "placed_at": "2026-11-01T09:00:00"},
                ]
            }
        ).encode()
    )
    await holds.on_feed(BOOK, feed)
    result = await holds.trap(returned())
    assert result is not None
    assert "hold LOCAL" in result.display
    (stored,) = [parse_envelope(event.payload) for event in await outbox.pending()]
    assert isinstance(stored.data, HoldArrived)
    assert stored.data.placed_at == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    await ledger.close()
    await outbox.close()
