"""How long ISO 15693 exchanges take on the air, for the simulator's clock and the benchmarks.

Frame lengths are in bytes as sent, CRC included. The reader uses 1-out-of-4 coding (26.48 kbit/s).
Figures, in carrier cycles (fc = 13.56 MHz):
- ISO/IEC 15693-2 (summarised in Wikipedia's ISO/IEC 15693 article): 1 out of 4 sends 2 bits per 75.52 us
  (4096/fc per byte); the reader's SOF spans 75.52 us (1024/fc) and its EOF 37.76 us (512/fc), as proxmark3
  armsrc/iso15693.c codes them in 9.44 us quarter slots. A tag's bit lasts 512/fc (high rate, one subcarrier),
  508/fc (high rate, two subcarriers), four times that at the low rate; its SOF and EOF each last 4 bit times
  (56.64 + 56.64 + 37.76 us at the high rate, one subcarrier).
- ISO/IEC 15693-3: t1 = 4352/fc (320.9 us; 4320..4384/fc, the 318.6..323.3 us FEIG's ISC manuals quote),
  t2 >= 4192/fc (309.2 us), t3 >= t1max + the tag's SOF when no tag answers; a write-alike answer without
  the option flag comes within 20 ms.
"""

import math
from collections.abc import Sequence

from tagd.protocols.iso15693.frames import WRITE_ALIKE, Command, RequestFlag

FC_HZ = 13_560_000

T1 = 4352 / FC_HZ
T1_MAX = 4384 / FC_HZ
T2 = 4192 / FC_HZ
WRITE_TIMEOUT = 0.020

VCD_SOF = 1024 / FC_HZ
VCD_EOF = 512 / FC_HZ
VCD_BYTE = 4096 / FC_HZ

CRC_BYTES = 2
MAX_BLOCK = 32  # ISO 15693 block size limit (5 bits of block size - 1)
_UID_BYTES = 8
_NXP_WRITES = frozenset(
    {
        Command.SET_EAS,
        Command.RESET_EAS,
        Command.LOCK_EAS,
        Command.PASSWORD_PROTECT_EAS_AFI,
        Command.WRITE_PASSWORD,
        Command.LOCK_PASSWORD,
    }
)
DEADLINE_HEADROOM = 2.0
"""answer_deadline's factor over the air time: the reader's own turnaround and clock tolerance."""


def vicc_bit_time(*, high_data_rate: bool = True, two_subcarriers: bool = False) -> float:
    """One bit from the tag, in seconds."""
    cycles = 508 if two_subcarriers else 512
    return cycles / FC_HZ * (1 if high_data_rate else 4)


def request_time(length: int) -> float:
    """A reader frame of `length` bytes, SOF to EOF."""
    return VCD_SOF + length * VCD_BYTE + VCD_EOF


def response_time(length: int, *, high_data_rate: bool = True, two_subcarriers: bool = False) -> float:
    """A tag frame of `length` bytes, SOF to EOF."""
    return (8 * length + 8) * vicc_bit_time(high_data_rate=high_data_rate, two_subcarriers=two_subcarriers)


def silence_time(*, high_data_rate: bool = True, two_subcarriers: bool = False) -> float:
    """How long a reader waits before it may conclude that no tag answers (t3)."""
    return T1_MAX + 4 * vicc_bit_time(high_data_rate=high_data_rate, two_subcarriers=two_subcarriers)


def air_time(
    request_len: int, response_len: int, *, high_data_rate: bool = True, two_subcarriers: bool = False
) -> float:
    """One exchange: the request, t1, the response; a response_len of 0 means no tag answered (t3)."""
    link = {"high_data_rate": high_data_rate, "two_subcarriers": two_subcarriers}
    answer = T1 + response_time(response_len, **link) if response_len else silence_time(**link)
    return request_time(request_len) + answer


def inventory_air_time(
    request_len: int, slot_lens: Sequence[int], *, high_data_rate: bool = True, two_subcarriers: bool = False
) -> float:
    """A whole inventory: the request, then per slot t1 + the answer + t2 (or t3 when silent), slots after the
    first opened by a reader EOF. `slot_lens` gives each slot's answer length (a collision lasts one answer).
    """
    link = {"high_data_rate": high_data_rate, "two_subcarriers": two_subcarriers}
    slots = sum(
        T1 + response_time(length, **link) + T2 if length else silence_time(**link) for length in slot_lens
    )
    return request_time(request_len) + slots + VCD_EOF * max(len(slot_lens) - 1, 0)


def longest_answer(frame: bytes) -> int:
    """The most bytes (CRC included) a tag can answer `frame` (a request without its CRC) with."""
    if len(frame) < 2:
        return 1 + MAX_BLOCK + CRC_BYTES
    flags, code = frame[0], frame[1]
    at = 2 + (1 if 0xA0 <= code <= 0xDF else 0)  # custom commands carry the IC manufacturer code
    if not flags & RequestFlag.INVENTORY and flags & RequestFlag.ADDRESSED:
        at += _UID_BYTES
    per_block = MAX_BLOCK + (1 if flags & RequestFlag.OPTION else 0)
    if code in (Command.READ_MULTIPLE_BLOCKS, Command.GET_MULTIPLE_BLOCK_SECURITY_STATUS):
        count = frame[at + 1] + 1 if len(frame) > at + 1 else 256
        width = per_block if code == Command.READ_MULTIPLE_BLOCKS else 1
        return 1 + count * width + CRC_BYTES
    if code == Command.INVENTORY:
        return 1 + 1 + _UID_BYTES + CRC_BYTES
    if code == Command.GET_SYSTEM_INFO:
        return 1 + 1 + _UID_BYTES + 1 + 1 + 3 + 1 + CRC_BYTES
    return 1 + per_block + CRC_BYTES  # read single block, and a margin for every other answer


def answer_deadline(frame: bytes) -> float:
    """How long, in seconds, a reader should wait for the answer to `frame` (a request without its CRC):
    DEADLINE_HEADROOM times the request on the air, then the tag's wait and its longest answer (t1 and the
    answer; 20 ms for a write-alike or an NXP write, which answer within it, ISO/IEC 15693-3)."""
    request = request_time(len(frame) + CRC_BYTES)
    code = frame[1] if len(frame) > 1 else None
    if code in WRITE_ALIKE or code in _NXP_WRITES:
        return DEADLINE_HEADROOM * (request + WRITE_TIMEOUT)
    return DEADLINE_HEADROOM * (request + T1_MAX + response_time(longest_answer(frame)))


def answer_deadline_us(frame: bytes) -> int:
    """answer_deadline in whole microseconds, rounded up: PC/SC part 3's 5F46 timer value."""
    return math.ceil(answer_deadline(frame) * 1_000_000)
