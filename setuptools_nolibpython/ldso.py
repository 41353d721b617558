"""Library search the way ld.so does it, inside a wheel and on this machine.

RPATH (of the requester and its loaders, unless it has RUNPATH), then RUNPATH, then
/etc/ld.so.conf directories, multiarch and default directories; ``$ORIGIN`` is a
file's place inside the wheel, so bundled libraries count. LD_LIBRARY_PATH is ignored:
users do not set it. System libraries are read once per process.
"""

from __future__ import annotations

import glob
import os
import posixpath
import re
import sys
import sysconfig
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence, Set, Tuple

from .dynsym import read_dynamic_symbols, symbol_key
from .elf import ELF_MAGIC, PT_INTERP, ElfInfo, expand_origin, read_bytes, read_elf, uses_origin
from .errors import ElfReadError, SourceError
from .names import is_libpython_filename
from .sources import ByteSource, FileSource

__all__ = [
    "Closure",
    "LoadedObject",
    "Resolver",
    "default_library_dirs",
    "load_closure",
    "load_system_object",
    "make_object",
    "object_key",
]

@dataclass(frozen=True)
class LoadedObject:
    """What resolution needs of one ELF file: where it is, what it needs and exports."""

    path: str  # a path inside the wheel (in_wheel) or on this machine
    in_wheel: bool
    elf_class: int
    machine: str
    needed: Tuple[str, ...]
    rpath: Tuple[str, ...]
    runpath: Tuple[str, ...]
    soname: Optional[str]
    defined: FrozenSet[int]  # symbol_key hashes
    undefined: Tuple[str, ...] = ()
    has_module_init: bool = False
    interp: Optional[str] = None
    is_executable: bool = False
    ident: str = ""  # identity: the wheel path, or the real path on this machine

    def defines(self, name: str) -> bool:
        return symbol_key(name) in self.defined

    @property
    def is_libpython(self) -> bool:
        return is_libpython_filename(posixpath.basename(self.path)) or bool(
            self.soname and is_libpython_filename(self.soname)
        )


def _interp_path(src: ByteSource, info: ElfInfo) -> Optional[str]:
    seg = next((s for s in info.segments if s.type == PT_INTERP), None)
    if seg is None or seg.filesz == 0 or seg.filesz > 4096 or seg.offset + seg.filesz > src.size:
        return None
    return read_bytes(src, seg.offset, seg.filesz, "PT_INTERP").split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def make_object(path: str, in_wheel: bool, src: ByteSource, info: ElfInfo, ident: str = "") -> LoadedObject:
    syms = read_dynamic_symbols(src, info)
    interp = _interp_path(src, info)
    return LoadedObject(
        path=path,
        in_wheel=in_wheel,
        elf_class=info.elf_class,
        machine=info.machine,
        needed=info.needed,
        rpath=info.rpath,
        runpath=info.runpath,
        soname=info.soname,
        defined=syms.defined,
        undefined=syms.undefined,
        has_module_init=syms.has_module_init,
        interp=interp,
        is_executable=info.is_executable,
        ident=ident or path,
    )


_SYSTEM_CACHE: Dict[Tuple[str, int, int], Optional[LoadedObject]] = {}


def load_system_object(path: str) -> Optional[LoadedObject]:
    """A library or program on this machine, read once per process; None if not ELF/readable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (path, st.st_mtime_ns, st.st_size)
    if key in _SYSTEM_CACHE:
        return _SYSTEM_CACHE[key]
    obj: Optional[LoadedObject] = None
    real = os.path.realpath(path)
    try:
        with FileSource(real) as src:
            if src.size >= 4 and src.read(0, 4) == ELF_MAGIC:
                obj = make_object(path, False, src, read_elf(src), ident=real)
    except (OSError, SourceError, ElfReadError):
        obj = None
    _SYSTEM_CACHE[key] = obj
    return obj


def _ld_so_conf_dirs(conf: str = "/etc/ld.so.conf", depth: int = 0) -> List[str]:
    out: List[str] = []
    try:
        with open(conf, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return out
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("hwcap"):
            continue
        if line.startswith("include") and depth < 8:
            pattern = line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""
            if not os.path.isabs(pattern):
                pattern = os.path.join(os.path.dirname(conf), pattern)
            for inc in sorted(glob.glob(pattern)):
                out.extend(_ld_so_conf_dirs(inc, depth + 1))
        else:
            out.extend(p for p in re.split(r"[\s:,]+", line) if p.startswith("/"))
    return out


_DEFAULT_DIRS: Optional[Tuple[str, ...]] = None


def default_library_dirs() -> Tuple[str, ...]:
    """ld.so's search path after RPATH/RUNPATH: ld.so.conf dirs, then the trusted dirs."""
    global _DEFAULT_DIRS
    if _DEFAULT_DIRS is None:
        dirs = _ld_so_conf_dirs()
        multiarch = sysconfig.get_config_var("MULTIARCH") or getattr(sys.implementation, "_multiarch", "")
        if multiarch:
            dirs += [f"/lib/{multiarch}", f"/usr/lib/{multiarch}"]
        dirs += ["/lib64", "/usr/lib64", "/lib", "/usr/lib"]
        _DEFAULT_DIRS = tuple(dict.fromkeys(os.path.normpath(d) for d in dirs))
    return _DEFAULT_DIRS


_SearchDir = Tuple[bool, str]  # (inside the wheel, directory)


def _expand(entry: str, obj: LoadedObject) -> Optional[_SearchDir]:
    """An RPATH/RUNPATH entry as a directory, ``$ORIGIN`` taken where ``obj`` lies."""
    if not uses_origin(entry):
        return (False, os.path.normpath(entry)) if entry.startswith("/") else None
    if obj.in_wheel:
        origin = posixpath.dirname(obj.path) or "."
        path = posixpath.normpath(expand_origin(entry, origin))
        if path.startswith("/"):
            return (False, path)
        if path == ".." or path.startswith("../"):
            return None  # leaves the wheel: unknown on the machine it is installed on
        return (True, path)
    origin = os.path.dirname(os.path.realpath(obj.path) if obj.is_executable else obj.path)
    return (False, os.path.normpath(expand_origin(entry, origin)))


class Resolver:
    """Finds DT_NEEDED libraries like ld.so, in the wheel first where ``$ORIGIN`` says so."""

    def __init__(
        self, wheel: Mapping[str, LoadedObject], elf_class: int, machine: str, search_system: bool = True
    ) -> None:
        """``search_system`` False: look only inside the wheel (files built for another machine)."""
        self.wheel = wheel
        self.search_system = search_system
        self.elf_class = elf_class
        self.machine = machine
        self._found: Dict[Tuple[str, Tuple[Optional[_SearchDir], ...]], Optional[LoadedObject]] = {}

    def _at(self, d: _SearchDir, name: str) -> Optional[LoadedObject]:
        in_wheel, directory = d
        if in_wheel:
            obj = self.wheel.get(posixpath.normpath(posixpath.join(directory, name)))
        elif self.search_system:
            obj = load_system_object(os.path.join(directory, name))
        else:
            return None
        if obj is None or obj.elf_class != self.elf_class or obj.machine != self.machine:
            return None
        return obj

    def find(self, name: str, requester: LoadedObject, loaders: Sequence[LoadedObject]) -> Optional[LoadedObject]:
        if "/" in name:
            if name.startswith("/"):
                return self._at((False, os.path.dirname(name)), os.path.basename(name))
            if requester.in_wheel:
                return self.wheel.get(posixpath.normpath(name))
            return None
        dirs: List[Optional[_SearchDir]] = []
        if not requester.runpath:
            for obj in (requester, *loaders):
                dirs.extend(_expand(e, obj) for e in obj.rpath)
        dirs.extend(_expand(e, requester) for e in requester.runpath)
        key = (name, tuple(dirs))
        if key not in self._found:
            self._found[key] = self._search(name, dirs)
        return self._found[key]

    def _search(self, name: str, dirs: List[Optional[_SearchDir]]) -> Optional[LoadedObject]:
        seen: Set[_SearchDir] = set()
        for d in [*dirs, *((False, d) for d in default_library_dirs())]:
            if d is None or d in seen:
                continue
            seen.add(d)
            found = self._at(d, name)
            if found is not None:
                return found
        return None


@dataclass
class Closure:
    """A root object and everything its DT_NEEDED entries load, breadth first like ld.so."""

    objects: List[LoadedObject]
    missing: List[Tuple[str, str]]  # (needed name, requester path)
    #: (needed name, requester path, the object that satisfied it), in load order.
    found: List[Tuple[str, str, LoadedObject]] = field(default_factory=list)


def object_key(obj: LoadedObject) -> Tuple[bool, str]:
    return (obj.in_wheel, obj.ident)


def load_closure(
    root: LoadedObject,
    resolver: Resolver,
    already: Optional[Mapping[str, LoadedObject]] = None,
) -> Closure:
    """``already``: libraries loaded before (the global scope), matched by name as ld.so does."""
    loaded_names: Dict[str, LoadedObject] = dict(already or {})
    objects = [root]
    seen = {object_key(root)}
    missing: List[Tuple[str, str]] = []
    found: List[Tuple[str, str, LoadedObject]] = []
    queue: List[Tuple[LoadedObject, Tuple[LoadedObject, ...]]] = [(root, ())]
    while queue:
        obj, loaders = queue.pop(0)
        for name in obj.needed:
            dep = loaded_names.get(name) or resolver.find(name, obj, loaders)
            if dep is None:
                missing.append((name, obj.path))
                continue
            loaded_names[name] = dep
            found.append((name, obj.path, dep))
            if dep.soname:
                loaded_names.setdefault(dep.soname, dep)
            k = object_key(dep)
            if k in seen:
                continue
            seen.add(k)
            objects.append(dep)
            queue.append((dep, (obj, *loaders)))
    return Closure(objects, missing, found)
