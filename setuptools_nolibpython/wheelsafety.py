"""Wheel-level sanity: what makes a zip unsafe or not a wheel (names, links, sizes, RECORD).

Shared by ``check`` (report and exit non-zero) and ``repair`` (refuse, write nothing).
Everything here is decided from the central directory, which costs nothing to read,
plus the contents of the small ``.dist-info`` files. Inflating every member to verify
its CRC and RECORD hash costs a full decompression (4 s and 700 MB of inflate for a
torch wheel, twice the scan itself), so it is done:

* always for the ``.dist-info`` files (RECORD, WHEEL, METADATA, ...);
* for every member when the wheel unpacks to at most ``FULL_VERIFY_LIMIT`` bytes
  (typical extension-module wheels: verification is then a few milliseconds);
* for every member when ``deep=True`` (for callers that read everything anyway; repair
  also gets a CRC check for free from zipfile while it copies each member).

Nothing here trusts a declared size for an allocation: members are read in chunks and
never beyond ``MAX_MEMBER_SIZE``.

WheelContents is the container stage of a wheel check (scan) or repair: its findings,
then the members the ELF stage reads, each handing on its bytes when verification
inflated it whole, so no member is inflated twice.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import stat
import zipfile
from contextlib import nullcontext
from dataclasses import dataclass
from typing import ContextManager, Dict, Iterable, Iterator, List, Optional, Set, Tuple, Type

from .elf import ELF_MAGIC
from .errors import ZIP_ERRORS
from .findings import MAX_LISTED
from .sources import ByteSource, BytesSource, ZipMemberSource

__all__ = [
    "BOMB_MIN_SIZE",
    "BOMB_RATIO",
    "FULL_VERIFY_LIMIT",
    "MAX_LISTED",
    "MAX_MEMBER_SIZE",
    "MAX_RATIO",
    "MAX_TOTAL_SIZE",
    "RECORD_HASHES",
    "SUPPORTED_METHODS",
    "Member",
    "WheelContents",
    "WheelFinding",
    "member_hash_findings",
    "parse_record",
    "record_digest",
    "summarize",
    "wheel_problems",
]

#: A member larger than this is refused (libtorch_cpu.so, the largest seen, is 434 MB).
MAX_MEMBER_SIZE = 4 * 1024**3
#: The whole wheel unpacked (torch CPU: 699 MB).
MAX_TOTAL_SIZE = 16 * 1024**3
#: Deflate cannot inflate more than 1032:1; a member claiming more lies or is a bomb.
MAX_RATIO = 1100
#: A big member that really inflates this much is a bomb, not a shipped file: the
#: highest ratio in the corpus of real wheels (numpy, scipy, lxml, pillow, grpcio,
#: torch) is 235:1, on a 578 kB scipy data file; no member over 1 MB exceeds 25:1.
BOMB_RATIO = 200
BOMB_MIN_SIZE = 16 * 1024 * 1024
#: Members of wheels that unpack to at most this are all CRC- and hash-verified.
FULL_VERIFY_LIMIT = 16 * 1024 * 1024

SUPPORTED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
#: PEP 427: RECORD hashes are sha256 or stronger.
RECORD_HASHES = {"sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512", "blake2b"}
_DIST_INFO = re.compile(r"^([^/]+)\.dist-info/")
_CHUNK = 1024 * 1024


_WHEEL_FILE_ERRORS: Tuple[Type[BaseException], ...] = (*ZIP_ERRORS, KeyError)
_RECORD_ERRORS: Tuple[Type[BaseException], ...] = (*ZIP_ERRORS, csv.Error)


@dataclass(frozen=True)
class WheelFinding:
    """One thing wrong with the container. ``member`` is None for wheel-wide findings;
    ``unreadable`` marks a member whose bytes must not be inflated (bombs, lies)."""

    kind: str
    message: str
    member: Optional[str] = None
    unreadable: bool = False


def record_digest(digest: bytes) -> str:
    """A digest as RECORD writes it: urlsafe base64 without padding (PEP 376/427)."""
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def wheel_problems(zf: zipfile.ZipFile, deep: bool = False) -> List[str]:
    """One-line descriptions of what is wrong with the wheel as a container; [] if fine."""
    return summarize(_wheel_findings(zf, deep=deep))


def _unreadable_members(findings: Iterable[WheelFinding]) -> Set[str]:
    """Members the scanner must not inflate (declared sizes that cannot be trusted)."""
    return {f.member for f in findings if f.unreadable and f.member is not None}


def summarize(findings: Iterable[WheelFinding]) -> List[str]:
    """Collapse findings of one kind beyond MAX_LISTED into an "and N more" line."""
    out: List[str] = []
    counts: Dict[str, int] = {}
    for f in findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
        if counts[f.kind] <= MAX_LISTED:
            out.append(f.message)
    for kind, n in counts.items():
        if n > MAX_LISTED:
            out.append(f"... and {n - MAX_LISTED} more {kind} problems of the same kind")
    return out


@dataclass(frozen=True)
class Member:
    """A file member the ELF stage may read; ``data`` is its whole content when the
    container stage already inflated and verified it (a small wheel's ELF member)."""

    info: zipfile.ZipInfo
    data: Optional[bytes] = None

    def open(self, zf: zipfile.ZipFile) -> ContextManager[ByteSource]:
        """The member as a ByteSource: its kept bytes, or a stream inflated as far as it is read."""
        if self.data is not None:
            return nullcontext(BytesSource(self.data, self.info.filename))
        return ZipMemberSource(zf, self.info)


class WheelContents:
    """The container stage: every finding about the wheel, then its members for the ELF stage.

    ``deep``: verify every member whatever the wheel's size (repair copies raw bytes and
    relies on it). When every member is verified anyway because the wheel is small, the
    bytes of the ELF members are kept from that pass and handed on with them, so the ELF
    stage never inflates a member a second time (benchmarks: lxml's check went from 2.7x
    to ~1.x the inflate floor); a big wheel's bytes are never kept.
    """

    def __init__(self, zf: zipfile.ZipFile, deep: bool = False) -> None:
        self.zf = zf
        self.findings, self._kept = _container_findings(zf, deep, keep_elf=True)
        self.blocked = _unreadable_members(self.findings)

    @property
    def problems(self) -> List[str]:
        """The findings as one-line problems (see summarize)."""
        return summarize(self.findings)

    def members(self) -> Iterator[Member]:
        """Each file member that may be an ELF file, in archive order; never a member whose
        bytes cannot be trusted (blocked), a symlink or one too short to hold ELF magic."""
        # (ZipInfo.is_dir() raises IndexError on an empty member name.)
        infos = sorted((i for i in self.zf.infolist() if not i.filename.endswith("/")), key=lambda i: i.header_offset)
        for info in infos:
            if info.file_size < 4 or stat.S_ISLNK(info.external_attr >> 16) or info.filename in self.blocked:
                continue
            yield Member(info, self._kept.pop(info.filename, None))


def _wheel_findings(zf: zipfile.ZipFile, deep: bool = False) -> List[WheelFinding]:
    """Every finding about the container, cheapest first (see module docstring)."""
    return _container_findings(zf, deep, keep_elf=False)[0]


def _container_findings(
    zf: zipfile.ZipFile, deep: bool, keep_elf: bool
) -> Tuple[List[WheelFinding], Dict[str, bytes]]:
    """The findings, and (``keep_elf``, small wheels only) the verified ELF members' bytes."""
    infos = zf.infolist()
    findings: List[WheelFinding] = []
    findings += _name_findings(infos)
    findings += _entry_findings(infos)
    findings += _layout_findings(zf, infos)
    blocked = _unreadable_members(findings)
    dist_info, meta_findings = _dist_info_dir(infos)
    findings += meta_findings
    total = sum(i.file_size for i in infos)
    verify_all = deep or total <= FULL_VERIFY_LIMIT
    keep = keep_elf and total <= FULL_VERIFY_LIMIT  # bounded: never a big wheel's bytes
    kept: Dict[str, bytes] = {}
    record: Optional[Dict[str, Tuple[str, str]]] = None
    if dist_info is not None:
        record, rec_findings = _read_record(zf, dist_info, blocked)
        findings += rec_findings
        findings += _wheel_file_findings(zf, dist_info, blocked)
    for info in infos:
        if _is_dir(info) or info.filename in blocked:
            continue
        in_meta = dist_info is not None and info.filename.startswith(dist_info + "/")
        if verify_all or in_meta:
            expected = record.get(info.filename) if record is not None else None
            found, data = _verify_member(zf, info, expected, keep)
            findings += found
            if data is not None:
                kept[info.filename] = data
    if record is not None and dist_info is not None:
        findings += _record_coverage(infos, record, dist_info)
    return findings, kept


def member_hash_findings(zf: zipfile.ZipFile, names: Iterable[str]) -> List[WheelFinding]:
    """CRC and RECORD hash of the named members, whatever the wheel's size.

    Repair calls it on the members it rewrote: _wheel_findings verifies only the
    .dist-info files of a wheel over FULL_VERIFY_LIMIT, and a patched member's stale
    RECORD row would otherwise ship.
    """
    dist_info, out = _dist_info_dir(zf.infolist())
    if dist_info is None:
        return out
    record, rec_findings = _read_record(zf, dist_info, set())
    out += rec_findings
    for name in names:
        expected = record.get(name) if record is not None else None
        if expected is None or not expected[0]:
            out.append(WheelFinding("record-missing", f"member {name!a} has no hash in RECORD", name))
            continue
        out += _verify_member(zf, zf.getinfo(name), expected)[0]
    return out


def _name_findings(infos: List[zipfile.ZipInfo]) -> List[WheelFinding]:
    out: List[WheelFinding] = []
    seen: Set[str] = set()
    for info in infos:
        name = info.filename
        shown = ascii(name)
        parts = re.split(r"[/\\]", name)
        if not name.strip("/"):
            out.append(WheelFinding("path", f"member {shown} has an empty name; rebuild the wheel", name,
                                    unreadable=True))
        elif name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
            out.append(WheelFinding("path", f"member {shown} is an absolute path (an installer would write outside "
                                    "the target directory); rebuild the wheel with relative member names", name))
        elif ".." in parts:
            out.append(WheelFinding("path", f"member {shown} has a '..' component (an installer would write outside "
                                    "the target directory); rebuild the wheel with plain relative member names",
                                    name))
        elif any(ord(c) < 32 for c in name) or "\\" in name:
            out.append(WheelFinding("path", f"member {shown} has a backslash or control character in its name; "
                                    "rebuild the wheel with '/'-separated printable names", name))
        key = name.rstrip("/")
        if key in seen:
            out.append(WheelFinding("duplicate", f"member {shown} appears more than once in the zip (which copy "
                                    "is installed depends on the tool); rebuild the wheel", name))
        seen.add(key)
    return out


def _entry_findings(infos: List[zipfile.ZipInfo]) -> List[WheelFinding]:
    out: List[WheelFinding] = []
    total = 0
    for info in infos:
        name, shown = info.filename, ascii(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            out.append(WheelFinding("link", f"member {shown} is a symbolic link (wheels hold regular files only; "
                                    "an installer may follow it outside the target); ship the file itself", name,
                                    unreadable=True))
        elif mode and stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            out.append(WheelFinding("link", f"member {shown} is not a regular file (mode {mode:#o}); "
                                    "ship regular files only", name, unreadable=True))
        if info.flag_bits & 0x1:
            out.append(WheelFinding("entry", f"member {shown} is encrypted; wheels cannot be encrypted", name,
                                    unreadable=True))
        if info.compress_type not in SUPPORTED_METHODS:
            out.append(WheelFinding("entry", f"member {shown} uses compression method {info.compress_type}, "
                                    "which Python's zipfile cannot read; rebuild with deflate", name,
                                    unreadable=True))
        elif info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            out.append(WheelFinding("size", f"member {shown} is stored uncompressed but declares {info.file_size} "
                                    f"bytes for {info.compress_size} stored bytes (corrupt zip)", name,
                                    unreadable=True))
        if info.file_size > MAX_MEMBER_SIZE:
            out.append(WheelFinding("size", f"member {shown} declares {info.file_size} bytes unpacked, over the "
                                    f"{MAX_MEMBER_SIZE} byte limit (zip bomb?)", name, unreadable=True))
        elif info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            out.append(WheelFinding("size", f"member {shown} claims to inflate {ratio}:1 ({info.compress_size} -> "
                                    f"{info.file_size} bytes), beyond what deflate produces (zip bomb?)", name,
                                    unreadable=True))
        elif info.file_size > BOMB_MIN_SIZE and info.file_size > BOMB_RATIO * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            out.append(WheelFinding("size", f"member {shown} inflates {ratio}:1 ({info.compress_size} -> "
                                    f"{info.file_size} bytes): a zip bomb, not a shipped file; remove it from "
                                    "the wheel", name, unreadable=True))
        total += info.file_size
    if total > MAX_TOTAL_SIZE:
        out.append(WheelFinding("size", f"the wheel declares {total} bytes unpacked, over the {MAX_TOTAL_SIZE} "
                                "byte limit (zip bomb?)"))
    return out


def _layout_findings(zf: zipfile.ZipFile, infos: List[zipfile.ZipInfo]) -> List[WheelFinding]:
    """Members whose data overlap another's or run past the central directory.

    Overlapping entries are how the densest zip bombs reuse one compressed stream.
    A local header is at least 30 bytes, so each member needs header_offset + 30 +
    compress_size bytes before the next one starts.
    """
    out: List[WheelFinding] = []
    end = getattr(zf, "start_dir", None)
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for cur, nxt in zip(ordered, [*ordered[1:], None]):
        limit = nxt.header_offset if nxt is not None else end
        if limit is None:
            continue
        if cur.header_offset + 30 + cur.compress_size > limit:
            what = f"the next member {nxt.filename!a}" if nxt is not None else "the central directory"
            out.append(WheelFinding("layout", f"member {cur.filename!a} overlaps {what} (corrupt zip or a "
                                    "zip bomb); rebuild the wheel", cur.filename, unreadable=True))
    return out


def _dist_info_dir(infos: List[zipfile.ZipInfo]) -> Tuple[Optional[str], List[WheelFinding]]:
    dirs = sorted({m.group(1) + ".dist-info" for i in infos for m in [_DIST_INFO.match(i.filename)] if m})
    with_wheel = [d for d in dirs if any(i.filename == d + "/WHEEL" for i in infos)]
    if not with_wheel:
        return None, [WheelFinding("wheel", "not a wheel: no top-level *.dist-info/WHEEL file; check accepts "
                                   "wheels built by pip wheel / python -m build")]
    if len(dirs) > 1:
        return with_wheel[0], [WheelFinding("wheel", "the wheel has several .dist-info directories "
                                            f"({', '.join(map(ascii, dirs))}); a wheel has exactly one")]
    return with_wheel[0], []


def _read_small(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    with zf.open(info) as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise ValueError(f"larger than {cap} bytes")
    return data


def _wheel_file_findings(zf: zipfile.ZipFile, dist_info: str, blocked: Set[str]) -> List[WheelFinding]:
    name = dist_info + "/WHEEL"
    if name in blocked:
        return []
    try:
        text = _read_small(zf, zf.getinfo(name), 1024 * 1024).decode("utf-8", "replace")
    except _WHEEL_FILE_ERRORS as exc:
        return [WheelFinding("wheel", f"{name!a} cannot be read: {exc}", name)]
    if not re.search(r"^Wheel-Version:\s*\d", text, re.M):
        return [WheelFinding("wheel", f"{name!a} has no Wheel-Version line; not a wheel", name)]
    return []


def _read_record(
    zf: zipfile.ZipFile, dist_info: str, blocked: Set[str]
) -> Tuple[Optional[Dict[str, Tuple[str, str]]], List[WheelFinding]]:
    """RECORD as {path: (hash, size)}; None (and a finding) when absent or unreadable."""
    name = dist_info + "/RECORD"
    try:
        info = zf.getinfo(name)
    except KeyError:
        return None, [WheelFinding("record", f"{name!a} is missing: a wheel lists every file with its hash "
                                   "there; rebuild the wheel with pip wheel or python -m build", name)]
    if name in blocked:
        return None, []
    try:
        text = _read_small(zf, info, 64 * 1024 * 1024).decode("utf-8")
        rows = parse_record(text)
    except _RECORD_ERRORS as exc:
        return None, [WheelFinding("record", f"{name!a} cannot be read: {exc}; rebuild the wheel", name)]
    record: Dict[str, Tuple[str, str]] = {}
    out: List[WheelFinding] = []
    for lineno, row in enumerate(rows, 1):
        if not row:
            continue
        if len(row) != 3:
            out.append(WheelFinding("record", f"{name!a} line {lineno} has {len(row)} fields, not 3 "
                                    "(path,hash,size); rebuild the wheel", name))
            continue
        path, digest, size = row
        if path in record:
            out.append(WheelFinding("record", f"{name!a} lists {path!a} twice", name))
        record[path] = (digest, size)
        if digest:
            algo = digest.partition("=")[0]
            if algo not in RECORD_HASHES:
                out.append(WheelFinding("record", f"{name!a}: {path!a} has hash {algo!a}, not "
                                        "sha256 or stronger (PEP 427)", name))
    return record, out


def parse_record(text: str) -> List[List[str]]:
    """RECORD's rows as csv reads them (a wheel's or an installed distribution's); csv.Error on bad quoting."""
    return list(csv.reader(io.StringIO(text, newline="")))


def _record_coverage(
    infos: List[zipfile.ZipInfo], record: Dict[str, Tuple[str, str]], dist_info: str
) -> List[WheelFinding]:
    """Every member has a RECORD line with the right size; every line has a member."""
    out: List[WheelFinding] = []
    exempt = {dist_info + "/RECORD", dist_info + "/RECORD.jws", dist_info + "/RECORD.p7s"}
    names = {i.filename for i in infos}
    for info in infos:
        if _is_dir(info) or info.filename in exempt:
            continue
        entry = record.get(info.filename)
        if entry is None:
            out.append(WheelFinding("record-missing", f"member {info.filename!a} has no line in RECORD "
                                    "(installers refuse or skip it); rebuild the wheel", info.filename))
        elif not entry[0]:
            out.append(WheelFinding("record", f"member {info.filename!a} has no hash in RECORD; rebuild "
                                    "the wheel", info.filename))
        elif entry[1] != str(info.file_size):
            out.append(WheelFinding("record", f"member {info.filename!a} is {info.file_size} bytes but "
                                    f"RECORD says {entry[1]!a}; rebuild the wheel", info.filename))
    for path in record:
        if path not in names and path not in exempt:
            out.append(WheelFinding("record-extra", f"RECORD lists {path!a}, which is not in the wheel; "
                                    "rebuild the wheel", path))
    return out


def _verify_member(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    expected: Optional[Tuple[str, str]],
    keep_elf: bool = False,
) -> Tuple[List[WheelFinding], Optional[bytes]]:
    """Inflate one member in chunks: zipfile checks the CRC at the end; compare RECORD's hash.

    Returns the findings, and (``keep_elf``) the bytes of a verified ELF member.
    """
    algo, _, want = (expected[0] if expected else "").partition("=")
    hasher = hashlib.new(algo) if want and algo in RECORD_HASHES else None
    shown = ascii(info.filename)
    kept: Optional[List[bytes]] = [] if keep_elf else None
    try:
        with zf.open(info) as f:
            while True:
                chunk = f.read(_CHUNK)
                if not chunk:
                    break
                if hasher is not None:
                    hasher.update(chunk)
                if kept is not None:
                    if kept or chunk[:4] == ELF_MAGIC:
                        kept.append(chunk)
                    else:
                        kept = None
    except ZIP_ERRORS as exc:
        return [WheelFinding("crc", f"member {shown} is corrupt: {exc}; the wheel was damaged after it was "
                             "built: rebuild or download it again", info.filename, unreadable=True)], None
    if hasher is not None:
        got = record_digest(hasher.digest())
        if got != want.rstrip("="):
            return [WheelFinding("hash", f"member {shown} does not match its RECORD hash ({algo}); the file was "
                                 "changed after the wheel was built: rebuild the wheel", info.filename)], None
    return [], b"".join(kept) if kept else None


def _is_dir(info: zipfile.ZipInfo) -> bool:
    """ZipInfo.is_dir() without its IndexError on an empty name."""
    return info.filename.endswith("/")
