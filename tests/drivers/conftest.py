"""Fixtures shared by the driver tests: a fresh simulated world per test, so no test sees another's tags."""

import pytest

from tagd.drivers.sim.world import World


@pytest.fixture
def world() -> World:
    return World()
