"""Hostile wheels, built here with zipfile: `check` reports them and exits non-zero;
`repair` refuses with one clear line, never changes the input and writes nothing,
neither in OUTDIR nor next to it. A proper wheel of the same members is the control.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import sys
import zipfile
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import elfgen
import pytest
from support import download_wheel, run
from support.hostile_zips import INFO, WHEEL_DATA, base_members, entries, zip_of

from setuptools_nolibpython import wheelsafety

CLI = [sys.executable, "-m", "setuptools_nolibpython"]
WHEEL_NAME = "probe-1.0-cp311-cp311-linux_x86_64.whl"
EVIL_ABS = "/tmp/nolibpython-hostile-evil.py"


def proper() -> bytes:
    return zip_of(entries(base_members()))


def with_member(name: str, data: bytes = b"print('pwned')\n") -> bytes:
    return zip_of(entries({**base_members(), name: data}))


def duplicate() -> bytes:
    es = entries(base_members())
    return zip_of(es + entries({"probe/_ext.so": elfgen.build(elfgen.VALID)}))


def symlink() -> bytes:
    info = zipfile.ZipInfo("probe/link.so")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return zip_of(entries(base_members()) + [(info, b"/etc/passwd")])


def real_bomb() -> bytes:
    """64 MiB of zeros really inflating ~1000:1."""
    return zip_of(entries({**base_members(), "probe/zeros.bin": bytes(64 * 1024 * 1024)}))


def _patch_central(data: bytes, name: str, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite a field of ``name``'s central directory entry (offset from 'PK\\1\\2')."""
    buf = bytearray(data)
    pos = 0
    while True:
        pos = buf.index(b"PK\x01\x02", pos)
        nlen = struct.unpack_from("<H", buf, pos + 28)[0]
        if buf[pos + 46 : pos + 46 + nlen] == name.encode():
            struct.pack_into(fmt, buf, pos + offset, value)
            return bytes(buf)
        pos += 4


def lying_size() -> bytes:
    """A member whose directory entry claims 3.9 GiB unpacked from a few hundred bytes."""
    return _patch_central(proper(), "probe/data.txt", 24, "<I", 0xF0000000)


def zip_version() -> bytes:
    """Found by fuzzing: an 'extract version' of 25.5 made zipfile raise NotImplementedError."""
    return _patch_central(proper(), "probe/data.txt", 6, "<H", 255)


def corrupt_crc() -> bytes:
    es = entries(base_members(), method=zipfile.ZIP_STORED)
    data = bytearray(zip_of(es))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("probe/data.txt")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + 5] ^= 0x20
    return bytes(data)


def record_with(edit: Callable[[str, bytes], str]) -> bytes:
    es = entries(base_members())
    lines = "".join(edit(i.filename, d) for i, d in es)
    lines += elfgen.record_line(f"{INFO}/WHEEL", WHEEL_DATA) + f"\n{INFO}/RECORD,,\n"
    return zip_of(es, record_text=lines)


def record_wrong_hash() -> bytes:
    return record_with(lambda n, d: elfgen.record_line(n, d[::-1] if n == "probe/data.txt" else d) + "\n")


def record_wrong_size() -> bytes:
    return record_with(lambda n, d: elfgen.record_line(n, d).rsplit(",", 1)[0] + ",7\n" if n == "probe/data.txt"
                       else elfgen.record_line(n, d) + "\n")


def record_unlisted() -> bytes:
    return record_with(lambda n, d: "" if n == "probe/_ext.so" else elfgen.record_line(n, d) + "\n")


def not_a_wheel() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in base_members().items():
            zf.writestr(name, data)
    return buf.getvalue()


def control_char_name() -> bytes:
    """Found by fuzzing: a '\\r' in a member name split the report line."""
    return with_member("probe\r1.0/evil.py")


def empty_name() -> bytes:
    """Found by fuzzing: an empty member name made ZipInfo.is_dir() raise IndexError."""
    return zip_of(entries(base_members()) + [(zipfile.ZipInfo(""), b"x")])


#: case -> (builder, a phrase `check` must print)
CASES: Dict[str, Tuple[Callable[[], bytes], str]] = {
    "dotdot": (lambda: with_member("../evil.py"), "'..' component"),
    "dotdot-deep": (lambda: with_member("probe/../../evil.py"), "'..' component"),
    "absolute": (lambda: with_member(EVIL_ABS), "absolute path"),
    "drive-letter": (lambda: with_member("C:/evil.py"), "absolute path"),
    "drive-letter-relative": (lambda: with_member("c:evil.py"), "absolute path"),
    "duplicate": (duplicate, "more than once"),
    "symlink": (symlink, "symbolic link"),
    "bomb-real": (real_bomb, "zip bomb"),
    "bomb-lying-size": (lying_size, "zip bomb"),
    "corrupt-crc": (corrupt_crc, "corrupt"),
    "record-missing": (lambda: zip_of(entries(base_members()), record=False), "RECORD' is missing"),
    "record-wrong-hash": (record_wrong_hash, "does not match its RECORD hash"),
    "record-wrong-size": (record_wrong_size, "RECORD says"),
    "record-unlisted-member": (record_unlisted, "has no line in RECORD"),
    "not-a-wheel": (not_a_wheel, "not a wheel"),
    "not-a-zip": (lambda: os.urandom(4096), "not a readable wheel"),
    "zip-version": (zip_version, "zip file version"),
    "control-char-name": (control_char_name, "control character"),
    "empty-name": (empty_name, "empty name"),
}


def _tree(root: Path) -> List[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    for case, (build, _) in CASES.items():
        (d / case).mkdir()
        (d / case / WHEEL_NAME).write_bytes(build())
    (d / "control").mkdir()
    (d / "control" / WHEEL_NAME).write_bytes(proper())
    return d


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_reports_hostile_wheel(hostile_dir: Path, case: str) -> None:
    wheel = hostile_dir / case / WHEEL_NAME
    proc = run([*CLI, "check", "--check-symbols", "off", str(wheel)], timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    _no_traceback(proc.stdout + proc.stderr)
    phrase = CASES[case][1]
    assert phrase in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    for line in (proc.stdout + proc.stderr).splitlines():
        assert len(line) < 4000  # findings are summarised, not dumped


@pytest.mark.parametrize("case", sorted(CASES))
def test_repair_refuses_and_writes_nothing(tmp_path: Path, hostile_dir: Path, case: str) -> None:
    src = tmp_path / "in" / WHEEL_NAME
    src.parent.mkdir()
    src.write_bytes((hostile_dir / case / WHEEL_NAME).read_bytes())
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    work = tmp_path / "work"
    cwd = tmp_path / "cwd"
    work.mkdir()
    cwd.mkdir()
    outdir = work / "out"
    proc = run([*CLI, "repair", "-w", str(outdir), str(src)], cwd=cwd, timeout=60)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    _no_traceback(text)
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and str(src) in errors[0], text
    assert ("refusing" in errors[0] or "not a readable wheel" in errors[0]), text
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    assert _tree(work) in ([], ["out"]), _tree(work)
    assert _tree(cwd) == [] and _tree(tmp_path / "in") == [WHEEL_NAME]
    assert not (tmp_path / "evil.py").exists() and not Path(EVIL_ABS).exists()


def test_control_wheel_passes_and_repairs(tmp_path: Path, hostile_dir: Path) -> None:
    """Negative control: the same members in a proper wheel raise no container problem,
    and repair writes exactly one wheel into OUTDIR."""
    wheel = hostile_dir / "control" / WHEEL_NAME
    with zipfile.ZipFile(wheel) as zf:
        assert wheelsafety.wheel_problems(zf, deep=True) == []
    proc = run([*CLI, "check", "--check-symbols", "off", str(wheel)])
    assert proc.returncode == 1 and "needs libpython3.11.so.1.0" in proc.stdout  # a violation, not a container error
    out = tmp_path / "out"
    proc = run([*CLI, "repair", "-w", str(out), str(wheel)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _tree(out) == [WHEEL_NAME]
    with zipfile.ZipFile(out / WHEEL_NAME) as zf:
        assert wheelsafety.wheel_problems(zf, deep=True) == []
    assert run([*CLI, "check", "--check-symbols", "off", str(out / WHEEL_NAME)]).returncode == 0


@pytest.mark.parametrize("name", ["C:/evil.py", "c:/Windows/evil.py", "Z:evil.py"])
def test_windows_drive_letter_member_is_refused(tmp_path: Path, name: str) -> None:
    """A member named like a Windows path with a drive letter is absolute on Windows: an
    installer there would write outside the target. check fails it, repair refuses it;
    the control, the same wheel whose member has no drive letter, checks clean."""
    clean = {**base_members(), "probe/_ext.so": elfgen.build(elfgen.VALID)}
    control = tmp_path / "control" / WHEEL_NAME
    control.parent.mkdir()
    control.write_bytes(zip_of(entries({**clean, name.replace(":", ""): b"print('pwned')\n"})))
    proc = run([*CLI, "check", "--check-symbols", "off", str(control)], timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # negative control
    wheel = tmp_path / "hostile" / WHEEL_NAME
    wheel.parent.mkdir()
    wheel.write_bytes(zip_of(entries({**clean, name: b"print('pwned')\n"})))
    proc = run([*CLI, "check", "--check-symbols", "off", str(wheel)], timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"member {name!a} is an absolute path" in proc.stdout, proc.stdout
    refused = run([*CLI, "repair", "-w", str(tmp_path / "out"), str(wheel)], timeout=60)
    assert refused.returncode == 1 and "refusing to repair an unsafe wheel" in refused.stderr, refused.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_bomb_is_not_inflated(hostile_dir: Path) -> None:
    """The 64 MiB member is judged from the central directory: check stays fast and small."""
    wheel = hostile_dir / "bomb-real" / WHEEL_NAME
    proc = run(["/usr/bin/time", "-f", "%e %M", *CLI, "check", "--check-symbols", "off", str(wheel)])
    seconds, kib = proc.stderr.strip().splitlines()[-1].split()
    assert proc.returncode == 1
    assert float(seconds) < 5 and int(kib) < 200 * 1024, proc.stderr


@pytest.mark.parametrize("project", ["numpy", "scipy"])
def test_real_wheels_have_no_container_problems(project: str) -> None:
    """No false alarms on real wheels from PyPI (the thresholds were measured on these)."""
    with zipfile.ZipFile(download_wheel(project)) as zf:
        assert wheelsafety.wheel_problems(zf) == []
