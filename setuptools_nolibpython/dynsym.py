"""Dynamic symbols of an ELF file, read through a ByteSource.

DT_SYMTAB/DT_STRTAB located through the dynamic section, the count taken from
DT_GNU_HASH or DT_HASH (section headers as a fallback), unpacked with
``struct.iter_unpack`` and bounded by the file size: libtorch_cpu.so has 75k symbols.
Exported names are kept as 64-bit hashes to bound memory.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Tuple

from .elf import ElfInfo, read_bytes, section_headers
from .errors import ElfReadError
from .sources import ByteSource

__all__ = [
    "DT_GNU_HASH",
    "DT_HASH",
    "DT_SYMTAB",
    "MODULE_ENTRY_PREFIXES",
    "DynamicSymbols",
    "first_tags",
    "read_dynamic_symbols",
    "symbol_key",
]

DT_HASH = 4
DT_SYMTAB = 6
_DT_SYMENT = 11
DT_GNU_HASH = 0x6FFFFEF5
_SHT_DYNSYM = 11

_STB_GLOBAL = 1
_STB_WEAK = 2
_STB_GNU_UNIQUE = 10
_STV_DEFAULT = 0
_STV_PROTECTED = 3
_EXPORTED_BINDINGS = frozenset({_STB_GLOBAL, _STB_WEAK, _STB_GNU_UNIQUE})
_EXPORTED_VISIBILITY = frozenset({_STV_DEFAULT, _STV_PROTECTED})

#: What marks a Python extension module: the entry point the import system looks up,
#: ``PyInit_<name>`` or, from 3.15 (PEP 793), ``PyModExport_<name>`` (which returns a
#: PySlot array; such a module may have no PyInit_ at all).
MODULE_ENTRY_PREFIXES: Tuple[bytes, ...] = (b"PyInit_", b"PyModExport_")


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
    #: exports PyInit_<name> or (PEP 793, 3.15) PyModExport_<name>: a Python extension module
    has_module_init: bool = False

    def defines(self, name: str) -> bool:
        return symbol_key(name) in self.defined


_EMPTY = DynamicSymbols(frozenset(), ())


def first_tags(info: ElfInfo) -> Dict[int, int]:
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
    header = read_bytes(src, off, 16, "DT_GNU_HASH header")
    nbuckets, symoffset, bloom_size, _shift = struct.unpack(end + "IIII", header)
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


def _count_from_sections(src: ByteSource, info: ElfInfo) -> Optional[int]:
    """Size of the _SHT_DYNSYM section: the fallback when there is no hash table."""
    for sh in section_headers(src, info) or ():
        if sh[1] == _SHT_DYNSYM and sh[9]:
            return int(sh[5] // sh[9])
    return None


def read_dynamic_symbols(src: ByteSource, info: ElfInfo) -> DynamicSymbols:
    """The dynamic symbols of an ELF file; ElfReadError with a one-line reason if malformed."""
    if not info.is_dynamic:
        return _EMPTY
    tags = first_tags(info)
    symtab_vaddr = tags.get(DT_SYMTAB)
    if symtab_vaddr is None:
        return _EMPTY
    end = "<" if info.little_endian else ">"
    sym_size = 24 if info.elf_class == 64 else 16
    if tags.get(_DT_SYMENT, sym_size) != sym_size:
        raise ElfReadError(f"_DT_SYMENT is {tags[_DT_SYMENT]}, not {sym_size}")
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
        count = _count_from_sections(src, info)
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
    undefined_offs = [n for n, i, _o, sh in struct.iter_unpack(fmt, table) if sh == 0 and n and i >> 4 == _STB_GLOBAL]
    defined_offs = [
        n for n, i, o, sh in struct.iter_unpack(fmt, table)
        if sh != 0 and n and i >> 4 in _EXPORTED_BINDINGS and o & 3 in _EXPORTED_VISIBILITY
    ]
    return DynamicSymbols(
        frozenset(hash(_name_bytes(strings, off)) for off in defined_offs),
        tuple(dict.fromkeys(_names(strings, undefined_offs))),
        any(strings.startswith(MODULE_ENTRY_PREFIXES, off) for off in defined_offs),
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
