"""`nolibpython check -j N`: the same output, text and --json, whatever N.

Real inputs: corpus wheels from PyPI (clean), a pyenv interpreter that links libpython
(a failing file), a system library, and a directory tree, in one call. Negative
control: the same targets in another order give another output, so the comparison
would see a parallel run that printed its targets as they finished.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest
from support import download_wheel, require, run

PYENV_EXE = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
LIBZ = Path("/usr/lib/x86_64-linux-gnu/libz.so.1")


def check(*args: object) -> Tuple[int, str, str]:
    proc: subprocess.CompletedProcess[str] = run([sys.executable, "-m", "setuptools_nolibpython", "check",
                                                  *map(str, args)])
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> List[Path]:
    require(PYENV_EXE.is_file(), f"{PYENV_EXE} (a pyenv --enable-shared interpreter) is needed")
    require(LIBZ.is_file(), f"{LIBZ} is needed", apt=["zlib1g"])
    tree = tmp_path_factory.mktemp("tree")
    shutil.copy(LIBZ, tree / "libz.so.1")
    shutil.copy(PYENV_EXE, tree / "python")  # a program that embeds Python: an error in the tree
    return [download_wheel("lxml"), PYENV_EXE, download_wheel("pillow"), LIBZ, tree, download_wheel("grpcio")]


@pytest.mark.parametrize("form", [(), ("--json",)], ids=["text", "json"])
def test_parallel_output_equals_serial(targets: List[Path], form: Tuple[str, ...]) -> None:
    serial = check(*form, "-j", "1", *targets)
    assert serial[0] == 1, serial  # the interpreter links libpython: the run has a failure to report
    assert "libpython" in serial[1]
    for jobs in ("2", "3"):
        assert check(*form, "-j", jobs, *targets) == serial, f"-j {jobs} differs from -j 1"
    assert check(*form, *targets) == serial  # the default: one process per CPU
    # Negative control: order is visible in the output.
    assert check(*form, "-j", "1", *reversed(targets)) != serial


def test_jobs_must_be_a_positive_number() -> None:
    for bad in ("0", "-2", "two"):
        code, out, err = check("-j", bad, LIBZ)
        assert code == 2 and "-j" in err and bad in err, (bad, code, err)
