"""Debian sid's python3.14 and python3.15, in the chroot scripts/sid_chroot.sh makes.

Neither pyenv nor the package index has 3.14 or 3.15 here; Debian sid has both, as
static executables with libpython3.1X.so.1.0 installed beside them (Debian's layout).
Commands run inside with ``chroot`` in a private mount namespace (``unshare -m``), so the
/proc and /dev mounts they need vanish with them; work directories live under the
chroot's /tmp and are removed afterwards. Hiding libpython reuses
tests/support/without_libpython.sh, run inside the chroot.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Mapping, Optional, Sequence

from devtools.machine import SID_ROOT

from . import REPO, WITHOUT_LIBPYTHON, require

SID_SCRIPT = REPO / "scripts" / "sid_chroot.sh"
SID_VERSIONS = ("3.14", "3.15")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def require_sid() -> None:
    """Skip (a failure under CI=true) without the chroot, naming the command that makes it."""
    require(os.geteuid() == 0, "the Debian sid chroot tests need root (chroot, unshare -m)")
    require((SID_ROOT / ".complete").exists(),
            f"no Debian sid chroot at {SID_ROOT}: make it with `bash {SID_SCRIPT.relative_to(REPO)}` as root "
            "(~4 minutes, ~750 MB; NOLIBPYTHON_SID_ROOT moves it)", apt=["debootstrap"])


class Sid:
    """One work directory inside the chroot, and commands run there."""

    def __init__(self, root: Path = SID_ROOT) -> None:
        self.root = root
        self.work = root / "tmp" / f"nolibpython-{uuid.uuid4().hex[:12]}"
        self.work.mkdir(parents=True)
        shutil.copy2(WITHOUT_LIBPYTHON, self.work / "without_libpython.sh")

    def inside(self, host_path: Path) -> str:
        """The path a file of the chroot has for a command inside it."""
        return "/" + str(Path(os.path.abspath(host_path)).relative_to(self.root))

    def host(self, inside_path: str) -> Path:
        return self.root / inside_path.lstrip("/")

    def run(self, argv: Sequence[str], *, env: Optional[Mapping[str, str]] = None, cwd: Optional[str] = None,
            without_libpython: bool = False, timeout: int = 1200) -> "subprocess.CompletedProcess[str]":
        """Run ``argv`` inside the chroot with a clean environment (the host's PIP_* settings
        point at host paths); ``without_libpython`` hides every libpython*.so* first."""
        base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
                "PIP_CERT": CA_BUNDLE, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "TMPDIR": self.inside(self.work)}
        base.update(env or {})
        cmd = list(argv)
        if without_libpython:
            cmd = ["bash", self.inside(self.work / "without_libpython.sh"), *cmd]
        inner = " ".join(shlex.quote(a) for a in cmd)
        if cwd:
            inner = f"cd {shlex.quote(cwd)} && exec {inner}"
        root = shlex.quote(str(self.root))
        envs = " ".join(shlex.quote(f"{k}={v}") for k, v in base.items())
        script = (
            # The root bound onto itself is a mount point, so that `unshare -m` inside (the
            # libpython hiding) can make it private.
            f"mount --make-rprivate / && mount --bind {root} {root} && mount -t proc proc {root}/proc && "
            f"mount --bind /dev {root}/dev && "
            f"exec chroot {root} /usr/bin/env -i {envs} /bin/sh -c {shlex.quote(inner)}"
        )
        return subprocess.run(["unshare", "-m", "--", "/bin/sh", "-c", script], capture_output=True, text=True,
                              timeout=timeout)

    def check(self, argv: Sequence[str], **kwargs: object) -> "subprocess.CompletedProcess[str]":
        proc = self.run(argv, **kwargs)  # type: ignore[arg-type]
        assert proc.returncode == 0, (
            f"{' '.join(argv)} failed in {self.root}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def with_wheelhouse(self, wheelhouse: Path) -> str:
        """Copy the plugin's wheel (the ``wheelhouse`` fixture) in; returns its inside path."""
        dest = self.work / "wheelhouse"
        if not dest.exists():
            shutil.copytree(wheelhouse, dest)
        return self.inside(dest)

    def venv(self, version: str, wheelhouse: str, *packages: str) -> str:
        """A venv of Debian's python``version`` with the plugin (from ``wheelhouse``, its
        dependencies from the index) and ``packages``; returns its python's inside path."""
        venv = self.work / f"venv-{version}"
        if not venv.exists():
            self.check([f"python{version}", "-m", "venv", self.inside(venv)])
            self.check([self.inside(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--find-links",
                        wheelhouse, "setuptools-nolibpython", *packages])
        return self.inside(venv / "bin" / "python")

    def gcc(self, source: Path, out: Path, version: str, *cflags: str) -> Path:
        """Compile a module with the chroot's gcc against Debian's python``version`` headers."""
        self.check(["gcc", "-shared", "-fPIC", "-O0", "-Wall", "-Werror", f"-I/usr/include/python{version}",
                    *cflags, self.inside(source), "-o", self.inside(out)])
        return out

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
