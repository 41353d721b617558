"""The global scope a plain ``python`` process gives the modules it imports.

Read from the interpreter's own ELF files (executable, DT_NEEDED closure, loader):
sysconfig cannot tell how the running interpreter was linked (on Debian it reports a
shared libpython that the executable does not use).
"""

from __future__ import annotations

import json
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

__all__ = ["InterpreterFacts", "InterpreterScope", "interpreter_facts", "interpreter_release", "interpreter_scope"]


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
    facts = _probe(given)
    if facts is None:
        return None, ""
    return (facts.version[0], facts.version[1]), abi_flags(facts.abiflags)


#: What the one probe asks an interpreter (it may be Python 2.7: no f-strings). The site
#: directories are the ones site.py put on sys.path: in a venv that includes the system
#: site packages (pyvenv.cfg), site.getsitepackages() lists the base interpreter's too.
_PROBE = """
import json, sys, sysconfig
try:
    import site
    sites = list(getattr(site, 'getsitepackages', lambda: [])())
    if getattr(site, 'ENABLE_USER_SITE', False):
        sites.append(site.getusersitepackages())
except Exception:
    sites = []
paths = sysconfig.get_paths()
print(json.dumps({'executable': sys.executable, 'version': list(sys.version_info[:3]),
    'abiflags': getattr(sys, 'abiflags', ''), 'purelib': paths.get('purelib'), 'platlib': paths.get('platlib'),
    'sites': [d for d in sites if d in sys.path], 'prefix': sys.prefix}))
"""


@dataclass(frozen=True)
class InterpreterFacts:
    """What an interpreter says of itself: its executable, release and where it imports from."""

    executable: str
    version: Tuple[int, int, int]
    abiflags: str
    site_dirs: Tuple[str, ...]  # purelib, platlib, then the site directories on sys.path; existing ones
    prefix: str


_PROBES: Dict[str, Optional[InterpreterFacts]] = {}


def _probe(interpreter: str) -> Optional[InterpreterFacts]:
    """Ask ``interpreter`` once per process (one subprocess answers every question); None if
    it cannot be run or answers nonsense."""
    if interpreter in _PROBES:
        return _PROBES[interpreter]
    facts: Optional[InterpreterFacts] = None
    try:
        out = subprocess.run([interpreter, "-c", _PROBE], capture_output=True, text=True, timeout=60).stdout
        data = json.loads(out.strip().splitlines()[-1])
        dirs = [data["purelib"], data["platlib"], *data["sites"]]
        found = [os.path.normpath(d) for d in dirs if isinstance(d, str) and os.path.isabs(d) and os.path.isdir(d)]
        major, minor, micro = (int(n) for n in data["version"])
        facts = InterpreterFacts(str(data["executable"]), (major, minor, micro), str(data["abiflags"] or ""),
                                 tuple(dict.fromkeys(found)), str(data["prefix"]))
    except (OSError, ValueError, IndexError, KeyError, TypeError, subprocess.SubprocessError):
        facts = None
    _PROBES[interpreter] = facts
    return facts


def interpreter_facts(interpreter: str) -> Optional[InterpreterFacts]:
    """The interpreter's own account of itself (see InterpreterFacts); None if it cannot be asked."""
    return _probe(interpreter)


def _real_executable(interpreter: str) -> str:
    """The binary behind a launcher script (pyenv shims, wrappers): ask it for sys.executable."""
    try:
        with open(interpreter, "rb") as f:
            if f.read(4) == ELF_MAGIC:
                return interpreter
    except OSError:
        return interpreter
    facts = _probe(interpreter)
    out = facts.executable if facts else ""
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


def interpreter_release(interpreter: Optional[str] = None) -> Optional[str]:
    """The full release (``3.11.2``) of the interpreter: private symbols differ between
    patch releases of one X.Y, so messages about them name it. None if it cannot be asked."""
    if interpreter is None:
        return ".".join(str(n) for n in sys.version_info[:3])
    facts = _probe(interpreter)
    return ".".join(str(n) for n in facts.version) if facts else None
