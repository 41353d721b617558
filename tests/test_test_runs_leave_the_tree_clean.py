"""A test run that changes a file in the repository fails, naming the file (tests/conftest.py
with tests/support/tracked.py): a real pytest run in a scratch git repository holding
this suite's conftest and support, with a test that writes a tracked file; the control
writes under tmp_path and passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO, run
from support.tracked import commit_scratch_repository

WRITES_TRACKED = '''
from pathlib import Path

def test_writes(tmp_path):
    (Path(__file__).resolve().parents[1] / "docs" / "page.md").write_text("rewritten by a test\\n")
'''
WRITES_TMP = '''
def test_writes(tmp_path):
    (tmp_path / "page.md").write_text("scratch\\n")
'''


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    shutil.copy2(REPO / "tests" / "conftest.py", root / "tests" / "conftest.py")
    shutil.copytree(REPO / "tests" / "support", root / "tests" / "support",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "devtools", root / "devtools", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "docs").mkdir()
    (root / "docs" / "page.md").write_text("committed\n")
    (root / ".gitignore").write_text(".cache/\n__pycache__/\n.pytest_cache/\n")
    return commit_scratch_repository(root)


def _pytest(root: Path, body: str) -> "subprocess.CompletedProcess[str]":
    (root / "tests" / "test_w.py").write_text(body)
    run(["git", "-C", str(root), "add", "tests/test_w.py"], check=True)
    # A run of its own, never an xdist worker's: PYTEST_XDIST_WORKER inherited from the run
    # around this test would make the inner run skip the guard that only the controller runs.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(root)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(root),
                           str(root / "tests" / "test_w.py")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)


def test_a_run_that_rewrites_a_tracked_file_fails_naming_it(scratch: Path) -> None:
    proc = _pytest(scratch, WRITES_TRACKED)
    out = proc.stdout + proc.stderr
    assert "1 passed" in out, out  # the test itself passed: the run fails for what it left
    assert proc.returncode == 1, out
    assert "this test run changed files in the repository" in out and "docs/page.md" in out, out


def test_a_run_that_writes_under_tmp_path_passes(scratch: Path) -> None:
    proc = _pytest(scratch, WRITES_TMP)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "1 passed" in out, out
    assert "changed files in the repository" not in out, out
