"""C extension modules and programs built by gcc for the test interpreter, wheels around
them (a WHEEL tag and a correct RECORD), and ``nolibpython check --json`` held to the
published schema: what the tests of verdicts on real files share."""

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

from . import MODULE_C, REPO, require, run

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


def build_frozen_app(d: Path) -> Dict[str, Path]:
    """A freeze-style wheel: a host program with the static libpython inside, exporting Py*
    and host_api_answer (-Wl,-E), and modules that call host_api_answer."""
    require(STATIC_LIB.is_file(), f"{STATIC_LIB} (the static libpython of the test interpreter) is needed")
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
