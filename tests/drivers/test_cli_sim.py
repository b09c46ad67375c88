"""`tagd sim feig` end to end: a real `tagd` process serving a tag file over loopback TCP or a pty, the FEIG
driver of this process reading exactly those tags back, and a signal ending it with exit code 0."""

import asyncio
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tagd.drivers.feig import open_feig_reader
from tagd.protocols.iso28560 import encode_basic_block

STEP = 15.0
"""Safety net for each wait on the child process (start-up imports the whole package)."""

OURS = encode_basic_block("123456782", "JP-1004314")
TAGS = [
    {"uid": "E004011000000001", "profile": "slix", "memory_hex": OURS.hex(), "afi": 0x07, "eas": True,
     "locked_blocks": [0, 1]},
    {"uid": "E004010800000002", "profile": "slix2", "afi": 0xC2, "dsfid": 0x01},
    {"uid": "E004011000000003", "profile": "u-tag-l301"},
]  # fmt: skip


@pytest.fixture
def tag_file(tmp_path: Path) -> Path:
    path = tmp_path / "tags.json"
    path.write_text(json.dumps(TAGS))
    return path


async def start(*argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tagd.daemon", "sim", "feig", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """The children a test starts; any still running at the end are killed by their own PID."""
    children: list[asyncio.subprocess.Process] = []
    yield children
    for child in children:
        if child.returncode is None:
            child.kill()
            await child.wait()


async def first_line(child: asyncio.subprocess.Process) -> str:
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), STEP)
    assert line, "tagd sim feig ended before saying where it serves"
    return line.decode().strip()


async def stop(child: asyncio.subprocess.Process, signum: int) -> int:
    child.send_signal(signum)
    return await asyncio.wait_for(child.wait(), STEP)


async def test_serves_exactly_the_tag_file_over_tcp(tag_file: Path, running) -> None:
    child = await start("--listen", "tcp://127.0.0.1:0", "--tags", str(tag_file))
    running.append(child)
    port = int(await first_line(child))
    assert port > 0
    reader = await open_feig_reader(f"feig:tcp://127.0.0.1:{port}")
    try:
        found = await asyncio.wait_for(reader.inventory(), STEP)
        assert sorted(f"{tag.uid:016X}" for tag in found) == sorted(entry["uid"] for entry in TAGS)
        first = int(str(TAGS[0]["uid"]), 16)
        blocks = await asyncio.wait_for(reader.read_blocks(first, 0, 8), STEP)
        assert b"".join(blocks) == OURS
        assert (await asyncio.wait_for(reader.system_info(first), STEP)).afi == 0x07
        assert await asyncio.wait_for(reader.eas_alarm(), STEP)
    finally:
        await reader.close()
    assert await stop(child, signal.SIGTERM) == 0


async def test_serves_a_pty_until_interrupted(tag_file: Path, running) -> None:
    child = await start("--pty", "--tags", str(tag_file), "--field", "desk")
    running.append(child)
    path = await first_line(child)
    assert path.startswith("/dev/")
    reader = await open_feig_reader(f"feig:serial://{path}")
    try:
        found = await asyncio.wait_for(reader.inventory(), STEP)
        assert len(found) == len(TAGS)
    finally:
        await reader.close()
    assert await stop(child, signal.SIGINT) == 0


async def test_an_empty_field_without_a_tag_file(running) -> None:
    child = await start("--listen", "tcp://127.0.0.1:0")
    running.append(child)
    reader = await open_feig_reader(f"feig:tcp://127.0.0.1:{await first_line(child)}")
    try:
        assert await asyncio.wait_for(reader.inventory(), STEP) == []
    finally:
        await reader.close()
    assert await stop(child, signal.SIGTERM) == 0


@pytest.mark.parametrize(
    ("argv", "code", "reason"),
    [
        (["--listen", "tcp://127.0.0.1:0", "--tags", "{missing}"], 66, "cannot read"),
        (["--listen", "tcp://127.0.0.1:0", "--tags", "{bad}"], 65, "tag file entry 0"),
        (["--listen", "udp://127.0.0.1:0"], 2, "is not tcp://HOST:PORT"),
        (["--listen", "tcp://127.0.0.1:0", "--pty"], 2, "not allowed with"),
        (["--listen", "tcp://127.0.0.1:{busy}"], 71, "cannot serve"),
    ],
)
async def test_refusals(tmp_path: Path, running, argv: list[str], code: int, reason: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"uid": "E004011000000001", "profile": "no-such-chip"}]')
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        fill = {
            "missing": str(tmp_path / "missing.json"),
            "bad": str(bad),
            "busy": str(busy.getsockname()[1]),
        }
        child = await start(*(arg.format_map(fill) if "{" in arg else arg for arg in argv))
        running.append(child)
        stdout, stderr = await asyncio.wait_for(child.communicate(), STEP)
    assert (child.returncode, stdout) == (code, b"")
    assert reason in stderr.decode()
