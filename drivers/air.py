"""What a reader hears in one slot of the air: a frame, silence, or a collision.

The ISO 15693 host (iso15693_host.py) takes these from whatever carries its frames: the simulated field, a
PC/SC transparent session.
"""

from typing import Final

__all__ = ["COLLISION", "Collision", "SlotReply"]


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
