"""The ELF reader agrees with pyelftools' own ELFFile on real files already on this
machine: system libraries and programs, and every interpreter here. (The reader unpacks
headers with struct for speed, see docs/performance.md.)"""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest
from support import DEBIAN_PYTHON, pyenv_pythons
from support.elf_oracle import oracle, ours

from setuptools_nolibpython.elf import ELF_MAGIC
from setuptools_nolibpython.sources import FileSource


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
