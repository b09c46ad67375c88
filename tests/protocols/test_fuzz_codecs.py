"""Damaged air and wire data: ISO 15693 responses, FEIG frames and ISO 28560-2/-3 tag memory.

The random-bytes properties sit beside each codec's tests; these start from valid encodings and damage
them (flipped, cut, inserted bytes, CRCs made to match again), which reaches the parsers' inner checks that
random bytes seldom pass. Every outcome is a value or a ProtocolError subclass with a message.
"""

from functools import reduce
from operator import xor

from hypothesis import given
from hypothesis import strategies as st

from tagd.protocols import iso28560
from tagd.protocols.crc import crc16_mcrf4xx
from tagd.protocols.errors import ProtocolError
from tagd.protocols.feig import frames as feig
from tagd.protocols.iso15693 import (
    Blocks,
    Command,
    EasSequence,
    InventoryResponse,
    RandomNumber,
    SecurityStatus,
    SystemInfo,
    append_crc,
    check_crc,
    decode_response,
    encode_error_response,
    encode_response,
)
from tagd.protocols.iso28560 import DataModel, Extension, TagData


def refused(exc: ProtocolError) -> None:
    """A refusal must say what is wrong."""
    assert str(exc).strip(), f"{type(exc).__name__} without a message"


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with up to three flips, cuts or insertions."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(out)))
        match draw(st.sampled_from(["flip", "cut", "insert", "truncate"])):
            case "flip" if at < len(out):
                out[at] ^= draw(st.integers(1, 255))
            case "cut":
                del out[at : at + draw(st.integers(1, 4))]
            case "insert":
                out[at:at] = draw(st.binary(min_size=1, max_size=4))
            case _:
                del out[at:]
    return bytes(out)


# -- ISO 15693 responses ---------------------------------------------------------------------------------

uids = st.integers(0, 2**64 - 1)
octets = st.integers(0, 255)
block_sizes = st.integers(1, 32)
responses = st.one_of(
    st.builds(InventoryResponse, uids, octets),
    block_sizes.flatmap(
        lambda size: st.lists(st.binary(min_size=size, max_size=size), min_size=1, max_size=8).map(
            lambda data: Blocks(tuple(data))
        )
    ),
    st.builds(
        lambda uid, dsfid, afi, memory, ic: SystemInfo(uid, dsfid, afi, *(memory or (None, None)), ic),
        uids,
        st.none() | octets,
        st.none() | octets,
        st.none() | st.tuples(st.integers(1, 256), block_sizes),
        st.none() | octets,
    ),
    st.lists(st.integers(0, 1), min_size=1, max_size=16).map(lambda s: SecurityStatus(tuple(s))),  # type: ignore[arg-type]
    st.builds(RandomNumber, st.integers(0, 0xFFFF)),
    st.binary(min_size=32, max_size=32).map(EasSequence),
)
response_frames = responses.map(encode_response) | octets.map(encode_error_response) | st.just(b"\x00")


decode_options = st.fixed_dictionaries(
    {
        "option": st.booleans(),
        "block_size": st.none() | st.integers(-1, 40),
        "count": st.none() | st.integers(-1, 300),
    }
)


@given(st.data(), st.sampled_from(list(Command)), decode_options, st.booleans())
def test_fuzz_damaged_iso15693_responses_decode_or_are_refused(data, command, options, air):
    """`air`: with the CRC as a reader hands it over, checked first, as the drivers do."""
    valid = data.draw(response_frames)
    frame = data.draw(damaged(append_crc(valid) if air else valid))
    try:
        decode_response(command, check_crc(frame) if air else frame, **options)
    except ProtocolError as exc:
        refused(exc)


# -- FEIG frames -------------------------------------------------------------------------------------------


def framed(address: int, body: bytes, *, advanced: bool, length_error: int = 0) -> bytes:
    """A frame with a correct CRC around `body`, its length field off by `length_error`."""
    if advanced:
        size = (len(body) + 6 + length_error) % 0x10000
        head = bytes([feig.STX, size >> 8, size & 0xFF, address])
    else:
        head = bytes([(len(body) + 4 + length_error) % 0x100, address])
    crc = crc16_mcrf4xx(head + body)
    return head + body + crc.to_bytes(2, "little")


frames = st.builds(
    framed,
    octets,
    st.binary(max_size=80),
    advanced=st.booleans(),
    length_error=st.sampled_from([0, 0, 0, -1, 1, -3, 200]),
)


@given(frames, st.data())
def test_fuzz_framed_junk_decodes_and_classifies_or_is_refused(frame, data):
    frame = data.draw(st.just(frame) | damaged(frame))
    for decode in (feig.decode_request, feig.decode_reply):
        try:
            decoded = decode(frame)
        except ProtocolError as exc:
            refused(exc)
            continue
        if isinstance(decoded, feig.Reply):
            try:
                feig.classify(decoded).name  # noqa: B018 - the name of an unknown status is computed
            except ProtocolError as exc:
                refused(exc)


@given(
    st.sampled_from([feig.Request, feig.Reply]),
    st.lists(frames | st.binary(max_size=12), max_size=12),
    st.integers(8, 300),
    st.lists(st.integers(1, 40), max_size=20),
)
def test_fuzz_the_frame_reader_resyncs_through_framed_junk(kind, pieces, max_length, sizes):
    """Small max_length too, so over-long claims are skipped; the outputs partition the stream."""
    stream = b"".join(pieces)
    reader = feig.FrameReader(kind, max_length=max_length)
    events, at = [], 0
    for size in sizes:
        events += reader.feed(stream[at : at + size])
        at += size
    events += reader.feed(stream[at:]) + reader.flush()
    assert b"".join(e.data if isinstance(e, feig.Garbage) else e.encode() for e in events) == stream
    assert reader.pending == 0


# -- ISO 28560-2 and -3 ------------------------------------------------------------------------------------

items = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=16)
isils = st.none() | st.sampled_from(["JP-1004314", "DE-705", "US-DLC", "X-1", "ABCD-12345678"])


def extension_block(key: int, payload: bytes) -> Extension:
    """An ISO 28560-3 extension block: length, ID LSB first, payload, and the byte that XORs it to 00."""
    head = bytes([4 + len(payload)]) + key.to_bytes(2, "little") + payload
    return Extension(key, head + bytes([reduce(xor, head)]))


@st.composite
def tag_memories(draw: st.DrawFn) -> bytes:
    """What a tag written by tagd holds, in either model; ISO 28560-3 with extension blocks too."""
    model = draw(st.sampled_from(list(DataModel)))
    parts = draw(st.integers(1, 255))
    extensions: tuple[Extension, ...] = ()
    if model is DataModel.ISO28560_3:
        pairs = st.tuples(st.integers(2, 0xFFFF), st.binary(max_size=8))
        extensions = tuple(extension_block(*pair) for pair in draw(st.lists(pairs, max_size=2)))
    tag = TagData(
        model,
        draw(items),
        draw(isils),
        draw(st.sampled_from(list(iso28560.Usage))),
        parts,
        draw(st.integers(1, parts)),
        extensions=extensions,
        reversed_blocks=model is DataModel.ISO28560_3 and draw(st.booleans()),
    )
    return iso28560.encode(tag)


@given(tag_memories(), st.data(), st.sampled_from([None, *DataModel]))
def test_fuzz_damaged_tag_memory_decodes_or_is_refused(memory, data, model):
    memory = data.draw(damaged(memory) | st.just(memory + data.draw(st.binary(max_size=16))))
    try:
        tag = iso28560.decode(memory, model)
    except ProtocolError as exc:
        refused(exc)
        tag = exc
    assert isinstance(tag, TagData | iso28560.Iso28560Error), f"{type(tag).__name__} is not an Iso28560Error"
