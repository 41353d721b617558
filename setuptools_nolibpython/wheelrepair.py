"""Repair a built wheel: drop libpython DT_NEEDED (and Python lib-dir RPATHs) from its ELF files.

The wheel is read in place; each ELF member is judged and planned with the same code
as the plugin (read_elf, policy, elfpatch.plan_edit), so the CLI and on-violation =
"repair" agree. The new wheel keeps every member's name, order, timestamp and mode;
only the patched members' bytes and their RECORD lines change (RECORD keeps its other
lines byte for byte), and every other member's compressed bytes are copied as they
are. It is written to a temporary file in the output directory, verified by a fresh
scan and a hash check of every member it rewrote, and renamed: the final name holds a
whole wheel or nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import struct
import zipfile
from dataclasses import dataclass, field
from typing import IO, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from .elf import ELF_MAGIC, read_elf
from .elfpatch import KEPT_ALLOWED, KEPT_PROGRAM, AtomicFile, EditPlan, Patch, overlay, plan_file_repair
from .errors import MEMBER_ERRORS, ZIP_ERRORS, ElfReadError, RepairError
from .policy import EXECUTABLE_NEEDS_LIBPYTHON, NEEDS_LIBPYTHON, current_interpreter_libdirs
from .results import ERROR, ScanOptions
from .scan import scan_wheel
from .wheelsafety import FULL_VERIFY_LIMIT, WheelContents, member_hash_findings, record_digest, wheel_problems

__all__ = [
    "MemberFix", "RepairResult", "apply_plans_in_place", "repair_wheel", "rewrite_record", "verify_changed_members",
]

_CHUNK = 1024 * 1024
_SIGNATURES = ("RECORD.jws", "RECORD.p7s")
#: A zip local file header (APPNOTE 4.3.7); the last two fields are the name and extra lengths.
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


@dataclass(frozen=True)
class MemberFix:
    """What was removed from one member."""

    path: str
    removed_needed: Tuple[str, ...]
    removed_rpath: Tuple[str, ...]


@dataclass(frozen=True)
class RepairResult:
    wheel: str
    output: Optional[str]  # the wheel written, or None (nothing to repair, no copy asked for)
    fixes: Tuple[MemberFix, ...] = ()
    allowed: Tuple[str, ...] = ()  # members that keep libpython because an allow glob matched
    programs: Tuple[str, ...] = ()  # executables that link libpython: never edited
    dropped: Tuple[str, ...] = field(default=())  # signature members a changed RECORD invalidates

    @property
    def changed(self) -> bool:
        return bool(self.fixes)


def _patched(stream: IO[bytes], patches: Sequence[Patch]) -> Iterator[bytes]:
    """The member's bytes in chunks, with ``patches`` laid over them as they stream by."""
    pos = 0
    while True:
        data = stream.read(_CHUNK)
        if not data:
            return
        yield overlay(data, pos, patches)
        pos += len(data)


def _record_name(zf: zipfile.ZipFile, wheel: str) -> str:
    records = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/RECORD")]
    if len(records) != 1:
        found = ", ".join(records) or "none"
        raise RepairError(f"{wheel}: expected exactly one <name>.dist-info/RECORD, found {found}; is this a wheel?")
    return records[0]


def _plan_wheel(
    contents: WheelContents,
    wheel: str,
    *,
    keep_rpath: bool = False,
    allow: Sequence[str] = (),
    remove_libpython: bool = True,
) -> Tuple[Dict[str, EditPlan], Tuple[str, ...], Tuple[str, ...]]:
    """{member: plan} for every ELF member that needs an edit, the allowed members, and the
    programs that link libpython (left as they are: they embed Python on purpose).

    The members are those the container stage hands on (scan_wheel reads the same ones).
    A member that looks like ELF but cannot be read stops the repair: a file that cannot
    be verified is not shipped, and guessing at its bytes is worse.
    """
    libdirs = current_interpreter_libdirs()
    plans: Dict[str, EditPlan] = {}
    allowed: List[str] = []
    programs: List[str] = []
    for member in contents.members():
        name = member.info.filename
        try:
            with member.open(contents.zf) as src:
                if src.read(0, 4) != ELF_MAGIC:
                    continue
                decision = plan_file_repair(src, read_elf(src), name, allow=allow, keep_rpath=keep_rpath,
                                            remove_libpython=remove_libpython, interpreter_libdirs=libdirs)
        except ElfReadError as exc:
            raise RepairError(f"{wheel}: {name}: cannot be read as ELF ({exc}); nothing written") from None
        except MEMBER_ERRORS as exc:
            raise RepairError(f"{wheel}: {name}: cannot be read from the zip ({exc}); nothing written") from None
        if decision.kept == KEPT_ALLOWED:
            allowed.append(name)
        elif decision.kept == KEPT_PROGRAM:
            programs.append(name)
        if not decision.plan.empty:
            plans[name] = decision.plan
    return plans, tuple(allowed), tuple(programs)


def _new_hashes(zf: zipfile.ZipFile, plans: Dict[str, EditPlan]) -> Dict[str, Tuple[str, int]]:
    """RECORD hash and size of each patched member (its size never changes)."""
    out: Dict[str, Tuple[str, int]] = {}
    for name, plan in plans.items():
        h = hashlib.sha256()
        size = 0
        with zf.open(name) as stream:
            for chunk in _patched(stream, plan.patches):
                h.update(chunk)
                size += len(chunk)
        out[name] = ("sha256=" + record_digest(h.digest()), size)
    return out


def rewrite_record(text: bytes, new: Dict[str, Tuple[str, int]], drop: Sequence[str]) -> bytes:
    """RECORD with the rows of changed members updated and dropped members removed
    (a wheel's, and an installed distribution's after ``repair --env``).

    Untouched rows keep their exact bytes (quoting, line endings); a changed member
    missing from RECORD gets a row appended.
    """
    out: List[bytes] = []
    seen = set()
    for line in text.splitlines(keepends=True):
        body = line.rstrip(b"\r\n")
        ending = line[len(body) :]
        row = next(csv.reader([body.decode("utf-8")]), [])
        name = row[0] if row else ""
        if name in drop:
            continue
        if name in new:
            seen.add(name)
            buf = io.StringIO()
            csv.writer(buf, lineterminator="").writerow([name, new[name][0], str(new[name][1])])
            line = buf.getvalue().encode("utf-8") + (ending or b"\n")
        out.append(line)
    for name in sorted(set(new) - seen):
        if out and not out[-1].endswith(b"\n"):
            out[-1] += b"\n"
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([name, new[name][0], str(new[name][1])])
        out.append(buf.getvalue().encode("utf-8"))
    return b"".join(out)


def _strip_zip64_extra(extra: bytes) -> bytes:
    """Keep extra fields (timestamps, unix ids) but not zip64 ones: zipfile writes its own."""
    out = b""
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[i : i + 4])
        if tag != 0x0001:
            out += extra[i : i + 4 + size]
        i += 4 + size
    return out


def _copy_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    new = zipfile.ZipInfo(info.filename, info.date_time)
    new.compress_type = info.compress_type
    new.comment = info.comment
    new.extra = _strip_zip64_extra(info.extra)
    new.create_system = info.create_system
    new.external_attr = info.external_attr
    new.internal_attr = info.internal_attr
    new.file_size = info.file_size
    return new


def _can_copy_raw(out: zipfile.ZipFile) -> bool:
    """Does this zipfile have the (long-stable, undocumented) parts a raw copy needs?"""
    return all(hasattr(out, a) for a in ("_writecheck", "_lock", "start_dir", "fp", "filelist", "NameToInfo"))


def _copy_raw(src: IO[bytes], info: zipfile.ZipInfo, out: zipfile.ZipFile, new: zipfile.ZipInfo) -> None:
    """Append ``info``'s compressed bytes to ``out`` as they are: no inflate, no deflate.

    The member was CRC- and hash-checked by WheelContents(deep=True); its local header
    is rewritten (sizes in the header, no data descriptor), its data is copied verbatim.
    """
    src.seek(info.header_offset)
    head = src.read(_LOCAL_HEADER.size)
    if len(head) != _LOCAL_HEADER.size or head[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    fields = _LOCAL_HEADER.unpack(head)
    src.seek(info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1])
    new.CRC = info.CRC
    new.compress_size = info.compress_size
    new.file_size = info.file_size
    new.flag_bits = 0
    zip64 = new.file_size >= zipfile.ZIP64_LIMIT or new.compress_size >= zipfile.ZIP64_LIMIT
    with out._lock:  # type: ignore[attr-defined]
        out._writecheck(new)  # type: ignore[attr-defined]
        new.header_offset = out.fp.tell()  # type: ignore[union-attr]
        out.fp.write(new.FileHeader(zip64))  # type: ignore[union-attr]
        left = info.compress_size
        while left:
            chunk = src.read(min(_CHUNK, left))
            if not chunk:
                raise zipfile.BadZipFile(f"{info.filename}: compressed data ends early")
            out.fp.write(chunk)  # type: ignore[union-attr]
            left -= len(chunk)
        out.filelist.append(new)
        out.NameToInfo[new.filename] = new
        out.start_dir = out.fp.tell()  # type: ignore[union-attr]
        out._didModify = True  # type: ignore[attr-defined]


def _write_wheel(
    zf: zipfile.ZipFile,
    raw: IO[bytes],
    target: str,
    plans: Dict[str, EditPlan],
    record: str,
    record_bytes: bytes,
    drop: Sequence[str],
) -> None:
    """The new wheel: patched members and RECORD written anew, every other member's
    compressed bytes copied as they are (re-deflated only if this zipfile cannot)."""
    with zipfile.ZipFile(target, "w") as out:
        out.comment = zf.comment
        raw_ok = _can_copy_raw(out)
        for info in zf.infolist():
            if info.filename in drop:
                continue
            new = _copy_info(info)
            if info.filename == record:
                new.file_size = len(record_bytes)
                out.writestr(new, record_bytes)
                continue
            if info.filename not in plans and raw_ok:
                _copy_raw(raw, info, out, new)
                continue
            patches = plans[info.filename].patches if info.filename in plans else ()
            with zf.open(info) as src, out.open(new, "w", force_zip64=info.file_size >= zipfile.ZIP64_LIMIT) as dst:
                for chunk in _patched(src, patches):
                    dst.write(chunk)


def _output(final: str) -> AtomicFile:
    """The new wheel's temp file beside ``final`` (same file system: the rename is atomic),
    published with the mode a new file gets here (0o666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    try:
        return AtomicFile(final, 0o666 & ~umask, suffix=".whl.part")
    except OSError as exc:
        raise RepairError(f"{os.path.dirname(final)}: cannot write there: {exc.strerror or exc}") from None


def _make_outdir(final: str) -> None:
    """Create the output directory when a wheel is about to be written there, not before:
    a run that writes nothing leaves nothing behind (not even an empty directory)."""
    outdir = os.path.dirname(final)
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as exc:
        raise RepairError(f"{outdir}: cannot create the output directory: {exc.strerror or exc}") from None


def _output_path(wheel: str, outdir: str) -> str:
    final = os.path.join(outdir, os.path.basename(wheel))
    if os.path.exists(final) and os.path.samefile(final, wheel):
        raise RepairError(f"{wheel}: the output would replace the input; pass another directory with -w")
    return final


def repair_wheel(
    wheel: str,
    outdir: str,
    *,
    keep_rpath: bool = False,
    allow: Sequence[str] = (),
    force_copy: bool = False,
    remove_libpython: bool = True,
) -> RepairResult:
    """Write ``outdir/<same name>`` with libpython removed; the input is never modified
    (a backend's own wheel is rewritten by apply_plans_in_place). ``remove_libpython=False``
    applies only the RPATH part (``strip-rpath`` without ``on-violation = "repair"``).
    """
    final = _output_path(wheel, outdir)
    try:
        zf = zipfile.ZipFile(wheel)
    except ZIP_ERRORS as exc:
        raise RepairError(f"{wheel}: not a readable wheel (zip): {exc}") from None
    with zf:
        contents = WheelContents(zf, deep=True)  # every member's CRC and RECORD hash: raw copies rely on it
        if contents.problems:
            raise RepairError(f"{wheel}: refusing to repair an unsafe wheel: " + "; ".join(contents.problems))
        record = _record_name(zf, wheel)
        plans, allowed, programs = _plan_wheel(contents, wheel, keep_rpath=keep_rpath, allow=allow,
                                              remove_libpython=remove_libpython)
        if not plans:
            if not force_copy:
                return RepairResult(wheel, None, (), allowed, programs)
            _make_outdir(final)
            return RepairResult(wheel, _copy_file(wheel, final), (), allowed, programs)
        _make_outdir(final)
        fixes = tuple(MemberFix(n, p.removed_needed, p.removed_rpath) for n, p in plans.items())
        drop = _write_repaired(zf, wheel, final, plans, record, outdir,
                               lambda tmp: _verify(tmp, wheel, allow, remove_libpython))
    return RepairResult(wheel, final, fixes, allowed, programs, drop)


def _write_repaired(
    zf: zipfile.ZipFile,
    wheel: str,
    final: str,
    plans: Dict[str, EditPlan],
    record: str,
    outdir: str,
    verify: Callable[[str], None],
) -> Tuple[str, ...]:
    """Write the patched wheel to a temporary file beside ``final``, ``verify`` it, check
    the hash of every member it rewrote, and rename it: ``final`` is whole or untouched.
    Returns the signature members a changed RECORD invalidated (dropped)."""
    drop = [n for n in zf.namelist() if n.startswith(record[: -len("RECORD")]) and n.endswith(_SIGNATURES)]
    output = _output(final)
    try:
        with output as tmp:
            try:
                record_bytes = rewrite_record(zf.read(record), _new_hashes(zf, plans), drop)
                with open(wheel, "rb") as raw:
                    _write_wheel(zf, raw, tmp, plans, record, record_bytes, drop)
            except OSError as exc:  # ENOSPC, EIO, quota: on either side of the copy
                raise RepairError(
                    f"{wheel}: copying into {outdir} failed: {exc.strerror or exc}; nothing written"
                ) from None
            except MEMBER_ERRORS as exc:
                raise RepairError(f"{wheel}: cannot read the wheel's data ({exc}); nothing written") from None
            verify(tmp)
            verify_changed_members(tmp, wheel, list(plans))
    except OSError as exc:  # publishing: fsync, chmod, rename
        raise RepairError(f"{final}: cannot be written: {exc.strerror or exc}; nothing written") from None
    return tuple(drop)


def apply_plans_in_place(wheel: str, plans: Dict[str, EditPlan]) -> Tuple[str, ...]:
    """Rewrite a backend's wheel with edits already decided and judged (enforce.judge_wheel,
    from its one read of the wheel), renamed over it. Raw copies need every member's CRC
    checked: a small wheel's were by that scan, a big wheel's are checked here (the one
    case that inflates members again, and only when a fix is written)."""
    try:
        zf = zipfile.ZipFile(wheel)
    except ZIP_ERRORS as exc:
        raise RepairError(f"{wheel}: not a readable wheel (zip): {exc}") from None
    with zf:
        if sum(i.file_size for i in zf.infolist()) > FULL_VERIFY_LIMIT:
            problems = wheel_problems(zf, deep=True)
            if problems:
                raise RepairError(f"{wheel}: refusing to repair an unsafe wheel: " + "; ".join(problems))
        record = _record_name(zf, wheel)
        final = os.path.abspath(wheel)
        return _write_repaired(zf, wheel, final, plans, record, os.path.dirname(final), lambda tmp: None)


def _verify(tmp: str, wheel: str, allow: Sequence[str], remove_libpython: bool) -> None:
    """Scan the new wheel before it gets its name: the verdict is on what ships.

    Without ``remove_libpython`` a file may still need libpython (the caller judges that).
    """
    report = scan_wheel(
        tmp, ScanOptions(allow=tuple(allow), interpreter_libdirs=current_interpreter_libdirs(), check_rpath=False)
    )
    # Programs keep their libpython on purpose (_plan_wheel); without remove_libpython a module
    # may keep it too (the caller judges that); anything else that fails is a bug.
    failures = [
        f for f in report.failures
        if f.info is None or any(
            p.severity == ERROR and p.code != EXECUTABLE_NEEDS_LIBPYTHON
            and (remove_libpython or p.code != NEEDS_LIBPYTHON)
            for p in f.problems
        )
    ]
    if report.errors or failures:
        what = "; ".join(list(report.errors) + [f"{f.path}: {f.verdict}" for f in failures])
        raise RepairError(f"{wheel}: the repaired wheel still fails the check ({what}); nothing written")


def verify_changed_members(path: str, wheel: str, names: Sequence[str]) -> None:
    """The hash of every member repair rewrote matches its RECORD row, whatever the
    wheel's size (the scan verifies every member only of small wheels)."""
    with zipfile.ZipFile(path) as zf:
        found = member_hash_findings(zf, names)
    if found:
        members = ", ".join(dict.fromkeys(ascii(f.member) if f.member else f.kind for f in found))
        raise RepairError(
            f"{wheel}: the repaired wheel fails its own RECORD check ({members}); nothing written. "
            "The input wheel is unchanged; this is a bug in nolibpython repair, please report it"
        )


def _copy_file(wheel: str, final: str) -> str:
    output = _output(final)
    try:
        with output as tmp, open(tmp, "wb") as out, open(wheel, "rb") as src:
            shutil.copyfileobj(src, out, _CHUNK)
    except OSError as exc:
        raise RepairError(f"{final}: cannot write the copy: {exc.strerror or exc}") from None
    return final
