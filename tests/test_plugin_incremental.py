"""build_ext beyond the wheel: ``--parallel``, stale outputs in build/ relinked, and the
build_ext-side scan of editable (PEP 660) and ``--inplace`` builds, which never pass
through bdist_wheel. In-process builds use the test interpreter's setuptools; the
editable install is a real ``pip install -e`` with isolation."""

from __future__ import annotations

import platform
import sys
import sysconfig
from pathlib import Path
from typing import Dict

from support import libpython_needed_by_readelf, make_project, run
from support.plugin_builds import (
    LIBDIR,
    LINKING,
    MULTI_SOURCES,
    SETUP_HEAD,
    SONAME,
    assert_libpython,
    assert_no_libpython,
    errors_of,
    make_multi,
    names_entry,
    output,
    scan_built_tree,
    setup_py,
    tree_extensions,
)

ALL = sorted(MULTI_SOURCES)
EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")


def assert_one_libpython_error(out: str, path: str) -> None:
    """The log reports exactly one error for ``path`` (its exact name), naming SONAME."""
    errors = errors_of(out, path)
    assert len(errors) == 1 and names_entry(errors[0], SONAME), (path, errors, out[-3000:])
OFF = {"SETUPTOOLS_NOLIBPYTHON": "0"}


def _build_dir(proj: Path) -> Path:
    dirs = list((proj / "build").glob("lib.*"))
    assert len(dirs) == 1, dirs
    return dirs[0]


def _mtimes(files: Dict[str, Path]) -> Dict[str, int]:
    return {m: p.stat().st_mtime_ns for m, p in files.items()}


def test_parallel_build(tmp_path: Path) -> None:
    proj = make_multi(tmp_path / "proj", enable=True)
    proc = setup_py(proj, "build_ext", "--parallel", "4")
    files = tree_extensions(_build_dir(proj))
    assert_no_libpython(files, scan_built_tree(_build_dir(proj)), ALL)
    log = output(proc)
    # the sanitising happened once, before the thread pool: one line per change
    assert log.count("multi._libs: removed 'python") == 1
    assert log.count("multi._largs: removed '-Wl,-z,defs'") == 1
    assert f"checked {len(ALL)} ELF files in build_ext outputs: none needs libpython" in log
    # control: the same parallel build with the plugin off links libpython
    proj0 = make_multi(tmp_path / "proj0", enable=True)
    setup_py(proj0, "build_ext", "--parallel", "4", env=OFF)
    assert_libpython(tree_extensions(_build_dir(proj0)), scan_built_tree(_build_dir(proj0)), LINKING)


def test_stale_outputs_are_relinked(tmp_path: Path) -> None:
    proj = make_multi(tmp_path / "proj", enable=True)
    setup_py(proj, "build_ext", env=OFF)
    libdir = _build_dir(proj)
    before = tree_extensions(libdir)
    assert_libpython(before, scan_built_tree(libdir), LINKING)
    stamps = _mtimes(before)
    # control: setuptools by itself reuses outputs that look up to date
    setup_py(proj, "build_ext", env=OFF)
    assert _mtimes(tree_extensions(libdir)) == stamps
    # with the plugin, the ones that need libpython are relinked (in parallel, too)
    proc = setup_py(proj, "build_ext", "--parallel", "4")
    after = tree_extensions(libdir)
    assert_no_libpython(after, scan_built_tree(libdir), ALL)
    changed = {m for m, t in _mtimes(after).items() if t != stamps[m]}
    assert changed >= set(LINKING)  # (_clean is rewritten too: its build-machine RUNPATH is stripped)
    relinked = sorted(ln for ln in output(proc).splitlines() if "needs libpython; relinking it" in ln)
    assert len(relinked) == len(LINKING)
    for mod in LINKING:
        assert any(f"multi.{mod}: " in ln for ln in relinked), relinked
    assert not any("_clean" in ln for ln in relinked)  # a fine output is not relinked


# ---------------------------------------------------------------- editable and --inplace

#: A project's build_ext that, after the normal link, relinks the output with a raw gcc
#: command that the plugin cannot filter (as CMake-driven builds do): only a scan sees it.
RAW_GCC = SETUP_HEAD + '''
import subprocess, sysconfig
from setuptools.command.build_ext import build_ext as _build_ext


class RawBuildExt(_build_ext):
    def build_extension(self, ext):
        super().build_extension(ext)
        out = self.get_ext_fullpath(ext.name)
        subprocess.check_call(["gcc", "-shared", "-fPIC", "-I" + sysconfig.get_paths()["include"],
                               *ext.sources, "-o", out, "-L" + LIBDIR, "-lpython" + V])


setup(ext_modules=[Extension("raw._ext", ["raw/_ext.c"])], cmdclass={"build_ext": RawBuildExt})
'''


def _raw_project(root: Path, enable: bool) -> Path:
    return make_project(root, name="raw", enable=enable, setup_py=RAW_GCC)


def test_inplace_scans_outputs(tmp_path: Path) -> None:
    proj = make_multi(tmp_path / "proj", enable=True)
    proc = setup_py(proj, "build_ext", "--inplace")
    files = tree_extensions(proj / "multi")
    assert_no_libpython(files, scan_built_tree(proj / "multi"), ALL)
    assert f"checked {len(ALL)} ELF files in build_ext outputs: none needs libpython" in output(proc)
    imp = run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(proj)!r}); "
               "import multi._libs as m; print(m.answer())"])
    assert imp.stdout.split() == ["42"], output(imp)


def test_inplace_violation_fails(tmp_path: Path) -> None:
    proj = _raw_project(tmp_path / "proj", True)
    proc = setup_py(proj, "build_ext", "--inplace", check=False)
    out = output(proc)
    assert proc.returncode != 0
    assert "error: setuptools-nolibpython: checked 1 ELF file in build_ext outputs: 1 violate" in out
    assert_one_libpython_error(out, f"raw/_ext{EXT_SUFFIX}")
    assert "Traceback" not in out
    # negative control: without the plugin the same build succeeds and ships libpython
    proj0 = _raw_project(tmp_path / "proj0", False)
    setup_py(proj0, "build_ext", "--inplace")
    (so,) = (proj0 / "raw").glob("*.so")
    assert libpython_needed_by_readelf(so) == [SONAME]


#: The classic CMake-driven pattern: run() builds every extension itself and never calls
#: build_extensions(), so nothing is sanitised; only the scan after run() sees the result.
CMAKE_LIKE = SETUP_HEAD + '''
import os, subprocess, sysconfig
from setuptools.command.build_ext import build_ext as _build_ext

LINK = {link!r}


class CMakeLikeBuild(_build_ext):
    def run(self):
        for ext in self.extensions:
            self.build_extension(ext)

    def build_extension(self, ext):
        out = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.check_call(["gcc", "-shared", "-fPIC", "-I" + sysconfig.get_paths()["include"],
                               *ext.sources, "-o", out] + (["-L" + LIBDIR, "-lpython" + V] if LINK else []))


setup(ext_modules=[Extension("cm._ext", ["cm/_ext.c"])], cmdclass={{"build_ext": CMakeLikeBuild}})
'''


def test_inplace_run_without_build_extensions_is_scanned(tmp_path: Path) -> None:
    proj = make_project(tmp_path / "bad", name="cm", enable=True, setup_py=CMAKE_LIKE.format(link=True))
    proc = setup_py(proj, "build_ext", "--inplace", check=False)
    out = output(proc)
    assert proc.returncode != 0
    assert "error: setuptools-nolibpython: checked 1 ELF file in build_ext outputs: 1 violate" in out
    assert_one_libpython_error(out, f"cm/_ext{EXT_SUFFIX}")
    # controls: the same class without libpython passes the scan; with the plugin off
    # the libpython-linked build passes unchecked
    good = make_project(tmp_path / "good", name="cm", enable=True, setup_py=CMAKE_LIKE.format(link=False))
    proc = setup_py(good, "build_ext", "--inplace")
    assert "checked 1 ELF file in build_ext outputs: none needs libpython" in output(proc)
    off = make_project(tmp_path / "off", name="cm", enable=False, setup_py=CMAKE_LIKE.format(link=True))
    setup_py(off, "build_ext", "--inplace")
    (so,) = (off / "cm").glob("*.so")
    assert libpython_needed_by_readelf(so) == [SONAME]


def _pip_editable(proj: Path, target: Path, wheelhouse: Path):  # type: ignore[no-untyped-def]
    return run([sys.executable, "-m", "pip", "install", "-v", "--no-deps", "--find-links", str(wheelhouse),
                "--target", str(target), "-e", str(proj)], env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"})


def test_editable_install(tmp_path: Path, wheelhouse: Path) -> None:
    proj = make_multi(tmp_path / "proj", enable=True)
    proc = _pip_editable(proj, tmp_path / "target", wheelhouse)
    assert proc.returncode == 0, output(proc)[-6000:]
    assert f"checked {len(ALL)} ELF files in build_ext outputs: none needs libpython" in output(proc)
    files = tree_extensions(proj / "multi")
    assert_no_libpython(files, scan_built_tree(proj / "multi"), ALL)
    imp = run([sys.executable, "-c", "import site, sys; site.addsitedir(sys.argv[1]); "
               "import multi._largs as m; print(m.answer(), m.__file__)", str(tmp_path / "target")])
    assert imp.returncode == 0, output(imp)
    assert imp.stdout.split()[0] == "42" and str(proj) in imp.stdout


def test_editable_violation_fails(tmp_path: Path, wheelhouse: Path) -> None:
    proc = _pip_editable(_raw_project(tmp_path / "proj", True), tmp_path / "target", wheelhouse)
    out = output(proc)
    assert proc.returncode != 0
    assert "error: setuptools-nolibpython: checked 1 ELF file in build_ext outputs: 1 violate" in out
    assert_one_libpython_error(out, f"raw/_ext{EXT_SUFFIX}")
    assert "Traceback" not in out
    # negative control: the same editable install without the plugin succeeds
    proj0 = _raw_project(tmp_path / "proj0", False)
    proc0 = _pip_editable(proj0, tmp_path / "target0", wheelhouse)
    assert proc0.returncode == 0, output(proc0)[-6000:]
    (so,) = (proj0 / "raw").glob("*.so")
    assert libpython_needed_by_readelf(so) == [SONAME]


# ---------------------------------------------------------------- executables keep libpython

EMBED = SETUP_HEAD + '''
import os, sysconfig
from setuptools.command.build_ext import build_ext as _build_ext


class EmbedBuildExt(_build_ext):
    """Builds an embedding program next to the extension: it must keep libpython."""

    def build_extensions(self):
        super().build_extensions()
        objs = self.compiler.compile(["emb/prog.c"], output_dir=self.build_temp,
                                     include_dirs=[sysconfig.get_paths()["include"]])
        self.compiler.link_executable(objs, "prog", output_dir=self.build_temp,
                                      libraries=["python" + V], library_dirs=[LIBDIR])


setup(ext_modules=[Extension("emb._ext", ["emb/_ext.c"], libraries=["python" + V], library_dirs=[LIBDIR])],
      cmdclass={"build_ext": EmbedBuildExt})
'''

PROG = '#include <Python.h>\n#include <stdio.h>\nint main(void) { puts(Py_GetVersion()); return 0; }\n'


def test_link_executable_keeps_libpython(tmp_path: Path) -> None:
    proj = make_project(tmp_path / "proj", name="emb", enable=True, setup_py=EMBED, extra_files={"emb/prog.c": PROG})
    proc = setup_py(proj, "build_ext")
    assert "emb._ext: removed 'python" in output(proc)
    (so,) = (proj / "build").glob("lib.*/emb/*.so")
    assert libpython_needed_by_readelf(so) == []
    (prog,) = (proj / "build").glob("temp.*/prog")
    assert libpython_needed_by_readelf(prog) == [SONAME]  # the embedding program still links it
    ran = run([str(prog)], env={"LD_LIBRARY_PATH": LIBDIR})
    assert ran.returncode == 0, output(ran)
    assert ran.stdout.split()[0] == platform.python_version()
