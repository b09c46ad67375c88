"""What a reader hears in one slot of the air: a frame, silence, or a collision.

The ISO 15693 host (iso15693_host.py) takes these from whatever carries its frames: the simulated field, a
PC/SC transparent session.
"""

from typing import Final

from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693 import Command, SlotOutcome, SlotState, check_crc, decode_response

__all__ = ["COLLISION", "Collision", "SlotReply", "hear_slot"]


class Collision:
    """What a reader hears when two or more tags answer different frames at once: garbage, a broken CRC."""

    _instance: "Collision | None" = None

    def __new__(cls) -> "Collision":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "COLLISION"


COLLISION: Final = Collision()

SlotReply = bytes | None | Collision
"""Per slot (or for the one reply of an ordinary request): a frame with CRC, silence, or a collision."""


def hear_slot(reply: SlotReply, dsfids: dict[int, int]) -> SlotOutcome:
    """One inventory slot as a reader hears it, for the anticollision search of the ISO 15693 host and the
    FEIG emulator alike: a damaged or undecodable answer is a collision to search; a clean one gives its UID
    and records its DSFID in `dsfids` (the first heard is kept)."""
    if reply is None:
        return SlotState.EMPTY
    if isinstance(reply, Collision):
        return SlotState.COLLISION
    try:
        answer = decode_response(Command.INVENTORY, check_crc(reply))
    except ProtocolError:
        return SlotState.COLLISION
    dsfids.setdefault(answer.uid, answer.dsfid)
    return answer.uid
