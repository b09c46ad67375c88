"""The codec commands start fast because they import only what they need: each runs in a fresh interpreter,
which then reports the modules it loaded. Speed itself is measured in bench/bench_cli.py, not here."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = {"pydantic_settings", "structlog", "aiomqtt", "paho", "pydantic", "sqlite3", "asyncio", "serial"}
"""The daemon's parts a codec command has no use for: configuration, logging, MQTT, the catalog, drivers."""

PROBE = """
import json, sys
from tagd.daemon.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted({name.split(".")[0] for name in sys.modules})}))
"""


def loaded(*argv: str) -> tuple[int, set[str], str]:
    """(exit code, top-level packages imported, output) of `tagd ARGV` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True, timeout=60
    )
    *output, report = done.stdout.splitlines()
    result = json.loads(report)
    return result["code"], set(result["modules"]), "\n".join(output)


@pytest.mark.parametrize(
    "argv",
    [
        ["barcode", "check-digit", "12345678"],
        ["barcode", "parse", "A123456782B"],
        ["tag", "encode", "--item", "123456782", "--isil", "JP-1000001"],
        ["tag", "decode", "00"],  # refused (exit 65) by the decoder, which is all it needs
        ["tag", "rule", "--kind", "book"],
    ],
)
def test_a_codec_command_imports_none_of_the_daemon(argv: list[str]) -> None:
    code, modules, _ = loaded(*argv)
    assert code in (0, 65)  # 65: data the codec refused, which still needs nothing more
    assert modules & HEAVY == set()
    assert "tagd" in modules  # the probe did run the command line


def test_the_check_digit_is_the_same_through_the_lazy_path() -> None:
    assert loaded("barcode", "check-digit", "12345678")[::2] == (0, "123456782")


def test_a_label_imports_what_it_draws_with(tmp_path: Path) -> None:
    code, modules, _ = loaded("barcode", "label", "12345678", "-o", str(tmp_path / "label.svg"))
    assert code == 0
    assert "barcode" in modules  # python-barcode, imported by the handler that needs it
    assert modules & {"pydantic_settings", "structlog", "aiomqtt"} == set()


def test_every_group_is_listed_by_help_as_before() -> None:
    done = subprocess.run(
        [Path(sys.executable).with_name("tagd"), "--help"], capture_output=True, text=True, check=True
    )
    for group in ("barcode", "tag", "reader", "sim", "catalog", "run", "demo", "monitor"):
        assert f"    {group} " in done.stdout
