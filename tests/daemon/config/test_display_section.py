"""`[display]`: where the station pages listen, their language, and the token beyond loopback."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tagd.daemon.cli.run import load
from tagd.daemon.config.model import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "tagd.example.toml"


def test_on_loopback_by_default_in_japanese() -> None:
    display = load(EXAMPLE, None).display
    assert (display.listen, display.language, display.enabled, display.loopback) == (
        "127.0.0.1:8080", "ja", True, True
    )  # fmt: skip


def test_the_command_line_overrides_it_and_off_turns_it_off() -> None:
    assert load(EXAMPLE, None, "off").display.enabled is False
    display = load(EXAMPLE, "mqtt://127.0.0.1:1999", "127.0.0.1:9090").display
    assert (display.host, display.port) == ("127.0.0.1", 9090)


@pytest.mark.parametrize("listen", ["8080", "localhost:", "127.0.0.1:http", "127.0.0.1:70000"])
def test_a_bad_listen_address_names_the_key(listen: str) -> None:
    with pytest.raises(ConfigError, match=r"display\.listen"):
        load(EXAMPLE, None, listen)


def test_beyond_loopback_a_token_is_required() -> None:
    with pytest.raises(ConfigError, match=r"beyond loopback: set display\.token"):
        load(EXAMPLE, None, "0.0.0.0:8080")


def test_a_taken_port_exits_69_with_the_key(tmp_path: Path) -> None:
    """In a process of its own: `tagd run` configures the process's logging."""
    config = tmp_path / "tagd.toml"
    example = EXAMPLE.read_text(encoding="utf-8")
    config.write_text(example.replace('state_dir = "/var/lib/tagd"', f'state_dir = "{tmp_path}"'), "utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "tagd.daemon", "run", "--config", str(config)]
        command += ["--mqtt-url", "mqtt://127.0.0.1:9", "--display-listen", f"127.0.0.1:{port}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 69, done.stderr[-2000:]
    assert f"tagd: display.listen 127.0.0.1:{port}: " in done.stderr
