"""Byte sources the ELF reader reads from: a file on disk, bytes, or a wheel member.

The reader asks for small ranges (header, program headers, the dynamic section, a few
strings). A file answers with ``pread``. A zip member is inflated once, front to back:
the first bytes (where ``.dynsym``/``.dynstr`` live) are kept up to a cap, later bytes are
passed over and dropped, and reading stops as soon as the reader has what it needs, so
memory does not grow with member size and most of a large member is never inflated.
The last few MB inflated are kept too, so reads a little behind the stream (strings
of a string table that sits past the dynamic section) are served without inflating
again; a request behind the stream that neither covers restarts the member.

Finding the ELF files of a tree (by magic) lives here too, below the ELF reader: a
build whose wheel holds no ELF file never imports it.
"""

from __future__ import annotations

import os
import zipfile
from collections import deque
from typing import IO, Callable, Deque, Iterator, List, Optional, Protocol, Tuple

from .errors import ZIP_ERRORS, SourceError

__all__ = [
    "DEFAULT_PREFIX_CAP",
    "DEFAULT_WINDOW",
    "ELF_MAGIC",
    "ByteSource",
    "BytesSource",
    "FileSource",
    "ZipMemberSource",
    "is_elf_file",
    "iter_tree_files",
]

#: The first four bytes of every ELF file; how ELF files are found, never by name.
ELF_MAGIC = b"\x7fELF"


class ByteSource(Protocol):
    """Random-access read of exactly ``length`` bytes at ``offset``."""

    name: str
    size: int

    def read(self, offset: int, length: int) -> bytes: ...


def _check_range(src: ByteSource, offset: int, length: int) -> None:
    if offset < 0 or length < 0 or offset + length > src.size:
        raise SourceError(
            f"needs bytes {offset:#x}..{offset + length:#x} but the file has {src.size:#x} bytes (truncated?)"
        )


class BytesSource:
    """An in-memory buffer (tests, fuzzing, small members)."""

    def __init__(self, data: bytes, name: str = "<bytes>") -> None:
        self.name = name
        self._data = data
        self.size = len(data)

    def read(self, offset: int, length: int) -> bytes:
        _check_range(self, offset, length)
        return self._data[offset : offset + length]


class FileSource:
    """A file on disk, read with ``pread``; use as a context manager."""

    def __init__(self, path: str) -> None:
        self.name = path
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            self.size = os.fstat(self._fd).st_size
        except OSError:
            os.close(self._fd)
            raise

    def read(self, offset: int, length: int) -> bytes:
        _check_range(self, offset, length)
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise SourceError(f"short read at {offset:#x} (file changed while being read?)")
        return data

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "FileSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: How much of a member's start is kept while streaming. The dynamic symbol and string
#: tables sit near the start of a linker-made shared object (libtorch_cpu.so: they end at
#: 7.4 MB of 434 MB), where whole-wheel checks read them after the dynamic section.
DEFAULT_PREFIX_CAP = 16 * 1024 * 1024
#: How much of the most recently inflated bytes is kept. patchelf (auditwheel repair)
#: moves .dynstr behind the dynamic section near the END of a file; the strings there
#: are read in any order, and without this window each read behind the stream would
#: inflate the member again from its start (4 times per openblas in the numpy wheel).
DEFAULT_WINDOW = 4 * 1024 * 1024
#: Inflate step while passing over bytes nobody asked for: large enough that the
#: per-call cost vanishes next to zlib's, small enough to keep memory flat.
_CHUNK = 1024 * 1024


class ZipMemberSource:
    """One wheel member, inflated lazily and only as far as the reader asks.

    Memory is bounded by ``prefix_cap + window + _CHUNK`` (plus the largest single
    read), whatever the member's size. ``restarts`` counts re-inflations from the start;
    ``inflated`` counts every byte inflated.
    """

    def __init__(
        self,
        zf: zipfile.ZipFile,
        info: zipfile.ZipInfo,
        prefix_cap: int = DEFAULT_PREFIX_CAP,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        self.name = info.filename
        self.size = info.file_size
        self._zf = zf
        self._info = info
        self._cap = prefix_cap
        self._window = window
        self._prefix = bytearray()
        self._recent: Deque[Tuple[int, bytes]] = deque()  # (offset, bytes), contiguous, ends at _pos
        self._recent_size = 0
        self._stream: Optional[IO[bytes]] = None
        self._pos = 0
        self.restarts = 0
        self.inflated = 0  # bytes inflated so far, counting restarts (tests, benchmarks)

    def _open(self) -> IO[bytes]:
        if self._stream is not None:
            self._stream.close()
        try:
            self._stream = self._zf.open(self._info)
        except ZIP_ERRORS as exc:  # the member's own fault: the reader's error, not a bug
            raise SourceError(f"cannot open the member: {exc}") from None
        self._pos = 0
        self._recent.clear()
        self._recent_size = 0
        return self._stream

    def _pull(self, n: int) -> bytes:
        """Next ``n`` bytes of the stream, keeping what falls in the prefix and window."""
        stream = self._stream if self._stream is not None else self._open()
        try:
            data = stream.read(n)
        except ZIP_ERRORS as exc:  # a bad deflate stream, a CRC mismatch: the member's fault
            raise SourceError(f"cannot inflate the member at {self._pos:#x}: {exc}") from None
        if len(data) != n:
            raise SourceError(f"member ended at {self._pos + len(data):#x}, before its declared size")
        have = len(self._prefix)
        if have < self._cap and self._pos <= have < self._pos + n:
            self._prefix += data[have - self._pos : self._cap - self._pos]
        if self._window > 0:
            self._recent.append((self._pos, data))
            self._recent_size += n
            while self._recent_size - len(self._recent[0][1]) >= self._window:
                self._recent_size -= len(self._recent.popleft()[1])
        self._pos += n
        self.inflated += n
        return data

    def _skip_to(self, offset: int) -> None:
        while self._pos < offset:
            self._pull(min(_CHUNK, offset - self._pos))

    def _from_recent(self, offset: int, end: int) -> Optional[bytes]:
        """Bytes [offset, end) if the window still holds all of them."""
        if not self._recent or offset < self._recent[0][0] or end > self._pos:
            return None
        parts: List[bytes] = []
        for start, data in self._recent:
            stop = start + len(data)
            if stop <= offset:
                continue
            if start >= end:
                break
            parts.append(data[max(offset - start, 0) : min(end, stop) - start])
        return b"".join(parts)

    def read(self, offset: int, length: int) -> bytes:
        _check_range(self, offset, length)
        end = offset + length
        if end <= len(self._prefix):
            return bytes(self._prefix[offset:end])
        if offset < self._pos:
            behind = self._read_behind(offset, min(end, self._pos))
            if behind is not None:
                return behind if end <= self._pos else behind + self._pull(end - self._pos)
            self.restarts += 1
            self._open()
        self._skip_to(offset)
        return self._pull(length)

    def _read_behind(self, offset: int, end: int) -> Optional[bytes]:
        if end <= len(self._prefix):
            return bytes(self._prefix[offset:end])
        if offset < len(self._prefix):
            rest = self._from_recent(len(self._prefix), end)
            return None if rest is None else bytes(self._prefix[offset:]) + rest
        return self._from_recent(offset, end)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._prefix = bytearray()
        self._recent.clear()
        self._recent_size = 0

    def __enter__(self) -> "ZipMemberSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_tree_files(root: str, skip_dir: Optional[Callable[[str], bool]] = None) -> Iterator[Tuple[str, str]]:
    """(relative posix path, absolute path) of the files a wheel built from ``root`` holds, sorted.

    What bdist_wheel writes: regular files, and symlinks to regular files (the zip gets
    the target's bytes), but never what lies under a symlinked directory (its walk does
    not follow those). Scanning exactly that set is the point: a skipped symlink would
    ship unverified. ``skip_dir(path)`` True: do not walk into that directory (the CLI's
    virtual environments; a build tree skips nothing).
    """
    # The relative name is carried down with each directory (os.path.relpath per file
    # was a third of the scan of a 12,000-file torch tree).
    stack = [(root, "")]
    found: List[Tuple[str, str]] = []
    while stack:
        d, rel = stack.pop()
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    if skip_dir is None or not skip_dir(e.path):
                        stack.append((e.path, rel + e.name + "/"))
                elif e.is_file(follow_symlinks=True):
                    found.append((rel + e.name, e.path))
            except OSError:
                continue
    yield from sorted(found)


def is_elf_file(path: str) -> bool:
    """Magic check with bare system calls: it runs once per file of the tree."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        return os.pread(fd, 4, 0) == ELF_MAGIC
    except OSError:
        return False
    finally:
        os.close(fd)
