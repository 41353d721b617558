"""The container scan of a wheel (wheelsafety) over zips made here: it catches each thing it
looks for, a deep verification catches what the default skips, many findings are
summarised, and the package never executes or networks while reading a wheel."""

from __future__ import annotations

import ast
import io
import os
import zipfile
from pathlib import Path
from typing import List

from support.hostile_zips import base_members, entries, zip_of

from setuptools_nolibpython import wheelsafety


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


def test_many_findings_are_summarised() -> None:
    findings = [wheelsafety.WheelFinding("path", f"member {i} is bad", str(i)) for i in range(50)]
    lines = wheelsafety.summarize(findings)
    assert len(lines) == wheelsafety.MAX_LISTED + 1 and f"{50 - wheelsafety.MAX_LISTED} more" in lines[-1]


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
