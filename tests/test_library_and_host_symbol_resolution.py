"""Regressions found by the field trial (field/run.py, docs/field-trial.md), each rebuilt
from a generated reproducer rather than the downloaded artifact.

1. A DT_NEEDED that nothing provides (not in the wheel, not on the machine, not a system
   library the manylinux/musllinux policies allow, not looked for outside the wheel) was
   only a warning, so `nolibpython check` passed a module whose import fails with
   "cannot open shared object file" (field trial mutants: missing-library, 0 of 6). It
   became an error, which then failed working packages (a ctypes preload, a library a
   dependency ships: ld.so matches an already loaded SONAME); it is now a warning that
   says when the import works, and an error under ``--strict`` (tests/test_check_missing_libraries.py).
4. A module shipped beside a frozen application's host program (static CPython inside,
   its API exported) that needs a symbol only that host defines passed silently; it is
   now a host-only-symbol warning naming the checking interpreter's release.
5. A program in a wheel whose DT_NEEDED library the wheel ships out of its RPATH's reach
   (torch/bin/test_shim) got the false "neither in the wheel nor ..."; it is now a
   missing-library warning saying the wheel ships it and the program fails to start.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import jsonschema
import pytest
from support import DEBIAN_PYTHON, REPO, built_wheel, make_project, pip_wheel, require, run, unpack_wheel
from support.cbuild import PY_TAG, SCHEMA, gcc, make_wheel, module, problems_of

from devtools.machine import SYSTEM_LIB_DIRS
from setuptools_nolibpython import syslibs
from setuptools_nolibpython.elf import read_elf
from setuptools_nolibpython.policy import ERROR, WARNING
from setuptools_nolibpython.scan import ScanOptions, scan_tree
from setuptools_nolibpython.sources import FileSource
from setuptools_nolibpython.symbols import MISSING_LIBRARY, SymbolCheck

INCLUDE = sysconfig.get_paths()["include"]
EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")
LIB_DIRS = SYSTEM_LIB_DIRS

MODULE_C = """
#include <Python.h>
extern int field_gone_value(void);
static PyObject *answer(PyObject *self, PyObject *unused) { return PyLong_FromLong(field_gone_value()); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "%(name)s", NULL, -1, methods};
PyMODINIT_FUNC PyInit_%(name)s(void) { return PyModule_Create(&mod); }
"""


def build(tree: Path, name: str, soname: str, rpath: Sequence[str] = ()) -> Path:
    """pkg/<name> linking a library whose SONAME is ``soname``, built beside it in lib/."""
    lib_dir = tree / "lib"
    lib_dir.mkdir(parents=True, exist_ok=True)
    (lib_dir / "gone.c").write_text("int field_gone_value(void) { return 42; }\n")
    lib = lib_dir / soname
    run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{soname}", str(lib_dir / "gone.c"), "-o", str(lib)], check=True)
    pkg = tree / "pkg"
    pkg.mkdir(exist_ok=True)
    c = pkg / f"{name}.c"
    c.write_text(MODULE_C % {"name": name})
    so = pkg / f"{name}{EXT_SUFFIX}"
    flags = [f"-Wl,-rpath,{r}" for r in rpath]
    run(["gcc", "-shared", "-fPIC", f"-I{INCLUDE}", str(c), str(lib), *flags, "-o", str(so)], check=True)
    c.unlink()
    return so


def missing_problems(tree: Path, strict: bool = False) -> Dict[str, List[str]]:
    chk = SymbolCheck(severity="error", interpreter=sys.executable, missing_libraries="error" if strict else "warn")
    report = scan_tree(str(tree), ScanOptions(check_rpath=False), checks=(chk,))
    return {
        f.path: [p.severity for p in f.problems if p.code == MISSING_LIBRARY]
        for f in report.files
        if f.path.startswith("pkg/")
    }


def import_error(tree: Path, name: str) -> str:
    proc = run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tree / 'pkg')!r}); import {name}"])
    return proc.stderr.strip().splitlines()[-1] if proc.returncode else ""


def test_library_nobody_provides_is_found_and_an_error_under_strict(tmp_path: Path) -> None:
    so = build(tmp_path, "gonemod", "libfieldgone.so.1", rpath=["$ORIGIN/../lib"])
    # Negative control: with the library where RUNPATH says, no finding, and the module loads.
    assert missing_problems(tmp_path, strict=True) == {f"pkg/{so.name}": []}
    assert import_error(tmp_path, "gonemod") == ""
    (tmp_path / "lib" / "libfieldgone.so.1").unlink()
    assert missing_problems(tmp_path) == {f"pkg/{so.name}": [WARNING]}
    assert missing_problems(tmp_path, strict=True) == {f"pkg/{so.name}": [ERROR]}
    assert "libfieldgone.so.1: cannot open shared object file" in import_error(tmp_path, "gonemod")
    proc = run([sys.executable, "-m", "setuptools_nolibpython", "check", str(tmp_path)], cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (line,) = [ln for ln in proc.stdout.splitlines() if "libfieldgone.so.1" in ln]
    assert ": warning: " in line and "nothing checked here provides" in line and "bundle" not in line
    strict = run([sys.executable, "-m", "setuptools_nolibpython", "check", "--strict", str(tmp_path)], cwd=REPO)
    assert strict.returncode == 1, strict.stdout


@pytest.mark.parametrize("rpath", ["$ORIGIN/../../otherdist/lib", "/opt/vendor/lib"])
def test_library_looked_for_outside_the_wheel_stays_a_warning(tmp_path: Path, rpath: str) -> None:
    """Another distribution's directory (torch's nvidia/* pattern) or an absolute path: the
    target may provide it, so this machine's absence proves nothing."""
    so = build(tmp_path, "elsewhere", "libfieldelsewhere.so.1", rpath=[rpath])
    (tmp_path / "lib" / "libfieldelsewhere.so.1").unlink()
    assert missing_problems(tmp_path) == {f"pkg/{so.name}": [WARNING]}


def test_policy_system_library_stays_a_warning(tmp_path: Path) -> None:
    """A library on the manylinux policies' list (libGL.so.1, ...) or a GPU driver's may be
    needed unbundled: its absence here says nothing about the target."""
    absent = [
        n
        for n in sorted(syslibs.MANYLINUX_LIBRARIES | syslibs.DRIVER_LIBRARIES)
        if not any(Path(d, n).exists() for d in LIB_DIRS)
    ]
    require(absent, "every candidate policy library is installed here")
    so = build(tmp_path, "polmod", absent[0])
    (tmp_path / "lib" / absent[0]).unlink()
    assert missing_problems(tmp_path, strict=True) == {f"pkg/{so.name}": [WARNING]}  # even under --strict


def test_library_the_wheel_ships_out_of_reach_is_an_error_under_strict(tmp_path: Path) -> None:
    """2. torch/bin/test_shim needs libtorch.so, which the wheel ships in torch/lib, but its
    RUNPATH ($ORIGIN plus absolute build-machine dirs) never reaches it: ldd says "not found"
    and the check only warned. Reproduced with a module whose RUNPATH looks elsewhere."""
    so = build(tmp_path, "reach", "libfieldreach.so.1", rpath=["$ORIGIN", "/opt/vendor/lib"])
    # Negative control: with the RUNPATH pointing at lib/, it resolves and imports.
    ok = build(tmp_path / "good", "reach", "libfieldreach.so.1", rpath=["$ORIGIN/../lib", "/opt/vendor/lib"])
    assert missing_problems(tmp_path / "good", strict=True) == {f"pkg/{ok.name}": []}
    assert import_error(tmp_path / "good", "reach") == ""
    assert missing_problems(tmp_path, strict=True) == {f"pkg/{so.name}": [ERROR]}
    assert missing_problems(tmp_path) == {f"pkg/{so.name}": [WARNING]}  # something may load it first
    assert "libfieldreach.so.1: cannot open shared object file" in import_error(tmp_path, "reach")


def test_build_and_check_warn_and_strict_check_fails(tmp_path: Path, wheelhouse: Path) -> None:
    """A build that links a library from library_dirs without an RPATH is normal before
    auditwheel repair bundles it: the plugin's pre-wheel scan warns and the wheel is written.
    `nolibpython check` of that unrepaired wheel warns (the system may provide the library),
    `--strict` fails it, and its import really fails here."""
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    (vendor / "v.c").write_text("int field_gone_value(void) { return 7; }\n")
    run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libfieldvendor.so.1", str(vendor / "v.c"),
         "-o", str(vendor / "libfieldvendor.so.1")], check=True)
    (vendor / "libfieldvendor.so").symlink_to("libfieldvendor.so.1")
    kwargs = f"library_dirs=[{str(vendor)!r}], libraries=['fieldvendor']"
    proj = make_project(tmp_path / "proj", name="vend", ext_kwargs=kwargs)
    (proj / "vend" / "_ext.c").write_text(MODULE_C % {"name": "_ext"})
    proc = pip_wheel(proj, tmp_path / "out", wheelhouse)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "needs libfieldvendor.so.1" in out  # the build's warning
    wheel = built_wheel(tmp_path / "out")
    check = run([sys.executable, "-m", "setuptools_nolibpython", "check", str(wheel)], cwd=REPO)
    assert check.returncode == 0 and "warning: needs libfieldvendor.so.1" in check.stdout, check.stdout
    strict = run([sys.executable, "-m", "setuptools_nolibpython", "check", "--strict", str(wheel)], cwd=REPO)
    assert strict.returncode == 1 and "violation: needs libfieldvendor.so.1" in strict.stdout, strict.stdout
    tree = unpack_wheel(wheel, tmp_path / "tree")
    proc = run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tree)!r}); import vend._ext"])
    assert "libfieldvendor.so.1: cannot open shared object file" in proc.stderr
    # Negative control: where the system provides the library (here LD_LIBRARY_PATH), it imports.
    env = {"LD_LIBRARY_PATH": str(vendor)}
    ok = run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tree)!r}); import vend._ext"], env=env)
    assert ok.returncode == 0, ok.stderr


def test_appended_flags_link_an_object_that_uses_an_indirect_dependency(tmp_path: Path) -> None:
    """3. Pillow 13.0.0 failed to build with the plugin only: its _imagingft.o calls roundf,
    which ld finds in libm only through libfreetype -> libpng16 -> libm. The plugin appended
    --unresolved-symbols=ignore-in-object-files, which makes ld check the linked libraries'
    own undefined symbols, load their DT_NEEDED libraries, and then refuse the object's use of
    one ("DSO missing from command line"). Reproduced with top.o -> libmid.so -> libdeep.so."""
    from setuptools_nolibpython.linkflags import ALLOW_UNDEFINED_ARGS

    (tmp_path / "deep.c").write_text("int deep(void) { return 1; }\n")
    (tmp_path / "mid.c").write_text("int deep(void); int mid(void) { return deep(); }\n")
    (tmp_path / "top.c").write_text("int deep(void); int mid(void); int Py_Missing(void);\n"
                                    "int top(void) { return deep() + mid() + Py_Missing(); }\n")
    run(["gcc", "-shared", "-fPIC", str(tmp_path / "deep.c"), "-o", str(tmp_path / "libdeep.so")], check=True)
    run(["gcc", "-shared", "-fPIC", str(tmp_path / "mid.c"), f"-L{tmp_path}", "-ldeep", f"-Wl,-rpath,{tmp_path}",
         "-o", str(tmp_path / "libmid.so")], check=True)
    run(["gcc", "-c", "-fPIC", str(tmp_path / "top.c"), "-o", str(tmp_path / "top.o")], check=True)

    def link(*flags: str) -> "subprocess.CompletedProcess[str]":
        return run(["gcc", "-shared", str(tmp_path / "top.o"), f"-L{tmp_path}", "-lmid", "-o",
                    str(tmp_path / "top.so"), *flags])

    assert link().returncode == 0  # the baseline links (undefined symbols are fine in -shared)
    # Negative control: the flag the plugin used to append fails exactly as Pillow did.
    old = link("-Wl,--allow-shlib-undefined", "-Wl,--unresolved-symbols=ignore-in-object-files")
    assert old.returncode != 0 and "DSO missing from command line" in old.stderr
    for ld in ("bfd", "gold"):
        assert link(f"-fuse-ld={ld}", *ALLOW_UNDEFINED_ARGS).returncode == 0, ld
        # and what the plugin appends still cancels -z defs / --no-undefined on both linkers
        assert link(f"-fuse-ld={ld}", "-Wl,-z,defs", *ALLOW_UNDEFINED_ARGS).returncode == 0, ld
        assert link(f"-fuse-ld={ld}", "-Wl,--no-undefined", *ALLOW_UNDEFINED_ARGS).returncode == 0, ld
        assert link(f"-fuse-ld={ld}", "-Wl,-z,defs").returncode != 0, ld


def check_json(*args: object) -> Tuple[int, Dict[str, Any]]:
    """`nolibpython check --json`: its exit status and its document, held to the published schema."""
    proc = run([sys.executable, "-m", "setuptools_nolibpython", "check", "--json", *map(str, args)], cwd=REPO)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, SCHEMA)
    return proc.returncode, doc


# ---------------------------------------------------------------- 4. host-only symbols
PYMODULE_ADD = "PyAPI_FUNC(int) _PyModule_Add(PyObject *, const char *, PyObject *);"


@pytest.mark.parametrize(
    "sym, decl, value, python",
    [
        ("host_api_answer", "long host_api_answer(void);", "host_api_answer()", None),
        # the field case: _PyModule_Add, in pyenv's 3.11.7 (the host's static libpython), not in Debian's 3.11.2
        ("_PyModule_Add", PYMODULE_ADD,
         '_PyModule_Add(PyModule_New("x"), "v", PyLong_FromLong(42)) == 0 ? 42 : -1', DEBIAN_PYTHON),
    ],
    ids=["host-api", "private-symbol-of-another-release"],
)
def test_symbol_only_the_host_defines_is_a_host_only_warning(
    frozen_app: Dict[str, Path],
    tmp_path: Path, sym: str, decl: str, value: str, python: "Path | None",
) -> None:
    if python is not None:
        require(python.is_file(), f"{python} (Debian's 3.11.2) is needed")
        require(sys.version_info[:2] == (3, 11), "the test interpreter must be a 3.11 (pyenv 3.11.7)")
    interp = str(python or sys.executable)
    mod = module(tmp_path, "_hostonly", decl=decl, value=value)
    name = f"app/lib/_hostonly{EXT_SUFFIX}"
    tag = f"{PY_TAG}-{PY_TAG}-linux_x86_64"
    members = {name: mod.read_bytes()}
    with_host = make_wheel(tmp_path / f"app-1.0-{tag}.whl", {"app/host": frozen_app["host"].read_bytes(), **members},
                           tag, modes={"app/host": 0o755})
    args = ("--python", interp) if python is not None else ()
    rc, doc = check_json(*args, with_host)
    assert rc == 0, doc
    (p,) = problems_of(doc)[name]
    release = run([interp, "-c", "import platform; print(platform.python_version())"]).stdout.strip()
    assert (p["code"], p["severity"], p["detail"]) == ("host-only-symbol", WARNING, sym)
    assert "the wheel's Python host (app/host)" in p["message"] and f"({release})" in p["message"], p["message"]
    assert f"undefined symbol: {sym}" in p["message"]
    # What really happens: the interpreter cannot import it ...
    imp = run([interp, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import _hostonly"])
    assert f"undefined symbol: {sym}" in imp.stderr, imp.stderr
    # ... while the host program loads it and gets the right answer.
    env = {"PYTHONHOME": sys.base_prefix, "PYTHONPATH": str(tmp_path)}
    ran = run([str(frozen_app["host"]), "-c", "import _hostonly; print(_hostonly.answer())"], env=env)
    assert ran.stdout.strip() == "42", ran.stderr
    # Negative control: the same module without the host is an unresolved-symbol error.
    alone = make_wheel(tmp_path / f"alone-1.0-{tag}.whl", members, tag)
    rc, doc = check_json(*args, alone)
    assert rc == 1, doc
    probs = problems_of(doc)[name]
    assert [(q["code"], q["severity"], q["detail"]) for q in probs] == [("unresolved-symbol", ERROR, sym)]


# ---------------------------------------------------------------- 5. a program's shipped library out of reach
PROG_C = """
#include <stdio.h>
extern int field_gone_value(void);
int main(void) { printf("%d\\n", field_gone_value()); return 0; }
"""


def shipped_wheel(tmp_path: Path, what: str) -> Path:
    """pkg/lib/libshipped.so, and ``what`` (pkg/bin/prog or a module) needing it with no RPATH."""
    d = tmp_path / "build"
    d.mkdir()
    (d / "shipped.c").write_text("int field_gone_value(void) { return 42; }\n")
    lib = d / "libshipped.so"
    gcc(["-shared", "-fPIC", "-Wl,-soname,libshipped.so", d / "shipped.c", "-o", lib])
    if what == "pkg/bin/prog":
        (d / "prog.c").write_text(PROG_C)
        out = d / "prog"
        gcc([d / "prog.c", f"-L{d}", "-lshipped", "-o", out])
    else:
        (d / "mod.c").write_text(MODULE_C % {"name": "_usesshipped"})
        out = d / "mod.so"
        gcc(["-shared", "-fPIC", f"-I{INCLUDE}", d / "mod.c", f"-L{d}", "-lshipped", "-o", out])
    elf = read_elf(FileSource(str(out)))
    assert "libshipped.so" in elf.needed and not elf.rpath and not elf.runpath  # the reproducer is what it claims
    tag = f"{PY_TAG}-{PY_TAG}-linux_x86_64"
    members = {what: out.read_bytes(), "pkg/lib/libshipped.so": lib.read_bytes()}
    return make_wheel(tmp_path / f"probe-1.0-{tag}.whl", members, tag, modes={what: 0o755})


def test_program_whose_shipped_library_is_out_of_reach_is_a_truthful_warning(tmp_path: Path) -> None:
    wheel = shipped_wheel(tmp_path, "pkg/bin/prog")
    rc, doc = check_json(wheel)
    assert rc == 0, doc
    (p,) = problems_of(doc)["pkg/bin/prog"]
    assert (p["code"], p["severity"], p["detail"]) == (MISSING_LIBRARY, WARNING, "libshipped.so")
    assert "the wheel ships pkg/lib/libshipped.so" in p["message"] and "fails to start" in p["message"], p["message"]
    assert "neither in the wheel" not in p["message"]
    assert "$ORIGIN/../lib" in p["fix"]
    # What really happens: the unpacked program does not start ...
    tree = unpack_wheel(wheel, tmp_path / "tree")
    prog = tree / "pkg" / "bin" / "prog"
    prog.chmod(0o755)
    failed = run([str(prog)])
    assert failed.returncode != 0 and "libshipped.so: cannot open shared object file" in failed.stderr, failed.stderr
    # ... and does once ld.so is told where the shipped library is (the library itself is fine).
    ok = run([str(prog)], env={"LD_LIBRARY_PATH": str(tree / "pkg" / "lib")})
    assert ok.returncode == 0 and ok.stdout.strip() == "42", ok.stderr


def test_module_whose_shipped_library_is_out_of_reach_is_an_error_under_strict(tmp_path: Path) -> None:
    """A module in the same situation: its import fails unless something loads the library
    first (the package's ctypes preload), so check warns, and --strict fails it."""
    name = f"pkg/_usesshipped{EXT_SUFFIX}"
    wheel = shipped_wheel(tmp_path, name)
    rc, doc = check_json(wheel)
    assert rc == 0, doc
    probs = [q for q in problems_of(doc)[name] if q["code"] == MISSING_LIBRARY]
    assert [(q["severity"], q["detail"]) for q in probs] == [(WARNING, "libshipped.so")]
    assert "the wheel ships pkg/lib/libshipped.so" in probs[0]["message"]
    assert "the import works only where something loads libshipped.so first" in probs[0]["message"]
    rc, doc = check_json("--strict", wheel)
    assert rc == 1, doc
    assert [q["severity"] for q in problems_of(doc)[name] if q["code"] == MISSING_LIBRARY] == [ERROR]
    tree = unpack_wheel(wheel, tmp_path / "tree")
    assert "libshipped.so: cannot open shared object file" in import_error(tree, "_usesshipped")
