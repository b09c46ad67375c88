"""What the test subscribers saw, checked against the contract (docs/asyncapi.yaml, docs/schemas/).

`note` is called by every subscriber for every message; the autouse fixture in conftest.py fails a test
when any message from tagd does not meet its schema or has no channel.
"""

from tagd_docs.contract import Contract

CONTRACT = Contract()
seen: list[str] = []
"""The problems found in the current test, one per message."""


def note(topic: str, payload: bytes) -> None:
    problem = CONTRACT.check(topic, payload, sent_by_tagd=True)
    if problem is not None:
        seen.append(problem)


def violations() -> list[str]:
    return list(seen)
