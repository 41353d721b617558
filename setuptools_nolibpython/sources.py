"""Byte sources the ELF reader reads from: a file on disk, bytes, or a wheel member.

The reader asks for small ranges (header, program headers, the dynamic section, a few
strings). A file answers with ``pread``. A zip member is inflated once, front to back:
the first bytes (where ``.dynsym``/``.dynstr`` live) are kept up to a cap, later bytes are
passed over and dropped, and reading stops as soon as the reader has what it needs, so
memory does not grow with member size and most of a large member is never inflated.
A request behind the stream that the kept prefix does not cover restarts the member.
"""

from __future__ import annotations

import os
import zipfile
from typing import IO, Optional, Protocol


class SourceError(Exception):
    """The bytes asked for are not there (truncated input or an I/O failure)."""


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
#: tables sit near the start of every shared object seen (libtorch_cpu.so: they end at
#: 7.4 MB of 434 MB); a request beyond the prefix and behind the stream re-inflates.
DEFAULT_PREFIX_CAP = 16 * 1024 * 1024
_CHUNK = 256 * 1024


class ZipMemberSource:
    """One wheel member, inflated lazily and only as far as the reader asks."""

    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, prefix_cap: int = DEFAULT_PREFIX_CAP) -> None:
        self.name = info.filename
        self.size = info.file_size
        self._zf = zf
        self._info = info
        self._cap = prefix_cap
        self._prefix = bytearray()
        self._stream: Optional[IO[bytes]] = None
        self._pos = 0
        self.restarts = 0

    def _open(self) -> IO[bytes]:
        if self._stream is not None:
            self._stream.close()
        self._stream = self._zf.open(self._info)
        self._pos = 0
        return self._stream

    def _pull(self, n: int) -> bytes:
        """Next ``n`` bytes of the stream, keeping what falls in the prefix."""
        stream = self._stream if self._stream is not None else self._open()
        data = stream.read(n)
        if len(data) != n:
            raise SourceError(f"member ended at {self._pos + len(data):#x}, before its declared size")
        if self._pos < self._cap and self._pos == len(self._prefix):
            self._prefix += data[: self._cap - self._pos]
        self._pos += n
        return data

    def _skip_to(self, offset: int) -> None:
        while self._pos < offset:
            self._pull(min(_CHUNK, offset - self._pos))

    def read(self, offset: int, length: int) -> bytes:
        _check_range(self, offset, length)
        end = offset + length
        if end <= len(self._prefix):
            return bytes(self._prefix[offset:end])
        if offset < self._pos:
            if offset < len(self._prefix) and self._pos == len(self._prefix):
                head = bytes(self._prefix[offset:])
                return head + self.read(self._pos, end - self._pos)
            self.restarts += 1
            self._open()
        self._skip_to(offset)
        return self._pull(length)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._prefix = bytearray()

    def __enter__(self) -> "ZipMemberSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
