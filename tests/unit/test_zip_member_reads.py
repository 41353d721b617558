"""Reading a wheel member as a stream (ZipMemberSource): reads behind the stream restart
it correctly, the prefix cap holds, recent bytes come from the window, random reads match
the bytes, and a member shorter than its header says is a one-line error. Zips made here."""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

import pytest

from setuptools_nolibpython.sources import _CHUNK, SourceError, ZipMemberSource


def _zip_with(tmp: Path, data: bytes, method: int) -> Path:
    path = tmp / f"m{method}.zip"
    with zipfile.ZipFile(path, "w", method) as zf:
        zf.writestr("empty", b"")
        zf.writestr("member.bin", data)
    return path


@pytest.fixture(scope="module")
def payload() -> bytes:
    rng = random.Random(6)
    # Half random (deflate cannot shrink it), half text-like (it can): both block kinds.
    return bytes(rng.getrandbits(8) for _ in range(600_000)) + b"libpython3.11.so.1.0\0" * 30_000


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_reads_behind_the_stream_restart_correctly(payload: bytes, tmp_path: Path, method: int) -> None:
    with zipfile.ZipFile(_zip_with(tmp_path, payload, method)) as zf:
        with ZipMemberSource(zf, zf.getinfo("member.bin"), prefix_cap=1000, window=4096) as src:
            # Past the first inflate step (_CHUNK), so the window lets the start go.
            end = len(payload)
            assert end > _CHUNK + 10_000
            assert src.read(end - 100, 100) == payload[-100:]
            assert src.restarts == 0
            # Behind the stream, beyond the prefix and the window: inflated again.
            assert src.read(200_000, 50) == payload[200_000:200_050]
            assert src.restarts == 1
            # Straddling the prefix end after a restart still reads the right bytes.
            assert src.read(990, 20) == payload[990:1010]
            assert src.read(800_000, 3) == payload[800_000:800_003]


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_prefix_cap_is_honoured(payload: bytes, tmp_path: Path, method: int) -> None:
    with zipfile.ZipFile(_zip_with(tmp_path, payload, method)) as zf:
        with ZipMemberSource(zf, zf.getinfo("member.bin"), prefix_cap=5000, window=1024) as src:
            assert src.read(len(payload) - 10, 10) == payload[-10:]
            assert src.read(0, 5000) == payload[:5000]  # inside the cap: kept
            assert src.restarts == 0
            assert src.read(5000, 10) == payload[5000:5010]  # one byte past the cap: not kept
            assert src.restarts == 1


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_window_serves_recent_bytes(payload: bytes, tmp_path: Path, method: int) -> None:
    with zipfile.ZipFile(_zip_with(tmp_path, payload, method)) as zf:
        with ZipMemberSource(zf, zf.getinfo("member.bin"), prefix_cap=0, window=300_000) as src:
            assert src.read(650_000, 8) == payload[650_000:650_008]
            # Read in any order within the window: no restart, exact bytes.
            for off in (600_000, 640_000, 420_000, 649_990):
                assert src.read(off, 64) == payload[off:off + 64]
            assert src.restarts == 0
            assert src.inflated <= 650_008 + 8 + 64


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_reads_at_the_end_of_a_member(payload: bytes, tmp_path: Path, method: int) -> None:
    size = len(payload)
    with zipfile.ZipFile(_zip_with(tmp_path, payload, method)) as zf:
        with ZipMemberSource(zf, zf.getinfo("member.bin"), prefix_cap=100, window=100) as src:
            assert src.size == size
            assert src.read(size - 7, 7) == payload[-7:]
            assert src.read(size, 0) == b""
            with pytest.raises(SourceError, match="truncated"):
                src.read(size - 3, 4)
            with pytest.raises(SourceError):
                src.read(-1, 2)
            assert src.inflated == size
        with ZipMemberSource(zf, zf.getinfo("empty")) as empty:
            assert empty.read(0, 0) == b""
            with pytest.raises(SourceError):
                empty.read(0, 1)


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
@pytest.mark.parametrize("cap,window", [(0, 0), (1000, 0), (0, 5000), (70_000, 20_000)])
def test_random_reads_match_the_bytes(payload: bytes, tmp_path: Path, method: int, cap: int, window: int) -> None:
    rng = random.Random(cap * 7 + window + method)
    with zipfile.ZipFile(_zip_with(tmp_path, payload, method)) as zf:
        with ZipMemberSource(zf, zf.getinfo("member.bin"), prefix_cap=cap, window=window) as src:
            for _ in range(150):
                off = rng.randrange(len(payload))
                length = rng.choice([1, 4, 64, 3000, 70_000])
                length = min(length, len(payload) - off)
                assert src.read(off, length) == payload[off:off + length], (off, length)


def test_member_shorter_than_declared_is_a_one_line_error(payload: bytes, tmp_path: Path) -> None:
    """A member whose data ends before its declared size: SourceError, not a traceback."""
    path = _zip_with(tmp_path, payload, zipfile.ZIP_STORED)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("member.bin")
    info.file_size += 1000  # the central directory lies: the stored data is shorter
    with zipfile.ZipFile(path) as zf:
        with ZipMemberSource(zf, info) as src:
            with pytest.raises(SourceError) as exc:
                src.read(len(payload) + 10, 4)
            assert "\n" not in str(exc.value) and "before its declared size" in str(exc.value)
