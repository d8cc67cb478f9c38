"""Case files made to hurt: each is refused at once, with the file and, where it has one, the line,
never a traceback, a hang or gigabytes of memory (a few hundred bytes of YAML aliases expand to
gigabytes; PyYAML's constructors raise bare Python errors for a tag the value does not fit)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tcpconform.cases.document import CaseFileError
from tcpconform.cases.load import load_cases
from tcpconform.cli import main

BOMB = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))
HOSTILE = {
    "bomb": (BOMB, "aliases", 1),
    "self-alias": ("a: &a [*a]\n", "aliases", 1),
    "deep-flow": ("a: " + "[" * 600 + "]" * 600 + "\n", "nested", 1),
    "deep-block": "".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "v: 1\n",
    "bad-bool": ("a: !!bool x\n", "not a valid bool", 1),
    "bad-float": ("a: !!float x\n", "not a valid float", 1),
    "bad-int": ("a: !!int x\n", "not a valid int", 1),
    "bad-date": ("a: !!timestamp 2001-99-99\n", "not a valid timestamp", 1),
    "bad-timestamp": ("a: !!timestamp x\n", "not a valid timestamp", 1),
    "level-list": ("id: x\ntitle: t\nrequirements: [{id: r, ref: RFC 9293, level: [MUST]}]\nno_fault: n\n"
                   "steps: [{wait: 1}]\n", "expected one of MUST, SHOULD, MAY", 3),
    "huge": ("steps:\n" + "  - wait: 1\n" * 120_000, "at most 1,000,000", None),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_file_is_refused_with_where(tmp_path: Path, name: str) -> None:
    spec = HOSTILE[name]
    text, what, line = spec if isinstance(spec, tuple) else (spec, "nested", 2)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    with pytest.raises(CaseFileError) as info:
        load_cases([path])
    found = next((e for e in info.value.errors if what in e.message), None)
    assert found is not None, info.value.errors
    assert found.file == str(path)
    if line is not None:
        assert found.line is not None and found.line >= line, found


def test_the_matrix_tables_own_tags_are_checked(tmp_path: Path) -> None:
    table = Path(__file__).resolve().parents[2] / "testcases" / "matrix" / "matrix.yaml"
    path = tmp_path / "m.yaml"
    path.write_text(table.read_text().replace("  tags: [matrix]", "  tags: 5"))
    with pytest.raises(CaseFileError, match="tags must be a list of names"):
        load_cases([path])


def test_the_cli_says_so_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    result = CliRunner().invoke(main, ["list", "--cases", str(path)])
    assert result.exit_code == 2
    assert "aliases" in result.output and "Traceback" not in result.output
