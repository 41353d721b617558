"""The mode of a wheel `repair` writes: what any new file gets under the user's umask
(0644 under umask 022), not the 0600 of the temporary file it is written to first, which
would leave a wheelhouse unreadable to other users and to the web server serving it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from support import run
from support.cbuild import libpython_module_wheel

CLI = [sys.executable, "-m", "setuptools_nolibpython"]


def under_umask(umask: int, *argv: object) -> "subprocess.CompletedProcess[str]":
    """``argv`` run with the process umask set to ``umask``."""
    return run(["sh", "-c", f'umask {umask:03o} && exec "$@"', "sh", *map(str, argv)])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return libpython_module_wheel(tmp_path_factory.mktemp("mode"))


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_repaired_wheel_mode_follows_the_umask(wheel: Path, tmp_path: Path, umask: int) -> None:
    # the judge: a file the shell creates under the same umask
    assert under_umask(umask, "touch", tmp_path / "plain").returncode == 0
    expected = mode(tmp_path / "plain")
    assert expected == 0o666 & ~umask
    out = tmp_path / "out"
    proc = under_umask(umask, *CLI, "repair", "-w", out, wheel)
    assert proc.returncode == 0 and "removed DT_NEEDED libpython" in proc.stdout, proc.stdout + proc.stderr
    assert mode(out / wheel.name) == expected, oct(mode(out / wheel.name))
    copy = under_umask(umask, *CLI, "repair", "--force-copy", "-w", tmp_path / "copy", out / wheel.name)
    assert copy.returncode == 0 and "copied unchanged" in copy.stdout, copy.stdout + copy.stderr
    assert mode(tmp_path / "copy" / wheel.name) == expected
    if umask == 0o022:
        assert expected & stat.S_IROTH  # readable to a web server serving the wheelhouse
        # negative control: the temporary file repair writes first is 0600 whatever the umask,
        # so the mode above is repair's doing
        fd, tmp = tempfile.mkstemp(dir=tmp_path)
        os.close(fd)
        assert mode(Path(tmp)) == 0o600 != expected
