"""pyelftools is the oracle for the ELF reader.

The reader unpacks headers with ``struct`` for speed (see docs/performance.md); these
tests hold it to pyelftools' own ``ELFFile`` on real files: system libraries, every
interpreter here, and every ELF member of real PyPI wheels.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
from elftools.elf.elffile import ELFFile
from support import DEBIAN_PYTHON, download_wheel, pyenv_pythons

from setuptools_nolibpython.elf import ELF_MAGIC, read_elf
from setuptools_nolibpython.sources import BytesSource, FileSource, ZipMemberSource


def oracle(stream: io.BufferedIOBase) -> Dict[str, object]:
    """needed / rpath / runpath / soname / type / machine as pyelftools reads them."""
    elf = ELFFile(stream)
    out: Dict[str, object] = {"needed": [], "rpath": [], "runpath": [], "soname": None,
                              "type": elf["e_type"], "machine": elf["e_machine"], "dynamic": False}
    for seg in elf.iter_segments():
        if seg["p_type"] != "PT_DYNAMIC":
            continue
        out["dynamic"] = True
        for tag in seg.iter_tags():
            kind = tag.entry.d_tag
            if kind == "DT_NEEDED":
                out["needed"].append(tag.needed)  # type: ignore[union-attr]
            elif kind == "DT_RPATH":
                out["rpath"].extend(p for p in tag.rpath.split(":") if p)  # type: ignore[union-attr]
            elif kind == "DT_RUNPATH":
                out["runpath"].extend(p for p in tag.runpath.split(":") if p)  # type: ignore[union-attr]
            elif kind == "DT_SONAME" and out["soname"] is None:
                out["soname"] = tag.soname
    return out


def ours(info_src: object) -> Dict[str, object]:
    info = read_elf(info_src)  # type: ignore[arg-type]
    return {"needed": list(info.needed), "rpath": list(info.rpath), "runpath": list(info.runpath),
            "soname": info.soname, "type": info.file_type, "machine": info.machine,
            "dynamic": info.is_dynamic}


def system_files(limit: int = 150) -> List[Path]:
    files: List[Path] = []
    for d in (Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/bin")):
        for p in sorted(d.iterdir()):
            if len(files) >= limit * (2 if d.name == "bin" else 1):
                break
            try:
                if p.is_file() and not p.is_symlink() and p.open("rb").read(4) == ELF_MAGIC:
                    files.append(p)
            except OSError:
                continue
    interpreters = [DEBIAN_PYTHON, *pyenv_pythons().values()]
    return files + [Path(p).resolve() for p in interpreters if Path(p).exists()]


@pytest.mark.parametrize("path", system_files(), ids=lambda p: p.name)
def test_reader_matches_pyelftools_on_system_files(path: Path) -> None:
    with open(path, "rb") as f:
        expected = oracle(f)  # type: ignore[arg-type]
    with FileSource(str(path)) as src:
        assert ours(src) == expected


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
