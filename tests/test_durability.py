"""Interrupted and starved repairs: SIGKILL at random moments and a full disk never leave
a partial wheel under the final name and never touch the input; a failed build leaves
no wheel (see also test_build_with_malformed_elf.test_build_shipping_a_lying_file_fails_cleanly).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path
from typing import List

import elfgen
import pytest
from support import require, run

from setuptools_nolibpython import wheelsafety

CLI = [sys.executable, "-m", "setuptools_nolibpython"]
WHEEL_NAME = "medium-1.0-cp311-cp311-linux_x86_64.whl"
MODULE_C = """
#include <Python.h>
static PyObject *f(PyObject *s, PyObject *u) { return PyLong_FromLong(%(n)d); }
static PyMethodDef m[] = {{"f", f, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "_ext%(n)d", NULL, -1, m};
PyMODINIT_FUNC PyInit__ext%(n)d(void) { return PyModule_Create(&d); }
"""


def compile_linked_extension(work: Path, n: int) -> bytes:
    """A real extension module that links libpython (what repair has to fix)."""
    src = work / f"_ext{n}.c"
    src.write_text(MODULE_C % {"n": n})
    libdir = sysconfig.get_config_var("LIBDIR")
    ldver = sysconfig.get_config_var("LDVERSION")
    out = work / f"_ext{n}.so"
    run(["gcc", "-shared", "-fPIC", "-O1", f"-I{sysconfig.get_paths()['include']}", str(src), f"-L{libdir}",
         "-Wl,--no-as-needed", f"-lpython{ldver}", "-o", str(out)], check=True)
    return out.read_bytes()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_complete_and_repaired(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        assert zf.testzip() is None
        assert wheelsafety.wheel_problems(zf, deep=True) == []
    proc = run([*CLI, "check", "--check-symbols", "off", str(wheel)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def medium_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require(shutil.which("gcc"), "gcc is needed to build the extension modules")
    work = tmp_path_factory.mktemp("medium")
    rng = random.Random(7)
    members = {f"medium/_ext{n}.so": compile_linked_extension(work, n) for n in range(4)}
    members["medium/__init__.py"] = b""
    members["medium/blob.bin"] = rng.randbytes(24 * 1024 * 1024)  # incompressible: repair recompresses it
    wheel = work / "in" / WHEEL_NAME
    wheel.parent.mkdir()
    wheel.write_bytes(elfgen.make_wheel(members, zipfile.ZIP_DEFLATED, dist="medium-1.0"))
    return wheel


def test_sigkill_at_random_points(tmp_path: Path, medium_wheel: Path) -> None:
    before = sha256(medium_wheel)
    # The kill window is scaled to a warm run: the first one also pays for cold caches
    # (byte-compiling, page cache), and a window fitted to it lets most later runs finish.
    # A run that finishes before its kill shrinks the window to its own length, so a machine
    # that speeds up (the other xdist worker goes idle) still sees most runs interrupted.
    durations = []
    for k in range(3):
        t0 = time.monotonic()
        full = run([*CLI, "repair", "-w", str(tmp_path / f"reference{k}"), str(medium_wheel)])
        durations.append(time.monotonic() - t0)
        assert full.returncode == 0, full.stdout + full.stderr
        assert_complete_and_repaired(tmp_path / f"reference{k}" / WHEEL_NAME)
    duration = min(durations)

    seed = int(os.environ.get("DURABILITY_SEED", "0")) or random.randrange(1 << 30)
    rng = random.Random(seed)
    killed = finished = 0
    leftovers: List[str] = []
    for i in range(30):
        out = tmp_path / f"out{i}"
        proc = subprocess.Popen([*CLI, "repair", "-w", str(out), str(medium_wheel)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        try:  # kill at a random moment, unless the run ends first
            proc.wait(timeout=rng.uniform(0.0, duration * 1.6))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        rc = proc.wait()
        if rc == 0:  # this machine runs faster now than when measured: the window shrinks to it
            duration = min(duration, time.monotonic() - t0)
        killed += rc == -signal.SIGKILL
        finished += rc == 0
        final = out / WHEEL_NAME
        if final.exists():
            assert_complete_and_repaired(final)  # under its name only when whole
        if out.exists():
            others = [n for n in os.listdir(out) if n != WHEEL_NAME]
            assert all(n.startswith(".nolibpython-") and n.endswith(".part") for n in others), (seed, others)
            leftovers += others
        assert sha256(medium_wheel) == before, f"input changed (seed {seed}, run {i})"
    assert killed >= 10, f"only {killed} of 30 runs were interrupted (seed {seed}); the test proved little"
    print(f"\nSIGKILL: {killed} interrupted, {finished} finished, {len(leftovers)} temp files left "
          f"(seed {seed}, full run {duration:.2f} s)")


@pytest.fixture
def tiny_tmpfs(tmp_path: Path):  # type: ignore[no-untyped-def]
    require(os.geteuid() == 0 and shutil.which("mount"), "mounting a tmpfs needs root")
    mnt = tmp_path / "full"
    mnt.mkdir()
    proc = run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)])
    require(proc.returncode == 0, f"cannot mount a tmpfs: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        run(["umount", "-l", str(mnt)])


def test_full_disk_gives_one_line_and_no_output(tmp_path: Path, tiny_tmpfs: Path, medium_wheel: Path) -> None:
    before = sha256(medium_wheel)
    outdir = tiny_tmpfs / "out"
    proc = run([*CLI, "repair", "-w", str(outdir), str(medium_wheel)])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and "No space left on device" in errors[0], proc.stderr
    assert os.listdir(outdir) == [], os.listdir(outdir)  # no partial wheel, no temp file
    assert sha256(medium_wheel) == before
    # Control: the same repair into a roomy directory succeeds.
    ok = run([*CLI, "repair", "-w", str(tmp_path / "roomy"), str(medium_wheel)])
    assert ok.returncode == 0, ok.stderr
    assert_complete_and_repaired(tmp_path / "roomy" / WHEEL_NAME)


def test_full_disk_nothing_to_repair_copy(tmp_path: Path, tiny_tmpfs: Path) -> None:
    """--force-copy of a clean wheel bigger than the disk: same clean failure."""
    clean = tmp_path / WHEEL_NAME
    clean.write_bytes(elfgen.make_wheel({"medium/blob.bin": random.Random(1).randbytes(2 * 1024 * 1024)},
                                        dist="medium-1.0"))
    proc = run([*CLI, "repair", "--force-copy", "-w", str(tiny_tmpfs), str(clean)])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr and "No space left" in proc.stderr
    assert os.listdir(tiny_tmpfs) == []
