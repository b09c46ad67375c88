"""The unit files pass systemd's own checks, keep their sandbox, and the udev rules are well formed."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).parents[2] / "systemd"
UNITS = ("tagd.service", "tagd@.service")
INSTALLED_TAGD = "/opt/tagd/.venv/bin/tagd"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed here")


def settings(unit: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (SYSTEMD / unit).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def local_copy(unit: str, directory: Path, name: str | None = None) -> Path:
    """The unit with ExecStart pointing at this checkout's tagd: verify checks that the binary exists."""
    tagd = Path(sys.executable).with_name("tagd")
    text = (SYSTEMD / unit).read_text(encoding="utf-8").replace(INSTALLED_TAGD, str(tagd))
    copy = directory / (name or unit)
    copy.write_text(text, encoding="utf-8")
    return copy


@needs_analyze
@pytest.mark.parametrize(("unit", "name"), [("tagd.service", None), ("tagd@.service", "tagd@chuo.service")])
def test_systemd_analyze_verify_finds_nothing(tmp_path, unit, name):
    copy = local_copy(unit, tmp_path, name)
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path
    )
    about_us = [line for line in result.stderr.splitlines() if copy.name in line]
    assert result.returncode == 0, result.stderr
    assert about_us == [], "systemd ignored or doubted a setting"


@needs_analyze
def test_the_sandbox_rates_ok_in_systemd_analyze_security(tmp_path):
    copy = local_copy("tagd.service", tmp_path)
    assert ANALYZE is not None
    result = subprocess.run(
        [ANALYZE, "security", "--offline=yes", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    if "--offline" in result.stderr:
        pytest.skip("this systemd-analyze has no offline security check")
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0, "exposure 0-10; 2.0 and below is systemd's 'OK'"


@pytest.mark.parametrize("unit", UNITS)
def test_the_unit_is_a_watched_notify_service_in_a_sandbox(unit):
    values = settings(unit)
    assert values["Type"] == ["notify"]
    assert values["WatchdogSec"] == ["30"]
    assert values["Restart"] == ["on-failure"]
    assert values["RestartPreventExitStatus"] == ["65 66 78"]  # 73 is retried (tagd waits first)
    assert values["User"] == ["tagd"]
    assert values["ExecStart"][0].startswith(f"{INSTALLED_TAGD} run --config /etc/tagd/")
    assert values["SupplementaryGroups"] == ["dialout plugdev"]
    assert values["CapabilityBoundingSet"] == [""]
    assert values["DevicePolicy"] == ["closed"]
    assert sorted(values["DeviceAllow"]) == ["char-ttyACM rw", "char-ttyUSB rw", "char-usb_device rw"]
    hardening = ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "ProtectKernelTunables", "RestrictSUIDSGID")
    for setting in hardening:
        assert values[setting] == ["yes"], setting
    assert values["ProtectSystem"] == ["strict"]
    assert values["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6 AF_NETLINK"]
    assert "@system-service" in values["SystemCallFilter"]


def test_the_template_runs_one_instance_per_configuration_file():
    values = settings("tagd@.service")
    assert values["ExecStart"] == [f"{INSTALLED_TAGD} run --config /etc/tagd/%i.toml"]
    assert values["StateDirectory"] == ["tagd/%i"]
    assert "TAGD_STATE_DIR=%S/tagd/%i" in values["Environment"]


RULE_KEY = r"(?:[A-Z_]+(?:\{[A-Za-z_]+\})?)"
RULE_PAIR = re.compile(rf'{RULE_KEY}(?:==|!=|\+=|-=|:=|=)"[^"]*"')


def test_the_udev_rules_are_well_formed():
    text = (SYSTEMD / "99-tagd.rules").read_text(encoding="utf-8")
    rules = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    for rule in rules:
        pairs = [pair.strip() for pair in rule.split(", ")]
        assert all(RULE_PAIR.fullmatch(pair) for pair in pairs), rule
    labels = set(re.findall(r'LABEL="([^"]+)"', text))
    assert set(re.findall(r'GOTO="([^"]+)"', text)) <= labels
    assert 'ATTR{idVendor}=="0ab1"' in text, "FEIG ELECTRONIC's USB vendor id"
    assert 'SYMLINK+="tagd-$env{TAGD_KIND}-$env{ID_SERIAL_SHORT}"' in text
    assert 'GROUP="dialout", MODE="0660"' in text
