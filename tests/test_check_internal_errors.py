"""A bug is not a verdict: only the reader's own errors make a file unreadable.

Anything else raised while judging a file is an internal error: one line naming the
file and asking for a bug report, exit status 3, ``internal_error`` in ``--json``, and no
verdict about the file. The bug is injected into a real run (the verdict function
replaced by one that raises); the negative controls are real broken inputs (a truncated
ELF file, a wheel member whose deflate stream is corrupt), which stay "unreadable".
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest
from support import run
from support.cbuild import EXT, LINUX_TAG, check_doc, cli, make_wheel, module

#: Runs the CLI with ``policy.libpython_problems`` raising ValueError, as a bug would.
BUGGY = """
import sys
from setuptools_nolibpython import policy
def broken(*args, **kwargs):
    raise ValueError("injected bug")
policy.libpython_problems = broken
from setuptools_nolibpython.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def so(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return module(tmp_path_factory.mktemp("ie"), "_m")


def test_a_bug_is_an_internal_error_not_a_verdict(so: Path, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / f"probe-1.0-{LINUX_TAG}.whl", {f"probe/_m{EXT}": so.read_bytes()}, LINUX_TAG)
    proc = run([sys.executable, "-c", BUGGY, "check", wheel])
    assert proc.returncode == 3, proc.stdout + proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if "internal error" in ln]
    assert f"{wheel}: probe/_m{EXT}: internal error (ValueError: injected bug)" in line
    assert "please report it" in line and "not a verdict on the file" in line
    assert "Traceback" not in proc.stderr
    assert "unreadable" not in proc.stdout and "none needs libpython" not in proc.stdout, proc.stdout
    doc = json.loads(run([sys.executable, "-c", BUGGY, "check", "--json", wheel]).stdout)
    assert doc["exit_status"] == 3 and doc["internal_error"] is True
    (target,) = doc["targets"]
    assert target["files"] == [] and len(target["internal_errors"]) == 1
    # Control: the same wheel, no bug: judged clean.
    assert check_doc(wheel)["internal_error"] is False and cli("check", wheel).returncode == 0


def test_the_readers_own_errors_stay_unreadable(so: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "_t.so"
    truncated.write_bytes(so.read_bytes()[:200])
    proc = cli("check", truncated)
    assert proc.returncode == 1 and ": unreadable: cannot be read as ELF" in proc.stdout, proc.stdout
    # A member whose deflate stream is corrupt: the zip's fault, so unreadable too, not a bug.
    data = so.read_bytes()
    wheel = make_wheel(tmp_path / f"probe-1.0-{LINUX_TAG}.whl", {f"probe/_m{EXT}": data}, LINUX_TAG)
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo(f"probe/_m{EXT}")
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw = bytearray(wheel.read_bytes())
    for i in range(start + info.compress_size // 2, start + info.compress_size // 2 + 64):
        raw[i] ^= 0x5A
    wheel.write_bytes(bytes(raw))
    proc = cli("check", wheel)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "internal error" not in proc.stderr
    assert any("unreadable" in ln or "error:" in ln for ln in proc.stdout.splitlines()), proc.stdout
