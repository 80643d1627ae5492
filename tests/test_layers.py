"""The layer direction of imports (ARCHITECTURE.md section 1), enforced by import-linter
with the contracts in pyproject.toml: lower layers never import higher ones, and the TCP
connection core is sans-IO."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    pytest.importorskip("importlinter")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command;"
            " sys.exit(lint_imports_command())",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_wire_imports_nothing_of_ours() -> None:
    for path in (ROOT / "usersock" / "wire").glob("*.py"):
        text = path.read_text()
        for line in text.splitlines():
            if line.startswith(("import usersock", "from usersock")):
                assert line.startswith("from usersock.wire"), f"{path.name}: {line}"
