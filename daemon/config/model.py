"""tagd's configuration: one TOML file, validated whole before anything starts.

A station PC is configured once and then left alone, so every mistake must show at start with the key that
holds it: unknown keys are errors (a typo never passes silently), and `ConfigError` names the key path
("stations[1].role: 'encodr' is not one of encoder, checkout, gate, checkin"); the CLI exits 78 on it.

Sources, strongest first: `overrides` given to `load_config` (the CLI's --mqtt-url, the demo's state_dir),
environment variables TAGD_<KEY>__<SUBKEY> (e.g. TAGD_MQTT__URL, TAGD_MQTT__PASSWORD), the TOML file.
Relative paths in the file resolve against the file's directory; the outbox and catalog paths against
`state_dir`. config/tagd.example.toml documents every key.
"""

import os
import tomllib
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tagd.daemon.config.errors import ConfigError, ConfigFileMissing, Origin, describe
from tagd.daemon.config.sections import (
    Barcode,
    CatalogSettings,
    Checkin,
    Checkout,
    Colour,
    Devices,
    Display,
    Encoder,
    ExistingFile,
    Gate,
    Holds,
    Log,
    Mqtt,
    Outbox,
    RelativePath,
    Section,
    Security,
    TopicName,
    current_document,
    loading,
)
from tagd.drivers import GROUP as DRIVER_GROUP
from tagd.protocols.errors import ProtocolError
from tagd.protocols.iso28560 import DataModel, check_isil
from tagd.protocols.payload_types import Role
from tagd.protocols.profiles import SHIPPED_PROFILES, ProfileSet, load_profiles, shipped_profiles
from tagd.protocols.tagtypes import MarkScheme

__all__ = [
    "Config",
    "ConfigError",
    "ConfigFileMissing",
    "StationConfig",
    "load_config",
    "load_config_data",
    "load_tag_profiles",
]

DEFAULT_PATH = Path("/etc/tagd/tagd.toml")


_TAKES_SCANNER = frozenset({Role.ENCODER, Role.CHECKIN})
_TAKES_CARD_READER = frozenset({Role.CHECKOUT})


def _scheme_of(url: str, kind: str) -> str:
    """The driver scheme of a URL: `feig` of feig:tcp://..., `sim` of scanner:sim:NAME."""
    body = url
    if kind == "scanner":
        prefix, sep, body = url.partition(":")
        if prefix != "scanner" or not sep:
            raise ValueError(
                f"{url!r}: a scanner URL starts with 'scanner:', e.g. scanner:serial:///dev/ttyACM0"
            )
    scheme, sep, _ = body.partition(":")
    if not sep or not scheme:
        raise ValueError(f"{url!r} has no driver scheme (e.g. sim:NAME, feig:tcp://host:10001)")
    return scheme


@cache
def _installed_drivers(kind: str) -> tuple[str, ...]:
    """The schemes of the installed drivers of one kind; installed packages do not change while tagd runs."""
    names = (ep.name for ep in entry_points(group=DRIVER_GROUP))
    return tuple(sorted(name.split(".", 1)[1] for name in names if name.startswith(kind + ".")))


def _driver_url(url: str, kind: str) -> str:
    """Checked against the installed drivers (entry points), so a typo fails here and not at the desk."""
    scheme = _scheme_of(url, kind)
    known = _installed_drivers(kind)
    if scheme not in known:
        raise ValueError(f"no {kind} driver for {url!r}; installed: {', '.join(known) or 'none'}")
    return url


class StationConfig(Section):
    """One station: its role, its library, and its devices as driver URLs (checked against the drivers)."""

    name: TopicName
    role: Role
    library: TopicName
    isil: str
    reader: str
    scanner: str | None = None
    card_reader: str | None = None
    shelving_marks: MarkScheme = MarkScheme.CITY
    mqtt_username: str | None = None
    """The station's own broker user, for an ACL per station (config/mosquitto/acl); default [mqtt]'s."""
    mqtt_password: SecretStr | None = None

    @model_validator(mode="after")
    def _credentials(self) -> "StationConfig":
        if self.mqtt_password is not None and self.mqtt_username is None:
            raise ValueError("mqtt_password needs mqtt_username (the station's own broker user)")
        return self

    @field_validator("isil")
    @classmethod
    def _isil(cls, value: str) -> str:
        try:
            return check_isil(value)
        except ProtocolError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("reader")
    @classmethod
    def _reader(cls, value: str) -> str:
        return _driver_url(value, "reader")

    @field_validator("scanner")
    @classmethod
    def _scanner(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _extra_device(value, info, "scanner", "scanner", _TAKES_SCANNER)

    @field_validator("card_reader")
    @classmethod
    def _card_reader(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _extra_device(value, info, "card", "card reader", _TAKES_CARD_READER)


def _extra_device(
    value: str | None, info: ValidationInfo, kind: str, what: str, roles: frozenset[Role]
) -> str | None:
    role = info.data.get("role")
    if value is not None and role is not None and role not in roles:
        takes = " and ".join(sorted(roles))
        article = "an" if role[0] in "aeiou" else "a"
        raise ValueError(f"{article} {role} station has no {what} (only {takes} stations take one)")
    return None if value is None else _driver_url(value, kind)


class _TomlDocument(PydanticBaseSettingsSource):
    """The file's table, read from the load in progress: below the environment, which overrides it."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # noqa: ARG002
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(current_document())


class Config(BaseSettings):
    """The whole configuration, frozen: build it with `load_config`, which reports problems by key."""

    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, env_prefix="TAGD_", env_nested_delimiter="__"
    )

    stations: list[StationConfig] = Field(min_length=1)
    state_dir: RelativePath = Path("/var/lib/tagd")
    state_wait_seconds: Annotated[float, Field(ge=0, le=600)] = 45.0
    """How long `tagd run` keeps trying to open its databases in state_dir before it exits 73."""
    data_model: DataModel = DataModel.ISO28560_3
    tag_profiles: ExistingFile | None = None
    label_sheets: ExistingFile | None = None
    spine_rules: ExistingFile | None = None
    label_colours: dict[str, Colour] = {}
    mqtt: Mqtt = Mqtt()
    barcode: Barcode = Barcode()
    security: Security = Security()
    holds: Holds = Holds()
    outbox: Outbox = Outbox()
    catalog: CatalogSettings = CatalogSettings()
    encoder: Encoder = Encoder()
    checkout: Checkout = Checkout()
    gate: Gate = Gate()
    checkin: Checkin = Checkin()
    devices: Devices = Devices()
    display: Display = Display()
    log: Log = Log()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _TomlDocument(settings_cls)

    @model_validator(mode="after")
    def _unique(self) -> "Config":
        for field in ("name", "reader"):
            seen: dict[str, int] = {}
            for index, station in enumerate(self.stations):
                value = getattr(station, field)
                if value in seen:
                    where = f"stations[{index}].{field}"
                    raise ValueError(f"{where}: {value!r} is already the {field} of stations[{seen[value]}]")
                seen[value] = index
        return self

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / self.outbox.path

    @property
    def catalog_path(self) -> Path:
        return self.state_dir / self.catalog.path

    @property
    def holds_path(self) -> Path:
        return self.state_dir / self.holds.path

    def station(self, name: str) -> StationConfig:
        for station in self.stations:
            if station.name == name:
                return station
        raise KeyError(name)


MAX_CONFIG_BYTES = 4 * 1024 * 1024
"""A configuration file is a few KiB; a larger one is refused before parsing."""


def load_config(
    path: Path | str,
    overrides: Mapping[str, Any] | None = None,
    *,
    overrides_from: str | Mapping[str, str] = "the command line",
) -> Config:
    """The configuration in `path`, with the environment and `overrides` (nested tables) on top.
    `overrides_from` names where the overrides came from, for the error messages (e.g. "--mqtt-url"), or
    maps each overridden section to its option."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigFileMissing(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {len(data)} bytes; a configuration is at most {MAX_CONFIG_BYTES}")
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not usable TOML: arrays or tables nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts; the advice after ';'
        raise ConfigError(f"{path}: not usable TOML: {str(exc).partition(';')[0]}") from None
    return load_config_data(
        document,
        source=str(path),
        base=path.parent.resolve(),
        overrides=overrides,
        overrides_from=overrides_from,
    )


def load_config_data(
    document: Mapping[str, Any],
    *,
    source: str = "configuration",
    base: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    overrides_from: str | Mapping[str, str] = "the command line",
) -> Config:
    """A configuration from a parsed TOML table; relative paths resolve against `base` (default: cwd)."""
    origin = _origin(overrides or {}, overrides_from, os.environ)
    with loading(document, base or Path.cwd()):
        try:
            config = Config(**dict(overrides or {}))
        except ValidationError as exc:
            raise describe(exc, Config, source=source, origin=origin) from None
        except RecursionError:
            raise ConfigError(f"{source}: arrays or tables nested too deeply") from None
    _check_profiles(config, source)
    return config


def _origin(
    overrides: Mapping[str, Any], overrides_from: str | Mapping[str, str], environ: Mapping[str, str]
) -> Origin:
    """Where the value at a key path came from, when not the file: an override, or an environment variable
    (TAGD_ and the keys joined by __, as pydantic-settings reads them, any case)."""
    names = {name.upper(): name for name in environ}

    def origin(loc: Sequence[int | str]) -> str | None:
        if not loc:
            return None
        node: Any = overrides
        for part in loc:
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            if isinstance(overrides_from, str):
                return overrides_from
            return overrides_from.get(str(loc[0]), "the command line")
        keys = [str(part) for part in loc]
        for end in range(len(keys), 0, -1):
            name = names.get("TAGD_" + "__".join(keys[:end]).upper())
            if name is not None:
                return f"environment variable {name}"
        return None

    return origin


def load_tag_profiles(config: Config) -> ProfileSet:
    """The tag profiles the config names, or the shipped config/tag-profiles.toml."""
    if config.tag_profiles is None:
        try:
            return shipped_profiles()
        except ProtocolError as exc:
            raise ConfigError(f"tag_profiles: the shipped {SHIPPED_PROFILES}: {exc}") from None
    where = str(config.tag_profiles)
    try:
        text = config.tag_profiles.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"tag_profiles: cannot read {where}: {exc}") from None
    try:
        return load_profiles(text)
    except ProtocolError as exc:
        raise ConfigError(f"tag_profiles: {where}: {exc}") from None


def _check_profiles(config: Config, source: str) -> None:
    for profile in load_tag_profiles(config).profiles:
        if profile.product is not None and profile.writing.data_model is not config.data_model:
            problem = (
                f"data_model: {config.data_model.value!r}, but tag profile {profile.name!r} writes "
                f"{profile.writing.data_model.value}: make them agree"
            )
            raise ConfigError(f"{source}: {problem}", [problem])
