"""`tagd tag encode|decode`, through `tagd.daemon.cli.main` and once through the installed script."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tagd.daemon.cli import main

LIBDANRFID = "11010131313232333334340000000000000000513e4445373035000000000000"
ANNEX_D = "9100051cbe991a140201d0140204b34607441cb6e2e335d6830207acc09ebaa06f6b0000"


def test_encode_prints_the_libdanrfid_vector(capsys):
    assert main(["tag", "encode", "--item", "11223344", "--isil", "DE-705"]) == 0
    assert capsys.readouterr().out == LIBDANRFID + "\n"


def test_encode_set_and_usage(capsys):
    assert (
        main(
            [
                "tag",
                "encode",
                "--item",
                "123456782",
                "--isil",
                "JP-1004314",
                "--parts",
                "3",
                "--part",
                "2",
                "--usage",
                "2",
            ]
        )
        == 0
    )
    block = bytes.fromhex(capsys.readouterr().out)
    assert block[:3] == bytes([0x12, 3, 2])
    assert block[21:32] == b"JP1004314\0\0"


def test_encode_iso28560_2(capsys):
    assert main(["tag", "encode", "--item", "11223344", "--isil", "DE-705", "--model", "iso28560-2"]) == 0
    assert capsys.readouterr().out == "910203ab4130000002018003042141e70500\n"


def test_decode_prints_every_field(capsys):
    assert main(["tag", "decode", LIBDANRFID]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "model": "iso28560-3",
        "item_id": "11223344",
        "isil": "DE-705",
        "usage": 1,
        "parts": 1,
        "part": 1,
        "usage_qualifier": 0,
        "extensions": [],
        "reversed_blocks": False,
        "warnings": [],
    }


def test_decode_iso28560_2_with_extension(capsys):
    assert main(["tag", "decode", ANNEX_D, "--model", "iso28560-2"]) == 0
    decoded = json.loads(capsys.readouterr().out)
    assert (decoded["item_id"], decoded["isil"], decoded["parts"], decoded["part"]) == (
        "123456789012",
        "US-InU-Mu",
        12,
        3,
    )
    assert decoded["extensions"] == [{"key": 6, "raw": "4607441cb6e2e335d6"}]


@pytest.mark.parametrize(
    ("hex_data", "reason"),
    [
        ("00" * 32, "blank tag"),
        ("55" * 24 + "00" * 4, "blank 3M tag"),
        (LIBDANRFID[:-2] + "01", "bad CRC: expected"),
        ("04120001" + "31" * 10 + "00" * 18, "3M-formatted"),
        ("xyz", "not a hex string"),
    ],
)
def test_bad_data_exits_65_with_one_line(capsys, hex_data, reason):
    assert main(["tag", "decode", hex_data]) == 65
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("tagd: ")
    assert reason in captured.err
    assert captured.err.count("\n") == 1


def test_bad_encode_input_exits_65(capsys):
    assert main(["tag", "encode", "--item", "11223344", "--isil", "DE705"]) == 65
    assert "malformed ISIL" in capsys.readouterr().err


def test_tag_rule_is_registered(capsys):
    with pytest.raises(SystemExit):
        main(["tag", "rule", "--help"])
    assert "rule" in capsys.readouterr().out


def test_installed_script():
    script = Path(sys.executable).parent / "tagd"
    done = subprocess.run(
        [str(script), "tag", "encode", "--item", "11223344", "--isil", "DE-705"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, LIBDANRFID + "\n", "")
