"""Hypothesis profiles: `ci` keeps `make test` bounded, `fuzz` (make fuzz) runs long."""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "fuzz", max_examples=100_000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FUZZ_PREFIX = "test_fuzz_"
"""A property named test_fuzz_* feeds bad input to a parser: `make fuzz` runs exactly these (-m fuzz)."""
FUZZ_NAMES = frozenset(
    {"test_no_input_crashes_the_decoder", "test_check_crc_never_crashes", "test_parse_never_crashes"}
)
"""Bad-input properties named before the convention (ISO 15693 requests, responses, CRC, UID text)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fuzz: a bad-input property (named test_fuzz_*); make fuzz runs these")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marked by name, so a bad-input property anywhere in tests joins the campaign by being named so."""
    for item in items:
        name = getattr(item, "originalname", item.name)
        if name.startswith(FUZZ_PREFIX) or name in FUZZ_NAMES:
            item.add_marker(pytest.mark.fuzz)
