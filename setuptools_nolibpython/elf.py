"""ELF inspection: what a file needs at load time, as plain data.

Reads only what the dynamic loader reads (ELF header, program headers, PT_DYNAMIC and
the strings it points to) through a ByteSource, unpacking the fixed-layout headers with
``struct`` (pyelftools is imported only to name rare header values: its import costs
more than reading a typical extension module). Every failure on malformed input becomes ElfReadError with a
one-line reason; no allocation is sized by an unchecked header field.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from functools import cache
from typing import Any, Dict, List, Optional, Tuple

from .errors import ElfReadError, SourceError
from .sources import ELF_MAGIC, ByteSource

__all__ = [
    "DF_1_PIE",
    "DT_FLAGS_1",
    "DT_NEEDED",
    "DT_NULL",
    "DT_RPATH",
    "DT_RUNPATH",
    "DT_SONAME",
    "DT_STRSZ",
    "DT_STRTAB",
    "ELF_MAGIC",
    "MAX_DYNAMIC_ENTRIES",
    "MAX_STRING",
    "MAX_STRING_ENTRIES",
    "PN_XNUM",
    "PT_DYNAMIC",
    "PT_INTERP",
    "PT_LOAD",
    "DynamicEntry",
    "ElfInfo",
    "SectionTable",
    "Segment",
    "describe_machine",
    "expand_origin",
    "read_bytes",
    "read_elf",
    "read_string",
    "section_headers",
    "uses_origin",
    "vaddr_to_offset",
]


DT_NULL = 0
DT_NEEDED = 1
DT_STRTAB = 5
DT_STRSZ = 10
DT_SONAME = 14
DT_RPATH = 15
DT_RUNPATH = 29
DT_FLAGS_1 = 0x6FFFFFFB
#: DT_FLAGS_1 bit the linker sets on a position-independent executable (gcc -pie).
DF_1_PIE = 0x08000000

_STRING_TAG_NAMES = {DT_NEEDED: "DT_NEEDED", DT_RPATH: "DT_RPATH", DT_RUNPATH: "DT_RUNPATH", DT_SONAME: "DT_SONAME"}

PT_LOAD = 1
PT_DYNAMIC = 2
PT_INTERP = 3
PN_XNUM = 0xFFFF

#: A dynamic section holds tens of entries; anything claiming more is not trusted.
MAX_DYNAMIC_ENTRIES = 65536
MAX_STRING = 64 * 1024
#: Entries whose strings are read (DT_NEEDED, RPATH, RUNPATH, SONAME). Real objects have
#: tens; each string costs a bounded read, and a crafted file with 65,536 of them took
#: 1.6 s (tests/unit/test_malformed_elf_files.py), so more than this is refused as not a real object.
MAX_STRING_ENTRIES = 4096


@dataclass(frozen=True)
class DynamicEntry:
    tag: int
    value: int


@dataclass(frozen=True)
class Segment:
    type: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    flags: int


@dataclass(frozen=True)
class SectionTable:
    """Where the section headers are (e_shoff, e_shentsize, e_shnum), read with the ELF
    header: nothing else re-reads those fields. Loaders ignore sections; only fallbacks
    (a dynamic symbol count without a hash table) look at them."""

    offset: int = 0
    entry_size: int = 0
    count: int = 0


@dataclass(frozen=True)
class ElfInfo:
    """Load-time facts of one ELF file. ``dynamic_offset`` None: not dynamically linked."""

    elf_class: int
    little_endian: bool
    machine: str
    file_type: str
    segments: Tuple[Segment, ...]
    entry_size: int
    dynamic_offset: Optional[int] = None
    dynamic_slots: int = 0
    entries: Tuple[DynamicEntry, ...] = ()
    strtab_offset: Optional[int] = None
    strtab_size: int = 0
    needed: Tuple[str, ...] = ()
    rpath: Tuple[str, ...] = ()
    runpath: Tuple[str, ...] = ()
    soname: Optional[str] = None
    sections: SectionTable = SectionTable()

    @property
    def is_dynamic(self) -> bool:
        return self.dynamic_offset is not None

    def vaddr_to_offset(self, vaddr: int) -> Optional[int]:
        return vaddr_to_offset(self.segments, vaddr)

    @property
    def is_executable(self) -> bool:
        """A program, not a library or module: the package's one definition (elf, ldso,
        policy, repair and the symbol check all ask here), decided from the file alone.

        ET_EXEC; or ET_DYN with a PT_INTERP (a loader to start it) and either no DT_SONAME
        (nothing can link it) or DF_1_PIE in DT_FLAGS_1 (the linker marked it a PIE: a
        SONAME given with -Wl,-soname does not make a program a library)."""
        if self.file_type == "ET_EXEC":
            return True
        if self.file_type != "ET_DYN" or not any(s.type == PT_INTERP for s in self.segments):
            return False
        flags_1 = next((e.value for e in self.entries if e.tag == DT_FLAGS_1), 0)
        return self.soname is None or bool(flags_1 & DF_1_PIE)


@cache
def _structs(little_endian: bool, elf_class: int) -> Any:
    """pyelftools' layouts; only for header values the tables above do not name."""
    from elftools.elf.structs import ELFStructs

    s = ELFStructs(little_endian=little_endian, elfclass=elf_class)
    s.create_basic_structs()
    s.create_advanced_structs()  # machine-independent layouts; p_type names from the base enum
    return s


def _parse(struct_def: Any, data: bytes, what: str) -> Any:
    try:
        return struct_def.parse(data)
    except Exception as exc:  # pyelftools' construct raises several types
        raise ElfReadError(f"cannot parse {what}: {exc}") from None


def describe_machine(machine: str) -> str:
    """The name people know an e_machine value by ("EM_AARCH64" -> "AArch64"), from
    pyelftools' table of every value; imported here only, when a message needs it."""
    from elftools.elf.descriptions import describe_e_machine

    text = str(describe_e_machine(machine))
    return machine if text.startswith("<unknown") else text


def uses_origin(entry: str) -> bool:
    """Does an RPATH/RUNPATH entry name ``$ORIGIN`` (the directory of the file itself)?"""
    return "$ORIGIN" in entry or "${ORIGIN}" in entry


def expand_origin(entry: str, origin: str) -> str:
    """An RPATH/RUNPATH entry with ``$ORIGIN`` (both spellings) replaced by ``origin``, the
    directory of the file that carries it; the one expansion ldso and the symbol check use."""
    return entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)


def vaddr_to_offset(segments: Tuple[Segment, ...], vaddr: int) -> Optional[int]:
    """File offset of a virtual address, through the PT_LOAD segment that maps it."""
    for seg in segments:
        if seg.type == PT_LOAD and seg.vaddr <= vaddr < seg.vaddr + seg.filesz:
            return vaddr - seg.vaddr + seg.offset
    return None


def read_bytes(src: ByteSource, offset: int, length: int, what: str) -> bytes:
    """``src.read`` with every failure turned into ElfReadError naming ``what``."""
    try:
        return src.read(offset, length)
    except SourceError as exc:
        raise ElfReadError(f"{what}: {exc}") from None
    except OSError as exc:
        raise ElfReadError(f"{what}: {exc.strerror or exc}") from None


def read_string(src: ByteSource, table_offset: int, table_size: int, index: int, what: str) -> str:
    """NUL-terminated string ``index`` bytes into a string table, bounds-checked."""
    if index < 0 or index >= table_size:
        raise ElfReadError(f"{what} string offset {index:#x} is outside the string table (size {table_size:#x})")
    start = table_offset + index
    limit = min(table_size - index, MAX_STRING, max(src.size - start, 0))
    got = b""
    step = 128
    while len(got) < limit:
        chunk = read_bytes(src, start + len(got), min(step, limit - len(got)), what)
        nul = chunk.find(b"\0")
        if nul >= 0:
            return (got + chunk[:nul]).decode("utf-8", "surrogateescape")
        got += chunk
        step *= 4
    raise ElfReadError(f"{what} string at {start:#x} is not NUL-terminated within the string table")


#: struct layouts of the headers the loader reads (after the 16-byte e_ident).
_EHDR = {64: "HHIQQQIHHHHHH", 32: "HHIIIIIHHHHHH"}
_PHDR = {64: "IIQQQQQQ", 32: "IIIIIIII"}
_SHDR = {64: "IIQQQQIIQQ", 32: "IIIIIIIIII"}
#: Names of the common header values, exactly as pyelftools spells them (a test checks);
#: any other value is named by pyelftools itself, imported only then: importing it costs
#: more than reading a whole extension module (it pulls in construct and pdb).
_COMMON_TYPES = {1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}
_COMMON_MACHINES = {
    3: "EM_386", 8: "EM_MIPS", 20: "EM_PPC", 21: "EM_PPC64", 22: "EM_S390", 40: "EM_ARM",
    62: "EM_X86_64", 183: "EM_AARCH64", 243: "EM_RISCV", 258: "EM_LOONGARCH",
}


@dataclass(frozen=True)
class _Header:
    little: bool
    elf_class: int
    file_type: str
    machine: str
    phoff: int
    phentsize: int
    phnum: int
    sections: SectionTable


def _header_names(raw: bytes, little: bool, cls: int, e_type: int, e_machine: int) -> Tuple[str, str]:
    ftype = _COMMON_TYPES.get(e_type)
    machine = _COMMON_MACHINES.get(e_machine)
    if ftype is None or machine is None:
        ehdr = _parse(_structs(little, cls).Elf_Ehdr, raw, "ELF header")
        ftype, machine = str(ehdr["e_type"]), str(ehdr["e_machine"])
    return ftype, machine


def _elf_header(src: ByteSource) -> _Header:
    if src.size < 16:
        raise ElfReadError(f"file is {src.size} bytes, too short for an ELF header")
    ident = read_bytes(src, 0, 16, "ELF header")
    if ident[:4] != ELF_MAGIC:
        raise ElfReadError("not an ELF file (bad magic)")
    cls = {1: 32, 2: 64}.get(ident[4])
    if cls is None:
        raise ElfReadError(f"unknown ELF class {ident[4]}")
    little = {1: True, 2: False}.get(ident[5])
    if little is None:
        raise ElfReadError(f"unknown ELF data encoding {ident[5]}")
    fmt = ("<" if little else ">") + _EHDR[cls]
    size = 16 + struct.calcsize(fmt)
    if src.size < size:
        raise ElfReadError(f"file is {src.size} bytes, too short for a {cls}-bit ELF header")
    raw = read_bytes(src, 0, size, "ELF header")
    f = struct.unpack_from(fmt, raw, 16)
    ftype, machine = _header_names(raw, little, cls, f[0], f[1])
    return _Header(little, cls, ftype, machine, phoff=f[4], phentsize=f[8], phnum=f[9],
                   sections=SectionTable(offset=f[5], entry_size=f[10], count=f[11]))


def _segments(src: ByteSource, hdr: _Header) -> Tuple[Segment, ...]:
    phnum = hdr.phnum
    phoff = hdr.phoff
    if phnum == 0 or phoff == 0:
        return ()
    endian = "<" if hdr.little else ">"
    if phnum == PN_XNUM:
        # The real count lives in section header 0's sh_info (PN_XNUM extension).
        shfmt = endian + _SHDR[hdr.elf_class]
        if hdr.sections.offset == 0:
            raise ElfReadError("e_phnum is PN_XNUM but there is no section header 0 holding the count")
        sh0 = read_bytes(src, hdr.sections.offset, struct.calcsize(shfmt), "section header 0")
        phnum = struct.unpack(shfmt, sh0)[7]
    fmt = endian + _PHDR[hdr.elf_class]
    entsize = struct.calcsize(fmt)
    if hdr.phentsize != entsize:
        raise ElfReadError(f"program header entry size {hdr.phentsize} is not {entsize}")
    if phoff + phnum * entsize > src.size:
        raise ElfReadError(
            f"{phnum} program headers at {phoff:#x} run past the end of the file ({src.size:#x} bytes)"
        )
    table = read_bytes(src, phoff, phnum * entsize, "program headers")
    out: List[Segment] = []
    for f in struct.iter_unpack(fmt, table):
        if hdr.elf_class == 64:
            ptype, flags, offset, vaddr, _paddr, filesz, memsz, _align = f
        else:
            ptype, offset, vaddr, _paddr, filesz, memsz, flags, _align = f
        out.append(Segment(type=ptype, offset=offset, vaddr=vaddr, filesz=filesz, memsz=memsz, flags=flags))
    return tuple(out)


def section_headers(src: ByteSource, info: ElfInfo) -> Optional[List[Tuple[int, ...]]]:
    """The section header table, each entry unpacked in Elf_Shdr field order (sh_name,
    sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, sh_addralign,
    sh_entsize); None when the file has none, or one this reader does not trust (an entry
    size that is not the class's, a table past the end of the file)."""
    table = info.sections
    layout = ("<" if info.little_endian else ">") + _SHDR[info.elf_class]
    want = struct.calcsize(layout)
    size = table.count * want
    if table.offset == 0 or table.count == 0 or table.entry_size != want or table.offset + size > src.size:
        return None
    return list(struct.iter_unpack(layout, read_bytes(src, table.offset, size, "section headers")))


def read_elf(src: ByteSource) -> ElfInfo:
    """The load-time facts of ``src``; raises ElfReadError with a one-line reason."""
    hdr = _elf_header(src)
    little, cls = hdr.little, hdr.elf_class
    segments = _segments(src, hdr)
    dyn = next((s for s in segments if s.type == PT_DYNAMIC), None)
    entry_size = 16 if cls == 64 else 8
    header_only = ElfInfo(
        elf_class=cls, little_endian=little, machine=hdr.machine, file_type=hdr.file_type, segments=segments,
        entry_size=entry_size, sections=hdr.sections,
    )
    if dyn is None:
        return header_only
    if dyn.offset >= src.size or dyn.filesz == 0:
        raise ElfReadError(
            f"dynamic section at {dyn.offset:#x} (size {dyn.filesz:#x}) lies past the end of the file "
            f"({src.size:#x} bytes)"
        )
    slots = min(dyn.filesz // entry_size, MAX_DYNAMIC_ENTRIES)
    if dyn.offset + slots * entry_size > src.size:
        raise ElfReadError(
            f"dynamic section at {dyn.offset:#x} (size {dyn.filesz:#x}) runs past the end of the file "
            f"({src.size:#x} bytes)"
        )
    raw = read_bytes(src, dyn.offset, slots * entry_size, "dynamic section")
    fmt = ("<" if little else ">") + ("qQ" if cls == 64 else "iI")
    entries: List[DynamicEntry] = []
    for tag, value in struct.iter_unpack(fmt, raw):
        if tag == DT_NULL:
            break
        entries.append(DynamicEntry(tag, value))
    strtab_vaddr = next((e.value for e in entries if e.tag == DT_STRTAB), None)
    strsz = next((e.value for e in entries if e.tag == DT_STRSZ), 0)
    wants_strings = any(e.tag in (DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_SONAME) for e in entries)
    strtab_off: Optional[int] = None
    if strtab_vaddr is not None:
        strtab_off = vaddr_to_offset(segments, strtab_vaddr)
        if strtab_off is None and wants_strings:
            raise ElfReadError(f"DT_STRTAB address {strtab_vaddr:#x} is not inside any loaded segment")
    elif wants_strings:
        raise ElfReadError("dynamic section has DT_NEEDED/RPATH entries but no DT_STRTAB")
    if strtab_off is not None and wants_strings and strtab_off + strsz > src.size:
        raise ElfReadError(
            f"dynamic string table at {strtab_off:#x} (DT_STRSZ {strsz:#x}) runs past the end of the file "
            f"({src.size:#x} bytes)"
        )

    # Read the strings in ascending offset order, each once: a streaming source (a wheel
    # member) then never has to go back, even when patchelf moved .dynstr to the end.
    first_soname = next((e for e in entries if e.tag == DT_SONAME), None)
    wanted = [e for e in entries if e.tag in (DT_NEEDED, DT_RPATH, DT_RUNPATH) or e is first_soname]
    if len(wanted) > MAX_STRING_ENTRIES:
        raise ElfReadError(
            f"dynamic section has {len(wanted)} DT_NEEDED/RPATH/RUNPATH entries (more than {MAX_STRING_ENTRIES}); "
            "not a real shared object"
        )
    strings: Dict[int, str] = {}
    for e in sorted(wanted, key=lambda e: e.value):
        if e.value not in strings:
            assert strtab_off is not None
            strings[e.value] = read_string(src, strtab_off, strsz, e.value, _STRING_TAG_NAMES[e.tag])

    return dataclasses.replace(
        header_only,
        dynamic_offset=dyn.offset,
        dynamic_slots=slots,
        entries=tuple(entries),
        strtab_offset=strtab_off,
        strtab_size=strsz,
        needed=tuple(strings[e.value] for e in entries if e.tag == DT_NEEDED),
        rpath=tuple(p for e in entries if e.tag == DT_RPATH for p in strings[e.value].split(":") if p),
        runpath=tuple(p for e in entries if e.tag == DT_RUNPATH for p in strings[e.value].split(":") if p),
        soname=next((strings[e.value] for e in entries if e.tag == DT_SONAME), None),
    )
