"""Integration fixtures: real mosquitto processes on free loopback ports (see broker.py)."""

from collections.abc import Iterator

import pytest

from . import contract
from .broker import Broker, Brokers


@pytest.fixture(scope="session")
def brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Brokers]:
    """Starts as many brokers as a test needs (`brokers.start(extra=...)`); all are stopped at the end."""
    factory = Brokers(tmp_path_factory.mktemp("mosquitto"))
    yield factory
    factory.stop_all()


@pytest.fixture
def broker(brokers: Brokers) -> Iterator[Broker]:
    """A fresh broker for one test: nothing retained from another test."""
    broker = brokers.start()
    yield broker
    broker.stop()


@pytest.fixture(autouse=True)
def _every_message_meets_the_contract() -> Iterator[None]:
    """Every message a test's subscriber (stations.Circulation, broker.Subscriber) receives from tagd is
    checked against docs/asyncapi.yaml and docs/schemas/; one that does not meet them, or whose topic no
    channel describes, fails the test."""
    contract.seen.clear()
    yield
    bad = contract.violations()
    assert not bad, f"{len(bad)} message(s) off the contract: {bad[:5]}"
