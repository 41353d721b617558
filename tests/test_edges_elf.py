"""Issue 11, the ELF side: right verdicts and advice at the edges.

Every file is built here by gcc (modules, programs, a static-libpython host, a stub
musl libc), every wheel is a real zip with WHEEL, METADATA and RECORD, and each claim is
held to what really happens (the program runs, the import fails with the predicted
symbol) with a negative control beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Dict, List, Sequence

import jsonschema
import pytest
from elfgen import ElfSpec, record_line
from elfgen import write as write_elf
from support import DEBIAN_PYTHON, MODULE_C, PYENV_ROOT, REPO, require, run

from devtools.machine import pyenv_python
from setuptools_nolibpython import syslibs
from setuptools_nolibpython.elf import read_elf
from setuptools_nolibpython.elfpatch import patch_file, plan_edit
from setuptools_nolibpython.globs import match_path
from setuptools_nolibpython.policy import is_allowed
from setuptools_nolibpython.sources import FileSource

INCLUDE = sysconfig.get_paths()["include"]
LIBDIR = sysconfig.get_config_var("LIBDIR")
LIBPL = sysconfig.get_config_var("LIBPL")
LDVERSION = sysconfig.get_config_var("LDVERSION")
STATIC_LIB = Path(LIBPL) / f"libpython{LDVERSION}.a"
EXT = sysconfig.get_config_var("EXT_SUFFIX")  # .cpython-311-x86_64-linux-gnu.so
PY_TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"

#: A program that embeds Python by linking libpython (what Fedora-style embedding does).
EMBED_PROGRAM_C = """
#include <Python.h>
int main(void) {
    Py_Initialize();
    PyRun_SimpleString("print('embedded', 6 * 7)");
    return Py_FinalizeEx() < 0 ? 1 : 0;
}
"""

#: A frozen-application host: static libpython inside, Py* exported (-Wl,-E), plus one
#: function of its own that the modules shipped beside it call.
HOST_C = """
#include <Python.h>
long host_api_answer(void) { return 42; }
int main(int argc, char **argv) { return Py_BytesMain(argc, argv); }
"""


def gcc(args: Sequence[object]) -> None:
    run(["gcc", *map(str, args)], check=True)


def module(out: Path, name: str, decl: str = "", value: str = "42", extra: Sequence[object] = (),
           suffix: str = EXT, cflags: Sequence[str] = ()) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    c = out / f"{name}.c"
    c.write_text(MODULE_C % {"decl": decl, "value": value, "name": name})
    so = out / f"{name}{suffix}"
    gcc(["-shared", "-fPIC", "-O0", f"-I{INCLUDE}", *cflags, c, *extra, "-o", so])
    return so


def make_wheel(path: Path, members: Dict[str, bytes], tag: str, modes: Dict[str, int] = {}) -> Path:
    """A wheel whose WHEEL says ``tag`` (whatever its file name says), with a correct RECORD."""
    info = "probe-1.0.dist-info"
    files = dict(members)
    files[f"{info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n").encode()
    files[f"{info}/METADATA"] = b"Metadata-Version: 2.1\nName: probe\nVersion: 1.0\n"
    lines = [record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(lines) + "\n").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zi = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
            zi.external_attr = (modes.get(name, 0o644) | stat.S_IFREG) << 16
            zf.writestr(zi, data, zipfile.ZIP_DEFLATED)
    return path


def cli(*args: object) -> "subprocess.CompletedProcess[str]":
    return run([sys.executable, "-m", "setuptools_nolibpython", *map(str, args)])


SCHEMA = json.loads((REPO / "docs" / "check-json-schema.json").read_text())


def check_doc(*args: object) -> dict:
    proc = cli("check", "--json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, SCHEMA)  # every document here is held to the published schema
    return doc


def problems_of(doc: dict) -> Dict[str, List[dict]]:
    return {f["path"]: f["problems"] for t in doc["targets"] for f in t["files"]}


# ---------------------------------------------------------------- 1. musl and foreign wheels
@pytest.fixture(scope="module")
def musl_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A musllinux wheel: its module needs libc.musl-x86_64.so.1 (a stub with that SONAME)
    and libfoo.so.1, a non-system library the wheel does not carry."""
    d = tmp_path_factory.mktemp("musl")
    (d / "stub.c").write_text("int musl_stub;\n")
    musl = d / "libc.musl-x86_64.so.1"
    gcc(["-shared", "-fPIC", "-nostdlib", "-Wl,-soname,libc.musl-x86_64.so.1", d / "stub.c", "-o", musl])
    foo = d / "libfoo.so.1"
    gcc(["-shared", "-fPIC", "-Wl,-soname,libfoo.so.1", d / "stub.c", "-o", foo])
    so = module(d, "_m", extra=["-Wl,--no-as-needed", musl, foo, "-Wl,--as-needed"])
    needed = read_elf(FileSource(str(so))).needed
    assert "libc.musl-x86_64.so.1" in needed and "libfoo.so.1" in needed  # the reproducer is what it claims
    return make_wheel(d / f"probe-1.0-{PY_TAG}-{PY_TAG}-musllinux_1_2_x86_64.whl",
                      {f"probe/_m{EXT}": so.read_bytes()}, f"{PY_TAG}-{PY_TAG}-musllinux_1_2_x86_64")


def test_musl_wheel_never_advises_bundling_libc(musl_wheel: Path) -> None:
    proc = cli("check", musl_wheel)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out  # warnings only
    # The missing non-system library still gets the bundling advice ...
    (line,) = [ln for ln in proc.stdout.splitlines() if "libfoo.so.1" in ln]
    assert "bundle the library in the wheel" in line
    # ... the C library never does: it is not even named as missing.
    assert "libc.musl-x86_64.so.1" not in proc.stdout
    # and the file is treated as built for another machine (glibc here), symbols unchecked
    assert "built for another machine" in proc.stderr and "glibc" in proc.stderr
    doc = check_doc(musl_wheel)
    (probs,) = problems_of(doc).values()
    assert [p["detail"] for p in probs] == ["libfoo.so.1"]


def test_glibc_wheel_same_module_is_judged_control(musl_wheel: Path, tmp_path: Path) -> None:
    """Control: the tag alone does not hide problems: a file needing musl's libc is foreign
    even in a linux_x86_64 wheel, and a glibc module in a musllinux-tagged wheel is too."""
    with zipfile.ZipFile(musl_wheel) as zf:
        data = zf.read(f"probe/_m{EXT}")
    relabelled = make_wheel(tmp_path / f"probe-1.0-{PY_TAG}-{PY_TAG}-linux_x86_64.whl", {f"probe/_m{EXT}": data},
                            f"{PY_TAG}-{PY_TAG}-linux_x86_64")
    proc = cli("check", relabelled)
    assert "built for another machine" in proc.stderr
    assert "libc.musl" not in proc.stdout
    # A glibc module that needs a missing library, on this glibc machine: judged, advice given.
    glibc_mod = module(tmp_path / "g", "_g", extra=["-Wl,--no-as-needed", "-L" + str(musl_wheel.parent),
                                                   "-l:libfoo.so.1", "-Wl,--as-needed"])
    plain = make_wheel(tmp_path / f"g-1.0-{PY_TAG}-{PY_TAG}-linux_x86_64.whl", {f"g/_g{EXT}": glibc_mod.read_bytes()},
                       f"{PY_TAG}-{PY_TAG}-linux_x86_64")
    proc = cli("check", plain)
    assert "built for another machine" not in proc.stderr
    assert proc.returncode == 1, proc.stdout
    (finding,) = [p for p in problems_of(check_doc(plain))[f"g/_g{EXT}"] if p["code"] == "missing-library"]
    assert finding["severity"] == "error" and finding["detail"] == "libfoo.so.1"
    assert finding["fix"].startswith("bundle libfoo.so.1 in the wheel")


def test_system_library_list_follows_the_policies() -> None:
    for name in ("libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
                 "ld-linux-x86-64.so.2", "libgcc_s.so.1", "libstdc++.so.6", "libc.musl-x86_64.so.1",
                 "libc.musl-aarch64.so.1", "ld-musl-x86_64.so.1", "libz.so.1"):
        assert syslibs.is_system_library(name), name
    for name in ("libfoo.so.1", "libssl.so.3", "libpython3.11.so.1.0", "libgfortran.so.5", "libc.so.7"):
        assert not syslibs.is_system_library(name), name  # control: the list is not "everything"


def test_missing_system_library_is_not_bundling_advice(tmp_path: Path) -> None:
    """A glibc module needing a system library this machine lacks: no advice to bundle it."""
    from setuptools_nolibpython.ldso import default_library_dirs

    def is_elf(p: Path) -> bool:
        return p.is_file() and p.open("rb").read(4) == b"\x7fELF"

    # libc.so (musllinux's list) is a linker script, not ELF, on a glibc machine: ld.so never loads it.
    absent = [n for n in ("libGL.so.1", "libICE.so.6", "libSM.so.6", "libXrender.so.1", "libX11.so.6", "libc.so")
              if not any(is_elf(Path(d, n)) for d in default_library_dirs())]
    require(absent, "a manylinux system library absent from this machine")
    name = absent[0]
    d = tmp_path / "sys"
    d.mkdir()
    (d / "stub.c").write_text("int sys_stub;\n")
    lib = d / name
    gcc(["-shared", "-fPIC", f"-Wl,-soname,{name}", d / "stub.c", "-o", lib])
    so = module(d, "_n", extra=["-Wl,--no-as-needed", lib, "-Wl,--as-needed"])
    wheel = make_wheel(tmp_path / f"n-1.0-{PY_TAG}-{PY_TAG}-linux_x86_64.whl", {f"n/_n{EXT}": so.read_bytes()},
                       f"{PY_TAG}-{PY_TAG}-linux_x86_64")
    (line,) = [ln for ln in cli("check", wheel).stdout.splitlines() if name in ln]
    assert "a system library" in line and "bundle the library" not in line


# ---------------------------------------------------------------- 2. executables
@pytest.fixture(scope="module")
def program_wheel(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """A wheel with a program that links libpython (embeds Python) and a module that
    links libpython by mistake: repair must fix the module and leave the program alone."""
    d = tmp_path_factory.mktemp("prog")
    (d / "prog.c").write_text(EMBED_PROGRAM_C)
    prog = d / "prog"
    gcc(["-O0", f"-I{INCLUDE}", d / "prog.c", f"-L{LIBDIR}", f"-lpython{LDVERSION}", f"-Wl,-rpath,{LIBDIR}",
         "-o", prog])
    assert run([prog], env={"PYTHONHOME": sys.base_prefix}).stdout.strip() == "embedded 42"  # it works as built
    mod = module(d, "_bad", extra=[f"-L{LIBDIR}", "-Wl,--no-as-needed", f"-lpython{LDVERSION}"])
    wheel = make_wheel(d / f"probe-1.0-{PY_TAG}-{PY_TAG}-linux_x86_64.whl",
                       {"probe/bin/prog": prog.read_bytes(), f"probe/_bad{EXT}": mod.read_bytes()},
                       f"{PY_TAG}-{PY_TAG}-linux_x86_64", modes={"probe/bin/prog": 0o755})
    return {"dir": d, "prog": prog, "wheel": wheel}


def test_program_still_runs_after_repair(program_wheel: Dict[str, Path], tmp_path: Path) -> None:
    proc = cli("repair", program_wheel["wheel"], "-w", tmp_path / "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "probe/bin/prog: left as it is: a program that embeds Python" in proc.stdout
    assert f"probe/_bad{EXT}: removed DT_NEEDED libpython" in proc.stdout  # the module is repaired
    out = tmp_path / "out" / program_wheel["wheel"].name
    with zipfile.ZipFile(out) as zf:
        prog = tmp_path / "prog"
        prog.write_bytes(zf.read("probe/bin/prog"))
        fixed = read_elf(FileSource(str(prog)))
    prog.chmod(0o755)
    assert any(n.startswith("libpython") for n in fixed.needed)
    ran = run([prog], env={"PYTHONHOME": sys.base_prefix})
    assert ran.returncode == 0 and ran.stdout.strip() == "embedded 42", ran.stderr
    # Negative control: what repair used to do (remove the entry) breaks the program at start-up.
    broken = tmp_path / "broken"
    shutil.copy(program_wheel["prog"], broken)
    with FileSource(str(broken)) as src:
        plan = plan_edit(src, read_elf(src), {n for n in fixed.needed if n.startswith("libpython")})
    patch_file(str(broken), plan)
    failed = run([broken], env={"PYTHONHOME": sys.base_prefix})
    assert failed.returncode != 0 and "undefined symbol" in failed.stderr


def test_program_gets_its_own_verdict_and_fix(program_wheel: Dict[str, Path]) -> None:
    doc = check_doc(program_wheel["wheel"])
    probs = problems_of(doc)
    (prog,) = probs["probe/bin/prog"]
    assert prog["code"] == "executable-needs-libpython" and prog["severity"] == "error"
    assert "is a program that embeds Python" in prog["message"]
    assert "link libpython statically" in prog["fix"] and "allow" in prog["fix"]
    assert "nolibpython repair" not in prog["fix"]
    # control: the module beside it keeps the module verdict and the repair advice
    assert [p["code"] for p in probs[f"probe/_bad{EXT}"]][0] == "needs-libpython"
    assert "nolibpython repair" in probs[f"probe/_bad{EXT}"][0]["fix"]
    assert doc["targets"][0]["summary"].endswith(
        "1 violates the no-libpython rule, 1 program embeds Python through libpython")


@pytest.fixture(scope="module")
def frozen_app(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """A freeze-style wheel: a host program with the static libpython inside, exporting Py*
    and host_api_answer (-Wl,-E), and modules that call host_api_answer."""
    require(STATIC_LIB.is_file(), f"{STATIC_LIB} (the static libpython of the test interpreter) is needed")
    d = tmp_path_factory.mktemp("frozen")
    (d / "host.c").write_text(HOST_C)
    host = d / "host"
    gcc(["-O0", f"-I{INCLUDE}", d / "host.c", STATIC_LIB, "-lm", "-ldl", "-lpthread", "-lutil", "-Wl,-E", "-o", host])
    good = module(d, "_uses_host", decl="long host_api_answer(void);", value="host_api_answer()")
    bad = module(d, "_typo", decl="long host_api_answr(void);", value="host_api_answr()")
    wheel = make_wheel(d / f"app-1.0-{PY_TAG}-{PY_TAG}-linux_x86_64.whl",
                       {"app/host": host.read_bytes(), f"app/lib/_uses_host{EXT}": good.read_bytes(),
                        f"app/lib/_typo{EXT}": bad.read_bytes()},
                       f"{PY_TAG}-{PY_TAG}-linux_x86_64", modes={"app/host": 0o755})
    return {"dir": d, "host": host, "wheel": wheel, "good": good, "bad": bad}


def test_frozen_host_judges_its_modules(frozen_app: Dict[str, Path]) -> None:
    doc = check_doc(frozen_app["wheel"])
    probs = problems_of(doc)
    notes = " ".join(doc["targets"][0]["notes"])
    assert "app/host is a program that statically embeds CPython" in notes
    # The module the host serves passes: one warning that only the host defines its symbol
    # (an import in the interpreter would fail), and no advice to "link" a program.
    (uses,) = probs[f"app/lib/_uses_host{EXT}"]
    assert (uses["code"], uses["severity"], uses["detail"]) == ("host-only-symbol", "warning", "host_api_answer")
    assert not any("link host" in p["fix"] for ps in probs.values() for p in ps)
    # Control: a symbol nobody defines is still an error, and the message names the host.
    (typo,) = [p for p in probs[f"app/lib/_typo{EXT}"] if p["detail"] == "host_api_answr"]
    assert typo["severity"] == "error" and "the wheel's Python host (app/host)" in typo["message"]
    assert probs["app/host"] == []  # the host itself: no embedded-runtime or libpython verdict
    # What really happens: the host imports the good module and runs it; the typo fails as predicted.
    lib = frozen_app["dir"]
    env = {"PYTHONHOME": sys.base_prefix, "PYTHONPATH": str(lib)}
    ok = run([frozen_app["host"], "-c", "import _uses_host; print(_uses_host.answer())"], env=env)
    assert ok.stdout.strip() == "42", ok.stderr
    bad = run([frozen_app["host"], "-c", "import _typo"], env=env)
    assert "undefined symbol: host_api_answr" in bad.stderr


def test_program_never_offered_as_a_library(frozen_app: Dict[str, Path], tmp_path: Path) -> None:
    """A module needing a symbol only a program (not a host) defines: no 'link <program>' fix."""
    (tmp_path / "tool.c").write_text("long tool_only(void) { return 1; }\nint main(void) { return 0; }\n")
    tool = tmp_path / "tool"
    gcc(["-O0", tmp_path / "tool.c", "-Wl,-E", "-o", tool])
    mod = module(tmp_path, "_needs_tool", decl="long tool_only(void);", value="tool_only()")
    wheel = make_wheel(tmp_path / f"t-1.0-{PY_TAG}-{PY_TAG}-linux_x86_64.whl",
                       {"t/tool": tool.read_bytes(), f"t/_needs_tool{EXT}": mod.read_bytes()},
                       f"{PY_TAG}-{PY_TAG}-linux_x86_64")
    probs = problems_of(check_doc(wheel))[f"t/_needs_tool{EXT}"]
    (p,) = [p for p in probs if p["detail"] == "tool_only"]
    assert p["severity"] == "error" and "link tool" not in p["fix"]
    # Control: the same symbol in a shared library of the wheel is offered (with its warning).
    lib = tmp_path / "libtool.so"
    gcc(["-shared", "-fPIC", tmp_path / "tool.c", "-Wl,-soname,libtool.so", "-o", lib])
    wheel2 = make_wheel(tmp_path / f"t2-1.0-{PY_TAG}-{PY_TAG}-linux_x86_64.whl",
                        {"t/libtool.so": lib.read_bytes(), f"t/_needs_tool{EXT}": mod.read_bytes()},
                        f"{PY_TAG}-{PY_TAG}-linux_x86_64")
    probs2 = problems_of(check_doc(wheel2))[f"t/_needs_tool{EXT}"]
    assert any("link libtool.so" in p["fix"] for p in probs2)


# ---------------------------------------------------------------- 3. patch-release symbols
def test_private_symbol_of_another_patch_release(tmp_path: Path) -> None:
    """_PyModule_Add: exported by pyenv's 3.11.7, missing from Debian's 3.11.2."""
    require(DEBIAN_PYTHON.is_file(), f"{DEBIAN_PYTHON} (Debian's 3.11.2) is needed")
    require(sys.version_info[:2] == (3, 11), "the test interpreter must be a 3.11 (pyenv 3.11.7)")
    so = module(tmp_path, "_priv", decl="PyAPI_FUNC(int) _PyModule_Add(PyObject *, const char *, PyObject *);",
                value="_PyModule_Add(NULL, NULL, NULL)")
    release = run([DEBIAN_PYTHON, "-c", "import platform; print(platform.python_version())"]).stdout.strip()
    proc = cli("check", "--python", DEBIAN_PYTHON, so)
    assert proc.returncode == 1
    line = proc.stdout.splitlines()[0]
    assert "undefined symbol _PyModule_Add" in line
    assert "is a private CPython symbol" in line and "patch releases" in line and f"({release}," in line
    assert "it is private or was removed" not in line
    # What really happens under that interpreter ...
    imp = run([DEBIAN_PYTHON, "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import _priv"])
    assert "undefined symbol: _PyModule_Add" in imp.stderr
    # ... and the control: the interpreter that exports it finds nothing, and imports it.
    pyenv = pyenv_python("3.11")
    require(pyenv is not None, f"no pyenv CPython 3.11 in {PYENV_ROOT}/versions")
    assert pyenv is not None
    assert cli("check", "--python", pyenv, so).returncode == 0
    assert run([pyenv, "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import _priv"]).returncode == 0


# ---------------------------------------------------------------- 9. wheel tags from WHEEL
ABI3_NEWER_C = "#define Py_LIMITED_API 0x03090000\n" + MODULE_C


@pytest.fixture(scope="module")
def abi3_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("abi3")
    # PyType_GetName entered the Stable ABI in 3.11: too new for a cp39-abi3 wheel.
    (d / "_a.c").write_text((ABI3_NEWER_C % {"decl": "PyAPI_FUNC(PyObject *) PyType_GetName(PyTypeObject *);",
                                             "value": "PyType_GetName(NULL) != NULL", "name": "_a"}))
    so = d / "_a.so"
    gcc(["-shared", "-fPIC", "-O0", f"-I{INCLUDE}", d / "_a.c", "-o", so])
    return so


def _abi3_codes(wheel: Path) -> List[str]:
    doc = check_doc(wheel)
    return [p["code"] for ps in problems_of(doc).values() for p in ps]


def test_renamed_abi3_wheel_is_judged_against_its_wheel_tag(abi3_module: Path, tmp_path: Path) -> None:
    members = {"probe/_a.so": abi3_module.read_bytes()}
    honest = make_wheel(tmp_path / "probe-1.0-cp39-abi3-linux_x86_64.whl", members, "cp39-abi3-linux_x86_64")
    renamed = make_wheel(tmp_path / "probe-1.0-cp311-abi3-linux_x86_64.whl", members, "cp39-abi3-linux_x86_64")
    (tmp_path / "n").mkdir()
    newer = make_wheel(tmp_path / "n" / "probe-1.0-cp311-abi3-linux_x86_64.whl", members, "cp311-abi3-linux_x86_64")
    assert "stable-abi" in _abi3_codes(honest)
    assert "stable-abi" in _abi3_codes(renamed)  # the WHEEL tag, not the name, sets the target
    assert "stable-abi" not in _abi3_codes(newer)  # control: a real cp311 target is fine
    proc = cli("check", renamed)
    (warn,) = [ln for ln in proc.stdout.splitlines() if ": warning: the file name's tags" in ln]
    assert "cp311-abi3-linux_x86_64" in warn and "cp39-abi3-linux_x86_64" in warn and "rename" in warn
    assert check_doc(renamed)["targets"][0]["warnings"]
    assert not check_doc(honest)["targets"][0]["warnings"]  # control: name and WHEEL agree


# ---------------------------------------------------------------- 10. allow globs
@pytest.mark.parametrize("pattern, path, expected", [
    ("pkg/*.so", "pkg/x.so", True),
    ("pkg/*.so", "pkg/sub/x.so", False),  # fnmatch's '*' crossed '/'
    ("pkg/**/*.so", "pkg/x.so", True),
    ("pkg/**/*.so", "pkg/sub/deeper/x.so", True),
    ("**/x.so", "x.so", True),
    ("**/x.so", "a/b/x.so", True),
    ("*.so", "pkg/x.so", False),
    ("pkg/**", "pkg/a/b", True),
    ("pkg/?.so", "pkg/x.so", True),
    ("pkg/[xy].so", "pkg/z.so", False),
])
def test_allow_glob_segments(pattern: str, path: str, expected: bool) -> None:
    assert match_path(path, pattern) is expected
    assert is_allowed(path, [pattern]) is expected


def test_allow_glob_in_check_and_repair(tmp_path: Path) -> None:
    libpy = f"libpython{LDVERSION}.so.1.0"
    top = write_elf(tmp_path / "top.so", ElfSpec(needed=(libpy, "libc.so.6"), soname="top.so")).read_bytes()
    wheel = make_wheel(tmp_path / f"probe-1.0-{PY_TAG}-{PY_TAG}-linux_x86_64.whl",
                       {"pkg/x.so": top, "pkg/sub/y.so": top}, f"{PY_TAG}-{PY_TAG}-linux_x86_64")
    one = check_doc("--check-symbols", "off", "--allow", "pkg/*.so", wheel)
    verdicts = {f["path"]: f["verdict"] for f in one["targets"][0]["files"]}
    assert verdicts == {"pkg/x.so": "allowed", "pkg/sub/y.so": "violation"}
    both = check_doc("--check-symbols", "off", "--allow", "pkg/**/*.so", wheel)
    assert {f["verdict"] for f in both["targets"][0]["files"]} == {"allowed"}
    rep = cli("repair", "--allow", "pkg/*.so", wheel, "-w", tmp_path / "out")
    assert "pkg/x.so: allowed" in rep.stdout and "pkg/sub/y.so: removed DT_NEEDED" in rep.stdout


# ---------------------------------------------------------------- 6. one factory, no guard
def test_a_broken_symbol_module_fails_loudly(tmp_path: Path) -> None:
    """If symbols (or what it imports) cannot be imported, check and build must fail, not pass."""
    so = module(tmp_path, "_missing", decl="extern int nolibpython_missing_symbol;", value="nolibpython_missing_symbol")
    probe = (
        "import sys\n"
        "sys.modules['setuptools_nolibpython.symbols'] = None  # any import of it raises ImportError\n"
        "from setuptools_nolibpython import cli\n"
        f"rc = cli.main(['check', {str(so)!r}])\n"
        "print('exit', rc)\n"
    )
    proc = run([sys.executable, "-c", probe])
    assert "exit 0" not in proc.stdout and proc.returncode != 0
    assert "ImportError" in proc.stderr or "ModuleNotFoundError" in proc.stderr
    build = run([sys.executable, "-c", probe.replace(
        "from setuptools_nolibpython import cli\n", "from setuptools_nolibpython import enforce\n").replace(
        f"rc = cli.main(['check', {str(so)!r}])\n", "rc = 'imported'\n")])
    assert build.returncode != 0 and "exit imported" not in build.stdout
    # Control: unbroken, the same file fails the check for its missing symbol.
    ok = cli("check", so)
    assert ok.returncode == 1 and "undefined symbol nolibpython_missing_symbol" in ok.stdout


def test_unreadable_interpreter_scope_is_recorded(tmp_path: Path) -> None:
    """--python whose DT_NEEDED cannot be found: symbols not checked, said in --json and on stderr."""
    (tmp_path / "lib.c").write_text("int gone(void) { return 0; }\n")
    (tmp_path / "py.c").write_text("int gone(void);\nint main(void) { return gone(); }\n")
    gcc(["-shared", "-fPIC", tmp_path / "lib.c", "-Wl,-soname,libgone.so.1", "-o", tmp_path / "libgone.so.1"])
    fake = tmp_path / "python3.11"
    gcc([tmp_path / "py.c", tmp_path / "libgone.so.1", "-o", fake])
    so = module(tmp_path, "_ok")
    doc = check_doc("--python", fake, so)
    sc = doc["targets"][0]["symbol_check"]
    assert sc["status"] == "not-checked" and "libgone.so.1" in sc["reason"]
    assert "symbols not checked" in cli("check", "--python", fake, so).stderr
    # Control: with a readable interpreter the same file is checked.
    assert check_doc(so)["targets"][0]["symbol_check"] == {"status": "checked", "reason": None}
    assert check_doc("--check-symbols", "off", so)["targets"][0]["symbol_check"]["status"] == "off"
    # Control: the schema rejects a status it does not define, and a missing symbol_check.
    wrong = json.loads(json.dumps(doc))
    wrong["targets"][0]["symbol_check"]["status"] = "maybe"
    missing = json.loads(json.dumps(doc))
    del missing["targets"][0]["symbol_check"]
    for bad in (wrong, missing):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, SCHEMA)


# ---------------------------------------------------------------- 11. distutils
def test_no_distutils_import_in_the_package() -> None:
    """Error classes come from setuptools.errors (setuptools >= 59), never distutils."""
    import ast

    import setuptools_nolibpython

    pkg = Path(setuptools_nolibpython.__file__).parent
    offenders = []
    for py in sorted(pkg.glob("*.py")):
        for node in ast.walk(ast.parse(py.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{py.name}: {n}" for n in names if n.split(".")[0] == "distutils"]
    assert offenders == []
    from setuptools.errors import BaseError

    from setuptools_nolibpython.commands import BuildError
    from setuptools_nolibpython.errors import NoLibpythonError

    assert issubclass(BuildError, BaseError) and issubclass(BuildError, NoLibpythonError)


def test_env_value_error_lists_every_spelling() -> None:
    from setuptools_nolibpython.config import ConfigError, env_override

    with pytest.raises(ConfigError) as exc:
        env_override({"SETUPTOOLS_NOLIBPYTHON": "maybe"})
    for word in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        assert f" {word}" in str(exc.value) or f"{word}," in str(exc.value), word
    assert os.linesep not in str(exc.value)
