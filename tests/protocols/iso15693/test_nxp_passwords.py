"""The NXP EAS/AFI password over FEIG [0xB1] and in the config: layouts, round trips, what is refused."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagd.daemon.config.sections import Security
from tagd.daemon.stations.securing import eas_afi_password
from tagd.protocols.errors import ProtocolError
from tagd.protocols.feig import commands as fc
from tagd.protocols.feig import frames as feig

UID = 0xE004010812345678
UID_BYTES = bytes.fromhex("E0 04 01 08 12 34 56 78")
SET, WRITE = fc.PasswordCode.SET_PASSWORD, fc.PasswordCode.WRITE_PASSWORD


@pytest.mark.parametrize(
    ("command", "data"),
    [
        (fc.NxpCommand(code=fc.NxpCode.GET_RANDOM_NUMBER, uid=UID), b"\x04\xb2\x01" + UID_BYTES),
        (fc.ProtectEasAfi(uid=UID), b"\x04\xa6\x01" + UID_BYTES),
        (fc.ProtectEasAfi(uid=UID, afi=True), b"\x04\xa6\x09" + UID_BYTES),
        (
            fc.PasswordCommand(code=SET, uid=UID, password_id=0x10, password=0x5EC0DE42),
            b"\x04\xb3\x01" + UID_BYTES + bytes.fromhex("10 42 DE C0 5E"),
        ),
        (
            fc.PasswordCommand(code=WRITE, selected=True, password_id=0x10, password=1),
            bytes.fromhex("04 B4 02 10 01 00 00 00"),
        ),
    ],
)
def test_password_commands_are_laid_out_as_b1_custom_commands(command: fc.Command, data: bytes) -> None:
    request = fc.to_request(command)
    assert (request.control, request.data) == (0xB1, data)
    assert fc.decode_command(request) == command


@given(
    code=st.sampled_from(fc.PasswordCode),
    ident=st.integers(0, 0xFF),
    password=st.integers(0, 0xFFFFFFFF),
    uid=st.none() | st.integers(0, (1 << 64) - 1),
)
def test_password_commands_round_trip(
    code: fc.PasswordCode, ident: int, password: int, uid: int | None
) -> None:
    command = fc.PasswordCommand(code=code, uid=uid, password_id=ident, password=password)
    assert fc.decode_command(fc.to_request(command)) == command


def test_the_random_number_reply_is_two_bytes_as_the_tag_sent_them() -> None:
    assert fc.RandomNumber.decode(b"\x39\xd3").value == 0xD339
    assert fc.RandomNumber(0xD339).encode() == b"\x39\xd3"
    with pytest.raises(ProtocolError):
        fc.RandomNumber.decode(b"\x39")


@pytest.mark.parametrize(
    "data",
    [b"\x04\xb3\x00\x10\x00\x00\x00", b"\x04\xb4\x01" + UID_BYTES + b"\x10", b"\x04\xa6\x10"],
)
def test_short_or_malformed_password_requests_are_refused(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        fc.decode_command(feig.Request(0xB1, data))


def test_the_configured_password_is_a_number_and_the_factory_one_is_refused() -> None:
    assert eas_afi_password(Security(eas_afi_password="5ec0DE42")) == 0x5EC0DE42
    assert eas_afi_password(Security()) is None
    with pytest.raises(ValueError, match="factory password"):
        Security(eas_afi_password="00000000")
