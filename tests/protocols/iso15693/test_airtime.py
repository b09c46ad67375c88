"""Air time against the ISO/IEC 15693-2/-3 figures in microseconds, added up by hand."""

import pytest

from tagd.protocols.iso15693 import air_time, inventory_air_time, request_time, response_time
from tagd.protocols.iso15693.airtime import T1, T2, WRITE_TIMEOUT, silence_time, vicc_bit_time

US = 1e-6


def approx_us(microseconds: float) -> object:
    """Published figures are rounded to 0.01 us or 0.1 us."""
    return pytest.approx(microseconds * US, rel=5e-4)


def test_published_figures():
    assert approx_us(320.9) == T1
    assert approx_us(309.2) == T2
    assert WRITE_TIMEOUT == 0.020
    assert vicc_bit_time() == approx_us(37.76)  # 26.48 kbit/s
    assert vicc_bit_time(high_data_rate=False) == approx_us(151.04)  # 6.62 kbit/s
    assert vicc_bit_time(two_subcarriers=True) == approx_us(37.46)  # 26.69 kbit/s
    assert vicc_bit_time(high_data_rate=False, two_subcarriers=True) == approx_us(149.85)  # 6.67 kbit/s


def test_reader_frames():
    # SOF 75.52 + 302.08 per byte (1 out of 4) + EOF 37.76
    assert request_time(3) == approx_us(75.52 + 3 * 302.08 + 37.76)
    assert request_time(5) == approx_us(1623.68)  # 26 01 00 + CRC


def test_tag_frames():
    # SOF 151.04 (56.64 + 56.64 + 37.76) + 37.76 per bit + EOF 151.04
    assert response_time(12) == approx_us(151.04 + 96 * 37.76 + 151.04)  # inventory answer + CRC: 3927.04
    assert response_time(12, high_data_rate=False) == approx_us(4 * 3927.04)
    assert response_time(3, two_subcarriers=True) == approx_us(149.85 + 24 * 37.46 + 149.85)


def test_exchanges():
    assert air_time(5, 12) == approx_us(1623.68 + 320.9 + 3927.04)
    assert air_time(5, 0) == approx_us(1623.68 + 323.3 + 151.04)  # t3 = t1 max + the tag's SOF
    assert silence_time(high_data_rate=False) == approx_us(323.3 + 604.16)


def test_inventory_of_one_tag_in_sixteen_slots():
    answered = 320.9 + 3927.04 + 309.2
    silent = 323.3 + 151.04
    expected = 1623.68 + answered + 15 * silent + 15 * 37.76  # 15 reader EOFs open slots 1..15
    assert inventory_air_time(5, [12] + [0] * 15) == approx_us(expected)
    assert inventory_air_time(5, []) == approx_us(1623.68)
