"""ISO 15693 anticollision, both sides: which tags answer an inventory, in which slot; the host's search.

A 16-slot inventory with mask length L asks the tags whose UID ends in the mask's L bits to answer in the slot
given by their next 4 UID bits; the host repeats the inventory for every collided slot with 4 more mask bits.
A search may open with a one-slot inventory instead (`one_slot_first`): it costs a quarter of the air of 16
slots when at most one tag answers (a gate polling for tags that arrive one by one), and on a collision the
search goes on with 16 slots as usual.
"""

from collections.abc import Sequence
from enum import Enum

from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693.bodies import Inventory
from tagd.protocols.iso15693.requests import Request
from tagd.protocols.iso15693.uid import UID_BITS, check_uid


def afi_matches(requested: int, tag_afi: int) -> bool:
    """The AFI coding table of ISO/IEC 15693-3: 00 selects every tag, X0 every sub-family of family X.

    Any other value (XY, and 0Y for proprietary sub-family Y) selects that exact AFI.
    """
    if requested == 0:
        return True
    if requested & 0x0F == 0:
        return requested >> 4 == tag_afi >> 4
    return requested == tag_afi


def inventory_slot(request: Inventory, uid: int, afi: int) -> int | None:
    """The slot a tag answers in (0 for a one-slot inventory), or None when its AFI or UID does not match."""
    if request.afi is not None and not afi_matches(request.afi, afi):
        return None
    if (check_uid(uid) ^ request.mask) & ((1 << request.mask_len) - 1):
        return None
    return 0 if request.one_slot else uid >> request.mask_len & 0x0F


class SlotState(Enum):
    """What a reader saw in a slot other than one clean answer."""

    EMPTY = "empty"
    COLLISION = "collision"


SlotOutcome = int | SlotState
"""Per slot: the UID of the one tag that answered, or EMPTY, or COLLISION (garbled frame, CRC error)."""


class Anticollision:
    """The host's search for every tag in the field, depth first, with counters for benchmarks.

    Loop: request = next_request(); send it, collect one outcome per slot; record(outcomes); until None.
    Counters: rounds (inventories sent), slots (slots listened to), collisions (slots searched deeper).
    """

    def __init__(self, afi: int | None = None, *, one_slot_first: bool = False) -> None:
        self.afi = afi
        self.uids: set[int] = set()
        self.rounds = 0
        self.slots = 0
        self.collisions = 0
        self.unresolved: list[Inventory] = []
        """Full 64-bit masks that still collided: only duplicate UIDs or noise do that."""
        self._pending = [Inventory(afi, one_slot=one_slot_first)]
        self._current: Inventory | None = None

    @property
    def done(self) -> bool:
        return not self._pending and self._current is None

    def next_request(self) -> Request | None:
        """The next inventory to send, or None when every collided slot has been searched."""
        if self._current is not None:
            raise ProtocolError("record the slots of the last inventory before asking for the next one")
        if not self._pending:
            return None
        self._current = self._pending.pop()
        self.rounds += 1
        return Request(self._current)

    def record(self, outcomes: Sequence[SlotOutcome]) -> None:
        """What each slot of the last inventory brought, in slot order."""
        current = self._current
        if current is None:
            raise ProtocolError("no inventory is waiting for its slots")
        if len(outcomes) != current.slots:
            raise ProtocolError(
                f"a {current.slots}-slot inventory has {current.slots} outcome(s), not {len(outcomes)}"
            )
        found = {check_uid(outcome) for outcome in outcomes if isinstance(outcome, int)}
        self._current = None
        self.slots += len(outcomes)
        self.uids |= found
        for slot, outcome in enumerate(outcomes):
            if outcome is SlotState.COLLISION:
                self.collisions += 1
                self._descend(current, slot)

    def _descend(self, collided: Inventory, slot: int) -> None:
        if collided.one_slot and collided.mask_len < UID_BITS:  # the opening round: now with 16 slots
            self._pending.append(Inventory(self.afi, collided.mask_len, collided.mask))
            return
        if collided.mask_len == UID_BITS:
            self.unresolved.append(collided)
            return
        mask_len = collided.mask_len + 4
        mask = collided.mask | slot << collided.mask_len
        # 16 slots take masks up to 60 bits; the last 4 bits are asked for with a one-slot 64-bit mask.
        self._pending.append(Inventory(self.afi, mask_len, mask, one_slot=mask_len == UID_BITS))
