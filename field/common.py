"""What every stage of the field trial shares: paths and constants, the data file
(field/projects.toml), running a command, a wheel's ELF inventory, the check command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the runner itself runs on 3.11+ in practice
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python field/run.py`: devtools/ sits at the top
    sys.path.insert(0, str(REPO))
# Re-exported (``as``) for the stages and tests/test_field_subset.py. DEBIAN_PYTHON: Debian's
# static python3.11, where (c) is installed and cp311/abi3 wheels are judged.
from devtools.machine import DEBIAN_PYTHON as DEBIAN_PYTHON  # noqa: E402
from devtools.machine import find_links_file as find_links_file  # noqa: E402
from devtools.machine import pyenv_python as pyenv_python  # noqa: E402
from devtools.machine import pyenv_root  # noqa: E402

#: Everything downloaded or built; a test points it elsewhere (read as ``common.CACHE``
#: at call time by every stage, so one assignment moves them all).
CACHE = REPO / ".cache" / "field"
PROJECTS = Path(__file__).resolve().parent / "projects.toml"
PROBE = Path(__file__).resolve().parent / "probe.py"
WITHOUT_LIBPYTHON = REPO / "tests" / "support" / "without_libpython.sh"
PYENV_ROOT = pyenv_root()
#: The interpreter that builds every sdist (pyenv, --enable-shared).
BUILD_PYTHON_VERSION = "3.11.7"
#: Build (c)'s LDFLAGS: libpython forced into every link, and -z defs, which the plugin must cancel.
HOSTILE_LDFLAGS = "-Wl,--no-as-needed -lpython3.11 -Wl,-z,defs"
LOG_PREFIX = "setuptools-nolibpython:"
KINDS_OF_SDIST = (
    "plain C",
    "C++",
    "Cython",
    "pybind11",
    "cffi_modules",
    "numpy C-API",
    "own build_ext",
    "bundled C lib",
    "calls cmake",
    "calls make",
    "setup.py-only",
    "pyproject-only",
    "in-tree backend",
)


class FieldError(Exception):
    """A one-line problem with the trial's inputs (data file, cache, machine)."""


# ---------------------------------------------------------------------------- data file


@dataclass(frozen=True)
class Sdist:
    name: str
    version: str
    exercises: Tuple[str, ...]
    smoke: str
    env: Dict[str, str] = field(default_factory=dict)
    apt: Tuple[str, ...] = ()
    repeats: int = 1
    smoke_requires: Tuple[str, ...] = ()

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Wheel:
    file: str
    exercises: Tuple[str, ...]

    @property
    def tags(self) -> Tuple[str, str, str]:
        """(python, abi, platform) tags from the file name (PEP 427)."""
        parts = self.file[: -len(".whl")].split("-")
        return parts[-3], parts[-2], parts[-1]

    @property
    def name(self) -> str:
        return self.file.split("-")[0]

    @property
    def version(self) -> str:
        return self.file.split("-")[1]


def _strings(value: Any, where: str) -> Tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FieldError(f"{where}: must be a list of strings")
    return tuple(value)


def load_projects(path: Path = PROJECTS) -> Tuple[List[Sdist], List[Wheel]]:
    """Parse the pinned list; any malformed entry is a FieldError naming file and entry."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FieldError(f"{path}: {exc}") from None
    sdists: List[Sdist] = []
    for i, entry in enumerate(data.get("sdist", [])):
        where = f"{path}: [[sdist]] #{i + 1}"
        unknown = set(entry) - {"name", "version", "exercises", "smoke", "env", "apt", "repeats", "smoke_requires"}
        if unknown:
            raise FieldError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        for key in ("name", "version", "smoke"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise FieldError(f"{where}: '{key}' must be a non-empty string")
        if not re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", entry["version"]):
            raise FieldError(f"{where}: version {entry['version']!r} is not an exact version")
        exercises = _strings(entry.get("exercises"), f"{where} ({entry['name']}): exercises")
        bad = [e for e in exercises if e not in KINDS_OF_SDIST]
        if bad:
            raise FieldError(
                f"{where} ({entry['name']}): unknown exercise {bad[0]!r}; one of {', '.join(KINDS_OF_SDIST)}"
            )
        env = entry.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise FieldError(f"{where} ({entry['name']}): env must be a table of strings")
        repeats = entry.get("repeats", 1)
        if not isinstance(repeats, int) or repeats < 1:
            raise FieldError(f"{where} ({entry['name']}): repeats must be a positive integer")
        sdists.append(
            Sdist(
                entry["name"],
                entry["version"],
                exercises,
                entry["smoke"],
                dict(env),
                _strings(entry.get("apt", []), f"{where}: apt"),
                repeats,
                _strings(entry.get("smoke_requires", []), f"{where}: smoke_requires"),
            )
        )
    wheels: List[Wheel] = []
    for i, entry in enumerate(data.get("wheel", [])):
        where = f"{path}: [[wheel]] #{i + 1}"
        name = entry.get("file")
        if not isinstance(name, str) or not name.endswith(".whl") or name.count("-") not in (4, 5):
            raise FieldError(f"{where}: 'file' must be a wheel file name (name-version-python-abi-platform.whl)")
        wheels.append(Wheel(name, _strings(entry.get("exercises", []), f"{where}: exercises")))
    seen = set()
    for item in [s.spec for s in sdists] + [w.file for w in wheels]:
        if item in seen:
            raise FieldError(f"{path}: {item} is listed twice")
        seen.add(item)
    return sdists, wheels


# ---------------------------------------------------------------------------- commands


@dataclass
class Ran:
    ok: bool
    seconds: float  # wall time
    output: str
    cpu: float = 0.0  # user+system seconds of the command and every descendant it waited for
    code: int = 0  # exit status (-N: killed by signal N; -1 also when timed out)


def run(
    cmd: Sequence[str], env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None, timeout: float = 1800
) -> Ran:
    """Run a command, capturing stdout+stderr; wall time from a monotonic clock and CPU
    time from wait4(2) (on a shared machine the CPU time is the figure other jobs do not move)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as out:
        proc = subprocess.Popen(
            list(cmd),
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = start + timeout
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.killpg(proc.pid, 9)
                _pid, status, usage = os.wait4(proc.pid, 0)
                out.write(f"\n[timed out after {timeout:.0f} s]")
                status = -1
                break
            time.sleep(0.02)
        proc.returncode = 0  # reaped above; keep Popen from waiting again
        out.seek(0)
        text = out.read()
    cpu = usage.ru_utime + usage.ru_stime if usage is not None else 0.0
    code = -1 if status == -1 else os.waitstatus_to_exitcode(status)
    return Ran(status == 0, time.perf_counter() - start, text, cpu, code)


def clean_env(**extra: str) -> Dict[str, str]:
    """The environment of a build: the caller's, minus anything that changes a link or
    the plugin's switch, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LDFLAGS", "LDSHARED", "CFLAGS", "CPPFLAGS", "SETUPTOOLS_NOLIBPYTHON", "PYTHONPATH")
    }
    env.update(extra)
    return env


# ---------------------------------------------------------------------------- ELF inventory of a wheel


@dataclass
class ElfMember:
    path: str
    kind: str  # module, library, executable
    module: str  # dotted import name for modules


def _module_name(member: str) -> str:
    parts = member.split("/")
    base = parts[-1].split(".")[0]
    pkgs = parts[:-1]
    if pkgs and (pkgs[0].endswith(".data")):  # name.data/purelib/... or platlib/...
        pkgs = pkgs[2:]
    return ".".join([*pkgs, base])


def inventory(whl: Path) -> List[ElfMember]:
    """Every ELF member of a wheel, classified as the loader sees it."""
    from setuptools_nolibpython.dynsym import read_dynamic_symbols
    from setuptools_nolibpython.elf import read_elf
    from setuptools_nolibpython.errors import ElfReadError
    from setuptools_nolibpython.sources import BytesSource

    out: List[ElfMember] = []
    with zipfile.ZipFile(whl) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            with zf.open(info) as f:
                if f.read(4) != b"\x7fELF":
                    continue
            data = zf.read(info)
            try:
                elf = read_elf(BytesSource(data))
                syms = read_dynamic_symbols(BytesSource(data), elf)
            except ElfReadError:
                out.append(ElfMember(info.filename, "unreadable", ""))
                continue
            interp = any(seg.type == 3 for seg in elf.segments)  # PT_INTERP: a program
            if elf.file_type == "ET_EXEC" or (interp and not syms.has_module_init):
                out.append(ElfMember(info.filename, "executable", ""))
            elif syms.has_module_init and info.filename.endswith(".so"):
                out.append(ElfMember(info.filename, "module", _module_name(info.filename)))
            else:
                out.append(ElfMember(info.filename, "library", ""))
    return out


# ---------------------------------------------------------------------------- check


def check_command(cli_py: Path, targets: Sequence[Path], python: Optional[Path], strict: bool = False) -> List[str]:
    """``nolibpython check --json [--strict] [--python PY] TARGET...``, as a user runs it."""
    cmd = [str(cli_py), "-m", "setuptools_nolibpython", "check", "--json", *(["--strict"] if strict else [])]
    if python is not None:
        cmd += ["--python", str(python)]
    return [*cmd, *map(str, targets)]


def nolibpython_check(cli_py: Path, target: Path, python: Optional[Path], strict: bool = False) -> Dict[str, Any]:
    """``nolibpython check --json`` of one wheel, against ``python`` when given."""
    r = run(check_command(cli_py, [target], python, strict), timeout=900)
    try:
        doc: Dict[str, Any] = json.loads(r.output[r.output.index("{") :])
    except ValueError:
        raise FieldError(f"nolibpython check {target.name}: no JSON document: {r.output.strip()[-300:]}") from None
    doc["seconds"] = round(r.seconds, 3)
    return doc
