"""The global scope a plain ``python`` process gives the modules it imports.

Read from the interpreter's own ELF files (executable, DT_NEEDED closure, loader):
sysconfig cannot tell how the running interpreter was linked (on Debian it reports a
shared libpython that the executable does not use).
"""

from __future__ import annotations

import os
import posixpath
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

from .dynsym import symbol_key
from .elf import ELF_MAGIC
from .errors import ElfReadError
from .ldso import Closure, LoadedObject, Resolver, load_closure, load_system_object, object_key
from .pybuild import PYTHON_NAME, Build, abi_flags
from .stable_abi import Version

__all__ = ["InterpreterScope", "interpreter_release", "interpreter_scope"]


@dataclass
class InterpreterScope:
    """The symbols a plain ``python`` process exports to the modules it imports."""

    path: str
    version: Optional[Version]
    elf_class: int
    machine: str
    exports: FrozenSet[int]  # symbol_key hashes
    loaded: Dict[str, LoadedObject]  # by DT_NEEDED name and SONAME
    libpython: Optional[str]  # the libpython of a shared build, None when the runtime is in the executable
    missing: List[Tuple[str, str]] = field(default_factory=list)  # DT_NEEDED entries not found
    abiflags: str = ""  # "t" (free-threaded), "d" (debug) or ""

    @property
    def build(self) -> Optional[Build]:
        return (self.version, self.abiflags) if self.version else None

    @property
    def exports_python(self) -> bool:
        """Does the global scope hold a CPython runtime at all (exported, not hidden)?"""
        return all(symbol_key(s) in self.exports for s in ("PyObject_GetAttr", "PyLong_FromLong"))


_SCOPE_CACHE: Dict[Tuple[str, int], InterpreterScope] = {}


def _build_of(exe: str, closure: Closure, given: Optional[str]) -> Tuple[Optional[Version], str]:
    """X.Y and ABI flags of the interpreter, from file names (python3.13t, libpython3.11d.so),
    else by asking it."""
    if given is None:
        return (sys.version_info[0], sys.version_info[1]), abi_flags(getattr(sys, "abiflags", ""))
    for name in [os.path.basename(exe)] + [posixpath.basename(o.path) for o in closure.objects]:
        m = PYTHON_NAME.search(name)
        if m:
            return (int(m[1]), int(m[2])), abi_flags(m[3])
    try:
        out = subprocess.run(
            [given, "-c", "import sys; print('%d.%d' % sys.version_info[:2], getattr(sys, 'abiflags', ''), '.')"],
            capture_output=True, text=True, timeout=30,
        ).stdout.split()
        major, minor = out[0].split(".")
        return (int(major), int(minor)), abi_flags(out[1] if len(out) > 2 else "")
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None, ""


def _real_executable(interpreter: str) -> str:
    """The binary behind a launcher script (pyenv shims, wrappers): ask it for sys.executable."""
    try:
        with open(interpreter, "rb") as f:
            if f.read(4) == ELF_MAGIC:
                return interpreter
        out = subprocess.run(
            [interpreter, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return interpreter
    return out if out and os.path.isabs(out) else interpreter


def interpreter_scope(interpreter: Optional[str] = None) -> InterpreterScope:
    """Read the interpreter's executable and its DT_NEEDED closure (sysconfig is not trusted)."""
    exe = os.path.realpath(_real_executable(interpreter) if interpreter else sys.executable)
    st = os.stat(exe)
    key = (exe, st.st_mtime_ns)
    if key in _SCOPE_CACHE:
        return _SCOPE_CACHE[key]
    root = load_system_object(exe)
    if root is None:
        raise ElfReadError(f"{exe} is not an ELF executable that can be read")
    resolver = Resolver({}, root.elf_class, root.machine)
    closure = load_closure(root, resolver)
    objects = list(closure.objects)
    if root.interp:  # the dynamic loader itself is part of the global scope
        rtld = load_system_object(root.interp)
        if rtld is not None and all(object_key(rtld) != object_key(o) for o in objects):
            objects.append(rtld)
    exports: Set[int] = set()
    loaded: Dict[str, LoadedObject] = {}
    for obj in objects:
        exports |= obj.defined
        for name in (posixpath.basename(obj.path), obj.soname):
            if name:
                loaded.setdefault(name, obj)
    libpython = next((o.path for o in objects if o.is_libpython), None)
    version, abiflags = _build_of(exe, closure, interpreter)
    scope = InterpreterScope(
        exe, version, root.elf_class, root.machine,
        frozenset(exports), loaded, libpython, list(closure.missing), abiflags,
    )
    _SCOPE_CACHE[key] = scope
    return scope


_RELEASES: Dict[Optional[str], Optional[str]] = {}


def interpreter_release(interpreter: Optional[str] = None) -> Optional[str]:
    """The full release (``3.11.2``) of the interpreter: private symbols differ between
    patch releases of one X.Y, so messages about them name it. None if it cannot be asked."""
    if interpreter is None:
        return ".".join(str(n) for n in sys.version_info[:3])
    if interpreter not in _RELEASES:
        try:
            out = subprocess.run(
                [interpreter, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                capture_output=True, text=True, timeout=30,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        _RELEASES[interpreter] = out if out.count(".") == 2 else None
    return _RELEASES[interpreter]
