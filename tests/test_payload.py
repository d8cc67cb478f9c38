"""The payload streams are the formula the module states, byte for byte, across a period boundary."""

from tcpconform.tcp.payload import TARGET_SALT, TESTER_SALT, stream_bytes


def test_stream_is_the_stated_formula() -> None:
    period = 251 * 256
    for salt in (TESTER_SALT, TARGET_SALT, 3):
        want = bytes(((k % 251) + (k // 251) * 7 + salt * 101) & 0xFF for k in range(period + 600))
        assert stream_bytes(0, period + 600, salt) == want
        assert stream_bytes(period - 100, 700, salt) == want[period - 100:period + 600]
