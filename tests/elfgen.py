"""Generate ELF shared objects byte by byte with struct: fixtures, not opaque blobs.

A generated file has what the dynamic loader reads (ELF header, PT_LOAD and PT_DYNAMIC
program headers, a dynamic string table and a dynamic section) and, unless asked not
to, section headers that ``readelf`` understands, so valid files can be checked against
an independent reader. Each ``claim_*`` / override field plants one specific lie
(a count, an offset or a size the bytes do not back up) to test a reader's defences.

Layout (addresses equal file offsets, one PT_LOAD maps the whole file):
ELF header | program headers | .dynstr | .dynamic | .shstrtab | section headers
"""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH, DT_RUNPATH = 0, 1, 5, 10, 14, 15, 29
SHT_STRTAB, SHT_DYNAMIC = 3, 6
ET_DYN = 3
PN_XNUM = 0xFFFF

#: e_machine per (bits, little-endian): x86-64, i386, s390x, ppc (32-bit big-endian).
MACHINES: Dict[Tuple[int, bool], int] = {(64, True): 62, (32, True): 3, (64, False): 22, (32, False): 20}
EM_PPC64 = 21


@dataclass(frozen=True)
class ElfSpec:
    bits: int = 64
    little: bool = True
    machine: Optional[int] = None
    needed: Sequence[str] = ()
    rpath: Optional[str] = None
    runpath: Optional[str] = None
    soname: Optional[str] = None
    dynamic: bool = True  # a PT_DYNAMIC program header (and .dynamic section)
    section_headers: bool = True
    pn_xnum: bool = False  # e_phnum = 0xffff, real count in section header 0's sh_info
    # Planted lies (None: tell the truth)
    claim_phnum: Optional[int] = None  # e_phnum
    claim_xnum_count: Optional[int] = None  # sh_info of section header 0 under PN_XNUM
    claim_phoff: Optional[int] = None
    claim_shoff: Optional[int] = None
    claim_shnum: Optional[int] = None
    claim_needed_offset: Optional[int] = None  # d_val of the first DT_NEEDED
    claim_dynamic_offset: Optional[int] = None  # p_offset of PT_DYNAMIC
    claim_dynamic_size: Optional[int] = None  # p_filesz of PT_DYNAMIC
    claim_strsz: Optional[int] = None  # DT_STRSZ
    claim_section_size: Optional[int] = None  # sh_size of .dynstr
    truncate: Optional[int] = None  # keep only this many bytes
    no_strtab: bool = False  # drop DT_STRTAB from the dynamic section
    extra_dynamic: Sequence[Tuple[int, int]] = field(default=())  # more (tag, value) pairs


def _align(n: int, a: int = 8) -> int:
    return (n + a - 1) // a * a


def build(spec: ElfSpec) -> bytes:
    """The bytes of the ELF file ``spec`` describes."""
    e = "<" if spec.little else ">"
    b64 = spec.bits == 64
    if spec.bits not in (32, 64):
        raise ValueError("bits must be 32 or 64")
    ehsize, phentsize, shentsize = (64, 56, 64) if b64 else (52, 32, 40)
    dyn_fmt = e + ("qQ" if b64 else "iI")

    # .dynstr
    strtab = bytearray(b"\0")
    offsets: Dict[str, int] = {}

    def add(s: str) -> int:
        if s not in offsets:
            offsets[s] = len(strtab)
            strtab.extend(s.encode("utf-8", "surrogateescape") + b"\0")
        return offsets[s]

    entries: List[Tuple[int, int]] = []
    for i, name in enumerate(spec.needed):
        off = add(name)
        if i == 0 and spec.claim_needed_offset is not None:
            off = spec.claim_needed_offset
        entries.append((DT_NEEDED, off))
    if spec.soname is not None:
        entries.append((DT_SONAME, add(spec.soname)))
    if spec.rpath is not None:
        entries.append((DT_RPATH, add(spec.rpath)))
    if spec.runpath is not None:
        entries.append((DT_RUNPATH, add(spec.runpath)))
    entries.extend(spec.extra_dynamic)
    phnum = 2 if spec.dynamic else 1
    phoff = ehsize
    strtab_off = _align(phoff + phnum * phentsize)
    if not spec.no_strtab:
        entries.append((DT_STRTAB, strtab_off))
    entries.append((DT_STRSZ, spec.claim_strsz if spec.claim_strsz is not None else len(strtab)))
    entries.append((DT_NULL, 0))
    dynamic = b"".join(struct.pack(dyn_fmt, t, v) for t, v in entries)
    dyn_off = _align(strtab_off + len(strtab))
    shstr = b"\0.dynstr\0.dynamic\0.shstrtab\0"
    shstr_off = dyn_off + len(dynamic)
    sh_off = _align(shstr_off + len(shstr))
    shnum = 4 if spec.section_headers else 0
    total = sh_off + shnum * shentsize if spec.section_headers else shstr_off + len(shstr)

    out = bytearray(total)
    # Program headers
    def phdr(ptype: int, flags: int, off: int, size: int, align: int) -> bytes:
        if b64:
            return struct.pack(e + "IIQQQQQQ", ptype, flags, off, off, off, size, size, align)
        return struct.pack(e + "IIIIIIII", ptype, off, off, off, size, size, flags, align)

    phs = phdr(PT_LOAD, 5, 0, total, 0x1000)
    if spec.dynamic:
        d_off = spec.claim_dynamic_offset if spec.claim_dynamic_offset is not None else dyn_off
        d_size = spec.claim_dynamic_size if spec.claim_dynamic_size is not None else len(dynamic)
        phs += phdr(PT_DYNAMIC, 6, d_off, d_size, 8)
    out[phoff : phoff + len(phs)] = phs
    out[strtab_off : strtab_off + len(strtab)] = strtab
    out[dyn_off : dyn_off + len(dynamic)] = dynamic
    out[shstr_off : shstr_off + len(shstr)] = shstr
    # Section headers: null, .dynstr, .dynamic, .shstrtab
    if spec.section_headers:
        def shdr(name: int, stype: int, flags: int, off: int, size: int, link: int, info: int, entsize: int) -> bytes:
            if b64:
                return struct.pack(e + "IIQQQQIIQQ", name, stype, flags, off if flags else 0, off, size, link,
                                   info, 8 if stype else 0, entsize)
            return struct.pack(e + "IIIIIIIIII", name, stype, flags, off if flags else 0, off, size, link, info,
                               4 if stype else 0, entsize)

        xnum_info = 0
        if spec.pn_xnum:
            xnum_info = spec.claim_xnum_count if spec.claim_xnum_count is not None else phnum
        dynstr_size = spec.claim_section_size if spec.claim_section_size is not None else len(strtab)
        shs = shdr(0, 0, 0, 0, 0, 0, xnum_info, 0)
        shs += shdr(1, SHT_STRTAB, 2, strtab_off, dynstr_size, 0, 0, 0)
        shs += shdr(9, SHT_DYNAMIC, 3, dyn_off, len(dynamic), 1, 0, 16 if b64 else 8)
        shs += shdr(18, SHT_STRTAB, 0, shstr_off, len(shstr), 0, 0, 0)
        out[sh_off : sh_off + len(shs)] = shs
    # ELF header
    machine = spec.machine if spec.machine is not None else MACHINES[(spec.bits, spec.little)]
    e_phnum = PN_XNUM if spec.pn_xnum else phnum
    if spec.claim_phnum is not None:
        e_phnum = spec.claim_phnum
    ident = b"\x7fELF" + bytes([2 if b64 else 1, 1 if spec.little else 2, 1, 0]) + bytes(8)
    fields = (
        ET_DYN, machine, 1, 0,
        spec.claim_phoff if spec.claim_phoff is not None else phoff,
        spec.claim_shoff if spec.claim_shoff is not None else (sh_off if spec.section_headers else 0),
        0, ehsize, phentsize, e_phnum, shentsize,
        spec.claim_shnum if spec.claim_shnum is not None else shnum,
        3 if spec.section_headers else 0,
    )
    hdr = struct.pack(e + ("HHIQQQIHHHHHH" if b64 else "HHIIIIIHHHHHH"), *fields)
    out[0:ehsize] = ident + hdr
    data = bytes(out)
    return data[: spec.truncate] if spec.truncate is not None else data


def write(path: Path, spec: ElfSpec) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(build(spec))
    return path


# ---------------------------------------------------------------- the fixture set
LIBPY = "libpython3.11.so.1.0"
BASE_NEEDED = ("libm.so.6", "libc.so.6")
VALID = ElfSpec(needed=BASE_NEEDED, soname="_probe.so")

#: Files that are valid ELF: (spec, libpython expected in DT_NEEDED?).
GOOD: Dict[str, Tuple[ElfSpec, bool]] = {
    "le64-clean": (VALID, False),
    "le64-libpython": (replace(VALID, needed=(LIBPY, *BASE_NEEDED)), True),
    "le32-clean": (replace(VALID, bits=32), False),
    "le32-libpython": (replace(VALID, bits=32, needed=(*BASE_NEEDED, "libpython3.7m.so.1.0")), True),
    "be64-s390x-libpython": (replace(VALID, little=False, needed=(LIBPY,)), True),
    "be64-ppc64-clean": (replace(VALID, little=False, machine=EM_PPC64), False),
    "be32-ppc-libpython": (replace(VALID, bits=32, little=False, needed=("libpython3.so",)), True),
    "rpath-runpath": (replace(VALID, needed=(LIBPY,), rpath="/opt/python/cp311/lib",
                              runpath="$ORIGIN/../lib:/root/.pyenv/versions/3.11.7/lib"), True),
    "no-pt-dynamic": (replace(VALID, dynamic=False, needed=()), False),
    "no-section-headers": (replace(VALID, section_headers=False, needed=(LIBPY,)), True),
    "pn-xnum": (replace(VALID, pn_xnum=True, needed=(LIBPY,)), True),
    "pn-xnum-be32": (replace(VALID, bits=32, little=False, pn_xnum=True), False),
    "huge-section-size": (replace(VALID, claim_section_size=1 << 32), False),
    "no-needed-no-strtab": (replace(VALID, needed=(), soname=None, no_strtab=True), False),
}

#: Files that lie: (spec, a phrase the one-line error must contain).
BAD: Dict[str, Tuple[ElfSpec, str]] = {
    "needed-offset-out-of-range": (replace(VALID, claim_needed_offset=0x7FFF0000), "outside the string table"),
    "dynamic-past-eof": (replace(VALID, claim_dynamic_offset=0x10000000), "past the end of the file"),
    "dynamic-size-4gib": (replace(VALID, claim_dynamic_size=1 << 32), "past the end of the file"),
    "phnum-65535-xnum-huge": (replace(VALID, pn_xnum=True, claim_xnum_count=0xFFFFFFFF), "program headers"),
    "phnum-65534": (replace(VALID, claim_phnum=0xFFFE), "program headers"),
    "pn-xnum-without-sections": (replace(VALID, pn_xnum=True, section_headers=False), "PN_XNUM"),
    "pn-xnum-shoff-past-eof": (replace(VALID, pn_xnum=True, claim_shoff=0x7FFFFFFF), "section header 0"),
    "phoff-past-eof": (replace(VALID, claim_phoff=0x7FFFFFFFFFFF), "program headers"),
    "strsz-4gib": (replace(VALID, claim_strsz=1 << 32), "string table"),
    "strsz-zero": (replace(VALID, claim_strsz=0), "outside the string table"),
    "no-strtab": (replace(VALID, no_strtab=True), "DT_STRTAB"),
    "truncated-header": (replace(VALID, truncate=40), "too short"),
    "truncated-program-headers": (replace(VALID, truncate=80), "program headers"),
    "truncated-dynamic": (replace(VALID, section_headers=False, truncate=-40), "past the end of the file"),
    "magic-only": (replace(VALID, truncate=4), "too short"),
}


# ---------------------------------------------------------------- wheels around them
def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_wheel(members: Dict[str, bytes], compression: int = zipfile.ZIP_STORED, *, dist: str = "probe-1.0",
               record: bool = True, tag: str = "cp311-cp311-linux_x86_64") -> bytes:
    """A small but proper wheel (WHEEL with ``tag``, METADATA, RECORD with sha256 lines) of ``members``."""
    buf = io.BytesIO()
    info = f"{dist}.dist-info"
    files = dict(members)
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: elfgen\nRoot-Is-Purelib: false\n"
                              + f"Tag: {tag}\n".encode())
    files[f"{info}/METADATA"] = b"Metadata-Version: 2.1\nName: probe\nVersion: 1.0\n"
    if record:
        lines = [record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
        files[f"{info}/RECORD"] = ("\n".join(lines) + "\n").encode()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()
