"""Repair: remove DT_NEEDED and RPATH/RUNPATH entries from an ELF file, in pure Python.

The edit is what ``patchelf --remove-needed`` does: the dynamic entries after a removed
one move up and the tail is filled with DT_NULL. No string moves, no section grows, so
every byte outside the dynamic section (and the one RPATH string shortened in place)
is left as it was. Planning is pure (ElfInfo in, byte patches out); applying writes a
temporary file beside the target and renames it, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass
from typing import Collection, List, Optional, Sequence, Tuple

from . import policy
from .elf import DT_NEEDED, DT_NULL, DT_RPATH, DT_RUNPATH, DynamicEntry, ElfInfo, read_string
from .sources import ByteSource

__all__ = [
    "KEPT_ALLOWED",
    "KEPT_PROGRAM",
    "KEPT_REASONS",
    "AtomicFile",
    "EditPlan",
    "FilePlan",
    "Patch",
    "PatchedSource",
    "apply_patches",
    "overlay",
    "patch_file",
    "plan_edit",
    "plan_file_repair",
    "plan_repair",
    "write_atomically",
]


@dataclass(frozen=True)
class Patch:
    offset: int
    data: bytes


@dataclass(frozen=True)
class EditPlan:
    patches: Tuple[Patch, ...]
    removed_needed: Tuple[str, ...]
    removed_rpath: Tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.patches


def plan_edit(
    src: ByteSource,
    info: ElfInfo,
    drop_needed: Collection[str],
    drop_rpath: Collection[str] = (),
) -> EditPlan:
    """Byte patches that remove the named DT_NEEDED entries and RPATH/RUNPATH dirs."""
    if info.dynamic_offset is None or info.strtab_offset is None:
        return EditPlan((), (), ())
    strtab = info.strtab_offset
    kept: List[DynamicEntry] = []
    patches: List[Patch] = []
    removed_needed: List[str] = []
    removed_rpath: List[str] = []
    for entry in info.entries:
        if entry.tag == DT_NEEDED:
            name = read_string(src, strtab, info.strtab_size, entry.value, "DT_NEEDED")
            if name in drop_needed:
                removed_needed.append(name)
                continue
        if entry.tag in (DT_RPATH, DT_RUNPATH) and drop_rpath:
            old = read_string(src, strtab, info.strtab_size, entry.value, "RPATH")
            parts = old.split(":")
            keep = [p for p in parts if p not in drop_rpath]
            if len(keep) != len(parts):
                removed_rpath.extend(p for p in parts if p in drop_rpath and p)
                new = ":".join(p for p in keep if p)
                if not new:
                    continue  # the whole entry goes
                if old.endswith(":" + new):
                    # Point at the tail: no byte of the string table changes.
                    entry = DynamicEntry(entry.tag, entry.value + len(old) - len(new))
                else:
                    raw = new.encode("utf-8", "surrogateescape") + b"\0"
                    patches.append(Patch(strtab + entry.value, raw))
        kept.append(entry)
    if not removed_needed and not removed_rpath:  # an RPATH pointed at its tail changes no count
        return EditPlan((), (), ())
    fmt = ("<" if info.little_endian else ">") + ("qQ" if info.elf_class == 64 else "iI")
    # Rewrite the used entries plus the original terminator; later slots are untouched.
    # A table with no DT_NULL inside PT_DYNAMIC has no terminator slot to rewrite:
    # never write past the dynamic section (something else lives there).
    count = min(len(info.entries) + 1, info.dynamic_slots)
    table = b"".join(struct.pack(fmt, e.tag, e.value) for e in kept)
    table += struct.pack(fmt, DT_NULL, 0) * (count - len(kept))
    patches.insert(0, Patch(info.dynamic_offset, table))
    return EditPlan(tuple(patches), tuple(removed_needed), tuple(removed_rpath))


def plan_repair(
    src: ByteSource,
    info: ElfInfo,
    *,
    remove_libpython: bool,
    strip_rpath: bool,
    interpreter_libdirs: Sequence[str],
) -> EditPlan:
    """The one repair decision, shared by the build (on-violation = "repair", strip-rpath)
    and ``nolibpython repair``: libpython DT_NEEDED entries when asked, and RPATH/RUNPATH
    entries that only served libpython (policy.removable_rpath_entries). Programs keep both."""
    # A program that embeds Python needs its libpython: removing it breaks start-up.
    drop_needed = set(policy.libpython_needed(info)) if remove_libpython and not info.is_executable else set()
    drop_rpath = (
        set(policy.removable_rpath_entries(info, interpreter_libdirs, policy.dir_has_libpython, os.path.exists))
        if strip_rpath
        else set()
    )
    return plan_edit(src, info, drop_needed, drop_rpath)


#: Why a file that links libpython keeps it (FilePlan.kept).
KEPT_ALLOWED = "allowed"
KEPT_PROGRAM = "program"
#: What ``repair`` and ``repair --env`` say of such a file.
KEPT_REASONS = {
    KEPT_ALLOWED: "allowed: keeps libpython (matches --allow)",
    KEPT_PROGRAM: "left as it is: a program that embeds Python through libpython, not an extension module; "
    "removing the entry would make it fail at start-up",
}


@dataclass(frozen=True)
class FilePlan:
    """The repair of one file of a wheel or an installed distribution: the edit, and why
    a file that links libpython keeps it (KEPT_ALLOWED, KEPT_PROGRAM) or None."""

    plan: EditPlan
    kept: Optional[str]


def plan_file_repair(
    src: ByteSource,
    info: ElfInfo,
    name: str,
    *,
    allow: Sequence[str],
    keep_rpath: bool,
    remove_libpython: bool,
    interpreter_libdirs: Sequence[str],
) -> FilePlan:
    """One decision for ``nolibpython repair`` and ``repair --env``: an ``allow`` match
    (``name`` is the path inside the wheel or distribution) and a program keep libpython."""
    needs = bool(policy.libpython_needed(info))
    kept = None
    if needs and policy.is_allowed(name, allow):
        kept = KEPT_ALLOWED
    elif needs and info.is_executable:
        kept = KEPT_PROGRAM
    plan = plan_repair(src, info, remove_libpython=remove_libpython and kept is None, strip_rpath=not keep_rpath,
                       interpreter_libdirs=interpreter_libdirs)
    return FilePlan(plan, kept)
class PatchedSource:
    """A source as ``patches`` would leave it, without writing anything: a build judges
    what it would ship before it decides to write it (enforce), from the bytes already read."""

    def __init__(self, src: ByteSource, patches: Sequence[Patch]) -> None:
        self.name = src.name
        self.size = src.size
        self._src = src
        self._patches = patches

    def read(self, offset: int, length: int) -> bytes:
        return overlay(self._src.read(offset, length), offset, self._patches)


def overlay(data: bytes, pos: int, patches: Sequence[Patch]) -> bytes:
    """``data`` (the bytes at ``pos`` of a file) with the parts of ``patches`` that fall in it."""
    end = pos + len(data)
    buf: Optional[bytearray] = None
    for p in patches:
        lo, hi = max(p.offset, pos), min(p.offset + len(p.data), end)
        if lo < hi:
            buf = bytearray(data) if buf is None else buf
            buf[lo - pos : hi - pos] = p.data[lo - p.offset : hi - p.offset]
    return data if buf is None else bytes(buf)


def apply_patches(data: bytearray, patches: Sequence[Patch]) -> None:
    for p in patches:
        data[p.offset : p.offset + len(p.data)] = p.data


class AtomicFile:
    """The package's one atomic writer: a temp file beside ``path``, created at once (so a
    caller can tell "cannot write there" from a failed write), whose name the with-block
    gets to fill. When the block ends without an error the file is fsynced, given ``mode``
    (and ``owner`` (uid, gid) where this process may set it: a root repair of a user's
    file) and renamed over ``path``; ``sync_dir`` also makes the rename itself durable.
    On any error the temp file is removed and ``path`` is untouched.

    ``prefix`` (and ``suffix``) name the temp file: a killed writer leaves it behind, and
    ``repair --env`` finds its own by name.
    """

    def __init__(self, path: str, mode: int, *, prefix: str = ".nolibpython-", suffix: str = "",
                 owner: Optional[Tuple[int, int]] = None, sync_dir: bool = False) -> None:
        self.path, self.mode, self.owner, self.sync_dir = path, mode, owner, sync_dir
        self.directory = os.path.dirname(os.path.abspath(path))
        fd, self.name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=self.directory)
        os.close(fd)

    def __enter__(self) -> str:
        return self.name

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException], tb: object) -> None:
        if exc_type is not None:
            _unlink(self.name)
            return
        try:
            with open(self.name, "rb") as f:
                os.fsync(f.fileno())
            if self.owner is not None and self.owner != (os.getuid(), os.getgid()):
                try:
                    os.chown(self.name, *self.owner)
                except PermissionError:
                    pass
            os.chmod(self.name, self.mode)
            os.replace(self.name, self.path)
        except BaseException:
            _unlink(self.name)
            raise
        if self.sync_dir:
            dfd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_atomically(path: str, data: bytes, mode: int, *, prefix: str = ".nolibpython-",
                     owner: Optional[Tuple[int, int]] = None, sync_dir: bool = False) -> None:
    """Replace ``path`` with ``data`` through AtomicFile (same arguments)."""
    with AtomicFile(path, mode, prefix=prefix, owner=owner, sync_dir=sync_dir) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def patch_file(path: str, plan: EditPlan) -> None:
    """Apply ``plan`` to the file at ``path`` atomically, keeping its mode."""
    if plan.empty:
        return
    with open(path, "rb") as f:
        data = bytearray(f.read())
    apply_patches(data, plan.patches)
    write_atomically(path, bytes(data), os.stat(path).st_mode & 0o7777)
