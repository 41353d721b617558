"""Library search as ld.so does it: a file's DT_RPATH is not searched when the same file has
DT_RUNPATH. Real modules, really imported: the check must say "missing" exactly where the
import fails, and stay quiet where it loads.

ld 2.40 writes either RPATH or RUNPATH, never both, so the module with both is linked with
RPATH ``$ORIGIN/lib`` and an auxiliary-filter entry naming ``$ORIGIN/runpath``, and that
entry's tag is then rewritten to DT_RUNPATH (8 bytes, found by readelf); readelf confirms
the result, and the real import shows which of the two ld.so follows.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest
from support import readelf_dynamic, run
from support.cbuild import gcc, make_wheel
from support.cbuild import module as build_module

CLI = [sys.executable, "-m", "setuptools_nolibpython"]
EXT = sysconfig.get_config_var("EXT_SUFFIX")
TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"
DT_RUNPATH, DT_AUXILIARY = 0x1D, 0x7FFFFFFD
USES_DEP = {"decl": "int dep(void);", "value": "dep()"}


def tag_to_runpath(so: Path) -> None:
    """Rewrite the file's DT_AUXILIARY entry into DT_RUNPATH (its string stays where it is)."""
    out = run(["readelf", "-dW", so], check=True).stdout
    m = re.search(r"Dynamic section at offset (0x[0-9a-f]+)", out)
    assert m, out
    offset = int(m[1], 16)
    data = bytearray(so.read_bytes())
    for pos in range(offset, len(data), 16):
        tag = struct.unpack_from("<q", data, pos)[0]
        if tag == DT_AUXILIARY:
            struct.pack_into("<q", data, pos, DT_RUNPATH)
            so.write_bytes(bytes(data))
            return
        assert tag != 0, "no DT_AUXILIARY entry"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("search")
    (d / "dep.c").write_text("int dep(void) { return 42; }\n")
    dep = d / "libdep.so"
    gcc(["-shared", "-fPIC", "-Wl,-soname,libdep.so", d / "dep.c", "-o", dep])
    link = [f"-L{d}", "-ldep", "-Wl,--disable-new-dtags,-rpath,$ORIGIN/lib"]
    rpath_only = build_module(d / "a", "_rpath_only", **USES_DEP, extra=link)
    both = build_module(d / "b", "_both", **USES_DEP, extra=[*link, "-Wl,--auxiliary,$ORIGIN/runpath"])
    tag_to_runpath(both)
    # the files are what they claim (readelf, an independent reader)
    assert readelf_dynamic(rpath_only) == {"NEEDED": ["libdep.so"], "RPATH": ["$ORIGIN/lib"],
                                           "RUNPATH": []}, readelf_dynamic(rpath_only)
    assert readelf_dynamic(both) == {"NEEDED": ["libdep.so"], "RPATH": ["$ORIGIN/lib"],
                                     "RUNPATH": ["$ORIGIN/runpath"]}, readelf_dynamic(both)
    return make_wheel(d / f"probe-1.0-{TAG}-{TAG}-linux_x86_64.whl", {
        "probe/__init__.py": b"",
        f"probe/_rpath_only{EXT}": rpath_only.read_bytes(),
        f"probe/_both{EXT}": both.read_bytes(),
        "probe/lib/libdep.so": dep.read_bytes(),
        "probe/runpath/README": b"RUNPATH looks here: no libdep.so\n",
    }, f"{TAG}-{TAG}-linux_x86_64")


def missing_libraries(wheel: Path) -> Dict[str, List[str]]:
    """{member: the libraries check says it cannot find} (every ELF member listed)."""
    proc = run([*CLI, "check", "--json", wheel])
    doc = json.loads(proc.stdout)
    return {f["path"]: [p["detail"] for p in f["problems"] if p["code"] == "missing-library"]
            for t in doc["targets"] for f in t["files"]}


def test_rpath_ignored_when_runpath_is_present(wheel: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp_path)

    def imports(module: str) -> "subprocess.CompletedProcess[str]":
        code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import {module} as m; print(m.answer())"
        return run([sys.executable, "-I", "-c", code])

    # negative control: RPATH only, $ORIGIN/lib holds libdep.so: it loads, and check finds it
    ok = imports("probe._rpath_only")
    assert ok.returncode == 0 and ok.stdout.strip() == "42", ok.stderr
    # the same RPATH beside a RUNPATH: ld.so ignores the RPATH and the import fails on libdep.so
    bad = imports("probe._both")
    assert bad.returncode != 0 and "libdep.so: cannot open shared object file" in bad.stderr, bad.stderr
    missing = missing_libraries(wheel)
    assert missing[f"probe/_rpath_only{EXT}"] == []
    assert missing[f"probe/_both{EXT}"] == ["libdep.so"]
