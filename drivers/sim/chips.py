"""What the simulator knows of the NXP ICODE chips beyond their memory: UID layout, passwords, EAS ID.

Memory sizes are not repeated here: a simulated tag takes them from the shipped tag profiles
(config/tag-profiles.toml), so the two U-TAG products are simulated exactly as they are configured.
"""

import random
from dataclasses import dataclass
from functools import cache

from tagd.protocols.iso15693 import PasswordId
from tagd.protocols.profiles import Chip, TagProfile, nxp_chip, shipped_profiles

EAS_SEQUENCE = bytes.fromhex("2FB36270D5A7907FE8B18038D281497682DA9A866FAF8BB0F19CD112A57237EF")
"""The 256-bit EAS sequence of ICODE SLIX (data sheet SL2S2002 rev 3.4, 9.4.3.10), bits sent LSB first."""

_ALL_PASSWORDS = frozenset(PasswordId)
_SLIX_L_PASSWORDS = frozenset({PasswordId.PRIVACY, PasswordId.DESTROY, PasswordId.EAS_AFI})


@dataclass(frozen=True)
class ChipModel:
    """One chip as the emulation sees it.

    UID layout (NXP AN10787): E0 04, the IC type, then for type 01 bits 4:3 of the 4th byte tell SLI (00),
    SLIX (10) and SLIX2 (01) apart. Passwords per the ICODE data sheets: SLI none, SLIX the EAS/AFI password,
    SLIX-L privacy, destroy and EAS/AFI, SLIX2 and SLIX-S all five. The IC reference of the SLI is 01 (SL2
    ICS20 specification); the others' are not published and are stand-ins.
    """

    ic_type: int
    type_bits: int | None
    ic_reference: int
    passwords: frozenset[int]
    eas_id: bool
    """Selective EAS (an EAS ID and EAS alarm masks): SLIX2 and SLIX-S."""


CHIPS: dict[Chip, ChipModel] = {
    Chip.ICODE_SLI: ChipModel(0x01, 0b00, 0x01, frozenset(), eas_id=False),
    Chip.ICODE_SLIX: ChipModel(0x01, 0b10, 0x01, frozenset({PasswordId.EAS_AFI}), eas_id=False),
    Chip.ICODE_SLIX2: ChipModel(0x01, 0b01, 0x01, _ALL_PASSWORDS, eas_id=True),
    Chip.ICODE_SLIX_S: ChipModel(0x02, None, 0x02, _ALL_PASSWORDS, eas_id=True),
    Chip.ICODE_SLIX_L: ChipModel(0x03, None, 0x03, _SLIX_L_PASSWORDS, eas_id=False),
}

ALIASES = {
    "sli": "nxp-icode-sli",
    "slix": "nxp-icode-slix",
    "slix2": "nxp-icode-slix2",
    "slix-s": "nxp-icode-slix-s",
    "slix-l": "nxp-icode-slix-l",
    "u-tag-l301": "U-TAG-L301",
    "u-tag-l1000m": "U-TAG-L1000M",
}
"""Short names for the shipped profiles; any profile name of config/tag-profiles.toml is accepted too."""

_rng = random.Random()  # noqa: S311 - UIDs and nonces of simulated tags, not security


@cache
def _profiles() -> dict[str, TagProfile]:
    return {profile.name.lower(): profile for profile in shipped_profiles().profiles}


def profile_named(name: str) -> TagProfile:
    """The shipped profile for a short name ("slix2") or a profile name ("U-TAG-L301"), case-insensitive."""
    key = ALIASES.get(name.lower(), name).lower()
    profile = _profiles().get(key)
    if profile is None or profile.recognition.chip is None:
        known = ", ".join(sorted(ALIASES))
        raise ValueError(f"no simulated NXP tag profile {name!r}; known: {known} or a profile name")
    return profile


def chip_alias(uid: int) -> str:
    """The short profile name of the plain chip a UID names."""
    chip = nxp_chip(uid)
    for alias, name in ALIASES.items():
        if chip is not None and name == f"nxp-{chip}":
            return alias
    raise ValueError(f"UID {uid:016X} names no NXP ICODE chip; give the tag a 'profile'")


def random_uid(chip: Chip) -> int:
    """A fresh UID that names `chip` (random below the chip's bits)."""
    model = CHIPS[chip]
    fourth = _rng.getrandbits(8)
    if model.type_bits is not None:
        fourth = fourth & ~0x18 | model.type_bits << 3
    return (0xE004 << 48) | model.ic_type << 40 | fourth << 32 | _rng.getrandbits(32)


def random_number() -> int:
    """A Get Random Number answer."""
    return _rng.getrandbits(16)
