"""FrameReader: cutting, resyncing and reporting garbage, byte by byte and in arbitrary chunks."""

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tagd.protocols.errors import ProtocolError
from tagd.protocols.feig import frames as feig

ADVANCED_INVENTORY = bytes.fromhex("02 00 09 FF B0 01 00 18 43")
STANDARD_INVENTORY = bytes.fromhex("07 FF B0 01 00 1C 56")
INVENTORY = feig.Request(0xB0, b"\x01\x00", 0xFF, advanced=False)
INVENTORY_ADVANCED = feig.Request(0xB0, b"\x01\x00", 0xFF, advanced=True)
TRACE_ISO_ERROR_REPLY = bytes.fromhex("02 00 0A 00 B0 95 12 00 94 29")


def feed_all(reader, chunks):
    events = []
    for chunk in chunks:
        events += reader.feed(chunk)
    return events + reader.flush()


def bytewise(data):
    return [data[i : i + 1] for i in range(len(data))]


def test_public_vectors_one_byte_at_a_time():
    reader = feig.FrameReader(feig.Request)
    events = []
    for chunk in bytewise(ADVANCED_INVENTORY + STANDARD_INVENTORY):
        events += reader.feed(chunk)
    assert events == [INVENTORY_ADVANCED, INVENTORY]
    assert reader.pending == 0
    assert reader.flush() == []


def test_a_partial_frame_waits_for_the_rest():
    reader = feig.FrameReader(feig.Reply)
    assert reader.feed(TRACE_ISO_ERROR_REPLY[:4]) == []
    assert reader.pending == 4
    expected = feig.Reply(0xB0, 0x95, b"\x12\x00", 0x00, advanced=True)
    assert reader.feed(TRACE_ISO_ERROR_REPLY[4:]) == [expected]


def test_impossible_lengths_are_skipped_at_once():
    reader = feig.FrameReader(feig.Request)
    events = reader.feed(b"\x00\x01\x03\x04" + STANDARD_INVENTORY)
    assert events == [feig.Garbage(b"\x00\x01\x03\x04", feig.GarbageReason.BAD_LENGTH), INVENTORY]


def test_a_reply_needs_six_bytes_so_five_is_no_length():
    events = feig.FrameReader(feig.Reply).feed(b"\x05" + TRACE_ISO_ERROR_REPLY)
    assert events[0] == feig.Garbage(b"\x05", feig.GarbageReason.BAD_LENGTH)


def test_dropped_byte_resyncs_on_the_next_good_frame():
    damaged = STANDARD_INVENTORY[:2] + STANDARD_INVENTORY[3:]  # 07 FF 01 00 1C 56, CONTROL lost
    reader = feig.FrameReader(feig.Request)
    events = []
    for chunk in bytewise(damaged + ADVANCED_INVENTORY):
        events += reader.feed(chunk)
    # 07 claims seven bytes that fail their CRC; FF then claims 255 bytes that will never come
    assert events == [feig.Garbage(b"\x07", feig.GarbageReason.BAD_CRC)]
    assert reader.flush() == [
        feig.Garbage(damaged[1:], feig.GarbageReason.TRUNCATED),
        INVENTORY_ADVANCED,
    ]


def test_flush_reports_a_frame_cut_short():
    reader = feig.FrameReader(feig.Request)
    assert reader.feed(ADVANCED_INVENTORY[:2]) == []
    assert reader.flush() == [feig.Garbage(ADVANCED_INVENTORY[:2], feig.GarbageReason.TRUNCATED)]
    assert reader.pending == 0


def test_max_length_refuses_long_claims_without_waiting():
    reader = feig.FrameReader(feig.Request, max_length=64)
    events = reader.feed(b"\x02\xff\xff" + STANDARD_INVENTORY)
    assert events == [feig.Garbage(b"\x02\xff\xff", feig.GarbageReason.BAD_LENGTH), INVENTORY]


@pytest.mark.parametrize("max_length", [7, 65536])
def test_max_length_must_allow_a_frame(max_length):
    with pytest.raises(ProtocolError, match="max_length"):
        feig.FrameReader(feig.Reply, max_length=max_length)


def test_frames_over_255_bytes_come_through():
    big = feig.make_reply(0xB0, 0x00, bytes(range(256)) * 2)
    assert big.advanced
    assert feed_all(feig.FrameReader(feig.Reply), bytewise(big.encode())) == [big]


def raw(event_):
    return event_.data if isinstance(event_, feig.Garbage) else event_.encode()


def spans(events):
    start, found = 0, []
    for event_ in events:
        found.append((start, start + len(raw(event_)), event_))
        start += len(raw(event_))
    return found


def frame_values(kind):
    data = st.binary(max_size=32) | st.binary(min_size=250, max_size=260)
    status = st.integers(0, 255)
    if kind is feig.Request:
        return st.builds(
            lambda control, data, address, advanced: feig.make_request(
                control, data, address=address, advanced=advanced
            ),
            st.integers(0, 255),
            data,
            st.integers(0, 255),
            st.none() | st.just(True),
        )
    return st.builds(
        lambda control, status, data, address, advanced: feig.make_reply(
            control, status, data, address=address, advanced=advanced
        ),
        st.integers(0, 255),
        status,
        data,
        st.integers(0, 255),
        st.none() | st.just(True),
    )


def damaged(frame_bytes):
    """A frame with one byte dropped or changed, as a noisy line delivers it."""
    return st.integers(0, len(frame_bytes) - 1).flatmap(
        lambda i: st.sampled_from(
            [
                frame_bytes[:i] + frame_bytes[i + 1 :],
                frame_bytes[:i] + bytes([frame_bytes[i] ^ 0x5A]) + frame_bytes[i + 1 :],
            ]
        )
    )


@st.composite
def noisy_streams(draw, kind, noise, *, damage=True):
    """Frames, noise and damaged frames in any order; returns the stream, its chunks and the intact frames."""
    stream, intact = b"", []
    for _ in range(draw(st.integers(0, 5))):
        choice = draw(st.sampled_from(["frame", "noise", "damaged"] if damage else ["frame", "noise"]))
        if choice == "noise":
            stream += draw(noise)
            continue
        value = draw(frame_values(kind))
        if choice == "frame":
            intact.append((len(stream), len(stream) + len(value.encode()), value))
            stream += value.encode()
        else:
            stream += draw(damaged(value.encode()))
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    return stream, chunks, intact


any_noise = st.binary(min_size=1, max_size=20)
inert_noise = st.binary(min_size=1, max_size=20).map(
    lambda raw: bytes(b"\x00\x01\x03\x04"[b & 3] for b in raw)
)


@pytest.mark.parametrize("kind", [feig.Request, feig.Reply])
@given(data=st.data())
def test_every_intact_frame_comes_out_in_order(kind, data):
    """Outputs partition the stream exactly; each intact frame is an output unless a CRC-valid frame
    formed by noise overlaps it (then that frame is an output instead: a 1-in-65536 coincidence)."""
    stream, chunks, intact = data.draw(noisy_streams(kind, any_noise))
    events = feed_all(feig.FrameReader(kind), chunks)
    assert b"".join(raw(e) for e in events) == stream
    found = spans(events)
    emitted = [(s, e) for s, e, ev in found if not isinstance(ev, feig.Garbage)]
    for start, end, value in intact:
        if (start, end, value) not in found:
            assert any(s < end and start < e for s, e in emitted), f"frame at {start} lost without cause"
            event("intact frame displaced by a frame that noise happened to form")


@pytest.mark.parametrize("kind", [feig.Request, feig.Reply])
@given(data=st.data())
def test_noise_that_cannot_start_a_frame_never_costs_or_delays_a_frame(kind, data):
    stream, chunks, intact = data.draw(noisy_streams(kind, inert_noise, damage=False))
    reader = feig.FrameReader(kind)
    events = [e for chunk in chunks for e in reader.feed(chunk)]
    assert [e for e in events if not isinstance(e, feig.Garbage)] == [value for _, _, value in intact]
    assert {e.reason for e in events if isinstance(e, feig.Garbage)} <= {feig.GarbageReason.BAD_LENGTH}
    assert b"".join(raw(e) for e in events) == stream
    assert reader.flush() == []


@pytest.mark.parametrize("kind", [feig.Request, feig.Reply])
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), max_size=20))
def test_fuzz_arbitrary_bytes_never_raise_and_are_all_accounted_for(kind, stream, sizes):
    reader, chunks, at = feig.FrameReader(kind), [], 0
    for size in sizes:
        chunks.append(stream[at : at + size])
        at += size
    chunks.append(stream[at:])
    events = feed_all(reader, chunks)
    assert b"".join(raw(e) for e in events) == stream
    assert reader.pending == 0
