"""The ELF reader agrees with pyelftools' own ``ELFFile`` on every ELF member of real
PyPI wheels (downloaded once), and the oracle itself sees what the reader must find in a
module gcc builds here. System files and interpreters: tests/unit/."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Iterator, Optional, Tuple

import pytest
from support import download_wheel
from support.elf_oracle import oracle, ours

from setuptools_nolibpython.elf import ELF_MAGIC
from setuptools_nolibpython.sources import BytesSource, FileSource, ZipMemberSource


def wheel_elf_members(name: str) -> Iterator[Tuple[str, bytes]]:
    with zipfile.ZipFile(download_wheel(name)) as zf:
        for info in zf.infolist():
            with zf.open(info) as f:
                if f.read(4) != ELF_MAGIC:
                    continue
            yield info.filename, zf.read(info)


@pytest.mark.parametrize("wheel", ["numpy", "lxml", "pillow", "grpcio"])
def test_reader_matches_pyelftools_on_wheel_members(wheel: str) -> None:
    seen = 0
    path = download_wheel(wheel)
    with zipfile.ZipFile(path) as zf:
        for name, data in wheel_elf_members(wheel):
            expected = oracle(io.BytesIO(data))  # type: ignore[arg-type]
            assert ours(BytesSource(data, name)) == expected, name
            with ZipMemberSource(zf, zf.getinfo(name)) as streamed:
                assert ours(streamed) == expected, f"{name} (streamed)"
            seen += 1
    assert seen > 0, f"{wheel}: no ELF member found, the comparison proved nothing"


def test_oracle_sees_what_the_reader_must_find(tmp_path: Path) -> None:
    """Negative control: the oracle reports libpython in a module that links it."""
    import subprocess
    import sysconfig

    src = tmp_path / "m.c"
    src.write_text("int f(void) { return 1; }\n")
    out = tmp_path / "m.so"
    libdir: Optional[str] = sysconfig.get_config_var("LIBDIR")
    ver = sysconfig.get_config_var("LDVERSION")
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,--no-as-needed", str(src), "-o", str(out),
                    f"-L{libdir}", f"-lpython{ver}"], check=True)
    with open(out, "rb") as f:
        expected = oracle(f)  # type: ignore[arg-type]
    assert f"libpython{ver}.so.1.0" in expected["needed"]  # type: ignore[operator]
    with FileSource(str(out)) as s:
        assert ours(s) == expected
