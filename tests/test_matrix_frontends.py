"""Compatibility matrix, front-ends: every way users build a C extension, with the plugin.

Each case builds the same small project that asks for libpython (``libraries=["python3.X"]``,
``-Wl,-z,defs``) twice, on two threads: with the plugin (the built module imports and
readelf finds no libpython DT_NEEDED) and, as negative control, with ``enable = false``
(the same front-end DOES link libpython). The module files judged by readelf are the ones
the interpreter actually imported.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import pytest
from support import (
    ASKS_FOR_LIBPYTHON,
    find_links_dirs,
    import_and_locate,
    in_parallel,
    libpython_needed_by_readelf,
    make_project,
    pip_env_find_links,
    pip_wheel,
    readelf_dynamic,
    record_compat,
    uv_command,
    uv_index_args,
    run,
    unpack_wheel,
)

PYTHON = Path(sys.executable)
SECTION = "front-ends"


@dataclass
class Built:
    """Where a front-end put its result: code that puts it on sys.path, and the build log."""

    path_setup: str
    log: str


def _wheel_result(out: Path, work: Path, proc_log: str) -> Built:
    wheels = sorted(out.glob("*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {out}, found {wheels}\n{proc_log[-4000:]}"
    tree = unpack_wheel(wheels[0], work / "unpacked")
    return Built(f"import sys; sys.path.insert(0, {str(tree)!r})", proc_log)


def _log(proc: object) -> str:
    return f"{getattr(proc, 'stdout', '')}\n{getattr(proc, 'stderr', '')}"


def _ok(proc: object, what: str) -> str:
    text = _log(proc)
    assert getattr(proc, "returncode", 1) == 0, f"{what} failed:\n{text[-6000:]}"
    return text


# ---------------------------------------------------------------- the front-ends
def build_pip_wheel(project: Path, work: Path, wheelhouse: Path) -> Built:
    proc = pip_wheel(project, work / "out", wheelhouse)
    return _wheel_result(work / "out", work, _ok(proc, "pip wheel"))


def build_pypa_build(project: Path, work: Path, wheelhouse: Path) -> Built:
    proc = run([PYTHON, "-m", "build", "--wheel", "-o", work / "out", project],
               env=pip_env_find_links(wheelhouse))
    return _wheel_result(work / "out", work, _ok(proc, "python -m build --wheel"))


def build_editable(project: Path, work: Path, wheelhouse: Path) -> Built:
    prefix = work / "prefix"
    proc = run([PYTHON, "-m", "pip", "install", "-v", "--no-deps", "--find-links", wheelhouse,
                "--prefix", prefix, "-e", project], env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    text = _ok(proc, "pip install -e")
    site = prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    assert list(site.glob("__editable__*")), f"no editable hook in {site}:\n{text[-3000:]}"
    # The .pth file must do the work: nothing but addsitedir puts the project on the path.
    return Built(f"import site; site.addsitedir({str(site)!r})", text)


def build_inplace(project: Path, work: Path, wheelhouse: Path) -> Built:
    proc = run([PYTHON, "setup.py", "build_ext", "--inplace"], cwd=project)
    return Built(f"import sys; sys.path.insert(0, {str(project)!r})", _ok(proc, "setup.py build_ext --inplace"))


def build_parallel(project: Path, work: Path, wheelhouse: Path) -> Built:
    proc = run([PYTHON, "setup.py", "build_ext", "--inplace", "--parallel", "4"], cwd=project)
    return Built(f"import sys; sys.path.insert(0, {str(project)!r})",
                 _ok(proc, "setup.py build_ext --inplace --parallel 4"))




def build_uv(project: Path, work: Path, wheelhouse: Path) -> Built:
    argv: List[object] = [uv_command(), "build", "--wheel", "--python", PYTHON, "--find-links", wheelhouse]
    for d in find_links_dirs():
        argv += ["--find-links", d]
    argv += uv_index_args()
    argv += ["-o", work / "out", project]
    # A private cache: uv would otherwise reuse an older plugin wheel of the same version.
    env = {"UV_CACHE_DIR": str(work.parent / "uv-cache"), "UV_INDEX_STRATEGY": "unsafe-best-match"}
    proc = run(argv, env=env)
    return _wheel_result(work / "out", work, _ok(proc, "uv build --wheel"))


def frontend_version(case: str) -> str:
    """The front-end's own version, for the table (pip, build, setuptools or uv)."""
    if case.startswith("uv"):
        argv: List[object] = [uv_command(), "--version"]
    elif "build --wheel" in case:
        argv = [PYTHON, "-m", "build", "--version"]
    elif case.startswith("pip"):
        argv = [PYTHON, "-m", "pip", "--version"]
    else:
        argv = [PYTHON, "-c", "import setuptools; print('setuptools', setuptools.__version__)"]
    words = run(argv, check=True).stdout.split()
    return " ".join(words[:2])


Frontend = Callable[[Path, Path, Path], Built]
CASES: Dict[str, Tuple[Frontend, Tuple[str, ...]]] = {
    "pip wheel": (build_pip_wheel, ("_ext",)),
    "python -m build --wheel": (build_pypa_build, ("_ext",)),
    "pip install -e .": (build_editable, ("_ext",)),
    "setup.py build_ext --inplace": (build_inplace, ("_ext",)),
    "build_ext --parallel 4 (5 extensions)": (build_parallel, ("_a", "_b", "_c", "_d", "_e")),
    "uv build --wheel": (build_uv, ("_ext",)),
}


def _build(case: str, root: Path, enable: bool, wheelhouse: Path) -> Tuple[Built, List[Path]]:
    frontend, modules = CASES[case]
    work = root / ("with-plugin" if enable else "control")
    project = make_project(work / "project", enable=enable, ext_kwargs=ASKS_FOR_LIBPYTHON, modules=modules)
    built = frontend(project, work, wheelhouse)
    files = import_and_locate(PYTHON, built.path_setup, [f"probe.{m}" for m in modules], cwd=work)
    return built, files


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_frontend(case: str, tmp_path: Path, wheelhouse: Path) -> None:
    (built, files), (control, control_files) = in_parallel(
        lambda: _build(case, tmp_path, True, wheelhouse),
        lambda: _build(case, tmp_path, False, wheelhouse),
    )
    _, modules = CASES[case]
    # With the plugin: every imported module is free of libpython, and the plugin said so.
    for f in files:
        assert f.is_relative_to(tmp_path / "with-plugin"), f"imported {f}, not the build's output"
        assert libpython_needed_by_readelf(f) == [], f"{case}: {f} still needs libpython"
    for m in modules:
        assert f"probe.{m}: removed 'python" in built.log, f"{case}: no sanitising logged for {m}"
    # Negative control: the same front-end without the plugin links libpython.
    for f in control_files:
        assert libpython_needed_by_readelf(f), f"{case}: control {f} does not need libpython: the case proves nothing"
    assert "setuptools-nolibpython:" not in control.log
    runpath = readelf_dynamic(files[0])["RUNPATH"] + readelf_dynamic(files[0])["RPATH"]
    control_needed = ", ".join(sorted(set(libpython_needed_by_readelf(control_files[0]))))
    record_compat(
        SECTION, case, "pass",
        f"{frontend_version(case)}: {len(files)} module(s) import, no libpython DT_NEEDED, "
        f"RUNPATH {runpath or 'none'}; "
        f"without the plugin: NEEDED {control_needed}",
    )

