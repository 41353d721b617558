"""Mutation recall on real binaries: break real modules the ways users meet, in place.

Each mutant is a copy of a real wheel from the trial's list in which one extension module
was edited byte for byte (same length, so nothing else moves), with RECORD updated:

- ``libpython``: a DT_NEEDED string overwritten with a libpython spelling (NUL-padded);
- ``undefined``: one undefined symbol's name changed in .dynstr so nothing defines it
  (undefined symbols are not in .hash/.gnu.hash, which index definitions);
- ``missing-library``: a DT_NEEDED string overwritten with a library nobody ships (judged
  with ``check --strict``: by default it is a warning, since something could load it first);
- ``stable-abi``: in an abi3 module, an undefined Py* symbol renamed to a Stable ABI
  function added after the wheel's tag (and after Python 3.9, which then judges it).

``check`` must flag each, and the ground truth (field/probe.py) must see the import fail.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from elftools.elf.elffile import ELFFile

from devtools.machine import find_links_file
from setuptools_nolibpython.elf import DT_NEEDED, read_elf
from setuptools_nolibpython.sources import BytesSource
from setuptools_nolibpython.stable_abi import load as load_stable_abi
from setuptools_nolibpython.wheelsafety import record_digest

#: Every libpython spelling README.md names for DT_NEEDED.
LIBPYTHON_SPELLINGS: Tuple[str, ...] = (
    "libpython3.11.so.1.0",
    "libpython3.11.so",
    "libpython3.11d.so",
    "libpython3.11d.so.1.0",
    "libpython3.13t.so.1.0",
    "libpython3.14td.so.1.0",
    "libpython3.7m.so.1.0",
    "libpython3.so",
    "libpython2.7.so.1.0",
)
#: Names of a library nobody ships, longest first: the longest that fits is written.
NOBODY_SHIPS = ("libnobody-ships-this.so.1", "libnobody-ships.so.1", "libnobody.so.1", "libnb.so.1")
EXPECTED_CODE = {
    "libpython": "needs-libpython",
    "undefined": "unresolved-symbol",
    "missing-library": "missing-library",
    "stable-abi": "stable-abi",
}
EXPECTED_CAUSE = {
    "libpython": "libpython",
    "undefined": "undefined symbol",
    "missing-library": "missing library",
    "stable-abi": "undefined symbol",
}
PER_KIND = 6
#: Stable ABI functions are picked from those a Python installed here exports, so the
#: mutant is a real version mismatch, not a name no Python has.
NEWEST_PYTHON = (3, 13)


@dataclass
class Mutant:
    kind: str
    wheel: str
    member: str
    change: str
    check_codes: List[str]
    detected: bool
    import_error: str
    import_failed: bool
    judged_by: str


# ---------------------------------------------------------------------------- byte edits


def _dynstr(data: bytes) -> Tuple[int, int]:
    info = read_elf(BytesSource(data))
    if info.strtab_offset is None:
        raise ValueError("no dynamic string table")
    return info.strtab_offset, info.strtab_size


def _cstr(data: bytes, off: int) -> bytes:
    return data[off : data.index(b"\0", off)]


def needed_offsets(data: bytes) -> List[Tuple[str, int]]:
    """(name, file offset of its string) for each DT_NEEDED entry, in order."""
    info = read_elf(BytesSource(data))
    base, _size = _dynstr(data)
    return [(_cstr(data, base + e.value).decode(), base + e.value) for e in info.entries if e.tag == DT_NEEDED]


def _string_users(data: bytes) -> List[Tuple[int, int]]:
    """(start, end) file ranges of every .dynstr string something points at (symbols,
    DT_* string entries, version names), to prove an edit touches one string only."""
    base, _size = _dynstr(data)
    elf = ELFFile(io.BytesIO(data))
    ranges: List[Tuple[int, int]] = []
    dynsym: Any = elf.get_section_by_name(".dynsym")
    if dynsym is not None:
        for sym in dynsym.iter_symbols():
            off = base + sym["st_name"]
            ranges.append((off, off + len(_cstr(data, off))))
    info = read_elf(BytesSource(data))
    for e in info.entries:
        if e.tag in (1, 14, 15, 29):  # NEEDED, SONAME, RPATH, RUNPATH
            off = base + e.value
            ranges.append((off, off + len(_cstr(data, off))))
    sec: Any
    for sec in elf.iter_sections():
        if sec.name in (".gnu.version_r", ".gnu.version_d"):
            ranges.append((sec["sh_offset"], sec["sh_offset"]))  # their names are checked below
            if sec.name == ".gnu.version_r":
                for verneed, auxes in sec.iter_versions():
                    off = base + verneed["vn_file"]
                    ranges.append((off, off + len(_cstr(data, off))))
                    for aux in auxes:
                        off = base + aux["vna_name"]
                        ranges.append((off, off + len(_cstr(data, off))))
    return ranges


def _only_user(data: bytes, start: int, end: int) -> bool:
    """No string other than the one at [start, end) overlaps those bytes."""
    return all(not (s < end and start < e) or (s == start and e == end) for s, e in _string_users(data))


def overwrite(data: bytes, off: int, old_len: int, new: str) -> bytes:
    """Write ``new`` over a string of ``old_len`` bytes, NUL-padded: nothing moves."""
    raw = new.encode()
    if len(raw) > old_len:
        raise ValueError(f"{new!r} is longer than the {old_len} bytes it replaces")
    buf = bytearray(data)
    buf[off : off + old_len] = raw + b"\0" * (old_len - len(raw))
    return bytes(buf)


def undefined_symbols(data: bytes) -> List[Tuple[str, int]]:
    """(name, file offset) of global undefined symbols, in .dynsym order."""
    base, _size = _dynstr(data)
    elf = ELFFile(io.BytesIO(data))
    dynsym: Any = elf.get_section_by_name(".dynsym")
    out: List[Tuple[str, int]] = []
    for sym in dynsym.iter_symbols() if dynsym is not None else []:
        if sym["st_shndx"] == "SHN_UNDEF" and sym["st_info"]["bind"] == "STB_GLOBAL" and sym.name:
            out.append((sym.name, base + sym["st_name"]))
    return out


# ---------------------------------------------------------------------------- mutations


def mutate_libpython(data: bytes, spelling: str) -> Optional[Tuple[bytes, str]]:
    for name, off in sorted(needed_offsets(data), key=lambda x: -len(x[0])):
        if len(name) >= len(spelling) and _only_user(data, off, off + len(name)):
            return overwrite(data, off, len(name), spelling), f"DT_NEEDED {name} -> {spelling}"
    return None


def mutate_missing(data: bytes) -> Optional[Tuple[bytes, str]]:
    for name, off in sorted(needed_offsets(data), key=lambda x: -len(x[0])):
        new = next((n for n in NOBODY_SHIPS if len(n) <= len(name)), None)
        if new is not None and _only_user(data, off, off + len(name)):
            return overwrite(data, off, len(name), new), f"DT_NEEDED {name} -> {new}"
    return None


def mutate_undefined(data: bytes) -> Optional[Tuple[bytes, str]]:
    syms = undefined_symbols(data)
    for name, off in sorted(syms, key=lambda s: (not s[0].startswith("Py"), s[0])):
        if "@" in name or len(name) < 6 or not _only_user(data, off, off + len(name)):
            continue
        new = name[:-1] + ("Q" if name[-1] != "Q" else "Z")
        return overwrite(data, off, len(name), new), f"undefined {name} -> {new}"
    return None


def mutate_stable_abi(data: bytes, target: Tuple[int, int]) -> Optional[Tuple[bytes, str]]:
    """Rename an undefined Py* function to a Stable ABI function newer than ``target`` and 3.9."""
    abi = load_stable_abi()
    floor = max(target, (3, 9))
    newer = sorted(
        (
            i.name
            for i in abi.items.values()
            if i.kind == "function" and floor < i.added <= NEWEST_PYTHON and i.on_linux and not i.abi_only
        ),
        key=lambda n: (-abi.items[n].added[1], n),
    )
    for name, off in undefined_symbols(data):
        if not name.startswith("Py") or not _only_user(data, off, off + len(name)):
            continue
        for cand in newer:
            if len(cand) <= len(name) and cand != name:
                added = abi.items[cand].added
                return (
                    overwrite(data, off, len(name), cand),
                    f"{name} -> {cand} (Stable ABI since {added[0]}.{added[1]}; tag allows {target[0]}.{target[1]})",
                )
    return None


# ---------------------------------------------------------------------------- wheels


def rewrite_wheel(src: Path, member: str, data: bytes, dst: Path) -> None:
    """A copy of ``src`` with ``member`` replaced and its RECORD line updated."""
    import hashlib

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        record = next(n for n in zin.namelist() if n.endswith(".dist-info/RECORD"))
        for info in zin.infolist():
            if info.filename == record:
                continue
            body = data if info.filename == member else zin.read(info)
            zout.writestr(info, body)
        lines = []
        for line in zin.read(record).decode().splitlines():
            if line.split(",")[0] == member:
                line = f"{member},{record_digest(hashlib.sha256(data).digest())},{len(data)}"
            lines.append(line)
        zout.writestr(record, "\n".join(lines) + "\n")


def candidates(wheels: Sequence[Any], cache: Path) -> Iterator[Tuple[Any, Path, str, bytes]]:
    """(wheel entry, wheel path, member, bytes) of every x86_64 glibc extension module
    judged by Debian's python3.11 or, for abi3, by Python 3.9."""
    from field.common import inventory

    for w in wheels:
        pytag, abi, plat = w.tags
        if "x86_64" not in plat or "musllinux" in plat or not (pytag == "cp311" or abi == "abi3"):
            continue
        path = cache / "wheel" / w.file
        if not path.exists():
            path = find_links_file(w.file) or path
        if not path.exists() or path.stat().st_size > 50_000_000:
            continue  # mutants need small wheels: each is copied whole
        with zipfile.ZipFile(path) as zf:
            for m in inventory(path):
                if m.kind == "module":
                    yield w, path, m.path, zf.read(m.path)


def _judge_one(py_cli: Path, w: Any, path: Path, member: str, data: bytes, kind: str, change: str) -> Mutant:
    from field.common import DEBIAN_PYTHON, inventory, nolibpython_check, pyenv_python
    from field.judge import failure_cause, probe

    _pytag, _abi, _plat = w.tags
    if kind == "stable-abi":
        judge, hide = pyenv_python("3.9"), False
    else:
        judge, hide = DEBIAN_PYTHON, True
    assert judge is not None
    with tempfile.TemporaryDirectory() as tmp:
        mutant = Path(tmp) / w.file
        rewrite_wheel(path, member, data, mutant)
        # A library that exists nowhere is a warning by default: ld.so takes any object
        # already loaded under that name (another package's import, ctypes), so only the
        # module alone is known to fail. --strict is the gate that must stop it.
        doc = nolibpython_check(py_cli, mutant, judge, strict=kind == "missing-library")
        files = {f["path"]: f for t in doc["targets"] for f in t["files"]}
        f = files.get(member, {"problems": [], "verdict": "missing"})
        codes = [p["code"] for p in f["problems"] if p["severity"] == "error"]
        detected = EXPECTED_CODE[kind] in codes and not doc["ok"]
        root = Path(tmp) / "unpacked"
        with zipfile.ZipFile(mutant) as zf:
            zf.extractall(root)
        members = [m for m in inventory(mutant) if m.path == member]
        truth = probe(judge, hide, root, members, tops=[member.split("/")[0].split(".")[0]])
    res = truth["files"].get(member, {"ok": True, "error": "probe did not run"})
    failed = not res["ok"] and failure_cause(res["error"]) == EXPECTED_CAUSE[kind]
    return Mutant(kind, w.file, member, change, codes, detected, res["error"], failed, truth.get("python", "?"))


def run_mutants(
    py_cli: Path,
    wheels: Sequence[Any],
    cache: Optional[Path] = None,
    per_kind: int = PER_KIND,
    spellings: Sequence[str] = LIBPYTHON_SPELLINGS,
) -> List[Mutant]:
    """Make and judge the mutants: every libpython spelling once, ``per_kind`` of the others,
    each from a different wheel where the list allows."""
    from field import common

    cands = list(candidates(wheels, cache or common.CACHE))
    out: List[Mutant] = []
    used: Dict[str, set[str]] = {}

    def pick(kind: str, make: Any, limit: int, abi3_only: bool = False, key: str = "") -> None:
        """Up to ``limit`` mutants of ``kind``, each from a wheel not yet used under ``key``."""
        seen = used.setdefault(key or kind, set())
        n = 0
        for w, path, member, data in cands:
            if n >= limit:
                return
            if (abi3_only and w.tags[1] != "abi3") or w.file in seen:
                continue
            made = make(w, data)
            if made is None:
                continue
            seen.add(w.file)
            out.append(_judge_one(py_cli, w, path, member, made[0], kind, made[1]))
            n += 1

    # Spellings of libpython: a wheel already used for one may serve another (few DT_NEEDED
    # strings are long enough for the longest spellings).
    for spelling in spellings:
        pick("libpython", lambda w, d, s=spelling: mutate_libpython(d, s), 1, key=f"libpython {spelling}")
    pick("undefined", lambda w, d: mutate_undefined(d), per_kind)
    pick("missing-library", lambda w, d: mutate_missing(d), per_kind)

    def abi3(w: Any, d: bytes) -> Optional[Tuple[bytes, str]]:
        pytag = w.tags[0].split(".")[0]
        target = (int(pytag[2]), int(pytag[3:])) if pytag.startswith("cp") and pytag[2:].isdigit() else (3, 2)
        return mutate_stable_abi(d, target)

    pick("stable-abi", abi3, per_kind, abi3_only=True)
    return out


def mutant_table(mutants: Sequence[Mutant]) -> List[str]:
    """The recall section of docs/field-trial.md."""
    lines = ["## Mutation recall on real binaries", "",
             "Missing-library mutants are checked with `--strict`: by default a library nothing "
             "provides is a warning (ld.so takes any object already loaded under its name).", ""]
    if not mutants:
        return [*lines, "(not run)", ""]
    lines.append("| kind | mutants | detected by check | import failed (ground truth) |")
    lines.append("|---|---|---|---|")
    for kind in EXPECTED_CODE:
        ms = [m for m in mutants if m.kind == kind]
        if ms:
            lines.append(
                f"| {kind} | {len(ms)} | "
                f"{sum(m.detected for m in ms)} ({100 * sum(m.detected for m in ms) // len(ms)}%) | "
                f"{sum(m.import_failed for m in ms)} |"
            )
    total = len(mutants)
    lines.append(
        f"| **all** | {total} | "
        f"{sum(m.detected for m in mutants)} ({100 * sum(m.detected for m in mutants) // total}%) | "
        f"{sum(m.import_failed for m in mutants)} |"
    )
    lines += [
        "",
        "| kind | wheel | module | change | check's errors | import (ground truth) |",
        "|---|---|---|---|---|---|",
    ]
    for m in mutants:
        lines.append(
            f"| {m.kind} | {m.wheel} | `{m.member}` | {m.change} | {', '.join(m.check_codes) or 'none'} | "
            f"{m.judged_by}: {m.import_error.replace('|', '/')[:200] or 'imported'} |"
        )
    return [*lines, ""]
