"""House rule: ``pip install .`` installs the whole package.

The wheel is built from a copy of the source tree (so no ``build/`` or ``*.egg-info`` is left in the
checkout, and no stale build output can fill a gap) and its file list is held against the tree:
every module under ``tcpconform/``, ``py.typed``, the case schema, and the bundled case files.  A
package missing from pyproject.toml's explicit package list shows up here as missing modules.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "tcpconform", "testcases")
"""What the build reads: the metadata, the package, and the cases installed as ``tcpconform.bundled_cases``."""


def expected_files() -> set[str]:
    package = ROOT / "tcpconform"
    files = {str(p.relative_to(ROOT)) for p in package.rglob("*.py") if "__pycache__" not in p.parts}
    files |= {str(p.relative_to(ROOT)) for p in (package / "cases" / "schema").glob("*.json")}
    files |= {str(p.relative_to(ROOT)) for p in (package / "cases" / "requirements").glob("*.yaml")}
    files |= {str(p.relative_to(ROOT)) for p in (package / "bench" / "data").glob("*.pkt")}
    files |= {str(p.relative_to(ROOT)) for p in (package / "mutate").glob("*.yaml")}
    files.add("tcpconform/py.typed")
    cases = ROOT / "testcases"
    files |= {f"tcpconform/bundled_cases/{p.relative_to(cases)}" for p in cases.rglob("*")
              if p.suffix in (".yaml", ".yml", ".py")}
    return files


@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="setuptools not installed")
def test_the_wheel_holds_every_package_and_data_file(tmp_path: Path) -> None:
    tree = tmp_path / "src"
    tree.mkdir()
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, tree / name)
    out = tmp_path / "wheel"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                           str(tree)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("tcpconform-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        installed = {name for name in zf.namelist() if not name.split("/")[0].endswith(".dist-info")}
    assert sorted(expected_files() - installed) == [], "not installed by `pip install .` (pyproject.toml's package list?)"
    assert sorted(installed - expected_files()) == [], "installed but not in the source tree"
