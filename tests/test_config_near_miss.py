"""A misspelled table is never silent.

With the plugin installed (in ``requires``), ``[tool.setuptools_nolibpython]``,
``[tool.nolibpython]`` or a case variant of the table would build with the plugin off
and ship a module that links libpython. The build fails instead, with one line naming
the right spelling. One real ``pip wheel`` build (and its correctly spelled control);
the other spellings through the same reader on real files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import built_wheel, libpython_needed_by_readelf, make_project, pip_wheel
from support.plugin_builds import output, wheel_extensions

from setuptools_nolibpython.config import read_pyproject_table
from setuptools_nolibpython.errors import ConfigError

LINKS = "libraries=['python' + LDVERSION], library_dirs=[LIBDIR]"


def _with_table(root: Path, name: str) -> Path:
    proj = make_project(root, name="near", enable=None, ext_kwargs=LINKS)
    pyproject = proj / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f"\n[tool.{name}]\nenable = true\n")
    return proj


def test_near_miss_table_fails_the_build(tmp_path: Path, wheelhouse: Path) -> None:
    proj = _with_table(tmp_path / "bad", "setuptools_nolibpython")
    proc = pip_wheel(proj, tmp_path / "out-bad", wheelhouse)
    log = output(proc)
    assert proc.returncode != 0, log[-3000:]
    said = [ln for ln in log.splitlines() if "[tool.setuptools_nolibpython] is not read" in ln]
    assert said, log[-3000:]
    assert "its table is spelled [tool.setuptools-nolibpython]" in said[0]
    assert "Traceback" not in log
    assert not list((tmp_path / "out-bad").glob("*.whl"))
    # Control: spelled right, the same project builds and its module does not link libpython.
    good = _with_table(tmp_path / "good", "setuptools-nolibpython")
    proc = pip_wheel(good, tmp_path / "out-good", wheelhouse)
    assert proc.returncode == 0, output(proc)[-3000:]
    files = wheel_extensions(built_wheel(tmp_path / "out-good"), tmp_path / "unpacked")
    assert libpython_needed_by_readelf(files["_ext"]) == []


@pytest.mark.parametrize("name", ["setuptools_nolibpython", "nolibpython", "Setuptools-NoLibpython",
                                  "NOLIBPYTHON", "setuptools-no-libpython", '"setuptools.nolibpython"'])
def test_every_near_miss_names_the_right_spelling(tmp_path: Path, name: str) -> None:
    proj = _with_table(tmp_path, name)
    with pytest.raises(ConfigError) as err:
        read_pyproject_table(proj / "pyproject.toml")
    msg = str(err.value)
    assert "\n" not in msg and str(proj / "pyproject.toml") in msg
    assert msg.endswith("its table is spelled [tool.setuptools-nolibpython]: rename it")


@pytest.mark.parametrize("name", ["ruff", "cibuildwheel", "nolibpython-tests-helper"])
def test_other_tables_are_left_alone(tmp_path: Path, name: str) -> None:
    """Control: tables of other tools (and names that only contain ours) are not near misses."""
    assert read_pyproject_table(_with_table(tmp_path, name) / "pyproject.toml") is None
