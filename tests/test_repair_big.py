"""Repair verifies the hash of every member it changed, whatever the wheel's size.

The scan that checks a written wheel verifies every member's hash only for wheels that
unpack to at most FULL_VERIFY_LIMIT (16 MiB); above that, only the .dist-info files. A
repair that left a patched member's old RECORD row would then publish a wheel with a
wrong hash. The wheel here is over the limit: 17 MiB of incompressible filler plus a
gcc-built module that needs libpython. Judges: the `wheel` package's `unpack` (checks
every RECORD hash) and readelf. Negative control: the repaired wheel with the module's
row put back to its old value fails `wheel unpack` and the verification repair runs,
while the size-limited check does not read that member at all.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Dict, Tuple

import pytest
from support import readelf_dynamic, run

from setuptools_nolibpython.wheelrepair import RepairError, verify_changed_members
from setuptools_nolibpython.wheelsafety import FULL_VERIFY_LIMIT, member_hash_findings, wheel_problems

LDVERSION = sysconfig.get_config_var("LDVERSION") or sysconfig.get_config_var("VERSION")
LIBDIR = sysconfig.get_config_var("LIBDIR")
INCLUDE = sysconfig.get_paths()["include"]
SONAME = f"libpython{LDVERSION}.so.1.0"
MODULE = "bigpkg/_ext.so"
RECORD = "bigpkg-1.0.dist-info/RECORD"

MODULE_C = """
#include <Python.h>
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "_ext", NULL, -1, NULL};
PyMODINIT_FUNC PyInit__ext(void) { return PyModule_Create(&mod); }
"""


def _row(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"


def _write_wheel(path: Path, members: Dict[str, bytes], record: str) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data,
                        zipfile.ZIP_STORED if name.endswith(".bin") else zipfile.ZIP_DEFLATED)
        zf.writestr(zipfile.ZipInfo(RECORD, (2024, 1, 1, 0, 0, 0)), record, zipfile.ZIP_DEFLATED)


def _members(path: Path) -> Tuple[Dict[str, bytes], str]:
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if n != RECORD}
        return members, zf.read(RECORD).decode()


@pytest.fixture(scope="module")
def big_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("bigwheel")
    (work / "ext.c").write_text(MODULE_C)
    so = work / "_ext.so"
    run(["gcc", "-shared", "-fPIC", f"-I{INCLUDE}", str(work / "ext.c"), "-o", str(so), f"-L{LIBDIR}",
         f"-Wl,-rpath,{LIBDIR}", "-Wl,--no-as-needed", f"-lpython{LDVERSION}"], check=True)
    assert SONAME in readelf_dynamic(so)["NEEDED"]
    members = {
        "bigpkg/__init__.py": b"",
        MODULE: so.read_bytes(),
        "bigpkg/filler.bin": os.urandom(17 * 1024 * 1024),  # incompressible: the zip is big too
        "bigpkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: bigpkg\nVersion: 1.0\n",
        "bigpkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
                                      b"Tag: cp311-cp311-linux_x86_64\n",
    }
    record = "".join(_row(n, d) for n, d in members.items()) + f"{RECORD},,\n"
    wheel = work / "bigpkg-1.0-cp311-cp311-linux_x86_64.whl"
    _write_wheel(wheel, members, record)
    assert sum(len(d) for d in members.values()) > FULL_VERIFY_LIMIT
    assert os.path.getsize(wheel) > FULL_VERIFY_LIMIT
    return wheel


def _unpack(wheel: Path, dest: Path) -> "subprocess.CompletedProcess[str]":
    return run([sys.executable, "-m", "wheel", "unpack", "-d", str(dest), str(wheel)])


def _repair(wheel: Path, out: Path) -> Path:
    proc = run([sys.executable, "-m", "setuptools_nolibpython", "repair", str(wheel), "-w", str(out)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / wheel.name


def test_big_wheel_repaired_with_a_correct_record(big_wheel: Path, tmp_path: Path) -> None:
    assert _unpack(big_wheel, tmp_path / "before").returncode == 0  # the input is sound
    fixed = _repair(big_wheel, tmp_path / "fixed")
    unpacked = _unpack(fixed, tmp_path / "after")
    assert unpacked.returncode == 0, unpacked.stderr
    (so,) = (tmp_path / "after").glob(f"*/{MODULE}")
    assert SONAME not in readelf_dynamic(so)["NEEDED"]
    members, record = _members(fixed)
    assert _row(MODULE, members[MODULE]) in record.splitlines(keepends=True)
    verify_changed_members(str(fixed), str(big_wheel), [MODULE])  # raises on a wrong row


def test_stale_row_is_caught_by_the_repair_verification(big_wheel: Path, tmp_path: Path) -> None:
    """Negative control: what a RECORD-rewrite bug would publish."""
    fixed = _repair(big_wheel, tmp_path / "fixed")
    members, record = _members(fixed)
    with zipfile.ZipFile(big_wheel) as zf:
        old_row = _row(MODULE, zf.read(MODULE))
    new_row = _row(MODULE, members[MODULE])
    assert old_row != new_row
    stale = tmp_path / "stale" / big_wheel.name
    stale.parent.mkdir()
    _write_wheel(stale, members, record.replace(new_row, old_row))
    # The independent judge rejects it ...
    bad = _unpack(stale, tmp_path / "stale-unpacked")
    assert bad.returncode != 0 and MODULE in bad.stdout + bad.stderr
    # ... the size-limited container check does not read that member ...
    with zipfile.ZipFile(stale) as zf:
        assert wheel_problems(zf) == []
    # ... and repair's own verification of the members it changed does.
    with pytest.raises(RepairError) as err:
        verify_changed_members(str(stale), str(big_wheel), [MODULE])
    msg = str(err.value)
    assert "\n" not in msg and MODULE in msg and "RECORD" in msg


def test_changed_member_without_a_row_fails(big_wheel: Path) -> None:
    with pytest.raises(RepairError) as err:
        verify_changed_members(str(big_wheel), str(big_wheel), ["bigpkg/not-in-record.so"])
    assert "bigpkg/not-in-record.so" in str(err.value) and "bug in nolibpython repair" in str(err.value)
    with zipfile.ZipFile(big_wheel) as zf:
        found = member_hash_findings(zf, ["bigpkg/not-in-record.so", MODULE])
    assert [(f.kind, f.member) for f in found] == [("record-missing", "bigpkg/not-in-record.so")]
