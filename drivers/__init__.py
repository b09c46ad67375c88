"""I/O around the sans-IO protocols: readers, scanners, card readers and the simulator.

Drivers are chosen by a URL-like string from config and found through the entry-point group `tagd.drivers`,
so a third party adds one without touching tagd. An entry is named `<kind>.<scheme>` (kind: reader, scanner
or card) and points at an async factory taking the whole URL.
"""

from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from typing import Any, cast

from tagd.drivers.base import (
    CardRead,
    CardReader,
    DriverError,
    DriverUrlError,
    Reader,
    ReaderLost,
    Scanner,
    TagError,
    TagLost,
)

GROUP = "tagd.drivers"

__all__ = [
    "GROUP",
    "CardRead",
    "CardReader",
    "DriverError",
    "DriverUrlError",
    "Reader",
    "ReaderLost",
    "Scanner",
    "TagError",
    "TagLost",
    "UnknownDriver",
    "open_card_reader",
    "open_reader",
    "open_scanner",
]


class UnknownDriver(DriverError):  # noqa: N818 - reads as what it is
    """No driver is registered for the URL's scheme."""


def _factory(kind: str, scheme: str, url: str) -> Callable[[str], Awaitable[Any]]:
    name = f"{kind}.{scheme}"
    found = entry_points(group=GROUP, name=name)
    if not found:
        names = (ep.name for ep in entry_points(group=GROUP))
        known = sorted(n.split(".", 1)[1] for n in names if n.startswith(f"{kind}."))
        raise UnknownDriver(f"no {kind} driver for {url!r}; known schemes: {', '.join(known) or 'none'}")
    return cast("Callable[[str], Awaitable[Any]]", next(iter(found)).load())


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition(":")
    if not sep or not scheme:
        raise UnknownDriver(f"driver URL {url!r} has no scheme (e.g. sim:, feig:tcp://host:10001)")
    return scheme


async def open_reader(url: str) -> Reader:
    """`sim:NAME`, `feig:serial:///dev/ttyUSB0`, `feig:tcp://host:10001`, `pcsc:<reader name>`, ..."""
    return cast("Reader", await _factory("reader", _scheme(url), url)(url))


async def open_scanner(url: str) -> Scanner:
    """`scanner:serial:///dev/ttyACM0`, `scanner:sim:NAME`, ..."""
    prefix, _, rest = url.partition(":")
    if prefix != "scanner":
        raise UnknownDriver(f"scanner URL {url!r} must start with 'scanner:'")
    return cast("Scanner", await _factory("scanner", _scheme(rest), url)(url))


async def open_card_reader(url: str) -> CardReader:
    """`nfc:usb`, `nfc:udp:host:port`, `sim:NAME`, ..."""
    return cast("CardReader", await _factory("card", _scheme(url), url)(url))
