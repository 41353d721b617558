"""Seed corpus for the fuzzer: real ELF files, generated ELF fixtures, and wheels of them.

Real seeds come from the machine: extension modules compiled here with gcc (one plain,
one linked to libpython with a RUNPATH, one C++), and glibc's small stub libraries.
Generated seeds are tests/elfgen.py's fixture set (32/64-bit, both byte orders).
Every seed starts with the harness's mode byte (see fuzz_check.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import elfgen  # noqa: E402

MODE_ELF, MODE_MEMBER, MODE_ZIP = 0, 1, 2

MODULE_C = """
#include <Python.h>
static PyObject *f(PyObject *s, PyObject *u) { return PyLong_FromLong(1); }
static PyMethodDef m[] = {{"f", f, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "m", NULL, -1, m};
PyMODINIT_FUNC PyInit_m(void) { return PyModule_Create(&d); }
"""
SMALL_SYSTEM_LIBS = ("libdl.so.2", "librt.so.1", "libutil.so.1")


def compiled_modules(work: Path) -> Dict[str, bytes]:
    """Small real extension modules, compiled with this interpreter's headers."""
    gcc = shutil.which("gcc")
    if gcc is None:
        return {}
    inc = sysconfig.get_paths()["include"]
    libdir = sysconfig.get_config_var("LIBDIR") or "/usr/lib"
    ldver = sysconfig.get_config_var("LDVERSION") or sysconfig.get_config_var("VERSION")
    src = work / "m.c"
    src.write_text(MODULE_C)
    small = ["-shared", "-fPIC", "-O0", "-g0", "-s", "-Wl,-z,noseparate-code", "-Wl,-z,max-page-size=0x1000"]
    variants = {
        "module-plain.so": [gcc, *small, f"-I{inc}", str(src)],
        "module-libpython.so": [gcc, *small, f"-I{inc}", str(src), f"-L{libdir}", f"-Wl,-rpath,{libdir}",
                                "-Wl,--no-as-needed", f"-lpython{ldver}"],
        "module-rpath.so": [gcc, *small, f"-I{inc}", str(src), "-Wl,--disable-new-dtags",
                            "-Wl,-rpath,$ORIGIN/lib:/opt/python/cp311/lib", "-Wl,--no-as-needed", "-lm"],
    }
    out: Dict[str, bytes] = {}
    for name, argv in variants.items():
        target = work / name
        proc = subprocess.run([*argv, "-o", str(target)], capture_output=True, text=True)
        if proc.returncode == 0:
            out[name] = target.read_bytes()
    return out


def system_libs() -> Dict[str, bytes]:
    out: Dict[str, bytes] = {}
    for d in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64"):
        for name in SMALL_SYSTEM_LIBS:
            p = Path(d) / name
            if p.is_file() and name not in out and p.stat().st_size <= 64 * 1024:
                out[name] = p.read_bytes()
    return out


def generated() -> Dict[str, bytes]:
    out = {f"gen-{k}": elfgen.build(spec) for k, (spec, _) in elfgen.GOOD.items()}
    out.update({f"gen-bad-{k}": elfgen.build(spec) for k, (spec, _) in elfgen.BAD.items()})
    return out


def wheel_bytes(members: Dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    return elfgen.make_wheel(members, compression)


def elf_seeds(work: Path) -> Dict[str, bytes]:
    seeds = {**compiled_modules(work), **system_libs(), **generated()}
    return seeds


def write_corpus(corpus: Path) -> List[Path]:
    """Write every seed, once per harness mode, into ``corpus``; returns the paths."""
    corpus.mkdir(parents=True, exist_ok=True)
    written: List[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        elves = elf_seeds(Path(tmp))
    for name, data in elves.items():
        for mode in (MODE_ELF, MODE_MEMBER):
            p = corpus / f"seed-{mode}-{name}"
            p.write_bytes(bytes([mode]) + data)
            written.append(p)
    real = {k: v for k, v in elves.items() if not k.startswith("gen-bad-")}
    for name, data in list(real.items())[:6]:
        for label, comp in (("stored", zipfile.ZIP_STORED), ("deflated", zipfile.ZIP_DEFLATED)):
            p = corpus / f"seed-{MODE_ZIP}-{label}-{name}.whl"
            p.write_bytes(bytes([MODE_ZIP]) + wheel_bytes({f"probe/{name}": data}, comp))
            written.append(p)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else os.path.join(".cache", "fuzz", "corpus"))
    print(f"{len(write_corpus(target))} seeds in {target}")
