"""gcc-built files and the real wheels around them, for the tests that judge `nolibpython check`.

One copy of the helpers the tests of verdicts on real files share: compile a module,
library, embedding program or frozen-application host with gcc for the test interpreter,
pack members into a proper wheel (WHEEL, METADATA, RECORD), run the CLI and read its JSON
document (always held to docs/check-json-schema.json).
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Dict, List, Sequence

import jsonschema
from elfgen import record_line

from . import MODULE_C, REPO, readelf_needed, require, run

INCLUDE = sysconfig.get_paths()["include"]
LIBDIR = sysconfig.get_config_var("LIBDIR")
LIBPL = sysconfig.get_config_var("LIBPL")
LDVERSION = sysconfig.get_config_var("LDVERSION")
STATIC_LIB = Path(LIBPL) / f"libpython{LDVERSION}.a"
EXT = sysconfig.get_config_var("EXT_SUFFIX")  # .cpython-311-x86_64-linux-gnu.so
PY_TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"
LINUX_TAG = f"{PY_TAG}-{PY_TAG}-linux_x86_64"
SCHEMA = json.loads((REPO / "docs" / "check-json-schema.json").read_text())

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
    """An extension module ``name`` (``answer()`` returns ``value``) built by gcc into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    c = out / f"{name}.c"
    c.write_text(MODULE_C % {"decl": decl, "value": value, "name": name})
    so = out / f"{name}{suffix}"
    gcc(["-shared", "-fPIC", "-O0", f"-I{INCLUDE}", *cflags, c, *extra, "-o", so])
    return so


def shared_library(out: Path, soname: str, source: str = "int dep_answer(void) { return 42; }\n",
                   extra: Sequence[object] = ()) -> Path:
    """A plain shared library ``out/soname`` whose DT_SONAME is ``soname``."""
    out.mkdir(parents=True, exist_ok=True)
    c = out / f"{soname}.c"
    c.write_text(source)
    lib = out / soname
    gcc(["-shared", "-fPIC", f"-Wl,-soname,{soname}", c, *extra, "-o", lib])
    return lib


def make_wheel(path: Path, members: Dict[str, bytes], tag: str, modes: Dict[str, int] = {},
               dist: str = "probe-1.0") -> Path:
    """A wheel whose WHEEL says ``tag`` (whatever its file name says), with a correct RECORD."""
    info = f"{dist}.dist-info"
    name = dist.rsplit("-", 1)[0]
    files = dict(members)
    files[f"{info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n").encode()
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode()
    lines = [record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(lines) + "\n").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in files.items():
            zi = zipfile.ZipInfo(member, (2020, 1, 1, 0, 0, 0))
            zi.external_attr = (modes.get(member, 0o644) | stat.S_IFREG) << 16
            zf.writestr(zi, data, zipfile.ZIP_DEFLATED)
    return path


def cli(*args: object) -> "subprocess.CompletedProcess[str]":
    return run([sys.executable, "-m", "setuptools_nolibpython", *map(str, args)])


def check_doc(*args: object) -> dict:
    """``nolibpython check --json ARGS``, validated against the published schema."""
    proc = cli("check", "--json", *args)
    assert proc.returncode in (0, 1, 3), proc.stderr
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, SCHEMA)  # every document is held to the published schema
    assert doc["exit_status"] == proc.returncode
    return doc


def problems_of(doc: dict) -> Dict[str, List[dict]]:
    return {f["path"]: f["problems"] for t in doc["targets"] for f in t["files"]}


def libpython_module_wheel(out: Path) -> Path:
    """``out/probe-1.0-<tag>.whl``: one module linked to the running interpreter's libpython
    (a DT_NEEDED that repair removes), with a RUNPATH to its lib dir; ``probe/_bad`` answers 42."""
    so = module(out / "build", "_bad", extra=[f"-L{LIBDIR}", f"-Wl,-rpath,{LIBDIR}", "-Wl,--no-as-needed",
                                              f"-lpython{LDVERSION}"])
    assert any(n.startswith("libpython") for n in readelf_needed(so)), "the module does not link libpython"
    return make_wheel(out / f"probe-1.0-{LINUX_TAG}.whl",
                      {"probe/__init__.py": b"", f"probe/{so.name}": so.read_bytes()}, LINUX_TAG)


def build_frozen_app(d: Path) -> Dict[str, Path]:
    """A freeze-style wheel: a host program with the static libpython inside, exporting Py*
    and host_api_answer (-Wl,-E), and modules that call host_api_answer."""
    require(STATIC_LIB.is_file(), f"{STATIC_LIB} (the static libpython of the test interpreter) is needed")
    (d / "host.c").write_text(HOST_C)
    host = d / "host"
    gcc(["-O0", f"-I{INCLUDE}", d / "host.c", STATIC_LIB, "-lm", "-ldl", "-lpthread", "-lutil", "-Wl,-E", "-o", host])
    good = module(d, "_uses_host", decl="long host_api_answer(void);", value="host_api_answer()")
    bad = module(d, "_typo", decl="long host_api_answr(void);", value="host_api_answr()")
    wheel = make_wheel(d / f"app-1.0-{LINUX_TAG}.whl",
                       {"app/host": host.read_bytes(), f"app/lib/_uses_host{EXT}": good.read_bytes(),
                        f"app/lib/_typo{EXT}": bad.read_bytes()},
                       LINUX_TAG, modes={"app/host": 0o755})
    return {"dir": d, "host": host, "wheel": wheel, "good": good, "bad": bad}
