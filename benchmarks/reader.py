"""The package's struct reader against pyelftools, on the same bytes in the same process.

    python -m benchmarks.reader WHEEL ...      # prints the table

Every ELF member of the given wheels is inflated into memory once; then each reader
gets the same bytes: ours through a BytesSource, pyelftools through an io.BytesIO.
"headers" is what a check needs of every file (ELF header, program headers, the
dynamic section and its DT_NEEDED/RPATH/RUNPATH/SONAME strings); "dynamic symbols" is
what the symbol check needs (every .dynsym entry with its name). Times are the medians
of RUNS passes over all files, start-up and imports excluded on both sides; a separate
line gives the cost of importing each reader in a fresh process.
"""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Callable, List, Sequence, Tuple

RUNS = 5


def elf_members(wheels: Sequence[Path]) -> List[bytes]:
    out = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                if info.file_size >= 4:
                    with zf.open(info) as f:
                        if f.read(4) == b"\x7fELF":
                            out.append(zf.read(info))
    return out


def _ours_headers(blobs: Sequence[bytes]) -> int:
    from setuptools_nolibpython.elf import read_elf
    from setuptools_nolibpython.sources import BytesSource

    return sum(len(read_elf(BytesSource(b)).needed) for b in blobs)


def _theirs_headers(blobs: Sequence[bytes]) -> int:
    from elftools.elf.dynamic import DynamicSegment
    from elftools.elf.elffile import ELFFile

    n = 0
    for b in blobs:
        elf = ELFFile(io.BytesIO(b))
        _ = (elf["e_type"], elf["e_machine"])
        for seg in elf.iter_segments():
            if isinstance(seg, DynamicSegment):
                for tag in seg.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        n += 1
                    elif tag.entry.d_tag in ("DT_RPATH", "DT_RUNPATH"):
                        _ = tag.rpath if tag.entry.d_tag == "DT_RPATH" else tag.runpath
                    elif tag.entry.d_tag == "DT_SONAME":
                        _ = tag.soname
    return n


def _ours_symbols(blobs: Sequence[bytes]) -> int:
    from setuptools_nolibpython.dynsym import read_dynamic_symbols
    from setuptools_nolibpython.elf import read_elf
    from setuptools_nolibpython.sources import BytesSource

    n = 0
    for b in blobs:
        src = BytesSource(b)
        syms = read_dynamic_symbols(src, read_elf(src))
        n += len(syms.defined) + len(syms.undefined)
    return n


def _theirs_symbols(blobs: Sequence[bytes]) -> int:
    from elftools.elf.elffile import ELFFile

    n = 0
    for b in blobs:
        dynsym = ELFFile(io.BytesIO(b)).get_section_by_name(".dynsym")
        if dynsym is not None:
            for sym in dynsym.iter_symbols():
                _ = (sym.name, sym["st_info"]["bind"], sym["st_other"]["visibility"], sym["st_shndx"])
                n += 1
    return n


def _median_time(fn: Callable[[Sequence[bytes]], int], blobs: Sequence[bytes], runs: int) -> float:
    fn(blobs)  # warm: imports, caches
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(blobs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _import_time(module: str, runs: int = 7) -> float:
    """Median wall time of importing ``module`` in a fresh interpreter, minus ``pass``."""
    def one(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    base = statistics.median(one("pass") for _ in range(runs))
    return max(statistics.median(one(f"import {module}") for _ in range(runs)) - base, 0.0)


def measure(wheels: Sequence[Path], runs: int = RUNS) -> List[Tuple[str, int, float, float]]:
    """(what, files, ours s, pyelftools s) for headers and dynamic symbols, and the imports."""
    blobs = elf_members(wheels)
    rows = [
        ("headers", len(blobs), _median_time(_ours_headers, blobs, runs), _median_time(_theirs_headers, blobs, runs)),
        ("dynamic symbols", len(blobs), _median_time(_ours_symbols, blobs, runs),
         _median_time(_theirs_symbols, blobs, runs)),
        ("import (fresh process)", 0, _import_time("setuptools_nolibpython.elf"), _import_time("elftools.elf.elffile")),
    ]
    return rows


def lines(wheels: Sequence[Path], runs: int = RUNS) -> List[str]:
    return table(wheels, measure(wheels, runs), runs)


def table(wheels: Sequence[Path], rows: Sequence[Tuple[str, int, float, float]], runs: int = RUNS) -> List[str]:
    """The markdown table of ``measure``'s rows."""
    names = ", ".join(w.name.split("-")[0] for w in wheels)
    out = [
        f"The same ELF members (every one of the {names} wheels), read from memory by the package's",
        "struct reader and by pyelftools in one process; medians of "
        f"{runs} passes over all files, in seconds (benchmarks/reader.py).",
        "",
        "| read | files | struct reader s | pyelftools s | pyelftools/reader |",
        "|---|---|---|---|---|",
    ]
    for what, files, ours, theirs in rows:
        ratio = f"{theirs / ours:.0f}x" if ours > 0 else "n/a"
        out.append(f"| {what} | {files or ''} | {ours:.4f} | {theirs:.4f} | {ratio} |")
    return out


if __name__ == "__main__":
    print("\n".join(lines([Path(a) for a in sys.argv[1:]])))
