"""An installed environment as plain data: its distributions and their ELF files.

``check --env`` and ``repair --env`` read an interpreter's environment here: the
``.dist-info`` directories of its site directories (name and version from METADATA, the
RECORD rows), the ELF files each RECORD claims (also outside the site directory, such as a
program in ``bin/``), and the ELF files under a site directory that no RECORD claims.
Nothing here writes; envrepair does.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

from .policy import is_allowed
from .results import ScanOptions, ScanReport
from .scan import is_elf_file, iter_tree_files, scan_elf_files
from .wheelsafety import RECORD_HASHES, parse_record, record_digest

__all__ = [
    "Distribution",
    "Environment",
    "InstalledFile",
    "RecordRow",
    "file_digest",
    "normalize_name",
    "read_environment",
    "row_mismatch",
    "scan_environment",
]

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class RecordRow:
    """One line of an installed RECORD, as written (path relative to the site directory)."""

    path: str
    hash: str  # "sha256=<urlsafe b64>", or "" (RECORD itself, or a file installed without one)
    size: str


@dataclass(frozen=True)
class Distribution:
    """One installed distribution: where its ``.dist-info`` is and what its RECORD lists."""

    name: str
    version: str
    dist_info: str  # absolute path of the .dist-info directory
    rows: Tuple[RecordRow, ...]
    record_problem: Optional[str] = None  # RECORD missing or unreadable (then rows is empty)

    @property
    def site_dir(self) -> str:
        return os.path.dirname(self.dist_info)

    @property
    def record(self) -> str:
        return os.path.join(self.dist_info, "RECORD")

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    def location(self, row: RecordRow) -> str:
        """Where a RECORD path lies: relative paths start at the site directory (PEP 376)."""
        return os.path.normpath(os.path.join(self.site_dir, row.path))


@dataclass(frozen=True)
class InstalledFile:
    """An ELF file of the environment: the distribution whose RECORD lists it, if any."""

    path: str  # absolute
    distribution: Optional[Distribution]
    row: Optional[RecordRow]
    name: str  # what ``allow`` globs match: the RECORD path, or the path under the site directory


@dataclass(frozen=True)
class Environment:
    interpreter: str
    site_dirs: Tuple[str, ...]
    distributions: Tuple[Distribution, ...]
    files: Tuple[InstalledFile, ...]  # every ELF file: claimed ones by distribution, then the unclaimed


def normalize_name(name: str) -> str:
    """PEP 503: ``Fedora_Style`` and ``fedora-style`` name one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _metadata(dist_info: str) -> Tuple[str, str]:
    """Name and Version from METADATA's headers, else from the directory name."""
    stem = os.path.basename(dist_info)[: -len(".dist-info")]
    name, _, version = stem.partition("-")
    try:
        with open(os.path.join(dist_info, "METADATA"), encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                if key.lower() == "name":
                    name = value.strip()
                elif key.lower() == "version":
                    version = value.strip()
    except OSError:
        pass
    return name, version


def _read_distribution(dist_info: str) -> Distribution:
    name, version = _metadata(dist_info)
    record = os.path.join(dist_info, "RECORD")
    try:
        with open(record, encoding="utf-8", newline="") as f:
            rows = parse_record(f.read())
    except FileNotFoundError:
        return Distribution(name, version, dist_info, (), "has no RECORD (installed by a tool that keeps none)")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return Distribution(name, version, dist_info, (), f"RECORD cannot be read: {exc}")
    out = tuple(RecordRow(*r) for r in rows if len(r) == 3)
    bad = sum(1 for r in rows if r and len(r) != 3)
    problem = f"RECORD has {bad} line(s) without the 3 fields path,hash,size" if bad else None
    return Distribution(name, version, dist_info, out, problem)


def read_environment(interpreter: str, site_dirs: Sequence[str]) -> Environment:
    """Every distribution of ``site_dirs`` and every ELF file they hold or claim."""
    dists: List[Distribution] = []
    for site in site_dirs:
        try:
            names = sorted(os.listdir(site))
        except OSError:
            continue
        dists += [_read_distribution(os.path.join(site, n)) for n in names
                  if n.endswith(".dist-info") and os.path.isdir(os.path.join(site, n))]
    files: List[InstalledFile] = []
    claimed: Dict[str, InstalledFile] = {}
    for dist in sorted(dists, key=lambda d: (normalize_name(d.name), d.version)):
        for row in dist.rows:
            path = dist.location(row)
            real = os.path.realpath(path)
            if real in claimed or not os.path.isfile(path) or os.path.islink(path) or not is_elf_file(path):
                continue
            claimed[real] = InstalledFile(path, dist, row, row.path)
            files.append(claimed[real])
    for site in site_dirs:
        for rel, path in iter_tree_files(site):
            real = os.path.realpath(path)
            if real not in claimed and is_elf_file(path):
                claimed[real] = InstalledFile(path, None, None, rel)
                files.append(claimed[real])
    return Environment(interpreter, tuple(site_dirs), tuple(dists), tuple(files))


def file_digest(path: str, algo: str = "sha256") -> Tuple[str, int]:
    """``("sha256=<urlsafe b64, no padding>", size)`` of a file, as RECORD writes them."""
    h = hashlib.new(algo)
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
    return f"{algo}={record_digest(h.digest())}", size


def row_mismatch(path: str, row: RecordRow) -> Optional[str]:
    """None when the file is what its RECORD row says; else what differs, for one line."""
    algo, _, want = row.hash.partition("=")
    if not want:
        return "RECORD gives it no hash, so it cannot be verified"
    if algo not in RECORD_HASHES:
        return f"RECORD's hash is {algo}, not sha256 or stronger"
    got, size = file_digest(path, algo)
    if got.partition("=")[2] != want.rstrip("="):
        return (f"it does not match its RECORD hash ({size} bytes, RECORD says {row.size or '?'}): "
                "it was changed after it was installed")
    return None


def scan_environment(env: Environment, options: ScanOptions) -> ScanReport:
    """One scan of every ELF file (named by absolute path: ``$ORIGIN`` and RPATHs resolve on
    this machine, where the files are); ``allow`` matches the path inside the distribution."""
    report = scan_elf_files(env.interpreter, [(f.path, f.path) for f in env.files], replace(options, allow=()))
    names = {f.path: f.name for f in env.files}
    files = tuple(replace(r, allowed=is_allowed(names[r.path], options.allow)) for r in report.files)
    return replace(report, files=files)
