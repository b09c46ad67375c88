"""The sections of tagd's configuration other than the stations: MQTT, security, holds, outbox, timing.

Each is a frozen model that refuses unknown keys. Paths resolve against the directory of the file being
loaded, which `loading` makes known to the validators while `load_config` runs.
"""

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_extra_types.color import COLORS_BY_NAME

from tagd.protocols import nw7
from tagd.protocols.payload_types import NAME_PATTERN


@dataclass(frozen=True)
class _Origin:
    """The file being loaded: its table (read by the settings source) and the directory paths resolve in."""

    document: Mapping[str, Any]
    base: Path


_TOPIC_NAME = re.compile(NAME_PATTERN)
"""The one name rule of events and config (a name valid here makes valid events)."""
_HEX_COLOUR = re.compile(r"#(?:[0-9a-f]{3}){1,2}")
_BACKGROUND = frozenset({"white", "#fff", "#ffffff"})
_CLIENT_ID_MAX = 32
_ORIGIN: ContextVar[_Origin | None] = ContextVar("tagd_config_origin", default=None)


def current_document() -> Mapping[str, Any]:
    """The TOML table being loaded (empty outside `loading`): the settings source reads it."""
    origin = _ORIGIN.get()
    return origin.document if origin is not None else {}


@contextmanager
def loading(document: Mapping[str, Any], base: Path) -> Iterator[None]:
    """While validating `document`: relative paths resolve against `base`."""
    token = _ORIGIN.set(_Origin(document, base))
    try:
        yield
    finally:
        _ORIGIN.reset(token)


def _resolve(path: Path) -> Path:
    origin = _ORIGIN.get()
    base = origin.base if origin is not None else Path.cwd()
    return path if path.is_absolute() else Path(os.path.normpath(base / path))


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return path


def _byte(value: object) -> int:
    """An AFI: an integer or a string such as "0x07"; a byte either way."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value.strip(), 0)
        except ValueError:
            number = None
    if number is None or not 0 <= number <= 0xFF:
        raise ValueError(f"expected a byte 0-255 such as 0x07 or 7, got {value!r}")
    return number


def _topic_name(value: str) -> str:
    """Names that end up in MQTT topics and file names: no '/', '+', '#' or spaces."""
    if not _TOPIC_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r}: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
            " (it becomes part of MQTT topics)"
        )
    return value


def label_colour(value: str) -> str:
    """A branch's label colour: #rrggbb, #rgb or a CSS colour name (pydantic-extra-types knows them),
    lower-cased; a typo must not print a run of labels in black, nor white bars on white."""
    colour = value.strip().lower()
    if not (_HEX_COLOUR.fullmatch(colour) or colour in COLORS_BY_NAME):
        raise ValueError(f"unknown colour {value!r}: give #rrggbb, #rgb or a CSS name such as darkred")
    if colour in _BACKGROUND:
        raise ValueError(f"colour {value!r} is the label's background: the bars would be invisible")
    return colour


def _topic_prefix(value: str) -> str:
    levels = value.split("/")
    if value.startswith("$") or not all(levels) or any(char in value for char in "+#\0 "):
        raise ValueError(f"{value!r}: topic levels without '+', '#', spaces or empty levels, not led by '$'")
    return value


TopicName = Annotated[str, AfterValidator(_topic_name)]
Colour = Annotated[str, AfterValidator(label_colour)]
RelativePath = Annotated[Path, AfterValidator(_resolve)]
ExistingFile = Annotated[Path, AfterValidator(_resolve), AfterValidator(_existing)]
Afi = Annotated[int, BeforeValidator(_byte)]
Seconds = Annotated[float, Field(ge=0, le=86_400)]
Interval = Annotated[float, Field(gt=0, le=60)]
Attempts = Annotated[int, Field(ge=1, le=100)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tls(Section):
    ca_file: ExistingFile | None = None
    cert_file: ExistingFile | None = None
    key_file: ExistingFile | None = None

    @model_validator(mode="after")
    def _pair(self) -> "Tls":
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (a client certificate and its key)")
        return self


def _protocol(value: object) -> object:
    """TOML reads `protocol = 5` as an integer."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Mqtt(Section):
    url: str = "mqtt://127.0.0.1:1883"
    protocol: Annotated[Literal["5", "3.1.1"], BeforeValidator(_protocol)] = "5"
    username: str | None = None
    password: SecretStr | None = None
    client_id: TopicName | None = None
    topic_prefix: Annotated[str, AfterValidator(_topic_prefix)] = "tagd"
    keepalive: int = Field(default=60, ge=5, le=65_535)
    reconnect_min_seconds: float = Field(default=0.5, gt=0, le=600)
    reconnect_max_seconds: float = Field(default=30.0, gt=0, le=3_600)
    connect_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    inflight: int = Field(default=64, ge=1, le=1000)
    replay_window_seconds: float = Field(default=5.0, ge=0, le=3_600)
    tls: Tls = Tls()

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"{value!r}: expected mqtt://host:port or mqtts://host:port")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{value!r}: the port is not a number 0-65535") from None
        if not parts.hostname or port == 0:
            raise ValueError(f"{value!r}: no host, or port 0")
        if parts.username is not None or parts.password is not None:
            raise ValueError("credentials do not belong in the URL: set mqtt.username and mqtt.password")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"{value!r}: an MQTT URL has no path, query or fragment")
        return value

    @model_validator(mode="after")
    def _backoff(self) -> "Mqtt":
        if self.reconnect_min_seconds > self.reconnect_max_seconds:
            raise ValueError("reconnect_min_seconds is larger than reconnect_max_seconds")
        return self

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.secure else 1883)

    @property
    def secure(self) -> bool:
        """TLS: mqtts://, or a CA file given for a plain mqtt:// URL."""
        return self.url.startswith("mqtts:") or self.tls.ca_file is not None

    @property
    def client_prefix(self) -> str:
        """Each station connects as {client_prefix}-{station}: `client_id` (default "tagd"), '.' as '-'."""
        return (self.client_id or "tagd").replace(".", "-")[:_CLIENT_ID_MAX]


class Barcode(Section):
    scheme: str = nw7.DEFAULT_SCHEME
    length: int = Field(default=8, ge=1, le=32)

    @field_validator("scheme")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if value not in nw7.SCHEMES:
            raise ValueError(f"{value!r} is not one of {', '.join(nw7.SCHEMES)}")
        return value


class Security(Section):
    """Item security: the AFI values, EAS, and the NXP EAS/AFI password.

    eas_afi_password: 8 hex digits, the password's 4 bytes in air order ("0A1B2C3D" goes on the air as
    0A 1B 2C 3D, before the XOR with the tag's random number), as NXP's reader library and Flipper take it.
    Tags protected by tagd before issue 12 hold the bytes reversed.
    """

    afi_secured: Afi = 0x07
    afi_on_loan: Afi = 0xC2
    eas: bool = True
    eas_afi_password: SecretStr | None = None

    @field_validator("eas_afi_password")
    @classmethod
    def _password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _is_hex32(value.get_secret_value()):
            raise ValueError("expected the 32-bit NXP password as 8 hex digits (the value is not shown)")
        if value is not None and int(value.get_secret_value(), 16) == 0:
            raise ValueError("00000000 is the factory password of every NXP tag: it protects nothing")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> "Security":
        if self.afi_secured == self.afi_on_loan:
            raise ValueError("afi_secured and afi_on_loan must differ")
        return self


def _is_hex32(text: str) -> bool:
    return len(text) == 8 and all(char in "0123456789abcdefABCDEF" for char in text)


class Holds(Section):
    shelf_days: int = Field(default=7, ge=1, le=365)
    path: Path = Path("holds.sqlite3")
    timezone: str = "Asia/Tokyo"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as Asia/Tokyo") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Outbox(Section):
    path: Path = Path("outbox.sqlite3")
    max_events: int = Field(default=100_000, ge=1)
    max_bytes: ByteSize = Field(default=ByteSize(64 * 1024 * 1024), ge=1024)
    synchronous: Literal["full", "normal"] = "full"


class CatalogSettings(Section):
    path: Path = Path("catalog.sqlite3")
    set_remainder: Literal["first", "last"] = "first"
    load: ExistingFile | None = None


class Encoder(Section):
    attempts: Attempts = 3
    retry_delay_seconds: Seconds = 0.05
    tag_return_seconds: Seconds = 30.0
    poll_seconds: Interval = 0.1


class Checkout(Section):
    debounce_seconds: Seconds = 0.5
    poll_seconds: Interval = 0.1
    security_attempts: Attempts = 3


class Gate(Section):
    alarm_repeat_seconds: Seconds = 10.0
    poll_seconds: Interval = 0.02


class Checkin(Section):
    poll_seconds: Interval = 0.1
    security_attempts: Attempts = 3


class Devices(Section):
    """How every station keeps its reader, scanner and card reader: a lost device is reopened with capped
    exponential backoff, and an idle reader is probed so its loss shows without work."""

    reconnect_min_seconds: float = Field(default=0.2, gt=0, le=600)
    reconnect_max_seconds: float = Field(default=10.0, gt=0, le=3_600)
    probe_seconds: Interval = 1.0

    @model_validator(mode="after")
    def _backoff(self) -> "Devices":
        if self.reconnect_min_seconds > self.reconnect_max_seconds:
            raise ValueError("reconnect_min_seconds is larger than reconnect_max_seconds")
        return self


class Log(Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class Display(Section):
    """The station pages (daemon/display): where they listen ("HOST:PORT", or "off"), their language, and
    the token a browser must give when they listen beyond loopback."""

    listen: str = "127.0.0.1:8080"
    language: Literal["ja", "en"] = "ja"
    token: SecretStr | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        if value == "off":
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65_535:
            raise ValueError(f"{value!r}: expected HOST:PORT such as 127.0.0.1:8080, or off")
        return value

    @model_validator(mode="after")
    def _token(self) -> "Display":
        if self.enabled and not self.loopback and self.token is None:
            raise ValueError(f"listen {self.listen!r} is beyond loopback: set display.token")
        return self

    @property
    def enabled(self) -> bool:
        return self.listen != "off"

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def loopback(self) -> bool:
        return self.host in _LOOPBACK or self.host.startswith("127.")
