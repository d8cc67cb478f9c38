"""Runs on a wire take source-port blocks in turn, so no run meets a recent run's TIME_WAIT."""

from __future__ import annotations

import itertools
from pathlib import Path

from tcpconform.engine.run import PORT_SPAN
from tcpconform.session import PORT_FIRST, PORT_LAST, fresh_base_port


def test_blocks_come_in_turn_and_wrap(tmp_path: Path) -> None:
    state = tmp_path / "state" / "last-base-port"
    bases = [fresh_base_port(state) for _ in range(45)]
    slots = (PORT_LAST - PORT_FIRST) // PORT_SPAN
    assert len(set(bases[:slots])) == slots  # 40 runs before a block comes back
    assert all(b >= PORT_FIRST and b + PORT_SPAN <= PORT_LAST for b in bases)
    assert all((b - a) % (slots * PORT_SPAN) == PORT_SPAN for a, b in itertools.pairwise(bases))
    assert state.read_text().strip() == str(bases[-1])


def test_without_a_writable_state_file_turns_are_kept_in_the_process(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    a = fresh_base_port(blocked / "sub" / "last-base-port")  # a file where a folder should be
    b = fresh_base_port(blocked / "sub" / "last-base-port")
    assert (b - a) % (PORT_LAST - PORT_FIRST) == PORT_SPAN
