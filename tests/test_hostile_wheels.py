"""Hostile wheels, built here with zipfile: `check` reports them and exits non-zero;
`repair` refuses with one clear line, never changes the input and writes nothing,
neither in OUTDIR nor next to it. A proper wheel of the same members is the control.
"""

from __future__ import annotations

import ast
import hashlib
import io
import os
import stat
import struct
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import elfgen
import pytest
from support import download_wheel, run

from setuptools_nolibpython import wheelsafety

CLI = [sys.executable, "-m", "setuptools_nolibpython"]
INFO = "probe-1.0.dist-info"
WHEEL_NAME = "probe-1.0-cp311-cp311-linux_x86_64.whl"
EXT = elfgen.build(elfgen.GOOD["le64-libpython"][0])
EVIL_ABS = "/tmp/nolibpython-hostile-evil.py"
WHEEL_DATA = b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n"


def base_members() -> Dict[str, bytes]:
    return {"probe/__init__.py": b"", "probe/_ext.so": EXT, "probe/data.txt": b"some package data\n" * 20}


def zip_of(entries: List[Tuple[zipfile.ZipInfo, bytes]], record: bool = True, record_text: str = "") -> bytes:
    """A wheel from explicit ZipInfo entries (names, modes, methods as given)."""
    files = [(zipfile.ZipInfo(f"{INFO}/WHEEL"), WHEEL_DATA)]
    files += entries
    if record:
        text = record_text or "".join(elfgen.record_line(i.filename, d) + "\n" for i, d in files) + f"{INFO}/RECORD,,\n"
        files.append((zipfile.ZipInfo(f"{INFO}/RECORD"), text.encode()))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name"
        with zipfile.ZipFile(buf, "w") as zf:
            for info, data in files:
                if info.compress_type is None:
                    info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
    return buf.getvalue()


def entries(members: Dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> List[Tuple[zipfile.ZipInfo, bytes]]:
    out = []
    for name, data in members.items():
        info = zipfile.ZipInfo(name)
        info.compress_type = method
        info.external_attr = 0o100644 << 16
        out.append((info, data))
    return out


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


def test_bomb_is_not_inflated(hostile_dir: Path) -> None:
    """The 64 MiB member is judged from the central directory: check stays fast and small."""
    wheel = hostile_dir / "bomb-real" / WHEEL_NAME
    proc = run(["/usr/bin/time", "-f", "%e %M", *CLI, "check", "--check-symbols", "off", str(wheel)])
    seconds, kib = proc.stderr.strip().splitlines()[-1].split()
    assert proc.returncode == 1
    assert float(seconds) < 5 and int(kib) < 200 * 1024, proc.stderr


def test_deep_verification_catches_what_the_default_skips(tmp_path: Path) -> None:
    """Above FULL_VERIFY_LIMIT only .dist-info members are inflated by default; deep=True
    (what a full verification costs) finds a corrupt member anywhere."""
    members = {**base_members(), "probe/big.bin": os.urandom(wheelsafety.FULL_VERIFY_LIMIT + 1024)}
    es = entries(members, method=zipfile.ZIP_STORED)
    data = bytearray(zip_of(es))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("probe/data.txt")
    data[info.header_offset + 30 + len(info.filename) + len(info.extra) + 3] ^= 1
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        assert wheelsafety.wheel_problems(zf) == []
        deep = wheelsafety.wheel_problems(zf, deep=True)
    assert any("probe/data.txt" in p and "corrupt" in p for p in deep), deep


@pytest.mark.parametrize("project", ["numpy", "scipy"])
def test_real_wheels_have_no_container_problems(project: str) -> None:
    """No false alarms on real wheels from PyPI (the thresholds were measured on these)."""
    with zipfile.ZipFile(download_wheel(project)) as zf:
        assert wheelsafety.wheel_problems(zf) == []


def test_many_findings_are_summarised() -> None:
    findings = [wheelsafety.WheelFinding("path", f"member {i} is bad", str(i)) for i in range(50)]
    lines = wheelsafety.summarize(findings)
    assert len(lines) == wheelsafety.MAX_LISTED + 1 and f"{50 - wheelsafety.MAX_LISTED} more" in lines[-1]


# ---------------------------------------------------------------- nothing is executed
PACKAGE = Path(wheelsafety.__file__).resolve().parent
FORBIDDEN_MODULES = {"socket", "ssl", "urllib", "http", "ftplib", "smtplib", "xmlrpc", "requests", "ctypes",
                     "pickle", "marshal", "shelve"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "os.system", "os.popen", "os.execv", "os.execve",
                   "os.execvp", "os.spawnv", "os.spawnl", "os.startfile", "pty.spawn"}
#: The one process the package starts: the interpreter the user names with --python,
#: as an argument list, to ask its version. Nothing read from a scanned file runs.
SUBPROCESS_ALLOWED = {"interpreter.py"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def offences(source: str, filename: str) -> List[str]:
    """What in ``source`` could run code, reach the network or start a shell."""
    import ast

    found: List[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"{where}: imports {name}")
            if name.split(".")[0] == "subprocess" and filename not in SUBPROCESS_ALLOWED:
                found.append(f"{where}: imports subprocess")
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in FORBIDDEN_CALLS:
                found.append(f"{where}: calls {name}")
            for kw in node.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    found.append(f"{where}: shell={ast.unparse(kw.value)}")
            if name.startswith("subprocess.") and node.args and not isinstance(node.args[0], ast.List):
                found.append(f"{where}: {name} with a computed command line")
    return found


def test_package_never_executes_or_networks() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= 10
    found = [o for path in files for o in offences(path.read_text(), path.name)]
    assert found == [], "\n".join(found)


def test_safety_scan_catches_what_it_looks_for() -> None:
    """Control: the same rules flag planted offences."""
    planted = ("import socket\nfrom urllib import request\nimport subprocess\nsubprocess.run(cmd, shell=True)\n"
               "eval('1')\nos.system('x')\n")
    found = offences(planted, "planted.py")
    for what in ("imports socket", "imports urllib", "imports subprocess", "shell=True", "calls eval",
                 "calls os.system", "computed command line"):
        assert any(what in f for f in found), (what, found)
