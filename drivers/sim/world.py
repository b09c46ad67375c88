"""The simulated world: tags known by UID, the RF field of each reader antenna, air time and faults.

A Field carries real request frames (with CRC) to the tags in it and brings back what a reader would hear:
one entry for an ordinary request, sixteen for a 16-slot inventory, COLLISION where different answers overlap.
It is synchronous and pure Python so that every driver (sim, the FEIG emulator, the PC/SC virtual card) can
share one world; a lock makes it safe from the threads some of those run in.
"""

import json
import threading
from typing import Any, Final

from tagd.drivers.sim.tag import SimTag
from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693 import (
    Command,
    Inventory,
    InventoryFlag,
    RequestFlag,
    SlotOutcome,
    SlotState,
    check_crc,
    decode_request,
    decode_response,
    format_uid,
    inventory_air_time,
    inventory_slot,
)
from tagd.protocols.iso15693.airtime import air_time


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


class ReaderUnplugged(Exception):  # noqa: N818 - the fault's name, as tests and drivers use it
    """The field's reader is unplugged (fault injection); drivers turn it into ReaderLost."""


class Field:
    """The RF field of one reader antenna: the tags in it answer what the reader sends.

    Counters for tests and benchmarks: `exchanges` (requests sent), `air_time` (modelled seconds on air).
    Faults: `unplugged`, `silent` (the reader hears nothing; tags still act), `corrupt_next(n)`.
    """

    def __init__(self, world: "World", name: str) -> None:
        self.world = world
        self.name = name
        self.unplugged = False
        self.silent = False
        self.exchanges = 0
        self.air_time = 0.0
        self._corrupt = 0

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {len(self.tags)} tag(s))"

    @property
    def tags(self) -> list[SimTag]:
        return self.world.tags_in(self.name)

    def corrupt_next(self, replies: int = 1) -> None:
        """The next `replies` answers the reader hears arrive with a broken CRC."""
        self._corrupt += replies

    def transceive(self, frame: bytes) -> list[SlotReply]:
        """A request with CRC in; 16 slot replies for a 16-slot inventory, otherwise exactly one."""
        with self.world.lock:
            if self.unplugged:
                raise ReaderUnplugged(f"the reader of field {self.name!r} is unplugged")
            self.exchanges += 1
            inventory = _inventory_request(frame)
            slots = 16 if inventory is not None and not inventory.one_slot else 1
            heard: list[list[bytes]] = [[] for _ in range(slots)]
            for tag in self.tags:
                reply = tag.handle(frame)
                if tag.departed:
                    self.world.remove(tag.uid)
                if reply is not None:
                    slot = inventory_slot(inventory, tag.uid, tag.afi) if slots == 16 and inventory else 0
                    heard[slot or 0].append(reply)
            self.air_time += _air_time(frame, heard, inventory=inventory is not None)
            if self.silent:
                return [None] * slots
            return [self._deliver(answers) for answers in heard]

    def _deliver(self, answers: list[bytes]) -> SlotReply:
        if not answers:
            return None
        if any(answer != answers[0] for answer in answers):
            return COLLISION  # identical frames overlap cleanly (many tags answering one EAS alarm)
        if self._corrupt:
            self._corrupt -= 1
            return answers[0][:-1] + bytes([answers[0][-1] ^ 0xFF])
        return answers[0]


def _inventory_request(frame: bytes) -> Inventory | None:
    """The inventory a frame carries; a damaged one still makes the reader listen to its slots."""
    if not frame or not frame[0] & InventoryFlag.INVENTORY:
        return None
    try:
        body = decode_request(check_crc(frame)).body
    except ProtocolError:
        return Inventory(one_slot=bool(frame[0] & InventoryFlag.ONE_SLOT))
    return body if isinstance(body, Inventory) else None


def _air_time(frame: bytes, heard: list[list[bytes]], *, inventory: bool) -> float:
    link = {
        "high_data_rate": bool(frame[:1] and frame[0] & RequestFlag.HIGH_DATA_RATE),
        "two_subcarriers": bool(frame[:1] and frame[0] & RequestFlag.TWO_SUBCARRIERS),
    }
    lengths = [max((len(answer) for answer in answers), default=0) for answers in heard]
    if inventory:
        return inventory_air_time(len(frame), lengths, **link)
    return air_time(len(frame), lengths[0], **link)


class World:
    """Every simulated tag, known by UID, and the fields they can be in; a tag is in at most one field."""

    def __init__(self) -> None:
        self.tags: dict[int, SimTag] = {}
        self.fields: dict[str, Field] = {}
        self.lock = threading.RLock()

    def field(self, name: str) -> Field:
        """The named field, created on first use."""
        with self.lock:
            if name not in self.fields:
                self.fields[name] = Field(self, name)
            return self.fields[name]

    def add(self, tag: SimTag) -> SimTag:
        with self.lock:
            if tag.uid in self.tags:
                raise ValueError(f"the world already has a tag {format_uid(tag.uid)}")
            self.tags[tag.uid] = tag
            return tag

    def new_tag(self, profile: str, uid: int | None = None, memory: bytes | None = None) -> SimTag:
        """A blank tag of `profile` (a fresh random UID unless given), its memory starting with `memory`."""
        with self.lock:
            tag = SimTag.blank(profile, uid)
            while uid is None and tag.uid in self.tags:
                tag = SimTag.blank(profile)
            if memory is not None:
                if len(memory) > len(tag.memory):
                    raise ValueError(
                        f"{len(memory)} bytes do not fit the {len(tag.memory)} of a {profile} tag"
                    )
                tag.memory[: len(memory)] = memory
            return self.add(tag)

    def place(self, uid: int, field_name: str) -> SimTag:
        """Puts a known tag into a field (taking it out of any other: it powers up afresh)."""
        with self.lock:
            tag = self._known(uid)
            if tag.location != field_name:
                tag.power_off()
                tag.location = field_name
                self.field(field_name)
            return tag

    def remove(self, uid: int) -> None:
        """Takes a tag out of its field; it stays in the world with its memory."""
        with self.lock:
            tag = self._known(uid)
            tag.location = None
            tag.power_off()

    def where(self, uid: int) -> str | None:
        """The field a tag is in; None when it is in none, or unknown."""
        tag = self.tags.get(uid)
        return None if tag is None else tag.location

    def tags_in(self, field_name: str) -> list[SimTag]:
        with self.lock:
            return [tag for tag in self.tags.values() if tag.location == field_name]

    def load_tags(self, json_text: str, field_name: str | None) -> list[SimTag]:
        """Adds the tags of a JSON tag file (a list of SimTag.to_dict() entries, or {"tags": [...]}), placing
        them in `field_name` (unless None). ValueError names the entry at fault; nothing is added then."""
        try:
            document: Any = json.loads(json_text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the tag file is not JSON: {exc}") from None
        entries = document.get("tags") if isinstance(document, dict) else document
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise ValueError('a tag file is a JSON list of tag objects, or {"tags": [...]}')
        tags = []
        for index, entry in enumerate(entries):
            try:
                tags.append(SimTag.from_dict(entry))
            except (ValueError, ProtocolError) as exc:
                raise ValueError(f"tag file entry {index}: {exc}") from None
        with self.lock:
            seen: set[int] = set()
            for tag in tags:
                if tag.uid in self.tags or tag.uid in seen:
                    raise ValueError(f"tag {format_uid(tag.uid)} is given twice or already in the world")
                seen.add(tag.uid)
            for tag in tags:
                self.add(tag)
                if field_name is not None:
                    self.place(tag.uid, field_name)
        return tags

    def dump_tags(self, field_name: str | None = None) -> str:
        """The tags (of one field, or all) as a JSON tag file that load_tags reads back."""
        with self.lock:
            chosen = self.tags.values() if field_name is None else self.tags_in(field_name)
            return json.dumps([tag.to_dict() for tag in chosen], indent=2)

    def _known(self, uid: int) -> SimTag:
        tag = self.tags.get(uid)
        if tag is None:
            raise KeyError(f"no simulated tag {uid:016X} in the world")
        return tag
