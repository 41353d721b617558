"""Session fixtures: the plugin as a freshly built local wheel, shared by every build."""

from __future__ import annotations

import os
import shutil
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Dict, Iterator

import pytest
from packaging.requirements import Requirement
from support import COMPAT_RESULTS, REPO, run
from support.sid import Sid, require_sid
from support.skips import pytest_unconfigure  # noqa: F401  (the run's last line: what was skipped, what to install)
from support.tracked import changed_paths, tree_state


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding setuptools-nolibpython built from this checkout (pip --find-links)."""
    out = tmp_path_factory.mktemp("wheelhouse")
    # Built without isolation, by this venv's setuptools: it must satisfy the plugin's own
    # [build-system] requires (SPDX license metadata needs setuptools 77).
    needed = [Requirement(r) for r in tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]]
    have = version("setuptools")
    for req in needed:
        assert req.name != "setuptools" or req.specifier.contains(have), (
            f"{sys.executable} has setuptools {have}, the plugin's pyproject.toml needs {req} "
            "to build itself: run `make setup` (requirements-dev.txt)")
    # Built from a private copy: xdist workers building REPO itself at once race on its
    # build/ and *.egg-info directories.
    src = tmp_path_factory.mktemp("plugin-src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "setuptools_nolibpython", src / "setuptools_nolibpython",
                    ignore=shutil.ignore_patterns("__pycache__"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        check=True)
    assert list(out.glob("setuptools_nolibpython-*.whl"))
    return out


@pytest.fixture(scope="module")
def sid(wheelhouse: Path) -> Iterator[Sid]:
    """A work directory in the Debian sid chroot (python3.14, python3.15) holding the
    plugin's wheel; skips without the chroot (a failure under CI=true)."""
    require_sid()
    box = Sid()
    box.with_wheelhouse(wheelhouse)
    yield box
    box.close()


@pytest.fixture(scope="module")
def frozen_app(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """A freeze-style wheel: a host program with the static libpython inside and modules
    that call into it (support.cbuild.build_frozen_app), built once per test module."""
    from support.cbuild import build_frozen_app  # gcc-built files: only the tests that ask

    return build_frozen_app(tmp_path_factory.mktemp("frozen"))


# ---------------------------------------------------------------- compatibility table
def _is_controller() -> bool:
    """True in a plain run and in pytest-xdist's controller; False in its workers."""
    return "PYTEST_XDIST_WORKER" not in os.environ


#: git's view of the repository when the run started (None outside a git work tree).
TREE_AT_START = pytest.StashKey[object]()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Empty the compat results at the start of a run: the table shows this run only; and
    note which files git already sees as changed, to tell what the run itself changes."""
    if _is_controller():
        COMPAT_RESULTS.parent.mkdir(parents=True, exist_ok=True)
        COMPAT_RESULTS.write_text("")
        session.config.stash[TREE_AT_START] = tree_state(REPO)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Render this run's cells beside the results, under .cache/compat/ (controller only, and
    only when some matrix test recorded one). A test run never writes a tracked file:
    `make compat` (or scripts/gen_compat.py) writes docs/compatibility.md, and
    `scripts/gen_compat.py --check` compares the committed document with these results."""
    if not _is_controller():
        return
    _fail_if_the_run_changed_files(session)
    if not COMPAT_RESULTS.exists() or COMPAT_RESULTS.stat().st_size == 0:
        return
    rendered = COMPAT_RESULTS.with_name("compatibility.md")
    proc = run([sys.executable, str(REPO / "scripts" / "gen_compat.py"), "--results", str(COMPAT_RESULTS),
                "--output", str(rendered)])
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    text = (proc.stdout + proc.stderr).strip()
    if reporter is not None and text:
        reporter.write_line(text)


def _fail_if_the_run_changed_files(session: pytest.Session) -> None:
    """A run that changed or left a file git sees (tracked, or new and not ignored) fails,
    naming the files: tests write under tmp_path or .cache/, never into the repository."""
    before = session.config.stash.get(TREE_AT_START, None)
    after = tree_state(REPO) if isinstance(before, dict) else None
    if not isinstance(before, dict) or after is None:
        return
    changed = changed_paths(before, after)
    if not changed:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    line = (f"error: this test run changed files in the repository (tests must write under tmp_path or "
            f".cache/; a file edited by hand during the run counts too): {', '.join(changed)}")
    if reporter is not None:
        reporter.write_line(line, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
