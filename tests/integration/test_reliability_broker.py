"""Issue 6 §1, broker outage: 10,000 events stream through the outbox and the MQTT link while mosquitto is
SIGKILLed and restarted twice; the subscriber receives every event id (duplicates allowed, and counted).

mosquitto here keeps nothing across a kill (persistence off), so the subscriber's session dies with it.
tagd reaches the broker through a relay that holds new connections until the subscriber has subscribed
again (see broker.Relay): otherwise an event the restarted broker acknowledged before anyone subscribed
would be lost to every subscriber through no fault of tagd. What is tested is tagd's part: everything not
PUBACKed, and everything PUBACKed shortly before the broker died, is published again.
"""

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from .broker import Broker, Received, Relay, Subscriber
from .test_mqtt_link import detected, link_for, outbox_at, running

TOTAL = 10_000
KILLS = 2
WITHIN_S = 60.0
"""Each wait's bound; the whole test takes 15-30 s here (2 cores, shared)."""


class Tally:
    """Distinct event ids among a subscriber's messages, counted incrementally (a wait predicate runs on
    every message, so re-reading 10,000 payloads each time would be quadratic)."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()
        self.missing: set[str] = set()
        """Ids awaited by `has_all` and not yet arrived."""
        self._read = 0

    def update(self, messages: list[Received]) -> int:
        for message in messages[self._read :]:
            event_id = json.loads(message.payload)["id"]
            self.ids[event_id] += 1
            self.missing.discard(event_id)
        self._read = len(messages)
        return len(self.ids)

    def reaches(self, count: int) -> Callable[[list[Received]], bool]:
        """A wait predicate: `count` distinct ids have arrived."""
        return lambda messages: self.update(messages) >= count

    def has_all(self, wanted: set[str]) -> Callable[[list[Received]], bool]:
        """A wait predicate: every id in `wanted` has arrived (those still missing stay in `missing`)."""
        self.missing = wanted - self.ids.keys()

        def arrived(messages: list[Received]) -> bool:
            self.update(messages)
            return not self.missing

        return arrived

    @property
    def duplicates(self) -> int:
        return sum(self.ids.values()) - len(self.ids)


async def test_10000_events_survive_two_broker_kills(broker: Broker, tmp_path: Path) -> None:
    relay = await Relay(broker.port).start()
    sub = Subscriber(broker.port, ["tagd/enc1/events/#"])
    tally = Tally()
    sent: list[str] = []
    kills: list[str] = []
    # synchronous "normal": commits without fsync (what a power cut needs, not a broker outage) keep the
    # test quick on a loaded machine.
    async with outbox_at(tmp_path / "o.sqlite", synchronous="normal") as outbox:
        link = link_for(relay.port, outbox)
        async with running(link):

            async def stream() -> None:
                for n in range(TOTAL):
                    sent.append((await link.emit(detected(n))).id)
                    if n % 50 == 0:
                        await asyncio.sleep(0.005)  # a steady stream, not one burst

            streaming: asyncio.Task[None] | None = None
            for kill in range(1, KILLS + 1):
                async with sub.connect():
                    relay.release()
                    streaming = streaming or asyncio.create_task(stream())
                    try:
                        await sub.wait_for(tally.reaches(kill * TOTAL // (KILLS + 1)), within=WITHIN_S)
                    except TimeoutError:
                        progress = f"{len(sent)} emitted, {len(tally.ids)} received, depth {outbox.depth}"
                        raise AssertionError(f"before kill {kill}: {progress}") from None
                    relay.hold()  # tagd's reconnections wait until the subscriber is back
                    broker.kill()
                    assert not streaming.done(), "the stream ended before the broker was killed"
                    kills.append(f"at {len(sent)} emitted, {len(tally.ids)} received")
                broker.start()
            assert streaming is not None
            async with sub.connect():
                relay.release()
                async with asyncio.timeout(WITHIN_S):
                    await streaming
                with contextlib.suppress(TimeoutError):  # what is missing is asserted below
                    await sub.wait_for(tally.has_all(set(sent)), within=WITHIN_S)
    await relay.close()
    print(
        f"\n{TOTAL} events, {KILLS} broker SIGKILLs: {len(tally.ids)} distinct ids received, "
        f"{len(tally.missing)} missing, {tally.duplicates} duplicates, {link.connections} connections; "
        f"killed {'; '.join(kills)}"
    )
    assert len(sent) == TOTAL
    assert not tally.missing, f"{len(tally.missing)} of {TOTAL} events never arrived"
    assert set(tally.ids) == set(sent)
    assert link.connections == KILLS + 1
