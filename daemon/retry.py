"""Retrying with backoff: how every reconnecting part of tagd (MQTT links, readers, scanners, the monitor)
spaces its attempts."""

import random

__all__ = ["Backoff"]


class Backoff:
    """Reconnect delays: doubling from the minimum to the cap, each drawn from its upper half (jitter),
    so stations that lost the same broker do not all come back at the same instant."""

    def __init__(self, minimum: float, maximum: float) -> None:
        self.minimum, self.maximum = minimum, max(minimum, maximum)
        self._attempt = 0

    def reset(self) -> None:
        self._attempt = 0

    def next(self) -> float:
        ceiling = min(self.maximum, self.minimum * 2 ** min(self._attempt, 32))
        self._attempt += 1
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography
