"""on-violation = "repair" in a real build: a build_ext that links libpython with its own gcc
command (the link-flag sanitiser never sees it) ships a fixed module, fixed by the same
elfpatch code as `nolibpython repair`, and the two agree on the result."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Dict, Tuple

import pytest
from support import (
    DEBIAN_PYTHON,
    WITHOUT_LIBPYTHON,
    built_wheel,
    make_project,
    pip_wheel,
    readelf_dynamic,
    require,
    run,
)

LDVERSION = sysconfig.get_config_var("LDVERSION") or sysconfig.get_config_var("VERSION")
LIBDIR = sysconfig.get_config_var("LIBDIR")
SONAME = f"libpython{LDVERSION}.so.1.0"

RAW_LINK_SETUP = """\
import os, subprocess, sysconfig
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

V = sysconfig.get_config_var("LDVERSION") or sysconfig.get_config_var("VERSION")
LIBDIR = sysconfig.get_config_var("LIBDIR")

class raw_link(build_ext):
    def build_extension(self, ext):
        out = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        cmd = ["gcc", "-shared", "-fPIC", "-I" + sysconfig.get_paths()["include"], *ext.sources, "-o", out,
               "-L" + LIBDIR, "-Wl,-rpath," + LIBDIR, "-lpython" + V]
        print("raw link:", " ".join(cmd), flush=True)
        subprocess.check_call(cmd)

setup(ext_modules=[Extension("rawlink._ext", ["rawlink/_ext.c"])], cmdclass={"build_ext": raw_link})
"""


def cli(*args: object) -> "subprocess.CompletedProcess[str]":
    return run([sys.executable, "-m", "setuptools_nolibpython", *map(str, args)])


def build(root: Path, **kwargs: object) -> Tuple[Path, str]:
    project = make_project(root / "src", name="rawlink", setup_py=RAW_LINK_SETUP, **kwargs)  # type: ignore[arg-type]
    proc = pip_wheel(project, root / "dist", root, isolation=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "raw link:" in log and f"-lpython{LDVERSION}" in log, "the custom link did not run"
    return built_wheel(root / "dist"), log


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Tuple[Path, str]]:
    root = tmp_path_factory.mktemp("rawlink")
    return {
        "repair": build(root / "repair", enable=True, table_extra='on-violation = "repair"\n'),
        "control": build(root / "control", enable=False),
    }


def module_of(wheel: Path, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(dest)
    (so,) = dest.glob("rawlink/_ext*.so")
    return so


def debian_import(tree: Path) -> "subprocess.CompletedProcess[str]":
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); import rawlink._ext as m; print('answer', m.answer())"
    return run([WITHOUT_LIBPYTHON, DEBIAN_PYTHON, "-I", "-c", code])


def test_on_violation_repair_ships_a_fixed_module(builds: Dict[str, Tuple[Path, str]], tmp_path: Path) -> None:
    wheel, log = builds["repair"]
    so = module_of(wheel, tmp_path / "repair")
    rel = f"rawlink/{so.name}"
    # The build log names each fix, file first.
    assert f"{rel}: repaired: removed DT_NEEDED {SONAME}" in log, log[-4000:]
    assert f"{rel}: removed RPATH/RUNPATH entry {LIBDIR}" in log
    dyn = readelf_dynamic(so)
    assert not [n for n in dyn["NEEDED"] if "libpython" in n] and not dyn["RUNPATH"] and not dyn["RPATH"], dyn
    # The CLI agrees: clean, and nothing left for `repair` to do.
    assert cli("check", wheel).returncode == 0
    again = cli("repair", wheel, "-w", tmp_path / "again")
    assert again.returncode == 0 and "nothing to repair" in again.stdout


def test_control_without_plugin_links_libpython(builds: Dict[str, Tuple[Path, str]], tmp_path: Path) -> None:
    wheel, log = builds["control"]
    assert "repaired" not in log
    assert SONAME in readelf_dynamic(module_of(wheel, tmp_path / "control"))["NEEDED"]
    assert cli("check", wheel).returncode == 1


def test_fixed_module_imports_where_libpython_is_absent(builds: Dict[str, Tuple[Path, str]], tmp_path: Path) -> None:
    require(DEBIAN_PYTHON.exists(), f"Debian's {DEBIAN_PYTHON} is needed", apt=["python3.11"])
    fixed = module_of(builds["repair"][0], tmp_path / "repair").parent.parent
    control = module_of(builds["control"][0], tmp_path / "control").parent.parent
    bad = debian_import(control)
    assert bad.returncode != 0 and "ImportError" in bad.stderr and SONAME in bad.stderr, bad.stderr
    good = debian_import(fixed)
    assert good.returncode == 0 and "answer 42" in good.stdout, good.stderr
