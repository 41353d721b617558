"""Section headers have one home: ElfInfo.sections, read with the ELF header, and
elf.section_headers, which the dynamic symbol count falls back on (no hash table).
pyelftools is the oracle, on real system libraries and this interpreter."""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from typing import List

import pytest
from elftools.elf.elffile import ELFFile

from setuptools_nolibpython.dynsym import _count_from_sections
from setuptools_nolibpython.elf import ELF_MAGIC, read_elf, section_headers
from setuptools_nolibpython.sources import BytesSource


def _real_files(limit: int = 40) -> List[Path]:
    out: List[Path] = [Path(sys.executable).resolve()]
    for p in sorted(Path("/usr/lib/x86_64-linux-gnu").iterdir()):
        if len(out) > limit:
            break
        if p.is_file() and not p.is_symlink() and p.suffix != ".a" and p.open("rb").read(4) == ELF_MAGIC:
            out.append(p)
    return out


@pytest.mark.parametrize("path", _real_files(), ids=lambda p: p.name)
def test_section_headers_match_pyelftools(path: Path) -> None:
    data = path.read_bytes()
    src = BytesSource(data)
    info = read_elf(src)
    with path.open("rb") as f:
        elf = ELFFile(f)
        want = [(s["sh_offset"], s["sh_size"], s["sh_entsize"]) for s in elf.iter_sections()]
        dynsym = elf.get_section_by_name(".dynsym")
        symbols = dynsym.num_symbols() if dynsym is not None else None
        assert (info.sections.offset, info.sections.count) == (elf["e_shoff"], elf["e_shnum"])
    headers = section_headers(src, info)
    assert headers is not None
    assert [(h[4], h[5], h[9]) for h in headers] == want
    assert _count_from_sections(src, info) == symbols


def test_untrusted_section_table_is_none() -> None:
    """Negative control: an e_shentsize that is not the class's, or a table past the end."""
    data = bytearray(Path(sys.executable).resolve().read_bytes())
    assert section_headers(BytesSource(bytes(data)), read_elf(BytesSource(bytes(data)))) is not None
    bad = bytearray(data)
    struct.pack_into("<H", bad, 0x3A, 40)  # e_shentsize of a 64-bit file is 64
    assert section_headers(BytesSource(bytes(bad)), read_elf(BytesSource(bytes(bad)))) is None
    cut = bytes(data[: read_elf(BytesSource(bytes(data))).sections.offset + 10])
    assert section_headers(BytesSource(cut), read_elf(BytesSource(cut))) is None
