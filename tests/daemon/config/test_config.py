"""Configuration: the shipped files load, every key is documented, and every mistake names its key."""

import copy
import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from tagd.daemon.config.errors import key_path
from tagd.daemon.config.model import (
    Config,
    ConfigError,
    ConfigFileMissing,
    Role,
    load_config,
    load_config_data,
    load_tag_profiles,
)

CONFIG_DIR = Path(__file__).parents[3] / "config"
EXAMPLE = CONFIG_DIR / "tagd.example.toml"
DEMO = CONFIG_DIR / "demo.toml"


@pytest.fixture(autouse=True)
def _no_tagd_environment(monkeypatch):
    """The environment overrides the file: a TAGD_ variable of the person running the tests must not."""
    for name in list(os.environ):
        if name.startswith("TAGD_"):
            monkeypatch.delenv(name)


def example() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def leaves(table: Any, loc: tuple[int | str, ...] = ()) -> Iterator[tuple[int | str, ...]]:
    """The location of every value that is not a table or an array of tables."""
    if isinstance(table, dict):
        for key, value in table.items():
            yield from leaves(value, (*loc, key))
    elif isinstance(table, list) and table and all(isinstance(item, dict) for item in table):
        for index, item in enumerate(table):
            yield from leaves(item, (*loc, index))
    else:
        yield loc


def with_value(document: dict[str, Any], loc: tuple[int | str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target: Any = changed
    for part in loc[:-1]:
        target = target[part]
    target[loc[-1]] = value
    return changed


def problems_of(document: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        load_config_data(document, base=CONFIG_DIR)
    return caught.value.problems


def model_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every key the configuration accepts, as dotted paths (arrays of tables without an index)."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        inner = get_args(annotation)[0] if get_origin(annotation) is list else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from model_keys(annotation, f"{prefix}{name}.")
        elif isinstance(inner, type) and issubclass(inner, BaseModel):
            yield from model_keys(inner, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def documented_keys(text: str) -> dict[str, bool]:
    """Keys in the example, live or commented out, under their table: whether a comment leads the first."""
    keys: dict[str, bool] = {}
    table = ""
    previous = ""
    for raw in text.splitlines():
        line = raw.removeprefix("# ").rstrip()
        header = re.fullmatch(r"\[\[?([a-z_.]+)\]\]?", line)
        assignment = re.match(r"([a-z_]+) = ", line)
        if header:
            table = header.group(1) + "."
            keys.setdefault(header.group(1), previous.startswith("#"))
        elif assignment:
            keys.setdefault(table + assignment.group(1), previous.startswith("#"))
        previous = raw
    return keys


def test_the_example_loads_and_documents_every_key_with_a_comment():
    config = load_config(EXAMPLE)
    assert {station.role for station in config.stations} == set(Role)
    documented = documented_keys(EXAMPLE.read_text(encoding="utf-8"))
    for key in model_keys(Config):
        assert key in documented, f"{key} is not in {EXAMPLE.name}"
        assert documented[key], f"{key} has no comment above it in {EXAMPLE.name}"
    keys = set(model_keys(Config))
    tables = {key.rsplit(".", 1)[0] for key in keys if "." in key} | {"mqtt"}
    assert set(documented) - keys - tables == {"label_colours.chuo", "label_colours.kita"}


def test_the_demo_defines_a_branch_on_simulated_hardware(tmp_path):
    config = load_config(DEMO, overrides={"state_dir": str(tmp_path)})
    assert [station.role for station in config.stations] == list(Role)
    for station in config.stations:
        devices = [station.reader, station.scanner, station.card_reader]
        assert all(url.split(":")[0] in ("sim", "scanner") for url in devices if url), devices
        assert all(url.startswith("scanner:sim:") for url in devices if url and url.startswith("scanner"))
    assert config.stations[1].card_reader == "sim:demo-checkout"
    assert config.stations[3].scanner == "scanner:sim:demo-checkin"
    assert config.outbox_path == tmp_path / "outbox.sqlite3"
    assert config.catalog.load == CONFIG_DIR / "demo-delivery.csv"


def test_defaults_are_the_sites_documented_ones():
    config = load_config(DEMO)
    assert (config.security.afi_secured, config.security.afi_on_loan) == (0x07, 0xC2)
    assert (config.barcode.scheme, config.barcode.length) == ("m10w21", 8)
    assert (config.holds.shelf_days, config.holds.timezone) == (7, "Asia/Tokyo")
    assert (config.mqtt.protocol, config.mqtt.topic_prefix) == ("5", "tagd")
    assert config.state_dir == CONFIG_DIR.parent / "var" / "demo"
    assert load_tag_profiles(config).named("U-TAG-L301").product is not None


def test_the_environment_overrides_the_file_and_overrides_win_over_both(monkeypatch):
    monkeypatch.setenv("TAGD_MQTT__URL", "mqtts://broker.example:8884")
    monkeypatch.setenv("TAGD_MQTT__PASSWORD", "from-the-environment")
    config = load_config(EXAMPLE)
    assert (config.mqtt.host, config.mqtt.port, config.mqtt.secure) == ("broker.example", 8884, True)
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "from-the-environment"
    assert config.mqtt.keepalive == 60, "the file's other mqtt keys stay"
    config = load_config(EXAMPLE, overrides={"mqtt": {"url": "mqtt://127.0.0.1:18830"}})
    assert (config.mqtt.url, config.mqtt.port, config.mqtt.secure) == ("mqtt://127.0.0.1:18830", 18830, False)
    assert config.mqtt.reconnect_max_seconds == 30.0


def test_relative_paths_resolve_against_the_file_and_state_dir(tmp_path):
    (tmp_path / "profiles.toml").write_bytes((CONFIG_DIR / "tag-profiles.toml").read_bytes())
    document = example() | {"state_dir": "state", "tag_profiles": "profiles.toml"}
    document["outbox"] = {"path": "events/outbox.sqlite3"}
    config = load_config_data(document, base=tmp_path)
    assert config.state_dir == tmp_path / "state"
    assert config.tag_profiles == tmp_path / "profiles.toml"
    assert config.outbox_path == tmp_path / "state" / "events" / "outbox.sqlite3"
    assert config.catalog_path == tmp_path / "state" / "catalog.sqlite3"


def loc_of(key: str) -> tuple[int | str, ...]:
    """'stations[1].role' -> ('stations', 1, 'role')."""
    return tuple(int(part) if part.isdigit() else part for part in re.findall(r"[^.\[\]]+", key))


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("stations[1].role", "encodr", "'encodr' is not one of encoder, checkout, gate, checkin"),
        ("stations[0].readr", "sim:x", "unknown key; did you mean 'reader'?"),
        ("mqtt.keepalive", "often", "expected a whole number, got 'often'"),
        ("mqtt.protocol", 4, "'4' is not one of 5, 3.1.1"),
        ("mqtt.url", "http://broker", "'http://broker': expected mqtt://host:port or mqtts://host:port"),
        ("mqtt.url", "mqtt://user:pw@broker", "credentials do not belong in the URL"),
        ("security.afi_secured", True, "expected a byte 0-255"),
        ("security.afi_on_loan", "0x107", "expected a byte 0-255"),
        ("barcode.scheme", "m12", "'m12' is not one of m10w21, m10w21-lump"),
        ("holds.timezone", "Asia/Tokio", "'Asia/Tokio' is not an IANA time zone"),
        ("holds.shelf_days", 0, "input should be greater than or equal to 1"),
        ("label_colours.kita", "#ffffff", "colour '#ffffff' is the label's background"),
        ("stations[2].scanner", "scanner:sim:x", "a gate station has no scanner"),
        ("stations[0].card_reader", "nfc:usb", "an encoder station has no card reader"),
        ("stations[1].reader", "feg:tcp://x:1", "no reader driver for 'feg:tcp://x:1'"),
        ("stations[3].scanner", "serial:///dev/ttyACM0", "'serial:///dev/ttyACM0': a scanner URL starts"),
        ("stations[0].isil", "JP1000001", "malformed ISIL 'JP1000001'"),
        ("stations[0].name", "chuo/encoder", "'chuo/encoder': use 1-64 letters"),
        ("outbox.max_bytes", "lots", "could not parse value and unit from byte string"),
        ("catalog.set_remainder", "middle", "'middle' is not one of first, last"),
        ("catalog.load", "missing.csv", "no such file:"),
        ("log.format", "xml", "'xml' is not one of auto, json, console"),
    ],
)
def test_a_bad_value_is_reported_with_its_key(key, value, expected):
    problems = problems_of(with_value(example(), loc_of(key), value))
    assert any(problem.startswith(f"{key}: {expected}") for problem in problems), problems


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("label_colours.中央", "purpel", 'label_colours."中央": unknown colour \'purpel\''),
        ("security.afi_on_loan", 7, "security: afi_secured and afi_on_loan must differ"),
        ("stations[1].name", "chuo-encoder-1", "stations[1].name: 'chuo-encoder-1' is already the name of"),
        ("data_model", "iso28560-2", "data_model: 'iso28560-2', but tag profile 'U-TAG-L301' writes"),
    ],
)
def test_problems_between_keys_name_them(key, value, expected):
    with pytest.raises(ConfigError) as caught:
        load_config_data(with_value(example(), loc_of(key), value), source="tagd.toml", base=CONFIG_DIR)
    assert caught.value.problems[0].startswith(expected)
    assert str(caught.value).startswith(f"tagd.toml: {expected}")


def test_a_missing_required_key_and_several_problems_at_once():
    document = example()
    del document["stations"][0]["isil"]
    document["mqtt"]["keepalive"] = 1
    document["colour"] = "red"
    problems = problems_of(document)
    assert "stations[0].isil: required, but missing" in problems
    assert "mqtt.keepalive: input should be greater than or equal to 5, got 1" in problems
    assert any(problem.startswith("colour: unknown key") for problem in problems)
    assert problems_of({}) == ("stations: required, but missing",)


def test_secrets_are_never_echoed_in_errors():
    document = example()
    document["mqtt"]["password"] = 31415926
    document["security"]["eas_afi_password"] = "hunter2!"
    problems = problems_of(document)
    assert any(problem.startswith("mqtt.password: expected a string") for problem in problems)
    assert any(problem.startswith("security.eas_afi_password: expected the 32-bit") for problem in problems)
    assert not any("31415926" in problem or "hunter2" in problem for problem in problems)


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigFileMissing, match=r"missing\.toml: no such file"):
        load_config(tmp_path / "missing.toml")
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ConfigError, match=r"\.toml: cannot read: Is a directory"):
        load_config(tmp_path / "dir.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[mqtt\nurl = 1\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML: .*line 1"):
        load_config(broken)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"state_dir = '\xe9'\n")
    with pytest.raises(ConfigError, match=r"latin\.toml: not UTF-8 text"):
        load_config(latin)


def test_each_problem_names_where_its_value_came_from(monkeypatch):
    monkeypatch.setenv("TAGD_MQTT__KEEPALIVE", "abc")
    document = example()
    document["log"]["level"] = "loud"
    with pytest.raises(ConfigError) as caught:
        load_config_data(
            document,
            source="tagd.toml",
            base=CONFIG_DIR,
            overrides={"mqtt": {"url": "http://x"}},
            overrides_from="--mqtt-url",
        )
    lines = caught.value.lines
    from_env = "environment variable TAGD_MQTT__KEEPALIVE: mqtt.keepalive: "
    assert any(line.startswith(from_env) for line in lines)
    assert any(line.startswith("--mqtt-url: mqtt.url: ") for line in lines)
    assert any(line.startswith("tagd.toml: log.level: ") for line in lines)
    assert len(lines) == 3


def test_an_environment_typo_is_an_error_too(monkeypatch):
    monkeypatch.setenv("TAGD_MQTT__KEEPALIVES", "30")
    with pytest.raises(ConfigError, match=r"mqtt\.keepalives: unknown key; did you mean 'keepalive'\?"):
        load_config(EXAMPLE)


LEAVES = sorted(leaves(example()), key=str)


@pytest.mark.parametrize("loc", LEAVES, ids=key_path)
def test_every_key_of_the_example_names_itself_when_wrong(loc):
    problems = problems_of(with_value(example(), loc, {"not": "this"}))
    assert any(problem.startswith(key_path(loc) + ":") for problem in problems), problems


WRONG = st.one_of(
    st.dictionaries(st.text(min_size=1, max_size=5), st.integers() | st.text(max_size=5), min_size=1),
    st.lists(st.integers() | st.floats(allow_nan=False) | st.booleans(), min_size=1, max_size=4),
    st.lists(st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), min_size=1, max_size=2),
)


@given(loc=st.sampled_from(LEAVES), value=WRONG)
def test_a_random_wrong_typed_value_in_a_random_key_names_that_key(loc, value):
    problems = problems_of(with_value(example(), loc, value))
    assert any(problem.startswith(key_path(loc)) for problem in problems), (loc, value, problems)
