"""What a check judges a file against: the wheel's libc (musl never gets advice to
bundle libc; a system library the machine lacks is not bundling advice), the wheel's own
tag (a renamed abi3 wheel), the interpreter given with --python (a private symbol of
another patch release; an interpreter whose libraries cannot be found), and a symbol
check that cannot be made fails loudly.

Every file is built here by gcc, every wheel is a real zip with WHEEL, METADATA and
RECORD, and each claim is held to what really happens (the import fails with the
predicted symbol) with a negative control beside it.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import List

import jsonschema
import pytest
from support import DEBIAN_PYTHON, MODULE_C, PYENV_ROOT, require, run
from support.cbuild import (
    EXT,
    INCLUDE,
    PY_TAG,
    SCHEMA,
    check_doc,
    cli,
    gcc,
    make_wheel,
    module,
    problems_of,
)

from devtools.machine import pyenv_python
from setuptools_nolibpython.elf import read_elf
from setuptools_nolibpython.sources import FileSource


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
    # The missing non-system library is a warning that says when the import works ...
    (line,) = [ln for ln in proc.stdout.splitlines() if "libfoo.so.1" in ln]
    assert ": warning: needs libfoo.so.1" in line and "nothing checked here provides" in line
    assert "built for another machine" in line and "bundle" not in line
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
    assert proc.returncode == 0, proc.stdout  # a warning: the target system may provide it
    (finding,) = [p for p in problems_of(check_doc(plain))[f"g/_g{EXT}"] if p["code"] == "missing-library"]
    assert finding["severity"] == "warning" and finding["detail"] == "libfoo.so.1"
    assert "built for another machine" not in finding["message"] and "bundle" not in finding["fix"]


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
    # An internal error: its own exit status (3), one line naming the file, never a pass.
    assert "exit 0" not in proc.stdout and ("exit 3" in proc.stdout or proc.returncode != 0)
    assert "ImportError" in proc.stderr or "ModuleNotFoundError" in proc.stderr
    # The build step imports the symbol check once it finds an ELF file (a build that links
    # nothing never loads it): judging the file is what must fail.
    build = run([sys.executable, "-c", probe.replace(
        "from setuptools_nolibpython import cli\n",
        "from setuptools_nolibpython import enforce\nfrom setuptools_nolibpython.config import Config\n").replace(
        f"rc = cli.main(['check', {str(so)!r}])\n",
        f"rc = enforce.enforce([('x.so', {str(so)!r})], Config(enable=True, on_violation='warn'), 'probe')\n")])
    assert build.returncode != 0 and "exit" not in build.stdout
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
