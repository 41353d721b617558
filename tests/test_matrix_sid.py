"""Compatibility matrix, Debian sid's python3.14 and python3.15 (issue 21, item 1).

Debian builds both as static executables with libpython3.1X.so.1.0 installed beside
them, the seed's Debian case. In the chroot of scripts/sid_chroot.sh, each interpreter:

- builds ``sample_project`` (libraries= libpython, ``-z defs``) with ``pip wheel``
  through build isolation, the plugin from a wheel of this checkout (--find-links), and
  again with ``python -m build --wheel``; each module has no libpython DT_NEEDED and
  imports with every libpython hidden (tests/support/without_libpython.sh, in the chroot);
- the control, the same ``pip wheel`` with SETUPTOOLS_NOLIBPYTHON=0, links
  libpython3.1X.so.1.0 and then fails to import with libpython hidden;
- runs ``nolibpython check`` (the plugin installed in a venv of that interpreter) on
  both wheels, and ``nolibpython repair`` on the control, whose output imports with
  libpython hidden.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

import pytest
from support import built_wheel, libpython_needed_by_readelf, record_compat, run, unpack_wheel
from support.matrix import SAMPLE, import_code
from support.sid import SID_ROOT, SID_VERSIONS, Sid

SECTION = "Debian sid python3.14 / python3.15"


def case(version: str, what: str) -> str:
    return f"CPython {version} (Debian sid python{version}, static): {what}"


@dataclass
class SidBuilds:
    """What one interpreter built in the chroot (host paths) and its venv (inside paths)."""

    version: str
    venv_python: str
    on: "subprocess.CompletedProcess[str]"
    off: "subprocess.CompletedProcess[str]"
    build: "subprocess.CompletedProcess[str]"
    on_dir: Path
    off_dir: Path
    build_dir: Path



def _build(box: Sid, version: str) -> SidBuilds:
    wheelhouse = box.inside(box.work / "wheelhouse")
    # The plugin (for check/repair) and `build`; their dependencies come from the index.
    vpy = box.venv(version, wheelhouse, "build")
    dirs = {}
    for name in ("on", "off", "build"):
        d = box.work / f"{name}-{version}"
        shutil.copytree(SAMPLE, d / "project", ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        dirs[name] = d

    def pip_wheel(name: str, enabled: str) -> "subprocess.CompletedProcess[str]":
        d = dirs[name]
        return box.run([vpy, "-m", "pip", "wheel", "-v", "--no-deps", "--find-links", wheelhouse,
                        "-w", box.inside(d / "dist"), box.inside(d / "project")],
                       env={"SETUPTOOLS_NOLIBPYTHON": enabled})

    def build() -> "subprocess.CompletedProcess[str]":
        d = dirs["build"]
        # The table's enable = true turns the plugin on; PIP_FIND_LINKS reaches the pip that
        # `build` runs for the isolated environment.
        return box.run([vpy, "-m", "build", "--wheel", "-o", box.inside(d / "dist"), box.inside(d / "project")],
                       env={"PIP_FIND_LINKS": wheelhouse})

    with ThreadPoolExecutor(max_workers=2) as pool:
        on_f = pool.submit(pip_wheel, "on", "1")
        off_f = pool.submit(pip_wheel, "off", "0")
        on, off = on_f.result(), off_f.result()
    return SidBuilds(version, vpy, on, off, build(), dirs["on"], dirs["off"], dirs["build"])


@pytest.fixture(scope="module")
def builds(sid: Sid) -> Dict[str, SidBuilds]:
    return {v: _build(sid, v) for v in SID_VERSIONS}


def _log(proc: "subprocess.CompletedProcess[str]") -> str:
    return proc.stdout + proc.stderr


def _module(d: Path, proc: "subprocess.CompletedProcess[str]") -> Path:
    """The one extension module of the wheel in ``d/dist``, unpacked to ``d/tree``."""
    assert proc.returncode == 0, f"build in {d} failed:\n{_log(proc)[-5000:]}"
    tree = unpack_wheel(built_wheel(d / "dist"), d / "tree")
    found = sorted(tree.rglob("_core*.so"))
    assert len(found) == 1, found
    return found[0]


def _import(box: Sid, version: str, tree: Path, *, without_libpython: bool) -> "subprocess.CompletedProcess[str]":
    return box.run([f"python{version}", "-I", "-c", import_code(Path(box.inside(tree)))],
                   without_libpython=without_libpython)


def _static_interpreter(version: str) -> None:
    """The cell is about Debian's static interpreter with libpython installed beside it."""
    exe = SID_ROOT / "usr" / "bin" / f"python{version}"
    assert "libpython" not in run(["readelf", "-dW", str(exe)], check=True).stdout, f"{exe} links libpython"
    assert (SID_ROOT / "usr" / "lib" / "x86_64-linux-gnu" / f"libpython{version}.so.1.0").exists()


@pytest.mark.parametrize("version", SID_VERSIONS)
def test_pip_wheel_imports_without_libpython(version: str, sid: Sid, builds: Dict[str, SidBuilds]) -> None:
    _static_interpreter(version)
    b = builds[version]
    ext = _module(b.on_dir, b.on)
    assert ext.name.endswith(f".cpython-{version.replace('.', '')}-x86_64-linux-gnu.so"), ext.name
    assert libpython_needed_by_readelf(ext) == [], f"{ext} still needs libpython"
    assert "setuptools-nolibpython:" in _log(b.on), _log(b.on)[-3000:]
    proc = _import(sid, version, b.on_dir / "tree", without_libpython=True)
    assert proc.returncode == 0 and "SUM 42" in proc.stdout, _log(proc)[-3000:]
    # Control: without the plugin the module links libpython, and libpython hidden, it fails.
    soname = f"libpython{version}.so.1.0"
    ctrl = _module(b.off_dir, b.off)
    assert libpython_needed_by_readelf(ctrl) == [soname], libpython_needed_by_readelf(ctrl)
    hidden = _import(sid, version, b.off_dir / "tree", without_libpython=True)
    assert hidden.returncode != 0 and f"{soname}: cannot open shared object file" in _log(hidden), (
        _log(hidden)[-3000:])
    shown = _import(sid, version, b.off_dir / "tree", without_libpython=False)
    assert shown.returncode == 0, f"the control fails even with libpython present:\n{_log(shown)}"
    record_compat(
        SECTION, case(version, "pip wheel, import with libpython hidden"), "pass",
        f"{ext.name}: no libpython DT_NEEDED, imports with every libpython*.so* hidden, add(2, 40) = 42; "
        f"control (SETUPTOOLS_NOLIBPYTHON=0): NEEDED {soname}, import fails with \"{soname}: cannot open shared "
        "object file\"",
    )


@pytest.mark.parametrize("version", SID_VERSIONS)
def test_python_m_build(version: str, sid: Sid, builds: Dict[str, SidBuilds]) -> None:
    b = builds[version]
    ext = _module(b.build_dir, b.build)
    assert libpython_needed_by_readelf(ext) == [], f"{ext} still needs libpython"
    assert "setuptools-nolibpython:" in _log(b.build), _log(b.build)[-3000:]
    proc = _import(sid, version, b.build_dir / "tree", without_libpython=True)
    assert proc.returncode == 0 and "SUM 42" in proc.stdout, _log(proc)[-3000:]
    ctrl = _module(b.off_dir, b.off)  # the control of the pip wheel cell, same project
    assert libpython_needed_by_readelf(ctrl) == [f"libpython{version}.so.1.0"]
    record_compat(
        SECTION, case(version, "python -m build --wheel"), "pass",
        f"{ext.name}: no libpython DT_NEEDED (plugin from the table, isolated build), imports with libpython "
        f"hidden; control: NEEDED libpython{version}.so.1.0",
    )


@pytest.mark.parametrize("version", SID_VERSIONS)
def test_check_and_repair(version: str, sid: Sid, builds: Dict[str, SidBuilds]) -> None:
    b = builds[version]
    _module(b.on_dir, b.on)
    _module(b.off_dir, b.off)
    nolibpython = str(Path(b.venv_python).parent / "nolibpython")
    good = sid.inside(built_wheel(b.on_dir / "dist"))
    bad = sid.inside(built_wheel(b.off_dir / "dist"))
    soname = f"libpython{version}.so.1.0"
    ok = sid.run([nolibpython, "check", good])
    assert ok.returncode == 0 and "none needs libpython" in _log(ok), _log(ok)
    # The symbol check ran against this interpreter (its own exports), not skipped.
    js = sid.run([nolibpython, "check", "--json", good])
    assert '"status": "checked"' in _log(js), _log(js)[-2000:]
    flagged = sid.run([nolibpython, "check", bad])
    assert flagged.returncode == 1 and f"needs {soname} (DT_NEEDED)" in _log(flagged), _log(flagged)
    fixed_dir = sid.work / f"fixed-{version}"
    rep = sid.run([nolibpython, "repair", bad, "-w", sid.inside(fixed_dir)])
    assert rep.returncode == 0, _log(rep)
    fixed = built_wheel(fixed_dir)
    again = sid.run([nolibpython, "check", sid.inside(fixed)])
    assert again.returncode == 0, _log(again)
    tree = unpack_wheel(fixed, fixed_dir / "tree")
    assert [libpython_needed_by_readelf(p) for p in tree.rglob("_core*.so")] == [[]]
    proc = _import(sid, version, tree, without_libpython=True)
    assert proc.returncode == 0 and "SUM 42" in proc.stdout, _log(proc)[-3000:]
    record_compat(
        SECTION, case(version, "nolibpython check and repair"), "pass",
        f"run by python{version}: check passes the plugin's wheel (symbols checked) and flags the control's "
        f"{soname} (exit 1); repair's output passes check and imports with libpython hidden",
    )
