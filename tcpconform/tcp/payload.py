"""The deterministic byte streams both ends of a test write.

Payload bytes are a pure function of their position in the stream, so a check never has to remember
what was sent.  The byte at stream offset ``k`` (counted from the first data byte, i.e. ISN + 1) is
``(k % 251 + (k // 251) * 7 + salt * 101) & 0xFF``: it changes with every byte and the pattern only
repeats after 64,256 bytes, so a segment delivered at the wrong offset, duplicated or reordered
shows up as wrong content, not just a wrong length.  The two directions use different salts, so a
target that echoes the tester's bytes back is distinguishable from one that writes its own.
"""

from __future__ import annotations

TESTER_SALT = 0
"""Salt of the tester's payloads (tester → target)."""

TARGET_SALT = 1
"""Salt of the target application's payloads (target → tester), e.g. the reference responder's reply."""

_PERIOD = 251 * 256

_TABLES: dict[int, bytes] = {}


def _table(salt: int) -> bytes:
    table = _TABLES.get(salt)
    if table is None:
        # Block j (k // 251 == j) is 251 consecutive byte values from (7j + 101 salt) & 0xFF: slices of
        # one doubled 0..255 run, joined, instead of 64,256 steps of Python (a tenth of a second).
        run = bytes(range(256)) * 2
        table = _TABLES[salt] = b"".join(run[c:c + 251] for c in ((j * 7 + salt * 101) & 0xFF for j in range(256)))
    return table


def stream_bytes(offset: int, n: int, salt: int = TESTER_SALT) -> bytes:
    """``n`` bytes of the stream ``salt`` starting at stream offset ``offset``.

    Raises ``ValueError`` for a negative offset or length: a stream has no bytes before its start.
    """
    if offset < 0 or n < 0:
        raise ValueError(f"stream offset and length must be >= 0 (got offset={offset}, n={n})")
    table = _table(salt)
    start = offset % _PERIOD
    if start + n <= _PERIOD:
        return table[start : start + n]
    reps = (start + n) // _PERIOD + 1
    return (table * reps)[start : start + n]


def first_mismatch(data: bytes, offset: int, salt: int = TESTER_SALT) -> int | None:
    """Index in ``data`` of the first byte that differs from the stream at ``offset``; ``None`` if all match.

    Lets a check say *where* received content went wrong rather than only that it did.
    """
    expected = stream_bytes(offset, len(data), salt)
    if data == expected:
        return None
    return next(i for i, (got, want) in enumerate(zip(data, expected, strict=True)) if got != want)
