"""What a check-in station hands the hold trap, and what it gets back.

Both sides import this module and nothing of each other: the station (daemon/stations/checkin.py) identifies
and secures an item and hands it over; the trap (daemon/holds/trap.py) decides and reports.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from tagd.protocols.display import DisplayState, english

__all__ = ["HoldTrap", "IdentifiedBy", "IdentifiedItem", "NoHoldTrap", "TrapResult"]


class IdentifiedBy(StrEnum):
    RFID = "rfid"
    BARCODE = "barcode"


@dataclass(frozen=True, slots=True)
class IdentifiedItem:
    """An item identified at a check-in station, as the hold trap gets it.

    `uid` is its tag (16 hex digits) when the tag was on the pad, None for a scan without it; `secured`
    says its security was set and read back; `library` is the station's library (the pickup question).
    """

    item_id: str
    uid: str | None
    by: IdentifiedBy
    secured: bool
    station: str
    library: str


@dataclass(frozen=True, slots=True)
class TrapResult:
    """What the trap did, as the desk shows it: to the hold shelf, transit to X, wait for a volume..."""

    state: DisplayState

    @property
    def display(self) -> str:
        """In English (the log's words)."""
        return english(self.state)


class HoldTrap(Protocol):
    """Decides whether an item checked in fills a hold, and reports it (hold.arrived, hold.transit, ...).

    Called once per item per presence, but also again for the same item by scan and then by RFID, or after
    a restart: it must be idempotent. None: no hold applies. It may raise OutboxFull (reported at the desk);
    any other exception is logged and the station goes on.
    """

    async def trap(self, item: IdentifiedItem) -> TrapResult | None: ...


class NoHoldTrap:
    """The default: no holds are known, nothing is trapped."""

    async def trap(self, item: IdentifiedItem) -> TrapResult | None:  # noqa: ARG002 - traps nothing
        return None
