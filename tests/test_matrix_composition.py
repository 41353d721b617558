"""Compatibility matrix, composition: the plugin with third-party build_ext classes.

Cython's and pybind11's build_ext are declared as the project's cmdclass; the plugin
slides its mixin in front (commands.with_mixin) and the projects' own machinery still
runs (Cython cythonizes, pybind11 compiles C++). The third case is a build_ext that runs
its own gcc link with -lpython: nothing passes through the distutils linker, so only the
scan can catch it. It must fail the build naming the file, and with on-violation =
"repair" ship a fixed file. Every positive case has a control built with enable = false.
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest
from support import (
    import_and_locate,
    in_parallel,
    libpython_needed_by_readelf,
    make_project,
    pip_wheel,
    record_compat,
    require,
    run,
    unpack_wheel,
)

PYTHON = Path(sys.executable)
SECTION = "composition"
LDVERSION = sysconfig.get_config_var("LDVERSION") or sysconfig.get_config_var("VERSION")
EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")

_PRELUDE = """\
import sysconfig
from setuptools import setup
LDVERSION = sysconfig.get_config_var('LDVERSION') or sysconfig.get_config_var('VERSION')
LIBDIR = sysconfig.get_config_var('LIBDIR')
ASK = dict(libraries=["python" + LDVERSION], library_dirs=[LIBDIR], extra_link_args=["-Wl,-z,defs"])
"""

CYTHON_SETUP = _PRELUDE + """\
from setuptools import Extension
from Cython.Distutils import build_ext
setup(ext_modules=[Extension("probe._cy", ["probe/_cy.pyx"], **ASK)], cmdclass={"build_ext": build_ext})
"""
CYTHON_PYX = "def answer():\n    return 6 * 7\n"

PYBIND11_SETUP = _PRELUDE + """\
from pybind11.setup_helpers import Pybind11Extension, build_ext
setup(ext_modules=[Pybind11Extension("probe._pb", ["probe/_pb.cpp"], **ASK)], cmdclass={"build_ext": build_ext})
"""
PYBIND11_CPP = textwrap.dedent(
    """
    #include <pybind11/pybind11.h>
    PYBIND11_MODULE(_pb, m) { m.def("answer", []() { return 42; }); }
    """
)

# A build_ext that links with its own gcc command: the plugin's link-line filtering never
# sees it (like CMake's Python::Python from a custom build_ext: only the scan catches it).
OWN_LINK_SETUP = _PRELUDE + """\
import os, subprocess
from setuptools import Extension
from setuptools.command.build_ext import build_ext

class own_link(build_ext):
    def build_extension(self, ext):
        objects = self.compiler.compile(ext.sources, output_dir=self.build_temp,
                                        include_dirs=[sysconfig.get_paths()["include"]])
        out = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        cmd = ["gcc", "-shared", *objects, "-o", out, "-L" + LIBDIR, "-lpython" + LDVERSION, "-Wl,-z,defs"]
        print("own link:", " ".join(cmd), flush=True)
        subprocess.check_call(cmd)

setup(ext_modules=[Extension("probe._ext", ["probe/_ext.c"])], cmdclass={"build_ext": own_link})
"""


def _project(root: Path, *, setup_py: str, requires: Sequence[str], enable: bool, files: Dict[str, str],
             table_extra: str = "") -> Path:
    return make_project(root / "project", setup_py=setup_py, enable=enable, modules=(), extra_files=files,
                        requires=("setuptools>=61", "setuptools-nolibpython", *requires), table_extra=table_extra)


def _wheel_build(project: Path, wheelhouse: Path) -> Tuple[Optional[Path], str, int]:
    """pip wheel with isolation; (wheel or None, log, return code)."""
    out = project.parent / "out"  # one work directory per build: they run in parallel
    proc = pip_wheel(project, out, wheelhouse)
    wheels = sorted(out.glob("*.whl"))
    return (wheels[0] if wheels else None), proc.stdout + "\n" + proc.stderr, proc.returncode


def _imported_files(wheel: Optional[Path], log: str, modules: List[str]) -> List[Path]:
    assert wheel is not None, f"no wheel built:\n{log[-6000:]}"
    tree = unpack_wheel(wheel, wheel.parent / "unpacked")
    return import_and_locate(PYTHON, f"import sys; sys.path.insert(0, {str(tree)!r})", modules, cwd=wheel.parent)


def _with_and_without(tmp_path: Path, wheelhouse: Path, setup_py: str, requires: Sequence[str],
                      files: Dict[str, str], module: str) -> Tuple[Path, str, Path]:
    """Build with the plugin and the control in parallel; return (plugin file, plugin log, control file)."""
    (wheel, log, _), (cwheel, clog, _) = in_parallel(
        lambda: _wheel_build(_project(tmp_path / "with-plugin", setup_py=setup_py, requires=requires,
                                      enable=True, files=files), wheelhouse),
        lambda: _wheel_build(_project(tmp_path / "control", setup_py=setup_py, requires=requires,
                                      enable=False, files=files), wheelhouse),
    )
    [built] = _imported_files(wheel, log, [module])
    [control] = _imported_files(cwheel, clog, [module])
    assert libpython_needed_by_readelf(built) == [], f"{built} needs libpython:\n{log[-4000:]}"
    assert libpython_needed_by_readelf(control), f"control {control} does not link libpython: proves nothing"
    return built, log, control


@pytest.mark.slow
def test_cython_build_ext(tmp_path: Path, wheelhouse: Path) -> None:
    _, log, control = _with_and_without(
        tmp_path, wheelhouse, CYTHON_SETUP, ["cython>=3"], {"probe/_cy.pyx": CYTHON_PYX}, "probe._cy")
    assert "Cythonizing probe/_cy.pyx" in log or "Compiling probe/_cy.pyx" in log, "Cython's build_ext did not run"
    assert "probe._cy: removed 'python" in log
    version = _installed(log, "cython")
    record_compat(SECTION, "Cython.Distutils.build_ext", "pass",
                  f"Cython {version}: .pyx module imports, no libpython; without the plugin: "
                  f"NEEDED {', '.join(libpython_needed_by_readelf(control))}")


@pytest.mark.slow
def test_pybind11_build_ext(tmp_path: Path, wheelhouse: Path) -> None:
    require(shutil.which("g++"), "g++ is needed for pybind11 (apt-get install g++)")
    _, log, control = _with_and_without(
        tmp_path, wheelhouse, PYBIND11_SETUP, ["pybind11>=2.10"], {"probe/_pb.cpp": PYBIND11_CPP}, "probe._pb")
    assert "probe._pb: removed 'python" in log
    assert "g++" in log, "pybind11's C++ build did not run"
    version = _installed(log, "pybind11")
    record_compat(SECTION, "pybind11.setup_helpers.build_ext", "pass",
                  f"pybind11 {version}: Pybind11Extension imports, no libpython; without the plugin: "
                  f"NEEDED {', '.join(libpython_needed_by_readelf(control))}")


def _installed(log: str, project: str) -> str:
    """The version pip installed into the isolated build environment, from its log."""
    import re

    m = re.search(rf"Successfully installed .*?\b{re.escape(project)}-(\S+)", log, re.IGNORECASE)
    assert m, f"{project} was not installed into the build environment"
    return m[1]


@pytest.mark.slow
def test_own_link_command_is_caught_then_repaired(tmp_path: Path, wheelhouse: Path) -> None:
    files = {"probe/_ext.c": _c_source()}
    fail, repair = in_parallel(
        lambda: _wheel_build(_project(tmp_path / "error", setup_py=OWN_LINK_SETUP, requires=(), enable=True,
                                      files=files), wheelhouse),
        lambda: _wheel_build(_project(tmp_path / "repair", setup_py=OWN_LINK_SETUP, requires=(), enable=True,
                                      files=files, table_extra='on-violation = "repair"\n'), wheelhouse),
    )
    (cwheel, clog, crc) = _wheel_build(
        _project(tmp_path / "control", setup_py=OWN_LINK_SETUP, requires=(), enable=False, files=files), wheelhouse)
    rel = f"probe/_ext{EXT_SUFFIX}"
    # Default (on-violation = "error"): the build fails, no wheel, the message names the file,
    # what is wrong and how to fix it. The link really carried -lpython (the plugin did not filter it).
    wheel, log, rc = fail
    assert "own link:" in log and f"-lpython{LDVERSION}" in log
    assert rc != 0 and wheel is None, f"the build passed with a libpython link:\n{log[-4000:]}"
    lines = [ln for ln in log.splitlines() if rel in ln and "libpython" in ln and "fix:" in ln]
    assert lines, f"no error line names {rel}:\n{log[-4000:]}"
    assert "error: setuptools-nolibpython" in log
    # on-violation = "repair": the wheel ships with the DT_NEEDED removed, and imports.
    rwheel, rlog, rrc = repair
    [fixed] = _imported_files(rwheel, rlog, ["probe._ext"])
    assert rrc == 0 and libpython_needed_by_readelf(fixed) == []
    assert f"{rel}: repaired: removed DT_NEEDED libpython" in rlog
    # Control: without the plugin the same build ships a libpython-linked module.
    [linked] = _imported_files(cwheel, clog, ["probe._ext"])
    assert crc == 0 and libpython_needed_by_readelf(linked)
    record_compat(SECTION, "build_ext running its own link command", "pass",
                  f"caught: build fails with \"{lines[0].split('; fix:')[0].strip()}; fix: ...\"; "
                  "on-violation=repair ships it "
                  f"without libpython; without the plugin: NEEDED {', '.join(libpython_needed_by_readelf(linked))}")


@pytest.mark.slow
def test_own_link_command_inplace_is_caught(tmp_path: Path) -> None:
    """The same link in ``setup.py build_ext --inplace`` (no bdist_wheel): build_ext's own check."""
    files = {"probe/_ext.c": _c_source()}
    project = _project(tmp_path / "p", setup_py=OWN_LINK_SETUP, requires=(), enable=True, files=files)
    control = _project(tmp_path / "c", setup_py=OWN_LINK_SETUP, requires=(), enable=False, files=files)
    proc, cproc = in_parallel(
        lambda: run([PYTHON, "setup.py", "build_ext", "--inplace"], cwd=project),
        lambda: run([PYTHON, "setup.py", "build_ext", "--inplace"], cwd=control),
    )
    log = proc.stdout + proc.stderr
    rel = f"probe/_ext{EXT_SUFFIX}"
    assert proc.returncode != 0, f"build_ext passed with a libpython link:\n{log[-4000:]}"
    error_lines = [ln for ln in log.splitlines() if rel in ln and "libpython" in ln and "fix:" in ln]
    assert error_lines, log[-4000:]
    assert not (project / rel).exists(), "the failed build left a libpython-linked module in the source tree"
    assert cproc.returncode == 0, cproc.stderr[-3000:]
    assert libpython_needed_by_readelf(control / rel)
    record_compat(SECTION, "own link command, setup.py build_ext --inplace", "pass",
                  "build_ext fails naming the file and leaves no module in the source tree; "
                  "without the plugin the module links libpython")


def _c_source() -> str:
    from support import DEFAULT_C

    return DEFAULT_C % {"name": "_ext"}
