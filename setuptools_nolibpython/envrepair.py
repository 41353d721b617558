"""Repair installed distributions in place (``nolibpython repair --env``).

The edits are the wheel repair's (elfpatch.plan_file_repair: libpython DT_NEEDED entries
and RPATH/RUNPATH entries of Python lib dirs go; a program or an ``allow`` match keeps its
libpython). Before a distribution is touched, every file to change must match its RECORD
row; then each file is replaced atomically (elfpatch.write_atomically) and RECORD is
rewritten with the new hashes and sizes (wheelrepair.rewrite_record), so ``pip uninstall``,
``pip show -f`` and hash checks stay true.

A kill at any moment must leave something the next run can finish. So the plan is written
first, atomically, as a journal in the ``.dist-info`` directory: each file's RECORD row
before and after. Then the files, then RECORD, then the journal goes. A run that finds a
journal reconciles before anything else: a file whose hash is the journal's "after" was
already rewritten and gets that row in RECORD; one still at "before" is repaired as usual;
one matching neither was changed by someone else since, and is refused. Temporary files
a killed writer left (named ``.nolibpython-<file>.``) are removed. Every file is whole at
every moment (rename), RECORD too, and the journal is whole or absent.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from .elf import read_elf
from .elfpatch import FilePlan, apply_patches, plan_file_repair, write_atomically
from .errors import ElfReadError, RepairError, SourceError
from .installed import (
    Distribution,
    Environment,
    InstalledFile,
    RecordRow,
    file_digest,
    normalize_name,
    row_mismatch,
)
from .sources import FileSource
from .wheelrepair import rewrite_record
from .wheelsafety import record_digest

__all__ = ["JOURNAL", "TEMP_PREFIX", "DistributionRepair", "FileFix", "repair_environment", "select"]

#: The plan of a repair under way, inside the .dist-info directory (gone when it ends).
JOURNAL = "nolibpython-repair.json"
#: How this module's temporary files start (write_atomically's prefix).
TEMP_PREFIX = ".nolibpython-"

_Row = Tuple[str, str]  # (hash, size) as RECORD writes them


@dataclass(frozen=True)
class FileFix:
    """One file to rewrite: what goes, and its RECORD row before and after."""

    path: str
    record_path: str
    removed_needed: Tuple[str, ...]
    removed_rpath: Tuple[str, ...]
    old: _Row
    new: _Row  # ("", "") in a dry run


@dataclass
class DistributionRepair:
    """What ``repair --env`` did (or, with --dry-run, would do) to one distribution."""

    distribution: Distribution
    fixes: List[FileFix] = field(default_factory=list)
    kept: List[Tuple[InstalledFile, str]] = field(default_factory=list)  # (file, elfpatch.KEPT_*)
    refused: List[str] = field(default_factory=list)  # one line each; nothing of the distribution written
    reconciled: int = 0  # files an interrupted run had rewritten, now in RECORD
    written: bool = False


def select(env: Environment, names: Sequence[str]) -> List[Distribution]:
    """The distributions named (PEP 503 spelling), or all; UsageError-worthy names come back
    through RepairError with one line naming them."""
    if not names:
        return list(env.distributions)
    wanted = {normalize_name(n): n for n in names}
    found = [d for d in env.distributions if normalize_name(d.name) in wanted]
    missing = sorted(set(wanted) - {normalize_name(d.name) for d in found})
    if missing:
        raise RepairError(
            f"no distribution named {', '.join(wanted[m] for m in missing)} in the environment of "
            f"{env.interpreter} ({', '.join(env.site_dirs) or 'no site directory'})"
        )
    return found


def repair_environment(
    env: Environment,
    dists: Sequence[Distribution],
    *,
    libdirs: Sequence[str],
    allow: Sequence[str] = (),
    keep_rpath: bool = False,
    force: bool = False,
    dry_run: bool = False,
) -> List[DistributionRepair]:
    """Repair each of ``dists`` that has an ELF file to fix (or an interrupted repair).

    Everything is planned and verified first; RepairError (one line, nothing written) when
    a directory to write in is not writable (a dry run only plans, so it shows the plan).
    A distribution with a refused file is left whole; the others are repaired.
    """
    by_dist: Dict[str, List[InstalledFile]] = {}
    for f in env.files:
        if f.distribution is not None:
            by_dist.setdefault(f.distribution.dist_info, []).append(f)
    todo = [d for d in dists if by_dist.get(d.dist_info) or os.path.exists(os.path.join(d.dist_info, JOURNAL))]
    plans = [_repair_one(d, by_dist.get(d.dist_info, []), libdirs, allow, keep_rpath, force, True) for d in todo]
    busy = [p for p in plans if not p.refused and (p.fixes or p.reconciled or _has_journal(p.distribution))]
    dirs = dict.fromkeys(d for p in busy for d in [p.distribution.dist_info, *(os.path.dirname(x.path)
                                                                              for x in p.fixes)])
    unwritable = [d for d in dirs if not os.access(d, os.W_OK)]
    if dry_run:
        return plans
    if unwritable:
        raise RepairError(
            f"the environment of {env.interpreter} is not writable here ({', '.join(unwritable[:3])}"
            f"{' and more' if len(unwritable) > 3 else ''}: no write permission or a read-only file system); "
            "nothing written: run the repair as the user who owns the environment"
        )
    done = {p.distribution.dist_info: _repair_one(p.distribution, by_dist.get(p.distribution.dist_info, []), libdirs,
                                                  allow, keep_rpath, force, False) for p in busy}
    return [done.get(p.distribution.dist_info, p) for p in plans]


def _has_journal(dist: Distribution) -> bool:
    return os.path.exists(os.path.join(dist.dist_info, JOURNAL))


class _LockedError(Exception):
    pass


class _DistLock:
    """flock on the .dist-info directory: two repairs of one distribution never interleave."""

    def __init__(self, dist: Distribution) -> None:
        self.fd = os.open(dist.dist_info, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise _LockedError() from None

    def close(self) -> None:
        os.close(self.fd)


def _repair_one(
    dist: Distribution, files: List[InstalledFile], libdirs: Sequence[str], allow: Sequence[str],
    keep_rpath: bool, force: bool, dry_run: bool,
) -> DistributionRepair:
    result = DistributionRepair(dist)
    try:
        lock = _DistLock(dist)
    except _LockedError:
        result.refused.append(f"{dist.dist_info}: another nolibpython repair is working on it; nothing written")
        return result
    except OSError as exc:
        result.refused.append(f"{dist.dist_info}: cannot be opened: {exc.strerror or exc}; nothing written")
        return result
    try:
        _run(result, files, libdirs, allow, keep_rpath, force, dry_run)
    except OSError as exc:  # EROFS, EACCES, ENOSPC while writing: one line
        where = exc.filename or dist.dist_info
        result.refused.append(f"{where}: cannot be written: {exc.strerror or exc}; every file is whole, "
                              "run the repair again to finish")
    except (RepairError, ElfReadError, SourceError) as exc:
        result.refused.append(str(exc))
    finally:
        lock.close()
    return result


def _run(result: DistributionRepair, files: List[InstalledFile], libdirs: Sequence[str], allow: Sequence[str],
         keep_rpath: bool, force: bool, dry_run: bool) -> None:
    dist = result.distribution
    if not dry_run:
        _sweep(dist, files)
    rows: Dict[str, _Row] = {r.path: (r.hash, r.size) for r in dist.rows}
    journal = _read_journal(dist)
    if journal is not None:
        done = _reconcile(result, journal, force)
        if result.refused:
            return
        rows.update(done)
        if not dry_run:
            _commit_record(dist, done)
            _remove_journal(dist)
    plans: List[Tuple[InstalledFile, FilePlan]] = []
    for f in files:
        with FileSource(f.path) as src:
            try:
                decision = plan_file_repair(src, read_elf(src), f.name, allow=allow, keep_rpath=keep_rpath,
                                            remove_libpython=True, interpreter_libdirs=libdirs)
            except ElfReadError as exc:
                raise RepairError(f"{f.path}: cannot be read as ELF ({exc}); nothing of {dist.label} written") from None
        if decision.kept is not None:
            result.kept.append((f, decision.kept))
        if not decision.plan.empty:
            plans.append((f, decision))
    for f, decision in plans:
        assert f.row is not None
        old = rows.get(f.row.path, (f.row.hash, f.row.size))
        problem = row_mismatch(f.path, RecordRow(f.row.path, *old))
        if problem and not force:
            result.refused.append(
                f"{f.path}: refused: {problem}; nothing of {dist.label} was written. Reinstall it, or pass "
                "--force to repair the file as it is and record its new hash"
            )
        new = ("", "")  # a plan only: the new row is worked out when the file is written
        if not dry_run:
            data = _patched(f.path, decision)
            new = (f"sha256={record_digest(hashlib.sha256(data).digest())}", str(len(data)))
        cur = file_digest(f.path, "sha256") if problem else None
        before = (cur[0], str(cur[1])) if cur else old
        result.fixes.append(FileFix(f.path, f.row.path, decision.plan.removed_needed, decision.plan.removed_rpath,
                                    before, new))
    if result.refused or dry_run or not result.fixes:
        return
    _write(result, plans)


def _patched(path: str, decision: FilePlan) -> bytes:
    with open(path, "rb") as f:
        data = bytearray(f.read())
    apply_patches(data, decision.plan.patches)
    return bytes(data)


def _write(result: DistributionRepair, plans: List[Tuple[InstalledFile, FilePlan]]) -> None:
    """Journal, files, RECORD, no journal: each step atomic, each state one the next run finishes."""
    dist = result.distribution
    entries = [{"path": x.record_path, "old": list(x.old), "new": list(x.new)} for x in result.fixes]
    write_atomically(os.path.join(dist.dist_info, JOURNAL),
                     json.dumps({"version": 1, "files": entries}, indent=1).encode(), 0o644,
                     prefix=TEMP_PREFIX + "journal.", sync_dir=True)
    for (f, decision), fix in zip(plans, result.fixes):
        data = _patched(f.path, decision)
        if f"sha256={record_digest(hashlib.sha256(data).digest())}" != fix.new[0]:
            raise RepairError(f"{f.path}: changed while it was being repaired; run the repair again")
        st = os.stat(f.path)
        write_atomically(f.path, data, st.st_mode & 0o7777, prefix=_temp_prefix(f.path),
                         owner=(st.st_uid, st.st_gid), sync_dir=True)
    _commit_record(dist, {x.record_path: x.new for x in result.fixes})
    _remove_journal(dist)
    for fix in result.fixes:
        now = file_digest(fix.path)
        if (now[0], str(now[1])) != fix.new:
            raise RepairError(f"{fix.path}: does not match the RECORD row just written; this is a bug in "
                              "nolibpython repair, please report it")
    result.written = True


def _temp_prefix(path: str) -> str:
    return f"{TEMP_PREFIX}{os.path.basename(path)}."


def _commit_record(dist: Distribution, new: Dict[str, _Row]) -> None:
    """RECORD with ``new`` rows, written atomically; not written when nothing changes."""
    with open(dist.record, "rb") as f:
        text = f.read()
    data = rewrite_record(text, {p: (h, int(s)) for p, (h, s) in new.items()}, ())
    if data != text:
        st = os.stat(dist.record)
        write_atomically(dist.record, data, st.st_mode & 0o7777, prefix=TEMP_PREFIX + "RECORD.",
                         owner=(st.st_uid, st.st_gid), sync_dir=True)


def _read_journal(dist: Distribution) -> Optional[List[Tuple[str, _Row, _Row]]]:
    path = os.path.join(dist.dist_info, JOURNAL)
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        return [(e["path"], (e["old"][0], e["old"][1]), (e["new"][0], e["new"][1])) for e in doc["files"]]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise RepairError(f"{path}: the journal of an interrupted repair cannot be read ({exc}); "
                          "reinstall the distribution") from None


def _reconcile(result: DistributionRepair, journal: List[Tuple[str, _Row, _Row]], force: bool) -> Dict[str, _Row]:
    """RECORD rows for the files an interrupted run had already rewritten."""
    dist = result.distribution
    done: Dict[str, _Row] = {}
    for record_path, old, new in journal:
        path = os.path.normpath(os.path.join(dist.site_dir, record_path))
        try:
            digest, size = file_digest(path, old[0].partition("=")[0] or "sha256")
            now = (digest, str(size))
            if now != old:
                digest, size = file_digest(path, new[0].partition("=")[0] or "sha256")
                now = (digest, str(size))
        except OSError as exc:
            result.refused.append(f"{path}: cannot be read to finish an interrupted repair: {exc.strerror or exc}")
            continue
        if now == new:
            done[record_path] = new
        elif now != old and not force:
            result.refused.append(
                f"{path}: refused: an interrupted repair left a journal, and the file matches neither its state "
                f"before nor after that repair: it was changed since; nothing of {dist.label} was written. "
                "Reinstall the distribution, or pass --force"
            )
    result.reconciled = len(done)
    return done


def _remove_journal(dist: Distribution) -> None:
    os.unlink(os.path.join(dist.dist_info, JOURNAL))
    fd = os.open(dist.dist_info, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sweep(dist: Distribution, files: List[InstalledFile]) -> None:
    """Remove the temporary files a killed repair of this distribution left behind."""
    for directory, prefix in _temp_places(dist, files):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for n in names:
            if n.startswith(prefix):
                try:
                    os.unlink(os.path.join(directory, n))
                except FileNotFoundError:
                    pass


def _temp_places(dist: Distribution, files: List[InstalledFile]) -> Iterator[Tuple[str, str]]:
    yield dist.dist_info, TEMP_PREFIX
    for f in files:
        yield os.path.dirname(f.path), _temp_prefix(f.path)
