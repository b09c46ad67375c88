"""Anticollision against an in-test tag model that reads inventory frames straight from the ISO layout."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso15693 import (
    Anticollision,
    Inventory,
    Request,
    SlotState,
    afi_matches,
    encode_request,
    inventory_slot,
)

ALL_BITS = 2**64 - 1


def model_afi(requested: int, own: int) -> bool:
    """ISO/IEC 15693-3 AFI coding table, read row by row."""
    family, subfamily = requested >> 4, requested & 0x0F
    if (family, subfamily) == (0, 0):
        return True  # all families and sub-families
    if subfamily == 0:
        return own >> 4 == family  # all sub-families of family X
    return own == requested  # only sub-family Y of family X; 0Y: proprietary sub-family Y only


def model_answers(frame: bytes, tags: list[tuple[int, int]]) -> list[list[int]]:
    """Per slot, the UIDs of the (uid, afi) tags that answer: flags, 01, [AFI], mask length, mask."""
    flags, command = frame[0], frame[1]
    assert command == 0x01
    assert flags & 0x04
    position, requested_afi = 2, None
    if flags & 0x10:
        requested_afi, position = frame[2], 3
    mask_len = frame[position]
    mask = frame[position + 1 :]
    assert len(mask) == (mask_len + 7) // 8
    mask_bits = [mask[i // 8] >> i % 8 & 1 for i in range(mask_len)]
    slots: list[list[int]] = [[] for _ in range(1 if flags & 0x20 else 16)]
    for uid, own_afi in tags:
        if requested_afi is not None and not model_afi(requested_afi, own_afi):
            continue
        bits = [uid >> i & 1 for i in range(64)]
        if bits[:mask_len] != mask_bits:
            continue
        slot = 0 if len(slots) == 1 else sum(bits[mask_len + i] << i for i in range(4))
        slots[slot].append(uid)
    return slots


def run(host: Anticollision, tags: list[tuple[int, int]]) -> None:
    while (request := host.next_request()) is not None:
        answers = model_answers(encode_request(request), tags)
        host.record(
            [SlotState.EMPTY if not a else a[0] if len(a) == 1 else SlotState.COLLISION for a in answers]
        )


@pytest.mark.parametrize(
    ("requested", "own", "answers"),
    [
        (0x00, 0x00, True),
        (0x00, 0xC2, True),
        (0x30, 0x3F, True),
        (0x30, 0x30, True),
        (0x30, 0x40, False),
        (0x30, 0x00, False),
        (0x37, 0x37, True),
        (0x37, 0x38, False),
        (0x37, 0x30, False),
        (0x07, 0x07, True),
        (0x07, 0x17, False),
        (0x07, 0x00, False),
        (0xC2, 0xC2, True),
        (0xD7, 0xDA, False),
    ],
)
def test_afi_table(requested, own, answers):
    assert afi_matches(requested, own) is answers


@given(st.integers(0, 255), st.integers(0, 255))
def test_afi_matches_the_table_everywhere(requested, own):
    assert afi_matches(requested, own) == model_afi(requested, own)


@st.composite
def inventories(draw):
    one_slot = draw(st.booleans())
    mask_len = draw(st.integers(0, 64 if one_slot else 60))
    return Inventory(
        draw(st.none() | st.integers(0, 255)),
        mask_len,
        draw(st.integers(0, 2**mask_len - 1)),
        one_slot=one_slot,
    )


@given(inventories(), st.integers(0, ALL_BITS), st.integers(0, 255), st.data())
def test_tag_side_slot(request, uid, afi, data):
    if data.draw(st.booleans()):  # make matches common: copy the mask into the UID
        uid = uid & ~(2**request.mask_len - 1) | request.mask
    answers = model_answers(encode_request(Request(request)), [(uid, afi)])
    expected = next((slot for slot, uids in enumerate(answers) if uids), None)
    assert inventory_slot(request, uid, afi) == expected


def test_tag_side_examples():
    uid = 0xE00401008A5C982E
    assert inventory_slot(Inventory(), uid, 0) == 0xE
    assert inventory_slot(Inventory(mask_len=4, mask=0xE), uid, 0) == 0x2
    assert inventory_slot(Inventory(mask_len=4, mask=0xD), uid, 0) is None
    assert inventory_slot(Inventory(mask_len=8, mask=0x2E, one_slot=True), uid, 0) == 0
    assert inventory_slot(Inventory(afi=0x07), uid, 0xC2) is None
    assert inventory_slot(Inventory(afi=0xC0), uid, 0xC2) == 0xE


@st.composite
def fields(draw):
    """Up to 64 distinct tags; often with UIDs sharing many low bits, to drive the search deep."""
    shared = draw(st.sampled_from([0, 8, 24, 40, 52, 56]))
    base = draw(st.integers(0, ALL_BITS))
    raw = draw(st.lists(st.integers(0, ALL_BITS), max_size=64))
    low = 2**shared - 1
    uids = list(dict.fromkeys(base & low | r & ~low & ALL_BITS for r in raw))
    return [(uid, draw(st.sampled_from([0x00, 0x07, 0xC2]))) for uid in uids]


@given(fields())
def test_the_host_finds_exactly_the_tags(tags):
    host = Anticollision()
    run(host, tags)
    assert host.uids == {uid for uid, _ in tags}
    assert host.done
    assert host.unresolved == []
    assert host.slots == 16 * host.rounds
    assert host.rounds == 1 + host.collisions


@given(fields(), st.sampled_from([0x07, 0xC0, 0xC2]))
def test_the_host_finds_exactly_the_tags_of_an_afi(tags, afi):
    host = Anticollision(afi)
    run(host, tags)
    assert host.uids == {uid for uid, own in tags if model_afi(afi, own)}


@given(fields(), st.sampled_from([None, 0x07]))
def test_a_search_opening_with_one_slot_finds_the_same_tags(tags, afi):
    host = Anticollision(afi, one_slot_first=True)
    run(host, tags)
    assert host.uids == {uid for uid, own in tags if afi is None or model_afi(afi, own)}
    assert host.unresolved == []
    assert host.rounds == 1 + host.collisions
    assert host.slots == 1 + 16 * (host.rounds - 1)


def test_one_slot_first_costs_one_slot_for_none_or_one_tag_and_then_searches_as_usual():
    host = Anticollision(afi=0x07, one_slot_first=True)
    assert host.next_request() == Request(Inventory(afi=0x07, one_slot=True))
    host.record([SlotState.EMPTY])
    assert host.done
    assert (host.rounds, host.slots) == (1, 1)
    host = Anticollision(afi=0x07, one_slot_first=True)
    run(host, [(0xE004010000000011, 0x07)])
    assert (host.rounds, host.slots, host.uids) == (1, 1, {0xE004010000000011})
    host = Anticollision(afi=0x07, one_slot_first=True)
    run(host, [(0xE004010000000011, 0x07), (0xE004010000000022, 0x07)])
    assert (host.rounds, host.slots, host.collisions, len(host.uids)) == (2, 17, 1, 2)


def test_counters():
    host = Anticollision()
    run(host, [(0xE004010000000001, 0), (0xE004010000000002, 0)])
    assert (host.rounds, host.slots, host.collisions) == (1, 16, 0)
    host = Anticollision()
    run(host, [(0xE004010000000011, 0), (0xE004010000000021, 0), (0xE004010000000002, 0)])
    assert (host.rounds, host.slots, host.collisions) == (2, 32, 1)
    assert len(host.uids) == 3


def test_empty_field():
    host = Anticollision(afi=0x07)
    request = host.next_request()
    assert request == Request(Inventory(afi=0x07))
    assert not host.done
    host.record([SlotState.EMPTY] * 16)
    assert host.done
    assert host.next_request() is None
    assert host.uids == set()


def test_identical_uids_end_as_unresolved():
    uid = 0xE004010012345678
    host = Anticollision()
    run(host, [(uid, 0), (uid, 0)])
    assert host.uids == set()
    assert host.unresolved == [Inventory(mask_len=64, mask=uid, one_slot=True)]
    assert host.rounds == 17  # masks of 0, 4, ... 60 bits, then the full UID in one slot


def test_misuse_is_refused():
    host = Anticollision()
    with pytest.raises(ProtocolError, match="no inventory is waiting"):
        host.record([])
    host.next_request()
    with pytest.raises(ProtocolError, match="record the slots of the last inventory"):
        host.next_request()
    with pytest.raises(ProtocolError, match="a 16-slot inventory has 16 outcome\\(s\\), not 1"):
        host.record([SlotState.EMPTY])
    with pytest.raises(ProtocolError, match="64 bits"):
        host.record([2**64] + [SlotState.EMPTY] * 15)
