"""`tagd reader inventory|dump` against the simulated field, loaded from a tag file with --tags.

The tag file holds what a technician meets: items of our library (JP-1004314) on both U-TAG products, an item
of a foreign library, a blank tag, a 3M-formatted tag, a tag with a torn write (bad CRC) and a tag no profile
knows. Each test starts from an empty process-wide world, as a fresh `tagd` process would.
"""

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tagd.daemon.cli import main, reader
from tagd.drivers.feig import FeigReader
from tagd.drivers.sim import reader as sim
from tagd.drivers.sim.feig_emulator import FeigEmulator
from tagd.drivers.sim.feig_serve import FeigTcpServer
from tagd.drivers.sim.world import World
from tagd.protocols.iso28560 import encode_basic_block

OURS = encode_basic_block("123456782", "JP-1004314")
SET_PART = encode_basic_block("100000017", "JP-1004314", parts=3, part=2)
FOREIGN = encode_basic_block("11223344", "DE-705")
THREE_M = b"\x04\x11\x00\x00" + b"31234000123456".ljust(16, b"\0") + bytes(12)
TORN = OURS[:5] + bytes([OURS[5] ^ 0xFF]) + OURS[6:]

TAGD = (sys.executable, "-m", "tagd.daemon")
PROCESS_TIMEOUT = 30.0

TAGS = [
    {"uid": "E004011000000001", "profile": "slix", "memory_hex": OURS.hex(), "afi": 0x07, "eas": True,
     "locked_blocks": [0, 1]},
    {"uid": "E004010800000002", "profile": "slix2", "memory_hex": SET_PART.hex(), "afi": 0xC2, "dsfid": 0x01},
    {"uid": "E004011000000003", "profile": "slix", "memory_hex": FOREIGN.hex()},
    {"uid": "E004011000000004", "profile": "slix"},
    {"uid": "E004011000000005", "profile": "slix", "memory_hex": THREE_M.hex()},
    {"uid": "E004011000000006", "profile": "slix", "memory_hex": TORN.hex()},
    {"uid": "E007000000000007", "profile": "slix", "memory_hex": OURS.hex()},
]

INVENTORY = [
    "E004010800000002  U-TAG-L1000M    item 100000017, ISIL JP-1004314, part 2 of 3",
    "E004011000000001  U-TAG-L301      item 123456782, ISIL JP-1004314, part 1 of 1",
    "E004011000000003  U-TAG-L301      item 11223344, ISIL DE-705, part 1 of 1",
    "E004011000000004  U-TAG-L301      blank tag: every byte is 00",
    "E004011000000005  U-TAG-L301      3M-formatted tag (RFID 501 layout, item '31234000123456'),"
    " not ISO 28560",
    "E004011000000006  U-TAG-L301      ISO 28560-3 bad CRC: expected 0x9b50, stored 0x8bfe",
    "E007000000000007  unknown: no tag profile recognises UID E007000000000007 (manufacturer 0x07,"
    " IC type 0x00, chip unknown, 28 blocks of 4 bytes)  item 123456782, ISIL JP-1004314, part 1 of 1",
]


@pytest.fixture(autouse=True)
def empty_world(monkeypatch):
    """A fresh CLI process starts with an empty simulated world; so does each test.

    Not a mock: it only resets the process-global default world that `sim:` URLs use between tests.
    """
    monkeypatch.setattr(sim, "_default_world", None)


@pytest.fixture
def tag_file(tmp_path) -> Path:
    path = tmp_path / "tags.json"
    path.write_text(json.dumps(TAGS))
    return path


def run(capsys, *argv: str) -> tuple[int, list[str], str]:
    parser = argparse.ArgumentParser(prog="tagd")
    reader.register(parser.add_subparsers(dest="group", required=True))
    args = parser.parse_args(argv)
    code = args.handler(args)
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_inventory_lists_and_decodes_every_tag(capsys, tag_file):
    code, lines, err = run(capsys, "reader", "inventory", "sim:desk", "--tags", str(tag_file))
    assert (code, err) == (0, "")
    assert lines == INVENTORY


def test_inventory_json(capsys, tag_file):
    tags = ("--tags", str(tag_file))
    code, lines, _ = run(capsys, "reader", "inventory", "sim:desk?realtime=0", "--json", *tags)
    assert code == 0
    found = {entry["uid"]: entry for entry in map(json.loads, lines)}
    assert sorted(found) == sorted(tag["uid"] for tag in TAGS)
    ours = found["E004011000000001"]
    assert (ours["product"], ours["profile"], ours["item_error"]) == ("U-TAG-L301", "U-TAG-L301", None)
    assert ours["item"]["item_id"] == "123456782"
    assert ours["item"]["isil"] == "JP-1004314"
    assert found["E004010800000002"]["item"]["parts"] == 3
    assert found["E004011000000003"]["item"]["isil"] == "DE-705"
    assert found["E004011000000004"]["item"] is None
    assert found["E004011000000004"]["item_error"].startswith("blank tag")
    assert found["E004011000000005"]["item_error"].startswith("3M-formatted tag")
    assert "bad CRC" in found["E004011000000006"]["item_error"]
    unknown = found["E007000000000007"]
    assert (unknown["product"], unknown["profile"]) == (None, None)
    assert unknown["profile_error"].startswith("no tag profile recognises UID E007000000000007")


def test_dump_one_tag(capsys, tag_file):
    tags = ("--tags", str(tag_file))
    code, lines, _ = run(capsys, "reader", "dump", "sim:desk", *tags, "--uid", "e004011000000001")
    assert code == 0
    assert lines[0] == "tag E004011000000001"
    for expected in (
        "  product       U-TAG-L301",
        "  chip          NXP Semiconductors ICODE SLIX",
        "  DSFID         0x00",
        "  AFI           0x07",
        "  memory        28 blocks of 4 B",
        "  EAS           set",
        f"  block   0     {OURS[0:4].hex().upper()}  locked",
        f"  block   1     {OURS[4:8].hex().upper()}  locked",
        f"  block   2     {OURS[8:12].hex().upper()}  unlocked",
        "  block  27     00000000  unlocked",
        "  decoded       item 123456782, ISIL JP-1004314, part 1 of 1",
    ):
        assert expected in lines
    assert len([line for line in lines if line.startswith("  block ")]) == 28


def test_dump_every_tag_as_json(capsys, tag_file):
    code, lines, _ = run(capsys, "reader", "dump", "sim:desk", "--tags", str(tag_file), "--json")
    assert code == 0
    found = {entry["uid"]: entry for entry in map(json.loads, lines)}
    assert sorted(found) == sorted(tag["uid"] for tag in TAGS)
    for tag in TAGS:
        entry = found[tag["uid"]]
        memory = bytes.fromhex(tag.get("memory_hex", "")).ljust(len(entry["blocks"]) * 4, b"\0")
        assert "".join(entry["blocks"]) == memory.hex().upper()
        locked = [number for number, lock in enumerate(entry["locked"]) if lock]
        assert locked == tag.get("locked_blocks", [])
        assert entry["eas"] is tag.get("eas", False)
        assert entry["system_info"]["afi"] == tag.get("afi", 0)
        assert entry["system_info"]["dsfid"] == tag.get("dsfid", 0)
    assert found["E004010800000002"]["system_info"]["block_count"] == 80


def test_a_tag_that_leaves_is_reported_on_its_line(capsys):
    world = sim.default_world()
    world.new_tag("slix", 0xE004011000000001, OURS)
    world.place(0xE004011000000001, "desk")
    world.tags[0xE004011000000001].leave_after(2)  # inventory and system info; gone before the read
    code, lines, _ = run(capsys, "reader", "inventory", "sim:desk")
    assert code == 0
    lost = "memory not read: tag lost (E004011000000001): no answer"
    assert lines == [f"E004011000000001  U-TAG-L301      {lost}"]


def test_dump_of_a_tag_not_there_fails(capsys, tag_file):
    tags = ("--tags", str(tag_file))
    code, lines, err = run(capsys, "reader", "dump", "sim:desk", *tags, "--uid", "E004011000000099")
    assert (code, lines) == (69, [])
    assert err == "tagd: no system info from E004011000000099: tag lost (E004011000000099): no answer\n"


def test_a_lost_reader_fails_with_one_line(capsys):
    sim.default_world().field("desk").unplugged = True
    code, lines, err = run(capsys, "reader", "inventory", "sim:desk")
    assert (code, lines) == (69, [])
    assert err.count("\n") == 1
    assert "unplugged" in err


@pytest.mark.parametrize(
    ("argv", "code", "reason"),
    [
        (["inventory", "nope:x"], 78, "no reader driver for 'nope:x'"),
        (["inventory", "feig:tcp://127.0.0.1:1", "--tags", "TAGS"], 64, "is not a sim: URL"),
        (["inventory", "sim:desk", "--tags", "/nonexistent/tags.json"], 66, "cannot read"),
        (["inventory", "sim:desk", "--tags", "BAD"], 65, "tag file entry 0"),
        (["inventory", "sim:desk", "--profiles", "BAD"], 78, "tag profiles"),
        (["dump", "sim:desk", "--uid", "E0040110"], 65, "16 upper-case hex digits"),
    ],
)
def test_refusals(capsys, tag_file, argv, code, reason):
    bad = tag_file.with_name("bad")
    bad.write_text('[{"uid": "E004", "profile": "no-such-chip"}]')
    argv = [str(tag_file) if arg == "TAGS" else str(bad) if arg == "BAD" else arg for arg in argv]
    got, lines, err = run(capsys, "reader", *argv)
    assert (got, lines) == (code, [])
    assert err.startswith("tagd: ")
    assert err.count("\n") == 1
    assert reason in err


@pytest.fixture
async def feig_url(tag_file) -> AsyncIterator[str]:
    """The FEIG emulator on a loopback port, over a world of its own holding the tag file's tags."""
    world = World()
    world.load_tags(tag_file.read_text(), "gate")
    server = FeigTcpServer(FeigEmulator(world.field("gate")))
    port = await server.start("127.0.0.1", 0)
    yield f"feig:tcp://127.0.0.1:{port}"
    await server.close()


async def test_inventory_through_the_feig_emulator(capsys, feig_url):
    """The CLI runs its own event loop, so it runs in a thread while this loop serves the emulator."""
    code, lines, err = await asyncio.to_thread(run, capsys, "reader", "inventory", feig_url)
    assert (code, err) == (0, "")
    assert sorted(lines) == INVENTORY


async def test_dump_through_the_feig_emulator(capsys, feig_url):
    code, lines, err = await asyncio.to_thread(run, capsys, "reader", "dump", feig_url, "--json")
    assert (code, err) == (0, "")
    found = {entry["uid"]: entry for entry in map(json.loads, lines)}
    assert sorted(found) == sorted(tag["uid"] for tag in TAGS)
    for tag in TAGS:
        entry = found[tag["uid"]]
        memory = bytes.fromhex(tag.get("memory_hex", "")).ljust(len(entry["blocks"]) * 4, b"\0")
        assert "".join(entry["blocks"]) == memory.hex().upper()
        assert entry["system_info"]["afi"] == tag.get("afi", 0)
        if hasattr(FeigReader, "block_security"):
            assert [n for n, lock in enumerate(entry["locked"]) if lock] == tag.get("locked_blocks", [])
        else:
            assert entry["locked"] is None
            assert entry["locked_error"] == "this reader cannot ask for block security status"
    assert found["E004011000000001"]["item"]["item_id"] == "123456782"
    assert found["E004011000000004"]["item_error"].startswith("blank tag")


def test_through_the_tagd_command(capsys, tag_file):
    assert main(["reader", "inventory", "sim:desk", "--tags", str(tag_file)]) == 0
    assert capsys.readouterr().out.splitlines() == INVENTORY


async def tagd(*argv: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *TAGD, *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), PROCESS_TIMEOUT)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_emulator_and_the_cli_as_processes(tag_file):
    """The acceptance check: `tagd sim feig` serves the tag file on loopback TCP, and `tagd reader` run as
    its own process lists and decodes exactly those tags."""
    emulator = await asyncio.create_subprocess_exec(
        *TAGD, "sim", "feig", "--listen", "tcp://127.0.0.1:0", "--tags", str(tag_file),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert emulator.stdout is not None
        port = int(await asyncio.wait_for(emulator.stdout.readline(), PROCESS_TIMEOUT))
        url = f"feig:tcp://127.0.0.1:{port}"
        code, out, err = await tagd("reader", "inventory", url)
        assert (code, err) == (0, "")
        assert sorted(out.splitlines()) == INVENTORY
        code, out, err = await tagd("reader", "dump", url, "--json")
        assert (code, err) == (0, "")
        dumped = {entry["uid"]: entry for entry in map(json.loads, out.splitlines())}
        for tag in TAGS:
            memory = bytes.fromhex(tag.get("memory_hex", "")).hex().upper()
            assert "".join(dumped[tag["uid"]]["blocks"]).startswith(memory)
        code, out, err = await tagd("reader", "dump", url, "--uid", "E004011000000003")
        assert code == 0
        assert "  decoded       item 11223344, ISIL DE-705, part 1 of 1" in out.splitlines()
    finally:
        emulator.terminate()
        assert await asyncio.wait_for(emulator.wait(), PROCESS_TIMEOUT) == 0
