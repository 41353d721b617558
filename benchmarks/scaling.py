"""Scaling lines: cost follows the number of files and the bytes that must be read.

Real ELF files made here with gcc: a small shared object copied 10, 100 and 1000 times,
and one shared object grown to 1, 10 and 100 MiB in two ways:

- ``.rodata`` padding (``.incbin`` of random bytes): the bytes sit BEFORE the dynamic
  section, so a wheel member must be inflated through them; a file on disk need not be
  read there at all (pread of the few ranges the loader reads);
- a non-loaded section appended with ``objcopy --add-section``: the bytes sit AFTER the
  dynamic section, so neither path reads them.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Callable, List, Sequence

from .measure import median, run_timed

RUNS = 5
COUNTS = (10, 100, 1000)
SIZES_MB = (1, 10, 100)

TINY_C = """
int nolibpython_bench_tiny(int x) { return x * 3 + 1; }
"""

PADDED_C = """
__asm__(".section .rodata\\n.globl bench_pad\\nbench_pad:\\n.incbin \\"%s\\"\\n.previous");
extern const unsigned char bench_pad[];
int nolibpython_bench_padded(int i) { return bench_pad[i]; }
"""


def _gcc(src: Path, out: Path) -> None:
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(out), str(src)], check=True)


def _random_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n


def _wheel(so: Path, dest: Path) -> Path:
    """A minimal valid wheel holding ``so`` as a package module (deflated, with RECORD)."""
    name = "bench_pad"
    whl = dest / f"{name}-1.0-cp311-cp311-linux_x86_64.whl"
    members = {
        f"{name}/__init__.py": b"",
        f"{name}/_pad.so": so.read_bytes(),
        f"{name}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{name}-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: benchmarks\nRoot-Is-Purelib: false\n"
        b"Tag: cp311-cp311-linux_x86_64\n",
    }
    record = []
    for arc, data in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{arc},sha256={digest},{len(data)}")
    record.append(f"{name}-1.0.dist-info/RECORD,,")
    members[f"{name}-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(whl, "w", zipfile.ZIP_DEFLATED) as zf:
        for arc, data in members.items():
            zf.writestr(arc, data)
    return whl


def _time(argv: Sequence[str], ok: Sequence[int] = (0,)) -> float:
    return median([run_timed(argv, ok_codes=ok).seconds for _ in range(RUNS)])


def lines(work: Path, py: str, treescan: Path, check_argv: Callable[[Path, bool], List[str]]) -> List[str]:
    work.mkdir(parents=True, exist_ok=True)
    out = [
        f"Real shared objects built here with gcc; medians of {RUNS} fresh processes. Tree scan: the",
        "in-build path over a directory; readelf -d: one process over the same files; check: our",
        "check on a wheel holding the file (members are inflated, so bytes before the dynamic",
        "section must be read; a wheel that unpacks to <= 16 MiB is also inflated whole once, to",
        "check every member's CRC and RECORD hash, so the 1 and 10 MiB rows read every byte).",
        "",
        "| input | tree scan s | readelf -d s | check of a wheel s | check peak RSS MiB |",
        "|---|---|---|---|---|",
    ]
    (work / "tiny.c").write_text(TINY_C)
    tiny = work / "tiny.so"
    _gcc(work / "tiny.c", tiny)
    for count in COUNTS:
        d = work / f"files{count}"
        d.mkdir()
        for i in range(count):
            shutil.copyfile(tiny, d / f"mod{i:04d}.so")
        files = sorted(str(p) for p in d.iterdir())
        t_tree = _time([py, str(treescan), str(d)])
        t_readelf = _time(["readelf", "-d", *files])
        out.append(f"| {count} files of {tiny.stat().st_size / 1024:.0f} KiB | {t_tree:.3f} | {t_readelf:.3f} | | |")
        shutil.rmtree(d)
    for where in ("rodata", "appended"):
        for mb in SIZES_MB:
            d = work / f"{where}{mb}"
            d.mkdir()
            pad = work / f"pad{mb}.bin"
            if not pad.exists():
                _random_file(pad, mb * 1024 * 1024)
            so = d / "_pad.so"
            if where == "rodata":
                src = work / f"padded{mb}.c"
                src.write_text(PADDED_C % pad)
                _gcc(src, so)
            else:
                shutil.copyfile(tiny, so)
                subprocess.run(["objcopy", "--add-section", f".benchpad={pad}", str(so)], check=True)
            dyn_at = _dynamic_offset(so)
            t_tree = _time([py, str(treescan), str(d)])
            t_readelf = _time(["readelf", "-d", str(so)])
            wdir = work / f"wheel-{where}{mb}"
            wdir.mkdir()
            whl = _wheel(so, wdir)
            samples = [run_timed(check_argv(whl, False), ok_codes=(0, 1)) for _ in range(RUNS)]
            t_check = median([s.seconds for s in samples])
            rss = max(s.peak_rss_mb for s in samples)
            side = "before" if where == "rodata" else "after"
            label = (f"one {so.stat().st_size / 2**20:.0f} MiB file, padding {side}"
                     f" the dynamic section (at {dyn_at / so.stat().st_size:.0%})")
            out.append(f"| {label} | {t_tree:.3f} | {t_readelf:.3f} | {t_check:.3f} | {rss:.0f} |")
            shutil.rmtree(d)
            shutil.rmtree(wdir)
    return out


def _dynamic_offset(so: Path) -> int:
    from setuptools_nolibpython.elf import read_elf
    from setuptools_nolibpython.sources import FileSource

    with FileSource(str(so)) as src:
        info = read_elf(src)
    assert info.dynamic_offset is not None, f"{so} has no dynamic section"
    return info.dynamic_offset
