"""What one station's page shows, as one JSON document rebuilt on every change and pushed whole.

The view is made only of what the station's display states and events carry (plus the title the station
catalog gives an item number): the desk's current state, the devices and the broker, the outbox, the last
outcomes, and per role the pad (checkout), the alarms (gate) or the returns with their holds (checkin).
Pushing the whole view (a few kB) keeps the page a pure function of it: a page that reconnects is current.
"""

from collections import Counter, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tagd.daemon.i18n import gettext_for, render
from tagd.daemon.i18n.texts import derived
from tagd.daemon.stations.base import Station
from tagd.protocols.display import DisplayCode, DisplayState
from tagd.protocols.events import Envelope
from tagd.protocols.i18n import N_, Language
from tagd.protocols.payload_types import Role

__all__ = ["PILE_MAX", "RECENT_MAX", "StationView"]

RECENT_MAX = 20
"""The last outcomes a page lists."""
PILE_MAX = 20
"""The items of the librarian's pile an encoder page lists (the report has them all)."""

_OUTCOMES = frozenset(
    {
        DisplayCode.ENCODED,
        DisplayCode.ALREADY_ENCODED,
        DisplayCode.REJECTED,
        DisplayCode.ASK_LIBRARIAN,
        DisplayCode.TAG_IN_USE,
        DisplayCode.GATE_ALARM,
        DisplayCode.TO_SHELF,
        DisplayCode.TO_HOLD_SHELF,
        DisplayCode.TO_HOLD_SHELF_AGAIN,
        DisplayCode.HOLD_FILLED,
        DisplayCode.TRANSIT,
        DisplayCode.TRANSIT_AGAIN,
        DisplayCode.DEFERRED,
        DisplayCode.DEFERRED_AGAIN,
        DisplayCode.RELEASED_TO_HOLD_SHELF,
        DisplayCode.RELEASED_TO_TRANSIT,
        DisplayCode.GROUP_FILLED,
        DisplayCode.HOLD_CHECK_FAILED,
        DisplayCode.SECURED,
        DisplayCode.RELEASED,
    }
)
"""States that end a piece of work: they go into the page's list of the last items."""


class StationView:
    """One station's page state; `version` grows and `on_change()` runs whenever the view differs (the
    server wakes its event streams)."""

    def __init__(
        self, station: Station, language: Language, url: str, on_change: Callable[[], None]
    ) -> None:
        self.station = station
        self.language = language
        self.url = url
        self.on_change = on_change
        self.version = 0
        self._display: dict[str, Any] = self._state(station.display_state, datetime.now(UTC))
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_MAX)
        self._counts: Counter[str] = Counter()
        self._count_day = datetime.now(UTC).astimezone().date()
        self._pad: dict[str, dict[str, Any]] = {}
        self._incomplete: dict[str, dict[str, Any]] = {}
        self._card: dict[str, Any] | None = None
        station.watch_display(self._on_display)

    # -- inputs ----------------------------------------------------------------------------------------------

    def _on_display(self, _station: Station, state: DisplayState) -> None:
        shown = self._state(state, datetime.now(UTC))
        self._display = shown
        if state.code in _OUTCOMES:
            self._recent.appendleft(shown)
        self.touch()

    def on_event(self, event: Envelope) -> None:
        """An event of this station, once stored: the pad, the patron card, the operators' counts."""
        data = event.data.model_dump(mode="json")
        kind = event.short_type
        if kind == "item.encoded" and data.get("operator"):
            self._count(str(data["operator"]))
        elif kind == "item.detected" and data.get("item_id"):
            self._pad[str(data["uid"])] = {
                "item_id": data["item_id"],
                "title": self._title(data["item_id"]),
                "secured": data.get("secured"),
                "part": data.get("part", 1),
                "parts": data.get("parts", 1),
            }
        elif kind == "item.removed":
            self._pad.pop(str(data["uid"]), None)
            if not any(entry["item_id"] == data.get("item_id") for entry in self._pad.values()):
                self._incomplete.pop(str(data.get("item_id")), None)
        elif kind == "security.changed" and str(data["uid"]) in self._pad:
            self._pad[str(data["uid"])]["secured"] = data["secured"]
        elif kind == "set.incomplete":
            self._incomplete[str(data["item_id"])] = {
                "item_id": data["item_id"],
                "title": self._title(data["item_id"]),
                "parts": data["parts"],
                "present": len(data["present"]),
            }
        elif kind == "patron.card":
            self._card = {"card_id": data["card_id"], "time": event.time.isoformat()}
        else:
            return
        self.touch()

    def touch(self) -> None:
        self.version += 1
        self.on_change()

    def _count(self, operator: str) -> None:
        today = datetime.now(UTC).astimezone().date()
        if today != self._count_day:
            self._counts.clear()
            self._count_day = today
        self._counts[operator] += 1

    # -- output --------------------------------------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        station = self.station
        link = station.link
        status = link.status()
        devices = {name: reader.state.value for name, reader in status.readers.items()}
        _ = gettext_for(self.language)
        lost = [name for name, state in devices.items() if state != "connected"]
        return {
            "version": self.version,
            "station": station.name,
            "role": station.role.value,
            "library": station.library,
            "language": self.language,
            "broker": link.connected,
            "devices": devices,
            "lost": [_(_DEVICE_NAMES.get(name, name)) for name in lost],
            "outbox_full": status.outbox_full,
            "display": self._display,
            "recent": list(self._recent),
            "operator": getattr(station, "operator", None),
            "counts": dict(self._counts.most_common()),
            "pad": sorted(self._pad.values(), key=lambda entry: (entry["item_id"], entry["part"])),
            "incomplete": list(self._incomplete.values()),
            "card": self._card,
            **(self._worklist() if station.role is Role.ENCODER else {}),
        }

    def _worklist(self) -> dict[str, Any]:
        """The encoder's shipment: its progress (the newest shipment) and the librarian's pile."""
        catalog = self.station.catalog
        shipments = catalog.shipments()
        latest = shipments[-1] if shipments else None
        progress = catalog.progress(None if latest is None else latest.id)
        return {
            "progress": {
                "file": None if latest is None else latest.file_name,
                "done": progress.done,
                "total": progress.total,
                "pile": progress.ask_librarian,
            },
            "pile": [
                {
                    "item_id": item.item_id,
                    "title": item.title,
                    "call_number": item.call_number,
                    "reason": self._reason(item.code) or item.reason,
                }
                for item in catalog.pile()[:PILE_MAX]
            ],
        }

    def _state(self, state: DisplayState, at: datetime) -> dict[str, Any]:
        _ = gettext_for(self.language)
        params = dict(state.params)
        if "title" not in params and isinstance(params.get("item_id"), str):
            params["title"] = self._title(str(params["item_id"]))
        return {
            "code": state.code.value,
            "level": state.level.value,
            "params": params,
            "words": derived(state.params, _),
            "text": render(state, self.language),
            "time": at.isoformat(),
        }

    def _reason(self, code: str | None) -> str | None:
        """A rule reason's words in the page's language (None for a code the texts do not know)."""
        if code is None:
            return None
        shown = derived({"rule_reason": code}, gettext_for(self.language)).get("rule_reason_text")
        return shown if shown and shown != code else None

    def _title(self, item_id: str) -> str | None:
        found = self.station.catalog.lookup(item_id)
        return found.title if found is not None else None


_DEVICE_NAMES = {"reader": N_("reader"), "scanner": N_("scanner"), "card_reader": N_("card reader")}
