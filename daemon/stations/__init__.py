"""The stations: one class per role over one base (base.py), and the registry that names them.

| role | module | does |
|---|---|---|
| encoder | encoder.py (+ encoder_steps.py) | processing desk: scan, tag rule, write, verify, report |
| checkout | checkout.py | self-checkout pad: items on the pad, security on command, patron cards |
| gate | gate.py | the security gate: an alarm for a secured item passing |
| checkin | checkin.py | returns: security set again, each item handed to the hold trap |

The parts they share: pad.py and presence.py (what is on a pad, debounced), tag_read.py (a tag's content),
securing.py (AFI/EAS set and read back). `station_class(role)` imports a role's module when a station of
it runs; an unknown role or a missing module is an error, never a silent stand-in.
"""

import importlib

from tagd.daemon.stations.base import Station
from tagd.protocols.payload_types import Role

__all__ = ["ROLES", "RoleNotAvailable", "station_class"]

ROLES: dict[Role, str] = {
    Role.ENCODER: "tagd.daemon.stations.encoder:EncoderStation",
    Role.CHECKOUT: "tagd.daemon.stations.checkout:CheckoutStation",
    Role.GATE: "tagd.daemon.stations.gate:GateStation",
    Role.CHECKIN: "tagd.daemon.stations.checkin:CheckinStation",
}
"""Role -> "module:class"; every class takes a StationContext (check-in also its hold trap)."""


class RoleNotAvailable(LookupError):  # noqa: N818 - reads as what it is
    """A role with no station class: not a role at all, or its module is not installed."""


def station_class(role: Role | str) -> type[Station]:
    """The class for `role`, imported now; RoleNotAvailable says why there is none."""
    try:
        target = ROLES[Role(role)]
    except (ValueError, KeyError):
        known = ", ".join(ROLES)
        raise RoleNotAvailable(f"no station role {str(role)!r}; the roles are {known}") from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise RoleNotAvailable(f"role {role}: its module {module_name} is not installed") from exc
    found = getattr(module, class_name, None)
    if not (isinstance(found, type) and issubclass(found, Station)):
        raise RoleNotAvailable(f"role {role}: {target} is not a Station class")
    return found
