"""The last line of a run names what was skipped and the apt-get command that unlocks it.

Real pytest runs (with pytest-xdist, as ``make test`` runs) of a small test file that
uses ``support.require``; the plugin is tests/support/skips.py, which tests/conftest.py
loads for the whole suite.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List

from support import SUPPORT, run

TESTS = '''
from support import require

def test_needs_apache():
    require(False, "no Apache here", apt=["apache2", "libapache2-mod-wsgi-py3"])

def test_needs_dbg():
    require(False, "no debug build", apt=["python3.11-dbg", "apache2"])

def test_by_hand():
    require(False, "Debian's python3.11 is missing (apt-get install python3.11 python3.11-venv)")

def test_other():
    require(False, "uv is not installed\\n  (a second line of tool output)")

def test_runs():
    pass
'''


def pytest_lines(tmp_path: Path, *args: str, ci: str = "false") -> List[str]:
    (tmp_path / "test_x.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    proc = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "support.skips", "-n", "2",
                "-c", tmp_path / "pytest.ini", "--rootdir", tmp_path, tmp_path / "test_x.py", *args],
               env={"PYTHONPATH": str(SUPPORT.parent), "CI": ci}, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout.rstrip("\n").splitlines()


def test_last_line_names_skips_and_packages(tmp_path: Path) -> None:
    lines = pytest_lines(tmp_path)
    assert "1 passed, 4 skipped" in lines[-2]  # pytest's own summary comes just before
    assert lines[-1] == (
        "skipped 4 tests; test_x.py::test_by_hand, test_x.py::test_needs_apache, test_x.py::test_needs_dbg: "
        "run `apt-get install -y python3.11 python3.11-venv apache2 libapache2-mod-wsgi-py3 python3.11-dbg` "
        "to run them; test_x.py::test_other: uv is not installed (a second line of tool output)"
    )


def test_one_apt_skip_says_it_not_them(tmp_path: Path) -> None:
    """One skipped test: "to run it" (the grammar follows the count, as "1 test" does)."""
    lines = pytest_lines(tmp_path, "-k", "test_needs_apache")
    assert "1 skipped" in lines[-2]
    assert lines[-1] == (
        "skipped 1 test; test_x.py::test_needs_apache: "
        "run `apt-get install -y apache2 libapache2-mod-wsgi-py3` to run it"
    )


def test_last_line_when_nothing_is_skipped(tmp_path: Path) -> None:
    lines = pytest_lines(tmp_path, "-k", "test_runs")
    assert "1 passed" in lines[-2]
    assert lines[-1] == "skipped: nothing, every test ran on this machine"


def test_under_ci_a_missing_package_fails(tmp_path: Path) -> None:
    lines = pytest_lines(tmp_path, ci="true")
    assert "4 failed, 1 passed" in lines[-2]
    assert any("required environment missing under CI=true: no Apache here (apt-get install apache2 "
               "libapache2-mod-wsgi-py3)" in line for line in lines)
    assert lines[-1] == "skipped: nothing, every test ran on this machine"
