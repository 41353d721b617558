"""Where this machine keeps the interpreters and caches the tests, field trial, benchmarks
and scripts use: one place to look, instead of paths typed into each of them.

Standard library only, and nothing runs at import except reading the environment (the
unit tier imports it with no subprocess): ``pyenv root`` and ``pip config`` are asked
only when a function needs them, once.

- pyenv's CPython builds (shared libpython): ``$PYENV_ROOT``, else ``~/.pyenv`` when it
  exists, else what ``pyenv root`` prints.
- Debian's own python3.11 (static, libpython3.11.so.1.0 beside it) and its debug build.
- The Debian sid chroot (python3.14, python3.15) scripts/sid_chroot.sh makes:
  ``$NOLIBPYTHON_SID_ROOT``, default /var/cache/setuptools-nolibpython/sid.
- pip's configured find-links directories (where the big torch wheel lies).
- The multiarch library directories a loader searches, for real system ELF files.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

#: The repository (this file is REPO/devtools/machine.py).
REPO = Path(__file__).resolve().parent.parent
#: Debian's python3.11: static, with libpython3.11.so.1.0 installed beside it.
DEBIAN_PYTHON = Path("/usr/bin/python3.11")
#: Debian's debug build of it (python3.11-dbg; ABI flag "d").
DEBIAN_DEBUG_PYTHON = Path("/usr/bin/python3.11d")
#: Debian's libpython3.11, the one DEBIAN_PYTHON's embedders load.
DEBIAN_LIBPYTHON = Path("/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0")
#: The Debian sid chroot of scripts/sid_chroot.sh (python3.14, python3.15).
SID_ROOT = Path(os.environ.get("NOLIBPYTHON_SID_ROOT") or "/var/cache/setuptools-nolibpython/sid")
#: Where the loader finds system libraries on this (x86-64 Debian) machine, most specific first.
SYSTEM_LIB_DIRS: Tuple[Path, ...] = tuple(
    Path(d) for d in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib", "/lib", "/usr/local/lib"))


@functools.cache
def pyenv_root() -> Path:
    """pyenv's root: $PYENV_ROOT, else ~/.pyenv when present, else ``pyenv root``."""
    env = os.environ.get("PYENV_ROOT")
    if env:
        return Path(env)
    home = Path.home() / ".pyenv"
    pyenv = shutil.which("pyenv")
    if home.is_dir() or pyenv is None:
        return home
    proc = subprocess.run([pyenv, "root"], capture_output=True, text=True)
    out = proc.stdout.strip()
    return Path(out) if proc.returncode == 0 and out else home


def _version_key(name: str) -> List[int]:
    return [int(x) if x.isdigit() else 0 for x in name.split(".")]


def pyenv_python(version: str) -> Optional[Path]:
    """pyenv's interpreter for an exact "3.11.7", or for "3.9" the newest 3.9.N present."""
    versions = pyenv_root() / "versions"
    exact = versions / version / "bin" / "python3"
    if exact.exists():
        return exact
    found = sorted(versions.glob(f"{version}.*/bin/python3"), key=lambda p: _version_key(p.parent.parent.name))
    return found[-1] if found else None


def pyenv_pythons(minimum: Tuple[int, int] = (3, 9), maximum: Tuple[int, int] = (3, 13)) -> Dict[str, Path]:
    """{"3.11": path} for each pyenv CPython X.Y in range (its newest patch release)."""
    found: Dict[str, Path] = {}
    root = pyenv_root() / "versions"
    if not root.is_dir():
        return found
    for d in sorted(root.iterdir(), key=lambda p: _version_key(p.name)):
        m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", d.name)
        exe = d / "bin" / "python3"
        if m and exe.exists() and minimum <= (int(m[1]), int(m[2])) <= maximum:
            found[f"{m[1]}.{m[2]}"] = exe
    return found


@functools.cache
def _find_links(python: str) -> Tuple[Path, ...]:
    proc = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True)
    dirs: List[Path] = []
    for m in re.finditer(r"find-links='([^']*)'", proc.stdout):
        for part in m[1].split():
            p = Path(part.replace("file://", ""))
            if p.is_dir() and p not in dirs:
                dirs.append(p)
    return tuple(dirs)


def find_links_dirs(python: Optional[str] = None) -> List[Path]:
    """Directories named by pip's configured find-links (``pip config list``), existing ones only."""
    return list(_find_links(python or sys.executable))


def find_links_file(name: str) -> Optional[Path]:
    """A file (a wheel) by name in pip's find-links directories, or None."""
    for d in find_links_dirs():
        if (d / name).is_file():
            return d / name
    return None


def torch_wheel() -> Optional[Path]:
    """The torch CPU wheel in pip's find-links directories, where present (None elsewhere)."""
    for d in find_links_dirs():
        hits = sorted(d.glob("torch-*.whl"))
        if hits:
            return hits[-1]
    return None
