"""Symbol-level verification: will every module in the wheel import?

Stripping libpython and cancelling ``-z defs`` removes the linker's check for undefined
symbols, so this module does it instead, the way ld.so will at import time:

- every undefined, non-weak dynamic symbol of a module or library must be defined in the
  interpreter's global scope (its executable and that executable's DT_NEEDED closure:
  libpython on shared builds, libc, libm, ...) or in the file's own DT_NEEDED closure,
  searched like ld.so (RPATH/RUNPATH with ``$ORIGIN`` inside the wheel, then the
  system's library path); otherwise the import fails with "undefined symbol";
- a module that *defines* the CPython runtime (``Py_Initialize``, ``_PyRuntime``...)
  carries a second interpreter, normally a static ``libpythonX.Y.a`` linked in;
- an abi3 module may use only Stable ABI symbols, none newer than its target version.

Dynamic symbols are read through the ByteSource (DT_SYMTAB/DT_STRTAB, counted through
DT_GNU_HASH or DT_HASH), unpacked with ``struct.iter_unpack`` and bounded by the file
size. Libraries outside the wheel are read once per process.
"""

from __future__ import annotations

import glob
import logging
import os
import posixpath
import re
import struct
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

from . import policy
from .elf import ELF_MAGIC, ElfInfo, ElfReadError, read_bytes, read_elf
from .names import is_libpython_filename
from .policy import Problem
from .sources import ByteSource, FileSource, SourceError
from .stable_abi import Version, format_version, parse_limited_api
from .stable_abi import load as load_stable_abi

log = logging.getLogger("setuptools_nolibpython")

UNRESOLVED = "unresolved-symbol"
EMBEDDED_RUNTIME = "embedded-runtime"
STABLE_ABI = "stable-abi"
MISSING_LIBRARY = "missing-library"

DT_HASH = 4
DT_SYMTAB = 6
DT_SYMENT = 11
DT_GNU_HASH = 0x6FFFFEF5
DT_FLAGS_1 = 0x6FFFFFFB
DF_1_PIE = 0x08000000
PT_INTERP = 3
SHT_DYNSYM = 11

STB_GLOBAL = 1
STB_WEAK = 2
STB_GNU_UNIQUE = 10
STV_DEFAULT = 0
STV_PROTECTED = 3
_EXPORTED_BINDINGS = frozenset({STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE})
_EXPORTED_VISIBILITY = frozenset({STV_DEFAULT, STV_PROTECTED})

#: Symbols only a copy of the CPython runtime defines: their presence in a module means
#: libpythonX.Y.a (or the interpreter's objects) was linked into it.
RUNTIME_MARKERS: Tuple[str, ...] = (
    "Py_Initialize",
    "Py_InitializeEx",
    "Py_InitializeFromConfig",
    "_PyRuntime",
    "Py_Main",
    "Py_BytesMain",
    "PyEval_EvalCode",
    "Py_FinalizeEx",
    "PyInterpreterState_New",
    "Py_NewInterpreter",
)

#: Per file, at most this many unresolved symbols are listed one by one.
MAX_LISTED = 20

_PY_SYMBOL = re.compile(r"^_?Py")
_CPYTHON_SUFFIX = re.compile(r"\.cpython-(\d)(\d+)([a-z]*)(?:-|\.so)")
_PYTHON_NAME = re.compile(r"python(\d)\.(\d+)([a-z]*)")
_CP_TAG = re.compile(r"cp(\d)(\d+)([a-z]*)")

#: A CPython build as far as symbols go: X.Y and the ABI flags that change the exported
#: symbols ("t" free-threaded, "d" debug).
Build = Tuple[Version, str]


def _flags(text: str) -> str:
    return "".join(sorted(set(text) & {"t", "d"}))


def is_python_symbol(name: str) -> bool:
    return _PY_SYMBOL.match(name) is not None


# ------------------------------------------------------------------ reading symbols


def symbol_key(name: str) -> int:
    """How exported names are stored: their hash, not the text.

    A wheel like torch exports 200k (mostly long C++) names; keeping hashes instead of
    strings saves tens of MB. The hash is CPython's 64-bit SipHash of the bytes, so a
    false match needs a collision of odds around 1e-14 per lookup.
    """
    return hash(name.encode("utf-8", "surrogateescape"))


@dataclass(frozen=True)
class DynamicSymbols:
    """Exported names (global/weak/unique binding, default or protected visibility, as
    ``symbol_key`` hashes) and the names the file needs from others."""

    defined: FrozenSet[int]
    undefined: Tuple[str, ...]  # global binding only: weak references may stay unresolved
    has_module_init: bool = False  # exports a PyInit_* function: a Python extension module

    def defines(self, name: str) -> bool:
        return symbol_key(name) in self.defined


EMPTY = DynamicSymbols(frozenset(), ())


def _first_tags(info: ElfInfo) -> Dict[int, int]:
    tags: Dict[int, int] = {}
    for e in info.entries:
        tags.setdefault(e.tag, e.value)
    return tags


def _count_from_hash(src: ByteSource, info: ElfInfo, vaddr: int, end: str) -> int:
    off = info.vaddr_to_offset(vaddr)
    if off is None:
        raise ElfReadError(f"DT_HASH address {vaddr:#x} is not inside any loaded segment")
    _nbucket, nchain = struct.unpack(end + "II", read_bytes(src, off, 8, "DT_HASH header"))
    return int(nchain)


def _count_from_gnu_hash(src: ByteSource, info: ElfInfo, vaddr: int, end: str) -> int:
    """Highest symbol index reachable through the GNU hash table, plus one."""
    off = info.vaddr_to_offset(vaddr)
    if off is None:
        raise ElfReadError(f"DT_GNU_HASH address {vaddr:#x} is not inside any loaded segment")
    nbuckets, symoffset, bloom_size, _shift = struct.unpack(end + "IIII", read_bytes(src, off, 16, "DT_GNU_HASH header"))
    word = 8 if info.elf_class == 64 else 4
    buckets_off = off + 16 + bloom_size * word
    if buckets_off + nbuckets * 4 > src.size:
        raise ElfReadError(f"DT_GNU_HASH claims {nbuckets} buckets, more than the file holds")
    buckets = struct.unpack(f"{end}{nbuckets}I", read_bytes(src, buckets_off, nbuckets * 4, "DT_GNU_HASH buckets"))
    last = max(buckets, default=0)
    if last < symoffset:
        return int(symoffset)
    chain_off = buckets_off + nbuckets * 4
    index = last
    block = 1024
    while True:
        pos = chain_off + (index - symoffset) * 4
        if pos + 4 > src.size:
            raise ElfReadError("DT_GNU_HASH chain runs past the end of the file")
        n = min(block, (src.size - pos) // 4)
        for value in struct.unpack(f"{end}{n}I", read_bytes(src, pos, n * 4, "DT_GNU_HASH chain")):
            if value & 1:
                return index + 1
            index += 1


def _count_from_sections(src: ByteSource, info: ElfInfo, end: str) -> Optional[int]:
    """Size of the SHT_DYNSYM section: the fallback when there is no hash table."""
    if info.elf_class == 64:
        shoff, = struct.unpack(end + "Q", read_bytes(src, 0x28, 8, "ELF header"))
        shentsize, shnum = struct.unpack(end + "HH", read_bytes(src, 0x3A, 4, "ELF header"))
        layout, want = end + "IIQQQQIIQQ", 64
    else:
        shoff, = struct.unpack(end + "I", read_bytes(src, 0x20, 4, "ELF header"))
        shentsize, shnum = struct.unpack(end + "HH", read_bytes(src, 0x2E, 4, "ELF header"))
        layout, want = end + "IIIIIIIIII", 40
    if shoff == 0 or shnum == 0 or shentsize != want or shoff + shnum * want > src.size:
        return None
    for sh in struct.iter_unpack(layout, read_bytes(src, shoff, shnum * want, "section headers")):
        if sh[1] == SHT_DYNSYM and sh[9]:
            return int(sh[5] // sh[9])
    return None


def read_dynamic_symbols(src: ByteSource, info: ElfInfo) -> DynamicSymbols:
    """The dynamic symbols of an ELF file; ElfReadError with a one-line reason if malformed."""
    if not info.is_dynamic:
        return EMPTY
    tags = _first_tags(info)
    symtab_vaddr = tags.get(DT_SYMTAB)
    if symtab_vaddr is None:
        return EMPTY
    end = "<" if info.little_endian else ">"
    sym_size = 24 if info.elf_class == 64 else 16
    if tags.get(DT_SYMENT, sym_size) != sym_size:
        raise ElfReadError(f"DT_SYMENT is {tags[DT_SYMENT]}, not {sym_size}")
    symoff = info.vaddr_to_offset(symtab_vaddr)
    if symoff is None:
        raise ElfReadError(f"DT_SYMTAB address {symtab_vaddr:#x} is not inside any loaded segment")
    if info.strtab_offset is None:
        raise ElfReadError("dynamic symbols without a dynamic string table (DT_STRTAB)")
    if DT_GNU_HASH in tags:
        count: Optional[int] = _count_from_gnu_hash(src, info, tags[DT_GNU_HASH], end)
    elif DT_HASH in tags:
        count = _count_from_hash(src, info, tags[DT_HASH], end)
    else:
        count = _count_from_sections(src, info, end)
        if count is None and info.strtab_offset > symoff:
            count = (info.strtab_offset - symoff) // sym_size  # .dynstr follows .dynsym
    if count is None:
        raise ElfReadError("cannot tell how many dynamic symbols there are (no hash table, no section headers)")
    room = max(src.size - symoff, 0) // sym_size
    if count > room:
        raise ElfReadError(
            f"the dynamic symbol table claims {count} symbols at {symoff:#x}, but the file holds at most {room}"
        )
    strsz = info.strtab_size
    if info.strtab_offset + strsz > src.size:
        raise ElfReadError(f"dynamic string table (DT_STRSZ {strsz:#x}) runs past the end of the file")
    table = read_bytes(src, symoff, count * sym_size, "dynamic symbol table")
    strings = read_bytes(src, info.strtab_offset, strsz, "dynamic string table")
    # Only st_name, st_info, st_other and st_shndx are needed: pad over the rest.
    fmt = end + ("IBBH16x" if info.elf_class == 64 else "I8xBBH")
    # Two passes over the table instead of one list of 75k tuples: less memory at the peak.
    undefined_offs = [n for n, i, _o, sh in struct.iter_unpack(fmt, table) if sh == 0 and n and i >> 4 == STB_GLOBAL]
    defined_offs = [
        n for n, i, o, sh in struct.iter_unpack(fmt, table)
        if sh != 0 and n and i >> 4 in _EXPORTED_BINDINGS and o & 3 in _EXPORTED_VISIBILITY
    ]
    return DynamicSymbols(
        frozenset(hash(_name_bytes(strings, off)) for off in defined_offs),
        tuple(dict.fromkeys(_names(strings, undefined_offs))),
        any(strings.startswith(b"PyInit_", off) for off in defined_offs),
    )


def _name_bytes(strings: bytes, off: int) -> bytes:
    stop = strings.find(b"\0", off)
    if off >= len(strings) or stop < 0:
        raise ElfReadError(f"symbol name at {off:#x} is not NUL-terminated within the dynamic string table")
    return strings[off:stop]


def _names(strings: bytes, offsets: List[int]) -> List[str]:
    """NUL-terminated names at ``offsets``, decoded in one go (75k names in milliseconds)."""
    if not offsets:
        return []
    if max(offsets) >= len(strings):
        raise ElfReadError(f"symbol name offset {max(offsets):#x} is outside the dynamic string table")
    parts = [_name_bytes(strings, off) for off in offsets]
    return b"\0".join(parts).decode("utf-8", "surrogateescape").split("\0")


# ------------------------------------------------------------------ objects and ld.so search


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

    @property
    def is_module(self) -> bool:
        return self.has_module_init

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


def _is_executable(info: ElfInfo, interp: Optional[str]) -> bool:
    """A program rather than a library: ET_EXEC, or a PIE (PT_INTERP and DF_1_PIE)."""
    if info.file_type == "ET_EXEC":
        return True
    flags_1 = _first_tags(info).get(DT_FLAGS_1, 0)
    return interp is not None and bool(flags_1 & DF_1_PIE)


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
        is_executable=_is_executable(info, interp),
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


SearchDir = Tuple[bool, str]  # (inside the wheel, directory)


def _expand(entry: str, obj: LoadedObject) -> Optional[SearchDir]:
    """An RPATH/RUNPATH entry as a directory, ``$ORIGIN`` taken where ``obj`` lies."""
    has_origin = "$ORIGIN" in entry or "${ORIGIN}" in entry
    if not has_origin:
        return (False, os.path.normpath(entry)) if entry.startswith("/") else None
    if obj.in_wheel:
        origin = posixpath.dirname(obj.path) or "."
        path = posixpath.normpath(entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin))
        if path.startswith("/"):
            return (False, path)
        if path == ".." or path.startswith("../"):
            return None  # leaves the wheel: unknown on the machine it is installed on
        return (True, path)
    origin = os.path.dirname(os.path.realpath(obj.path) if obj.is_executable else obj.path)
    return (False, os.path.normpath(entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)))


class Resolver:
    """Finds DT_NEEDED libraries like ld.so, in the wheel first where ``$ORIGIN`` says so."""

    def __init__(self, wheel: Mapping[str, LoadedObject], elf_class: int, machine: str) -> None:
        self.wheel = wheel
        self.elf_class = elf_class
        self.machine = machine
        self._found: Dict[Tuple[str, Tuple[Optional[SearchDir], ...]], Optional[LoadedObject]] = {}

    def _at(self, d: SearchDir, name: str) -> Optional[LoadedObject]:
        in_wheel, directory = d
        if in_wheel:
            obj = self.wheel.get(posixpath.normpath(posixpath.join(directory, name)))
        else:
            obj = load_system_object(os.path.join(directory, name))
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
        dirs: List[Optional[SearchDir]] = []
        if not requester.runpath:
            for obj in (requester, *loaders):
                dirs.extend(_expand(e, obj) for e in obj.rpath)
        dirs.extend(_expand(e, requester) for e in requester.runpath)
        key = (name, tuple(dirs))
        if key not in self._found:
            self._found[key] = self._search(name, dirs)
        return self._found[key]

    def _search(self, name: str, dirs: List[Optional[SearchDir]]) -> Optional[LoadedObject]:
        seen: Set[SearchDir] = set()
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


def _key(obj: LoadedObject) -> Tuple[bool, str]:
    return (obj.in_wheel, obj.ident)


def load_closure(
    root: LoadedObject,
    resolver: Resolver,
    already: Optional[Mapping[str, LoadedObject]] = None,
) -> Closure:
    """``already``: libraries loaded before (the global scope), matched by name as ld.so does."""
    loaded_names: Dict[str, LoadedObject] = dict(already or {})
    objects = [root]
    seen = {_key(root)}
    missing: List[Tuple[str, str]] = []
    queue: List[Tuple[LoadedObject, Tuple[LoadedObject, ...]]] = [(root, ())]
    while queue:
        obj, loaders = queue.pop(0)
        for name in obj.needed:
            dep = loaded_names.get(name) or resolver.find(name, obj, loaders)
            if dep is None:
                missing.append((name, obj.path))
                continue
            loaded_names[name] = dep
            if dep.soname:
                loaded_names.setdefault(dep.soname, dep)
            k = _key(dep)
            if k in seen:
                continue
            seen.add(k)
            objects.append(dep)
            queue.append((dep, (obj, *loaders)))
    return Closure(objects, missing)


# ------------------------------------------------------------------ the interpreter


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
        return (sys.version_info[0], sys.version_info[1]), _flags(getattr(sys, "abiflags", ""))
    for name in [os.path.basename(exe)] + [posixpath.basename(o.path) for o in closure.objects]:
        m = _PYTHON_NAME.search(name)
        if m:
            return (int(m[1]), int(m[2])), _flags(m[3])
    try:
        out = subprocess.run(
            [given, "-c", "import sys; print('%d.%d' % sys.version_info[:2], getattr(sys, 'abiflags', ''), '.')"],
            capture_output=True, text=True, timeout=30,
        ).stdout.split()
        major, minor = out[0].split(".")
        return (int(major), int(minor)), _flags(out[1] if len(out) > 2 else "")
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
        if rtld is not None and all(_key(rtld) != _key(o) for o in objects):
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


# ------------------------------------------------------------------ wheel tags


def parse_wheel_tags(tags: Iterable[str]) -> Tuple[Set[str], Set[str]]:
    """(python tags, abi tags) from ``py-abi-plat`` triples or wheel file names."""
    pys: Set[str] = set()
    abis: Set[str] = set()
    for tag in tags:
        base = os.path.basename(tag)
        if base.endswith(".whl"):
            base = base[:-4]
        parts = base.split("-")
        if len(parts) < 3:
            continue
        py, abi = parts[-3], parts[-2]
        pys.update(py.split("."))
        abis.update(abi.split("."))
    return pys, abis


def _cp_build(tag: str) -> Optional[Build]:
    m = _CP_TAG.fullmatch(tag)
    return ((int(m[1]), int(m[2])), _flags(m[3])) if m else None


def file_python_build(path: str) -> Optional[Build]:
    """X.Y and flags from an extension suffix such as ``.cpython-313t-x86_64-linux-gnu.so``."""
    m = _CPYTHON_SUFFIX.search(posixpath.basename(path))
    return ((int(m[1]), int(m[2])), _flags(m[3])) if m else None


def is_abi3_name(path: str) -> bool:
    return ".abi3." in posixpath.basename(path)


# ------------------------------------------------------------------ the check


def _problem(code: str, severity: str, message: str, fix: str, detail: str) -> Problem:
    return Problem(code, severity, message, fix, detail)


@dataclass
class _Verdicts:
    problems: Dict[str, List[Problem]] = field(default_factory=dict)

    def add(self, path: str, problem: Problem) -> None:
        self.problems.setdefault(path, []).append(problem)


class SymbolCheck:
    """scan.WheelCheck: collect every ELF file, then judge symbols across the whole wheel.

    ``severity`` is the config value ("error" or "warn"); ``interpreter`` the Python whose
    global scope modules will be imported into (default: the running one); ``wheel_tags``
    the wheel's tags or file name (``cp39-abi3-manylinux_2_17_x86_64``), and
    ``limited_api`` an explicit Stable ABI target ("3.9", "cp39", 0x03090000).
    ``notes`` collects what could not be checked, for people.
    """

    def __init__(
        self,
        severity: str = "error",
        interpreter: Optional[str] = None,
        wheel_tags: Iterable[str] = (),
        limited_api: Union[str, int, Tuple[int, int], None] = None,
    ) -> None:
        if severity not in ("error", "warn"):
            raise ValueError(f"severity must be 'error' or 'warn', not {severity!r}")
        self.severity = policy.ERROR if severity == "error" else policy.WARNING
        self.interpreter = interpreter
        pys, abis = parse_wheel_tags(wheel_tags)
        self.abi3_wheel = "abi3" in abis
        cp_versions = sorted(b[0] for b in (_cp_build(t) for t in pys) if b is not None)
        # The abi tag (cp313t) carries the flags; the python tag (cp313) only the version.
        self.wheel_builds: Set[Build] = {b for b in (_cp_build(t) for t in abis) if b is not None}
        if not self.wheel_builds and not self.abi3_wheel:
            self.wheel_builds = {(v, "") for v in cp_versions}
        self.limited_api: Optional[Version] = (
            parse_limited_api(limited_api) if limited_api is not None
            else (cp_versions[0] if self.abi3_wheel and cp_versions else None)
        )
        self.files: Dict[str, LoadedObject] = {}
        self.notes: List[str] = []

    # -- WheelCheck
    def collect(self, path: str, src: ByteSource, info: ElfInfo) -> None:
        self.files[path] = make_object(path, True, src, info)

    def finish(self) -> Dict[str, List[Problem]]:
        out = _Verdicts()
        for obj in self.files.values():
            self._embedded_runtime(obj, out)
            self._stable_abi(obj, out)
        self._unresolved(out)
        return out.problems

    # -- embedded runtime
    def _embedded_runtime(self, obj: LoadedObject, out: _Verdicts) -> None:
        if obj.is_libpython or obj.is_executable:
            return
        found = [s for s in RUNTIME_MARKERS if obj.defines(s)]
        if not found:
            return
        out.add(obj.path, _problem(
            EMBEDDED_RUNTIME, self.severity,
            f"defines the CPython runtime ({', '.join(found[:4])}): it carries a second copy of the "
            "interpreter, most likely a static libpythonX.Y.a linked in; importing it mixes two runtimes",
            "link no libpython at all: remove libpythonX.Y.a from extra_objects/libraries/LDFLAGS "
            "(CMake: use Python::Module, not Python::Python); the importing interpreter provides these symbols",
            found[0],
        ))

    # -- stable ABI
    def _limited(self, obj: LoadedObject) -> bool:
        return is_abi3_name(obj.path) or (self.abi3_wheel and obj.is_module)

    def _stable_abi(self, obj: LoadedObject, out: _Verdicts) -> None:
        if not self._limited(obj):
            return
        table = load_stable_abi()
        target = self.limited_api
        for sym in obj.undefined:
            if not is_python_symbol(sym):
                continue
            item = table.get(sym)
            if item is None or not item.on_linux:
                out.add(obj.path, _problem(
                    STABLE_ABI, self.severity,
                    f"abi3 module uses {sym}, which is not in the Stable ABI: it can fail to import "
                    "on other Python versions",
                    "use only Limited API calls (define Py_LIMITED_API to your target and fix what no "
                    "longer compiles), or build a version-specific wheel instead of abi3",
                    sym,
                ))
            elif target is not None and item.added > target:
                tv, av = format_version(target), format_version(item.added)
                out.add(obj.path, _problem(
                    STABLE_ABI, self.severity,
                    f"abi3 module uses {sym}, which entered the Stable ABI in {av}, after the wheel's target "
                    f"{tv} (cp{target[0]}{target[1]}-abi3): Python {tv} is not bound to export it, and where it "
                    f"does not, the import fails with \"undefined symbol: {sym}\"",
                    f"avoid {sym}, or raise the target to {av} (py_limited_api=\"cp{item.added[0]}{item.added[1]}\" "
                    f"and Py_LIMITED_API=0x{item.added[0]:02X}{item.added[1]:02X}0000)",
                    sym,
                ))

    # -- unresolved symbols
    def _python_symbols_checkable(self, obj: LoadedObject, scope: InterpreterScope) -> bool:
        """Only judge Py*/_Py* symbols when the wheel was built for the checking interpreter."""
        build = scope.build
        if build is None or not scope.exports_python:
            return False
        if self._limited(obj):
            target = self.limited_api
            return target is None or build[0] >= target
        mine = file_python_build(obj.path)
        if mine is not None:
            return mine == build
        builds = set(self.wheel_builds)
        builds.update(b for b in (file_python_build(p) for p in self.files) if b is not None)
        return not builds or build in builds

    def _scope(self) -> Optional[InterpreterScope]:
        """The interpreter's global scope, or None (with a note) when it cannot be known."""
        try:
            scope = interpreter_scope(self.interpreter)
        except (OSError, ElfReadError) as exc:
            why = f"cannot read the interpreter {self.interpreter or sys.executable}: {exc}"
        else:
            if not scope.missing:
                if not scope.exports_python:
                    self.notes.append(f"Py* symbols not judged: {scope.path} exports no CPython runtime symbols")
                return scope
            name, requester = scope.missing[0]
            why = (
                f"the interpreter {scope.path} needs {name} (DT_NEEDED of {requester}), which ld.so's "
                "search rules do not find from here, so its global scope is unknown"
            )
        self.notes.append(f"symbols not checked: {why}")
        log.warning("setuptools-nolibpython: %s", self.notes[-1])
        return None

    def _unresolved(self, out: _Verdicts) -> None:
        scope = self._scope() if self.files else None
        if scope is None:
            return
        others = [o for o in self.files.values() if o.elf_class != scope.elf_class or o.machine != scope.machine]
        if others:
            self.notes.append(
                f"{len(others)} file(s) are built for another machine than {scope.path} "
                f"({scope.machine}); their symbols were not checked"
            )
        resolver = Resolver(self.files, scope.elf_class, scope.machine)
        targets = [o for o in self.files.values() if o not in others]
        closures = {o.path: load_closure(o, resolver, None if o.is_executable else scope.loaded) for o in targets}
        # A library that a module loads is resolved in that module's scope too (dlopen's local
        # scope): for each wheel library, the closures of the files that load it.
        loaded_by: Dict[str, List[Closure]] = {}
        for obj in targets:
            if not obj.is_executable:
                for dep in closures[obj.path].objects[1:]:
                    if dep.in_wheel:
                        loaded_by.setdefault(dep.path, []).append(closures[obj.path])
        skipped_py = 0
        for obj in targets:
            skipped_py += self._judge(obj, closures[obj.path], loaded_by.get(obj.path, []), scope, out)
        if skipped_py:
            self.notes.append(
                f"{skipped_py} Py*/_Py* symbol(s) were not judged: the wheel is not built for "
                f"Python {format_version(scope.version) if scope.version else '?'} ({scope.path})"
            )

    def _judge(
        self, obj: LoadedObject, own: Closure, contexts: List[Closure], scope: InterpreterScope, out: _Verdicts
    ) -> int:
        """Report what ``obj`` cannot resolve; returns how many Py* symbols were left unjudged."""
        # A library some module loads is judged in that module's scope; its own missing
        # dependencies are then reported on the module (auditwheel's DT_RPATH case).
        for name, requester in dict.fromkeys([] if contexts else own.missing):
            if is_libpython_filename(name):
                continue  # already a needs-libpython violation; one finding per cause
            out.add(obj.path, _problem(
                MISSING_LIBRARY, policy.WARNING,
                f"needs {name} (DT_NEEDED of {requester}), which is neither in the wheel nor in this "
                "machine's library path; its undefined symbols were not checked",
                "bundle the library in the wheel (auditwheel repair) or make sure the target "
                "systems provide it",
                name,
            ))
        if own.missing and not any(not c.missing for c in contexts):
            return 0  # some provider is unknown: no verdict rather than a wrong one
        keyed = [(s, symbol_key(s)) for s in obj.undefined]
        if not obj.is_executable:  # a program has no interpreter around it
            keyed = [(s, k) for s, k in keyed if k not in scope.exports]
        for closure in (own, *contexts):
            for provider in closure.objects:
                if not keyed:
                    break
                keyed = [(s, k) for s, k in keyed if k not in provider.defined]
        py_ok = obj.is_executable or self._python_symbols_checkable(obj, scope)
        unresolved = [s for s, _k in keyed if py_ok or not is_python_symbol(s)]
        self._report_unresolved(obj, unresolved, scope, out)
        return len(keyed) - len(unresolved)

    def _elsewhere(self, obj: LoadedObject, sym: str) -> Optional[str]:
        """Another file of the wheel that exports ``sym`` although ``obj`` does not load it."""
        key = symbol_key(sym)
        return next((o.path for o in self.files.values() if o is not obj and key in o.defined), None)

    def _report_unresolved(self, obj: LoadedObject, syms: List[str], scope: InterpreterScope, out: _Verdicts) -> None:
        pyver = format_version(scope.version) if scope.version else "?"
        listed = 0
        hard: List[str] = []
        for sym in syms:
            other = self._elsewhere(obj, sym) if len(syms) <= MAX_LISTED * 5 else None
            if other is None:
                hard.append(sym)
                continue
            # Works only if the package loads ``other`` first with RTLD_GLOBAL (ctypes, torch's
            # libtorch_global_deps): not provable from the binaries, so a warning, never an error.
            if listed < MAX_LISTED:
                listed += 1
                out.add(obj.path, _problem(
                    UNRESOLVED, policy.WARNING,
                    f"undefined symbol {sym} is defined only by {other}, which this file does not load "
                    f"(not in its DT_NEEDED closure): the import works only if {other} was loaded before with "
                    f"RTLD_GLOBAL, else it fails with \"ImportError: {obj.path}: undefined symbol: {sym}\"",
                    f"link {posixpath.basename(other)} (DT_NEEDED, with an RPATH of $ORIGIN-relative form) "
                    "if the module needs it",
                    sym,
                ))
        syms = hard
        for sym in syms[:MAX_LISTED]:
            if is_python_symbol(sym):
                fix = (
                    f"Python {pyver} ({scope.path}) does not export {sym}: it is private or was removed; "
                    "use the public C API, or build against this Python's headers"
                )
            else:
                fix = (
                    "define it, fix its spelling, or link the library that provides it (Extension(libraries=[...])); "
                    "without libpython and -z defs the linker no longer reports this"
                )
            where = "" if obj.is_executable else "the interpreter's global scope or "
            out.add(obj.path, _problem(
                UNRESOLVED, self.severity,
                f"undefined symbol {sym}: nothing in {where}this file's DT_NEEDED closure defines it; "
                f"loading it will fail with \"ImportError: {obj.path}: undefined symbol: {sym}\"",
                fix,
                sym,
            ))
        if len(syms) > MAX_LISTED:
            rest = syms[MAX_LISTED:]
            out.add(obj.path, _problem(
                UNRESOLVED, self.severity,
                f"and {len(rest)} more undefined symbols ({', '.join(rest[:5])}, ...)",
                "see the symbols listed above",
                rest[0],
            ))
