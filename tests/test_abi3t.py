"""Python 3.15's new kinds of module, on Debian sid's python3.15 (issue 21, items 2-5).

Every module is compiled in the chroot of scripts/sid_chroot.sh by its gcc against
Debian's 3.15.2 headers, imported by its python3.15, and judged by ``nolibpython check``
installed in a venv of that python3.15:

- PEP 793: a module whose only entry point is ``PyModExport_<name>`` (a PySlot array with
  Py_mod_name, Py_mod_abi and PySlot_STATIC methods) is an extension module wherever
  ``PyInit_`` makes one: in abi3 detection, it is held to the Stable ABI;
- PEP 803: ``.abi3t.so`` modules and ``cpXY-abi3t`` wheels are held to the Stable ABI with
  a target of 3.15 at least (a wheel that claims less is told so);
- a module built for a free-threaded CPython (``cp314t``/``cp315t``) is never judged
  against the GIL build's exports, and the note names the interpreter that would;
- the Stable ABI data (setuptools_nolibpython/data/stable_abi.json) against the real
  3.14.10 and 3.15.2: every item it promises by a version is exported by that libpython.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Dict, List

import pytest
from elfgen import make_wheel
from support import record_compat, run
from support.sid import SID_ROOT, Sid, require_sid

from setuptools_nolibpython import stable_abi
from setuptools_nolibpython.ldso import load_system_object

SECTION = "Python 3.15 modules (PEP 793, PEP 803)"

MODULE_C = """
%(defines)s
#include <Python.h>
%(decls)s
static PyObject *answer(PyObject *self, PyObject *unused) {
    %(body)s
    return PyLong_FromLong(42);
}
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
PyABIInfo_VAR(abi_info);
static PySlot slots[] = {
    PySlot_STATIC_DATA(Py_mod_name, (void *)"%(name)s"),
    PySlot_STATIC_DATA(Py_mod_abi, &abi_info),
    PySlot_STATIC_DATA(Py_mod_methods, methods),
    PySlot_END,
};
PyMODEXPORT_FUNC PyModExport_%(name)s(void) { return slots; }
"""

ABI3T = "#define Py_TARGET_ABI3T 0x030f0000"
#: A 3.15 Stable ABI function: fine for abi3t (target 3.15 at least), too new for abi3 3.12.
USES_315 = 'PyObject *v = PySys_GetAttrString("version"); if (!v) return NULL; Py_DECREF(v);'
#: PyDict_SetDefault is exported by every 3.x but not in the Stable ABI; Py_HashBuffer
#: entered the Stable ABI in 3.16 (exported by 3.15 as non-limited API).
OUTSIDE = ("extern PyObject *PyDict_SetDefault(PyObject *, PyObject *, PyObject *);\n"
           "extern Py_hash_t Py_HashBuffer(const void *, Py_ssize_t);")
OUTSIDE_BODY = ("PyObject *d = PyDict_New(), *k = PyLong_FromLong(1); if (!d || !k) return NULL; "
                "PyObject *r = PyDict_SetDefault(d, k, k); (void)r; Py_DECREF(k); Py_DECREF(d); "
                "Py_hash_t h = Py_HashBuffer(\"x\", 1); (void)h;")
#: Exported by free-threaded builds only (the shared-refcount path of Py_DECREF).
FT_ONLY = "extern void _Py_DecRefShared(PyObject *);\nstatic volatile int never;"
FT_BODY = "if (never) _Py_DecRefShared(NULL);"


@pytest.fixture(scope="module")
def python315(sid: Sid) -> str:
    """python3.15 of a venv with the plugin: ``nolibpython`` runs on 3.15 itself."""
    return sid.venv("3.15", sid.inside(sid.work / "wheelhouse"))


@pytest.fixture(scope="module")
def modules(sid: Sid) -> Dict[str, Path]:
    out = sid.work / "modules"
    out.mkdir()
    specs = {
        "pep793": ("", "", ""),
        "clean": (ABI3T, "", USES_315),
        "outside": (ABI3T, OUTSIDE, OUTSIDE_BODY),
        "ftonly": ("", FT_ONLY, FT_BODY),
    }
    built: Dict[str, Path] = {}
    for name, (defines, decls, body) in specs.items():
        src = out / f"{name}.c"
        src.write_text(MODULE_C % {"defines": defines, "decls": decls, "body": body, "name": name})
        built[name] = sid.gcc(src, out / f"{name}.so", "3.15")
    return built


def _wheel(sid: Sid, tag: str, members: Dict[str, Path]) -> Path:
    d = sid.work / "wheels" / re.sub(r"[^a-z0-9_.-]", "_", f"{tag}-{'-'.join(sorted(members))}")
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"probe-1.0-{tag}.whl"
    path.write_bytes(make_wheel({f"probe/{n}": p.read_bytes() for n, p in members.items()}, tag=tag))
    return path


def _check(sid: Sid, python: str, wheel: Path) -> dict:
    """``nolibpython check --json`` by python3.15 inside the chroot (its exports judge Py*)."""
    proc = sid.run([python, "-m", "setuptools_nolibpython", "check", "--json", sid.inside(wheel)])
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    doc: dict = json.loads(proc.stdout)
    assert doc["targets"][0]["symbol_check"]["status"] == "checked", doc["targets"][0]["symbol_check"]
    return doc


def _problems(doc: dict) -> Dict[str, List[str]]:
    return {f["path"]: [p["message"] for p in f["problems"]] for t in doc["targets"] for f in t["files"]}


def _notes(doc: dict) -> List[str]:
    return [n for t in doc["targets"] for n in t["notes"]]


def _import(sid: Sid, module: Path, filename: str, name: str) -> str:
    """Import ``module`` under ``filename`` in python3.15 (GIL build) and call answer()."""
    d = sid.work / "import" / filename
    d.mkdir(parents=True)
    shutil.copy2(module, d / filename)
    proc = sid.run(["python3.15", "-I", "-c",
                    f"import sys; sys.path.insert(0, {sid.inside(d)!r}); import {name}; print({name}.answer())"])
    return proc.stdout + proc.stderr


def test_pep793_module_is_recognised_and_passes(sid: Sid, python315: str, modules: Dict[str, Path]) -> None:
    so = modules["pep793"]
    syms = run(["readelf", "--dyn-syms", "-W", str(so)], check=True).stdout
    assert "PyModExport_pep793" in syms and "PyInit_" not in syms, syms
    obj = load_system_object(str(so))
    assert obj is not None and obj.has_module_init, "a PyModExport_-only module is not recognised as a module"
    assert _import(sid, so, "pep793.cpython-315-x86_64-linux-gnu.so", "pep793").strip().endswith("42")
    doc = _check(sid, python315, _wheel(sid, "cp315-cp315-linux_x86_64",
                                        {"pep793.cpython-315-x86_64-linux-gnu.so": so}))
    assert doc["exit_status"] == 0 and _problems(doc) == {"probe/pep793.cpython-315-x86_64-linux-gnu.so": []}, doc
    # Recognised in abi3 detection too: under a plain name in an abi3t wheel, the module is
    # held to the Stable ABI only because PyModExport_ marks it as a module.
    bad = _check(sid, python315, _wheel(sid, "cp315-abi3t-linux_x86_64", {"outside.so": modules["outside"]}))
    assert any("abi3t module uses PyDict_SetDefault" in m for m in _problems(bad)["probe/outside.so"]), bad
    # Control: the same file in a version-specific wheel may use any API of 3.15.
    same = _check(sid, python315, _wheel(sid, "cp315-cp315-linux_x86_64", {"outside.so": modules["outside"]}))
    assert same["exit_status"] == 0 and _problems(same) == {"probe/outside.so": []}, same
    record_compat(SECTION, "PEP 793 module (PyModExport_ only, no PyInit_)", "pass",
                  "built by sid's gcc against 3.15.2's headers; recognised as an extension module (in abi3t "
                  "wheels it is held to the Stable ABI), passes check, imports in python3.15: answer() = 42")


def test_abi3t_outside_stable_abi_is_flagged(sid: Sid, python315: str, modules: Dict[str, Path]) -> None:
    so = modules["outside"]
    doc = _check(sid, python315, _wheel(sid, "cp315-abi3t-linux_x86_64", {"outside.abi3t.so": so}))
    msgs = _problems(doc)["probe/outside.abi3t.so"]
    assert doc["exit_status"] == 1, doc
    assert any("abi3t module uses PyDict_SetDefault, which is not in the Stable ABI" in m for m in msgs), msgs
    assert any("abi3t module uses Py_HashBuffer, which entered the Stable ABI in 3.16, after the wheel's target "
               "3.15 (cp315-abi3t)" in m for m in msgs), msgs
    # The file alone (no wheel tags): its name makes it abi3t, held to the Stable ABI of 3.15.
    bare = sid.work / "bare" / "outside.abi3t.so"
    bare.parent.mkdir()
    shutil.copy2(so, bare)
    proc = sid.run([python315, "-m", "setuptools_nolibpython", "check", sid.inside(bare)])
    assert proc.returncode == 1 and "abi3t module uses PyDict_SetDefault" in proc.stdout, proc.stdout + proc.stderr
    assert "Py_HashBuffer, which entered the Stable ABI in 3.16, after the wheel's target 3.15" in proc.stdout
    # python3.15 (GIL) loads .abi3t.so and has both functions: the verdict is about the
    # Stable ABI promise, which the import here cannot show.
    assert _import(sid, so, "outside.abi3t.so", "outside").strip().endswith("42")
    record_compat(SECTION, "abi3t wheel using API outside the Stable ABI", "pass",
                  "cp315-abi3t, outside.abi3t.so: PyDict_SetDefault (not in the Stable ABI) and Py_HashBuffer "
                  "(3.16, after the target 3.15) flagged, exit 1; control: the same file in a cp315-cp315 wheel "
                  "passes")


def test_abi3t_clean_wheel_passes(sid: Sid, python315: str, modules: Dict[str, Path]) -> None:
    so = modules["clean"]
    doc = _check(sid, python315, _wheel(sid, "cp315-abi3t-linux_x86_64", {"clean.abi3t.so": so}))
    assert doc["exit_status"] == 0 and _problems(doc) == {"probe/clean.abi3t.so": []}, doc
    assert _import(sid, so, "clean.abi3t.so", "clean").strip().endswith("42")
    # Both tags at once (PEP 803's advice): still clean.
    both = _check(sid, python315, _wheel(sid, "cp315-abi3.abi3t-linux_x86_64", {"clean.abi3t.so": so}))
    assert both["exit_status"] == 0, both
    # A wheel that claims less than 3.15 for abi3t is told so, and judged at 3.15: the 3.15
    # function it uses is fine ...
    low = _check(sid, python315, _wheel(sid, "cp312-abi3t-linux_x86_64", {"clean.abi3t.so": so}))
    assert low["exit_status"] == 0, low
    assert any("claims cp312-abi3t, but abi3t (PEP 803) exists from Python 3.15 on" in n for n in _notes(low)), low
    # ... while the same binary as an abi3 module targeting 3.12 is flagged for it (control).
    abi3 = _check(sid, python315, _wheel(sid, "cp312-abi3-linux_x86_64", {"clean.abi3.so": so}))
    assert any("abi3 module uses PySys_GetAttrString, which entered the Stable ABI in 3.15, after the wheel's "
               "target 3.12" in m for m in _problems(abi3)["probe/clean.abi3.so"]), abi3
    record_compat(SECTION, "abi3t wheel, clean", "pass",
                  "cp315-abi3t and cp315-abi3.abi3t, clean.abi3t.so (Py_TARGET_ABI3T=0x030f0000, PEP 793 slots, "
                  "PySys_GetAttrString of 3.15): passes, imports in python3.15; cp312-abi3t is judged at 3.15 with "
                  "a note; control: as cp312-abi3 the 3.15 function is flagged")


@pytest.mark.parametrize("flags", ["314t", "315t"])
def test_free_threaded_module_is_not_judged_by_a_gil_build(flags: str, sid: Sid, python315: str,
                                                          modules: Dict[str, Path]) -> None:
    so = modules["ftonly"]
    name = f"ftonly.cpython-{flags}-x86_64-linux-gnu.so"
    doc = _check(sid, python315, _wheel(sid, f"cp{flags[:3]}-cp{flags}-linux_x86_64", {name: so}))
    assert doc["exit_status"] == 0 and _problems(doc) == {f"probe/{name}": []}, doc
    version = f"{flags[0]}.{flags[1:3]}"
    expected = (f"is built for CPython {version}t (free-threaded, python{version}t), not for CPython 3.15 "
                "(python3.15)")
    assert any(expected in n for n in _notes(doc)), _notes(doc)
    # Control: the same binary named for the GIL build is judged, and _Py_DecRefShared
    # (exported by free-threaded builds only) is missing from python3.15.
    gil = _check(sid, python315, _wheel(sid, "cp315-cp315-linux_x86_64",
                                        {"ftonly.cpython-315-x86_64-linux-gnu.so": so}))
    assert any("undefined symbol _Py_DecRefShared" in m
               for m in _problems(gil)["probe/ftonly.cpython-315-x86_64-linux-gnu.so"]), gil


@pytest.mark.parametrize("version", ["3.14", "3.15"])
def test_stable_abi_data_matches_debian_interpreters(version: str) -> None:
    require_sid()
    table = stable_abi.load()
    lib = SID_ROOT / "usr" / "lib" / "x86_64-linux-gnu" / f"libpython{version}.so.1.0"
    out = run(["readelf", "--dyn-syms", "-W", str(lib)], check=True).stdout
    exported = {p[7].split("@")[0] for p in (ln.split() for ln in out.splitlines())
                if len(p) >= 8 and p[6] != "UND" and p[4] in ("GLOBAL", "WEAK")}
    v = stable_abi.parse_version(version)
    promised = {i.name for i in table.items.values()
                if i.added <= v and i.on_linux and i.ifdef not in ("Py_REF_DEBUG", "Py_TRACE_REFS")}
    assert promised - exported == set(), f"promised by {version} but not exported by {lib}"
    assert len([i for i in table.items.values() if i.added == v]) >= 10, f"no {version} additions in the data"
    if version == "3.14":  # the data is not trivially permissive: 3.15's additions are missing from 3.14
        assert {i.name for i in table.items.values() if i.added == (3, 15)} - exported
