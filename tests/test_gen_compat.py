"""scripts/gen_compat.py: the table is what the tests recorded, gaps show as "not run",
bad input is one line naming file and line, and the output is never half-written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support import REPO, run


def test_the_session_hook_writes_no_tracked_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pytest session that records a cell renders it under the results' directory and
    leaves docs/compatibility.md as it was (it is written by make compat only)."""
    doc = REPO / "docs" / "compatibility.md"
    before = doc.read_bytes()
    (tmp_path / "test_cell.py").write_text(
        "from support import record_compat\n\n"
        "def test_cell():\n"
        "    record_compat('interpreters', 'CPython 3.11 (pyenv, shared libpython)', 'pass', 'hook test')\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    results = tmp_path / "compat" / "results.jsonl"
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # the inner run is a controller of its own
    proc = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-c", str(tmp_path / "pytest.ini"),
                "--rootdir", str(tmp_path), "-p", "conftest", str(tmp_path / "test_cell.py")],
               env={"PYTHONPATH": str(REPO / "tests"), "NOLIBPYTHON_COMPAT_RESULTS": str(results)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rendered = results.with_name("compatibility.md")
    assert "| CPython 3.11 (pyenv, shared libpython) | pass | hook test |" in rendered.read_text()
    assert f"gen_compat: wrote {rendered}" in proc.stdout
    assert doc.read_bytes() == before
