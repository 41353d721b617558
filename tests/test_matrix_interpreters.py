"""Compatibility matrix, interpreters (issue 5, items 1 and 2).

Every CPython 3.9-3.13 in pyenv (shared libpython), Debian's static /usr/bin/python3.11
and Debian's debug python3.11d build sample_project with ``pip wheel`` (isolated, plugin
from the local wheelhouse). Each result must have no libpython DT_NEEDED (readelf) and
import in its own interpreter; the negative control, the same build with
SETUPTOOLS_NOLIBPYTHON=0, must link that interpreter's libpython. The cross-interpreter
case reuses the pyenv 3.11 pair under Debian's python with libpython hidden.
All builds (14) run once per module, two at a time.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from support import (
    DEBIAN_PYTHON,
    PYENV_ROOT,
    WITHOUT_LIBPYTHON,
    pyenv_pythons,
    record_compat,
    require,
    run,
)
from support.matrix import (
    DEBIAN_DEBUG_PYTHON,
    SAMPLE,
    SampleBuild,
    build_pairs,
    import_code,
    interpreter_info,
    make_venv,
)

from devtools.machine import pyenv_root

SECTION = "interpreters"
PYENV_VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
DEBIAN_STATIC = "CPython 3.11 (Debian /usr/bin/python3.11, static)"
DEBIAN_DEBUG = "CPython 3.11 debug (Debian python3.11-dbg, libpython3.11d)"
FREE_THREADED = "CPython free-threaded (3.13t)"


def pyenv_case(version: str) -> str:
    return f"CPython {version} (pyenv, shared libpython)"


def _interpreters(tmp: Path) -> Tuple[Dict[str, Path], Dict[str, Path]]:
    """({case: python that builds}, {case: python that imports}); Debian's interpreters
    build from a venv (its pip may be absent) and import with the system executable."""
    build: Dict[str, Path] = {}
    use: Dict[str, Path] = {}
    for version, exe in pyenv_pythons().items():
        if version in PYENV_VERSIONS:
            build[pyenv_case(version)] = use[pyenv_case(version)] = exe
    for case, exe in ((DEBIAN_STATIC, DEBIAN_PYTHON), (DEBIAN_DEBUG, DEBIAN_DEBUG_PYTHON)):
        if exe.exists():
            build[case] = make_venv(exe, tmp / f"venv-{exe.name}")
            use[case] = exe
    return build, use


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path,
           ) -> Tuple[Dict[str, Tuple[SampleBuild, SampleBuild]], Dict[str, Path]]:
    tmp = tmp_path_factory.mktemp("interpreters")
    build, use = _interpreters(tmp)
    return build_pairs(build, tmp, wheelhouse), use


def _check_interpreter(case: str, matrix: Tuple[Dict[str, Tuple[SampleBuild, SampleBuild]], Dict[str, Path]],
                       ) -> None:
    pairs, use = matrix
    python = use[case]
    info = interpreter_info(python)
    with_plugin, control = pairs[case]
    ext = with_plugin.extension()
    # Built by this interpreter (its EXT_SUFFIX), and free of libpython.
    assert ext.name.endswith(str(info["ext_suffix"])), f"{ext.name} was not built for {python}"
    assert with_plugin.libpython_needed() == [], f"{case}: {ext} still needs {with_plugin.libpython_needed()}"
    assert "setuptools-nolibpython:" in with_plugin.log, f"{case}: the plugin did not run:\n{with_plugin.log[-3000:]}"
    # Imports in this interpreter, and the C function runs against this runtime.
    assert with_plugin.tree is not None
    proc = run([str(python), "-I", "-c", import_code(with_plugin.tree)])
    assert proc.returncode == 0, f"{case}: import failed:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert f"FILE {ext}" in proc.stdout and "SUM 42" in proc.stdout, proc.stdout
    # Negative control: the same build without the plugin links this interpreter's libpython.
    expected = f"libpython{info['ldversion']}.so.1.0"
    assert control.libpython_needed() == [expected], (
        f"{case}: control needs {control.libpython_needed()}, expected [{expected}]: the case proves nothing"
    )
    # The control ran with SETUPTOOLS_NOLIBPYTHON=0 over the sample's enable = true: the plugin
    # says only that the environment switched it off (one warning), and does nothing else.
    said = [ln for ln in control.log.splitlines() if "setuptools-nolibpython:" in ln]
    assert said and all("turned off by the environment: SETUPTOOLS_NOLIBPYTHON=0" in ln for ln in said), said
    version = str(info["version"]).split()[0]
    record_compat(
        SECTION, case, "pass",
        f"{python} {version}{' (' + str(info['abiflags']) + ')' if info['abiflags'] else ''}: {ext.name} has no "
        f"libpython DT_NEEDED, RUNPATH {with_plugin.runpath() or 'none'}, imports, add(2, 40) = 42; "
        f"without the plugin: NEEDED {expected}",
    )


def test_sample_project_own_tests(matrix: Tuple[Dict[str, Tuple[SampleBuild, SampleBuild]], Dict[str, Path]],
                                  tmp_path: Path) -> None:
    """sample_project's own tests pass against the wheel the plugin built with the suite's
    interpreter (pyenv 3.11): the module is the unpacked wheel's, not the source tree's."""
    import sys

    pairs, _ = matrix
    case = pyenv_case("3.11")
    require(case in pairs, "no pyenv CPython 3.11")
    with_plugin, _ = pairs[case]
    assert with_plugin.tree is not None, with_plugin.log[-3000:]
    proc = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                str(SAMPLE / "tests")], env={"PYTHONPATH": str(with_plugin.tree)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"\b2 passed\b", proc.stdout), proc.stdout


@pytest.mark.parametrize("version", PYENV_VERSIONS)
def test_pyenv_shared_interpreter(version: str, matrix: Tuple[Dict[str, Tuple[SampleBuild, SampleBuild]],
                                                               Dict[str, Path]]) -> None:
    require(pyenv_case(version) in matrix[0], f"no pyenv CPython {version} in {PYENV_ROOT}/versions")
    _check_interpreter(pyenv_case(version), matrix)


def test_debian_static_interpreter(matrix: Tuple[Dict[str, Tuple[SampleBuild, SampleBuild]], Dict[str, Path]],
                                   ) -> None:
    require(DEBIAN_STATIC in matrix[0], f"{DEBIAN_PYTHON} missing (apt-get install python3.11 python3.11-venv)")
    needed = run(["readelf", "-dW", str(DEBIAN_PYTHON)], check=True).stdout
    assert "libpython" not in needed, f"{DEBIAN_PYTHON} links libpython: not the static case this cell is about"
    _check_interpreter(DEBIAN_STATIC, matrix)


def test_debian_debug_interpreter(matrix: Tuple[Dict[str, Tuple[SampleBuild, SampleBuild]], Dict[str, Path]],
                                  ) -> None:
    require(DEBIAN_DEBUG in matrix[0], f"{DEBIAN_DEBUG_PYTHON} missing (apt-get install python3.11-dbg)")
    info = interpreter_info(DEBIAN_DEBUG_PYTHON)
    assert info["ldversion"] == "3.11d", info
    _check_interpreter(DEBIAN_DEBUG, matrix)


def _free_threaded_candidates() -> Tuple[List[Path], List[str]]:
    """Free-threaded interpreters on this machine, and what was searched."""
    searched: List[str] = []
    found: List[Path] = []
    versions = pyenv_root() / "versions"
    names = sorted(d.name for d in versions.iterdir()) if versions.is_dir() else []
    searched.append(f"pyenv versions {', '.join(names) or 'none'}")
    for name in names:
        exe = versions / name / "bin" / "python3"
        if exe.exists() and (name.endswith("t") or
                             (name.startswith("3.13") and interpreter_info(exe)["gil_disabled"])):
            found.append(exe)
    for p in sorted(Path("/usr/bin").glob("python3.*t")) + sorted(Path("/usr/local/bin").glob("python3.*t")):
        if re.fullmatch(r"python3\.\d+t", p.name):
            found.append(p)
    searched.append("/usr/bin and /usr/local/bin python3.*t: " + ("found" if found else "none"))
    if shutil.which("apt-cache"):
        pol = run(["apt-cache", "policy", "python3.13", "python3.13-nogil", "python3.13t"]).stdout.strip()
        searched.append(f"apt-cache policy python3.13 python3.13-nogil python3.13t: {pol or 'no such packages'}")
    return found, searched


def test_free_threaded_interpreter() -> None:
    found, searched = _free_threaded_candidates()
    if not found:
        record_compat(
            SECTION, FREE_THREADED, "n/a",
            "no free-threaded CPython can be had here: " + "; ".join(searched) + ". Debian 12 ships only 3.11; "
            "pip and apt, the registries this suite uses, offer no free-threaded interpreter (those come from "
            "python.org sources, conda-forge or python-build-standalone). "
            "The plugin's name rules cover libpython3.13t.so.1.0 (tests/unit/test_libpython_names.py)",
        )
        return
    pytest.fail(f"free-threaded interpreter(s) found: {found}: add them to the build matrix")


# ---------------------------------------------------------------- cross-interpreter
CROSS = "pyenv 3.11 wheel -> Debian python3.11, libpython hidden"
SEED_ERROR = "ImportError: libpython3.11.so.1.0: cannot open shared object file"


def test_cross_interpreter_without_libpython(
        matrix: Tuple[Dict[str, Tuple[SampleBuild, SampleBuild]], Dict[str, Path]]) -> None:
    case = pyenv_case("3.11")
    require(case in matrix[0], "no pyenv CPython 3.11")
    require(DEBIAN_PYTHON.exists(), f"{DEBIAN_PYTHON} missing (apt-get install python3.11)")
    require(os.geteuid() == 0 and shutil.which("unshare"), "hiding libpython needs root and unshare (util-linux)")
    with_plugin, control = matrix[0][case]
    assert with_plugin.tree is not None and control.tree is not None
    hidden = [str(WITHOUT_LIBPYTHON), str(DEBIAN_PYTHON), "-I", "-c"]
    # The hiding works: libpython cannot be loaded by name in that namespace.
    probe = run([*hidden, "import ctypes; ctypes.CDLL('libpython3.11.so.1.0')"])
    assert probe.returncode != 0 and "cannot open shared object file" in probe.stderr, probe.stderr
    ok = run([*hidden, import_code(with_plugin.tree)])
    assert ok.returncode == 0, f"plugin-built wheel failed under Debian python:\n{ok.stderr[-3000:]}"
    assert "SUM 42" in ok.stdout and f"FILE {with_plugin.extension()}" in ok.stdout
    # Negative control: the seed's ImportError, word for word.
    bad = run([*hidden, import_code(control.tree)])
    assert bad.returncode != 0 and SEED_ERROR in bad.stderr, f"control did not fail as the seed says:\n{bad.stderr}"
    error = next(line for line in bad.stderr.splitlines() if line.startswith("ImportError"))
    record_compat(
        "cross-interpreter", CROSS, "pass",
        f"built by {matrix[1][case]}, imported by {DEBIAN_PYTHON} (static) with every libpython*.so* hidden: "
        f"add(2, 40) = 42; without the plugin: `{error}`",
    )
