"""End to end: real ``pip wheel`` builds (build isolation, plugin from the local
wheelhouse) and in-process ``setup.py bdist_wheel`` builds of projects that ask for
libpython in every way a setuptools project can (tests/support/plugin_builds.py). Each result is judged by readelf AND by the
package's scanner; each has a negative control (the same project with the plugin
disabled does link libpython); the fixed modules import in the building interpreter
and in Debian's python3.11 with libpython made unavailable."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from support import (
    DEBIAN_PYTHON,
    WITHOUT_LIBPYTHON,
    built_wheel,
    libpython_needed_by_readelf,
    make_project,
    pip_wheel,
    readelf_dynamic,
    require,
    run,
)
from support.plugin_builds import (
    LDVERSION,
    LIBDIR,
    LINKING,
    MULTI_SOURCES,
    PYTHON,
    SONAME,
    STATIC_SOURCE,
    assert_libpython,
    assert_no_libpython,
    defines_python_runtime,
    make_multi,
    multi_setup_py,
    output,
    scan_built_tree,
    scan_built_wheel,
    setup_py,
    tree_extensions,
    wheel_extensions,
)

SOURCES = {**MULTI_SOURCES, "_static": STATIC_SOURCE}
ALL = sorted(SOURCES)


class Built:
    def __init__(self, wheel: Path, log: str, files: Dict[str, Path]) -> None:
        self.wheel, self.log, self.files = wheel, log, files
        self.report = scan_built_wheel(wheel)


def _pip_build(tmp: Path, wheelhouse: Path, enable: bool, **env: str) -> Built:
    proj = make_multi(tmp / "proj", enable=enable, sources=SOURCES)
    proc = pip_wheel(proj, tmp / "out", wheelhouse, env=env)
    assert proc.returncode == 0, output(proc)[-6000:]
    wheel = built_wheel(tmp / "out")
    return Built(wheel, output(proc), wheel_extensions(wheel, tmp / "unpacked"))


@pytest.fixture(scope="module")
def pip_on(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Built:
    return _pip_build(tmp_path_factory.mktemp("pip-on"), wheelhouse, True)


@pytest.fixture(scope="module")
def pip_off(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Built:
    return _pip_build(tmp_path_factory.mktemp("pip-off"), wheelhouse, False)


def _inprocess_build(tmp: Path, enable: bool) -> Built:
    proj = make_multi(tmp / "proj", enable=enable, sources=SOURCES)
    proc = setup_py(proj, "bdist_wheel", "-d", str(tmp / "out"))
    wheel = built_wheel(tmp / "out")
    return Built(wheel, output(proc), wheel_extensions(wheel, tmp / "unpacked"))


@pytest.fixture(scope="module")
def inproc_on(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _inprocess_build(tmp_path_factory.mktemp("inproc-on"), True)


@pytest.fixture(scope="module")
def inproc_off(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _inprocess_build(tmp_path_factory.mktemp("inproc-off"), False)


# ---------------------------------------------------------------- per-extension sources

def _runpaths(built: Built) -> Dict[str, List[str]]:
    return {m: readelf_dynamic(p)["RPATH"] + readelf_dynamic(p)["RUNPATH"] for m, p in built.files.items()}


def _assert_fixed(built: Built) -> None:
    assert_no_libpython(built.files, built.report, ALL)
    # strip-rpath (default): the pyenv lib dir that LDSHARED put in only served libpython
    assert all(LIBDIR not in ":".join(v) for v in _runpaths(built).values()), _runpaths(built)
    assert not defines_python_runtime(built.files["_static"])
    # each removal is logged once, naming the extension and the argument
    log = built.log
    assert f"multi._libs: removed 'python{LDVERSION}' (libpython) from libraries" in log
    assert f"multi._largs: removed '-lpython{LDVERSION}' (libpython) from extra_link_args" in log
    assert "multi._largs: removed '-Wl,-z,defs' (forbids undefined symbols)" in log
    assert "multi._lspace: removed '-l' (libpython)" in log
    assert "multi._lspace: removed '-Xlinker --no-undefined' (forbids undefined symbols)" in log
    assert f"multi._lcolon: removed '-l:{SONAME}' (libpython)" in log
    assert f"multi._lpath: removed '{LIBDIR}/libpython{LDVERSION}.so' (libpython) from extra_link_args" in log
    assert f"multi._objs: removed '{LIBDIR}/libpython{LDVERSION}.so' (libpython) from extra_objects" in log
    assert "multi._static: removed '" in log and f"libpython{LDVERSION}.a' (libpython) from extra_objects" in log
    assert log.count(f"multi._libs: removed 'python{LDVERSION}'") == 1
    assert f"checked {len(ALL)} ELF files in the wheel: none needs libpython" in log


def _assert_unfixed(built: Built) -> None:
    assert_libpython(built.files, built.report, LINKING)
    assert all(LIBDIR in ":".join(v) for v in _runpaths(built).values()), _runpaths(built)
    assert defines_python_runtime(built.files["_static"])  # a second runtime inside
    assert "setuptools-nolibpython:" not in built.log  # disabled means silent


def test_pip_wheel_isolated_strips_every_source(pip_on: Built) -> None:
    _assert_fixed(pip_on)


def test_pip_wheel_isolated_negative_control(pip_off: Built) -> None:
    _assert_unfixed(pip_off)


def test_in_process_bdist_wheel_strips_every_source(inproc_on: Built) -> None:
    _assert_fixed(inproc_on)


def test_in_process_negative_control(inproc_off: Built) -> None:
    _assert_unfixed(inproc_off)


def test_in_process_strip_rpath_false_keeps_runpath(tmp_path: Path) -> None:
    proj = make_multi(tmp_path / "proj", enable=True, sources={"_libs": MULTI_SOURCES["_libs"]},
                      table_extra="strip-rpath = false\n")
    setup_py(proj, "build_ext")
    (lib,) = (proj / "build").glob("lib.*")
    files = tree_extensions(lib)
    assert_no_libpython(files, scan_built_tree(lib), ["_libs"])
    dyn = readelf_dynamic(files["_libs"])
    assert LIBDIR in ":".join(dyn["RPATH"] + dyn["RUNPATH"])


# ---------------------------------------------------------------- build-wide sources

GLOBAL_SOURCES: Dict[str, Tuple[str, Dict[str, str], Dict[str, str], str]] = {
    # name: (pyproject extra, extra files, environment, the log line the fix must write)
    "tool.distutils.build_ext libraries": (
        f'[tool.distutils.build_ext]\nlibraries = "python{LDVERSION}"\nlibrary-dirs = "{LIBDIR}"\n', {}, {},
        f"glob._ext: removed 'python{LDVERSION}' (libpython) from build_ext libraries"),
    "setup.cfg [build_ext] libraries": (
        "", {"setup.cfg": f"[build_ext]\nlibraries = python{LDVERSION}\nlibrary_dirs = {LIBDIR}\n"}, {},
        f"glob._ext: removed 'python{LDVERSION}' (libpython) from build_ext libraries"),
    # LDFLAGS land before the objects: --no-as-needed keeps the library, as real builds see
    "LDFLAGS": ("", {}, {"LDFLAGS": f"-Wl,--no-as-needed -L{LIBDIR} -lpython{LDVERSION}"},
                f"glob._ext: removed '-lpython{LDVERSION}' (libpython) from the linker command (LDSHARED/LDFLAGS)"),
    "LDSHARED": ("", {}, {"LDSHARED": f"gcc -pthread -shared -Wl,--no-as-needed -L{LIBDIR} "
                                      f"-lpython{LDVERSION} -Wl,-z,defs"},
                 "glob._ext: removed '-Wl,-z,defs' (forbids undefined symbols) from the linker command (LDSHARED/LDFLAGS)"),
}


@pytest.mark.parametrize("source", sorted(GLOBAL_SOURCES))
def test_pip_wheel_build_wide_source(source: str, tmp_path: Path, wheelhouse: Path) -> None:
    pyproject_extra, files, env, logged = GLOBAL_SOURCES[source]
    results = {}
    for enable in (True, False):
        d = tmp_path / str(enable)
        proj = make_project(d / "proj", name="glob", enable=enable, pyproject_extra=pyproject_extra,
                            extra_files=files)
        proc = pip_wheel(proj, d / "out", wheelhouse, env=env)
        assert proc.returncode == 0, output(proc)[-6000:]
        wheel = built_wheel(d / "out")
        results[enable] = (wheel_extensions(wheel, d / "unpacked"), scan_built_wheel(wheel), output(proc))
    files_on, report_on, log_on = results[True]
    assert_no_libpython(files_on, report_on, ["_ext"])
    assert logged in log_on
    files_off, report_off, _ = results[False]
    assert_libpython(files_off, report_off, ["_ext"])  # negative control


@pytest.mark.parametrize("option", ["link_objects", "libraries"])
def test_in_process_build_ext_options(option: str, tmp_path: Path) -> None:
    """build_ext's own ``link_objects`` / ``libraries`` (compiler.objects / set_libraries)."""
    value = "[LIBDIR + '/libpython' + V + '.so']" if option == "link_objects" else "['python' + V]"
    setup = (multi_setup_py("bx", {"_ext": ""}).replace(
        "setup(ext_modules", f"setup(options={{'build_ext': {{'{option}': {value}, 'library_dirs': [LIBDIR]}}}}, "
                             "ext_modules"))
    results = {}
    for enable in (True, False):
        proj = make_project(tmp_path / str(enable), name="bx", enable=enable, setup_py=setup)
        proc = setup_py(proj, "build_ext")
        (lib,) = (proj / "build").glob("lib.*")
        results[enable] = (tree_extensions(lib), scan_built_tree(lib), output(proc))
    files, report, log = results[True]
    assert_no_libpython(files, report, ["_ext"])
    assert "bx._ext: removed " in log and f"from build_ext {option}" in log
    files, report, _ = results[False]
    assert_libpython(files, report, ["_ext"])  # negative control


DEBIAN_PIC = Path("/usr/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11-pic.a")


def test_in_process_debian_pic_archive(tmp_path: Path) -> None:
    """Debian's ``libpython3.11-pic.a`` in extra_objects would embed a second runtime."""
    require(DEBIAN_PIC.exists(), f"{DEBIAN_PIC} (Debian's libpython3.11-dev) is needed", apt=["libpython3.11-dev"])
    setup = multi_setup_py("pic", {"_ext": f"extra_objects=[{str(DEBIAN_PIC)!r}]"})
    built = {}
    for enable in (True, False):
        proj = make_project(tmp_path / str(enable), name="pic", enable=enable, setup_py=setup)
        proc = setup_py(proj, "build_ext")
        (so,) = (proj / "build").glob("lib.*/pic/*.so")
        built[enable] = (so, output(proc))
    so, log = built[True]
    assert f"pic._ext: removed {str(DEBIAN_PIC)!r} (libpython) from extra_objects" in log
    assert not defines_python_runtime(so)
    assert libpython_needed_by_readelf(so) == []
    assert defines_python_runtime(built[False][0])  # negative control: a runtime inside


# ---------------------------------------------------------------- run time

IMPORT_ALL = "import importlib; print(sum(importlib.import_module('multi.' + m).answer() for m in {mods!r}))"


def test_fixed_modules_import_in_building_interpreter(pip_on: Built) -> None:
    root = pip_on.wheel.parent.parent / "unpacked"
    proc = run([str(PYTHON), "-I", "-c", f"import sys; sys.path.insert(0, {str(root)!r}); "
                + IMPORT_ALL.format(mods=ALL)])
    assert proc.returncode == 0, output(proc)
    assert proc.stdout.split() == [str(42 * len(ALL))]


def _debian(root: Path, mods: List[str], hide: bool) -> subprocess.CompletedProcess:
    argv = [str(DEBIAN_PYTHON), "-I", "-c",
            f"import sys; sys.path.insert(0, {str(root)!r}); " + IMPORT_ALL.format(mods=mods)]
    if hide:
        argv = [str(WITHOUT_LIBPYTHON), *argv]
    return run(argv)


def test_debian_python_without_libpython(pip_on: Built, pip_off: Built) -> None:
    require(DEBIAN_PYTHON.exists(), f"{DEBIAN_PYTHON} (Debian's python3.11) is needed", apt=["python3.11"])
    require(LDVERSION == "3.11", "the modules must be built by a CPython 3.11 to load in Debian's 3.11")
    require(shutil.which("unshare"), "unshare (util-linux) is needed", apt=["util-linux"])
    on_root = pip_on.wheel.parent.parent / "unpacked"
    off_root = pip_off.wheel.parent.parent / "unpacked"
    linking = sorted(LINKING)
    # the fixed modules load with no libpython anywhere on the machine
    fixed = _debian(on_root, ALL, hide=True)
    assert fixed.returncode == 0, output(fixed)
    assert fixed.stdout.split() == [str(42 * len(ALL))]
    # negative control: the unfixed ones fail there with the seed's ImportError ...
    unfixed = _debian(off_root, linking, hide=True)
    assert unfixed.returncode != 0
    assert f"ImportError: {SONAME}: cannot open shared object file" in unfixed.stderr
    # ... and load when libpython is present, so hiding it is what broke them
    present = _debian(off_root, linking, hide=False)
    assert present.returncode == 0, output(present)
