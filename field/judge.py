"""The field trial's wheels, judged as a user meets them.

Ground truth: the wheel is installed with its runtime dependencies (binary wheels, resolved
by pip once and kept in .cache/field/deps) into a fresh venv of the interpreter it is for,
and each of its top-level import names is imported there; on Debian's static python3.11
every libpython is hidden (tests/support/without_libpython.sh). Each extension module of
the wheel is then imported too, as detail. A file opened on its own is not the truth: a
module may need a library that a dependency's import loads first, or be an optional
backend the package only imports after probing for its library.

The gate's verdict is the exit status of ``nolibpython check WHEEL`` and, when the package
has binary dependencies, of ``nolibpython check WHEEL DEP_WHEELS...``. Exit 1 on a working
package and exit 0 on a broken one are wrong verdicts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from field import common
from field.common import (
    DEBIAN_PYTHON,
    PROBE,
    WITHOUT_LIBPYTHON,
    ElfMember,
    FieldError,
    Wheel,
    check_command,
    clean_env,
    inventory,
    pyenv_python,
    run,
)
from field.fetch import fetch_wheel

WORKS, BROKEN, NOT_JUDGED = "works", "broken", "not judged"
EXIT_1_ON_WORKING = "exit 1 on a working package"
EXIT_0_ON_BROKEN = "exit 0 on a broken package"

METHOD = (
    "- **Wheels**: the gate's verdict is the exit status of `nolibpython check --json --python PY WHEEL` "
    "and, for a package with binary dependencies, of `nolibpython check --json --python PY WHEEL "
    "DEP_WHEELS...` (the wheels of those dependencies, checked together). PY is the interpreter the wheel is "
    "for: Debian's static `/usr/bin/python3.11` for cp311, abi3 and py3 wheels, the pyenv interpreter of "
    "the version for cp39/cp310/cp312/cp313. Ground truth (`field/judge.py`, `field/probe.py`) is the "
    "package as a user meets it: pip resolves its runtime dependencies as binary wheels (once; kept in "
    "`.cache/field/deps`), installs the wheel with them into a fresh venv of PY (`python -m venv`), and "
    "each top-level import name of the wheel is imported there, then, in the same process, each extension "
    "module in the wheel's import tree (at the top, or below regular packages only: a directory without "
    "`__init__.py` holds files for something else to load); on Debian's python3.11 every libpython is "
    "hidden (`tests/support/without_libpython.sh`). The package is **broken** when a top-level import "
    "fails with the dynamic loader's message (a missing library, an undefined symbol, a missing symbol "
    "version, libpython), or a module fails with one that no earlier load can cure (libpython, an undefined "
    "symbol, a missing symbol version: markupsafe's `__init__` falls back to pure Python when its module "
    "cannot load, so the top-level import alone would hide a module linked to libpython). A module whose "
    "only failure is a library nothing installed provides still lets the package **work**: it loads once "
    "the system or an earlier import provides the library (numba's TBB backend, probed for with ctypes). "
    "Any other failure of a top-level import (a pure-Python error), no interpreter here for its platform, "
    "or pip unable to install it leaves the package **not judged**, with the reason.",
    "- **Wrong verdict**: exit 1 on a working package, or exit 0 on a broken package, by either command. "
    "An exit status other than 0 and 1 is no verdict and is listed as such.",
)


@dataclass
class CheckRun:
    """One ``nolibpython check`` of the wheel (first) and maybe its dependency wheels."""

    wheels: List[str]
    status: int
    seconds: float
    errors: List[str]  # "path: code: detail" of each error-severity problem
    warnings: List[str]  # "path: code" of each warning
    output: str  # the output's tail when it held no JSON document


@dataclass
class WheelResult:
    file: str
    exercises: List[str]
    size_mb: float
    elf_files: int
    kinds: List[int]  # modules, libraries, programs
    interpreter: str  # what judged it; "" when nothing here can
    dependencies: List[str]  # the dependency wheels installed with it
    truth: str  # WORKS / BROKEN / NOT_JUDGED
    reason: str  # the failing import (broken) or why it was not judged
    imports: Dict[str, str]  # top-level name -> "ok" or the error
    modules: Dict[str, str]  # extension module of the wheel -> "ok" or the error (detail)
    checks: List[CheckRun]

    def wrong(self) -> List[Tuple[CheckRun, str]]:
        """(check, what is wrong) for each check whose exit status contradicts the truth."""
        out = []
        for c in self.checks:
            if self.truth == WORKS and c.status == 1:
                out.append((c, EXIT_1_ON_WORKING))
            elif self.truth == BROKEN and c.status == 0:
                out.append((c, EXIT_0_ON_BROKEN))
        return out

    def no_verdict(self) -> List[CheckRun]:
        return [c for c in self.checks if c.status not in (0, 1)]


# ---------------------------------------------------------------------------- the package


def import_names(whl: Path) -> List[str]:
    """The wheel's top-level import names: packages and modules at its root or under
    ``*.data/purelib|platlib`` (``numpy.libs`` and other non-identifiers are not importable)."""
    names = set()
    with zipfile.ZipFile(whl) as zf:
        for member in zf.namelist():
            parts = member.split("/")
            if parts[0].endswith(".data") and len(parts) > 2 and parts[1] in ("purelib", "platlib"):
                parts = parts[2:]
            elif parts[0].endswith((".dist-info", ".data")):
                continue
            if len(parts) > 1:
                if parts[-1].endswith((".py", ".so")) or ".cpython-" in parts[-1]:
                    names.add(parts[0])
            elif parts[0].endswith(".py"):
                names.add(parts[0][: -len(".py")])
            elif parts[0].endswith(".so"):
                names.add(parts[0].split(".")[0])
    return sorted(n for n in names if n.isidentifier() and n != "__pycache__")


def dependency_wheels(cli_py: Path, python: Path, whl: Path) -> Tuple[List[Path], str]:
    """The wheels pip picks for the wheel's runtime dependencies on ``python`` (binary only),
    downloaded once; ([], reason) when pip cannot resolve them."""
    where = common.CACHE / "deps" / whl.name[: -len(".whl")]
    done = where / ".complete"
    if not done.exists() and not requires_dist(whl):  # nothing to resolve: spare pip a round trip
        where.mkdir(parents=True, exist_ok=True)
        done.write_text("")
    if not done.exists():
        shutil.rmtree(where, ignore_errors=True)
        where.mkdir(parents=True)
        r = run(
            [str(cli_py), "-m", "pip", "--python", str(python), "download", "-q", "--only-binary", ":all:",
             "-d", str(where), str(whl)],
            env=clean_env(),
            timeout=1800,
        )
        (where / whl.name).unlink(missing_ok=True)  # pip copies the wheel itself there too
        if not r.ok:
            return [], "pip cannot resolve its dependencies as wheels: " + _last_line(r.output)
        done.write_text("")
    return sorted(p for p in where.glob("*.whl") if p.name != whl.name), ""


def requires_dist(whl: Path) -> List[str]:
    """The wheel's Requires-Dist lines (its METADATA)."""
    with zipfile.ZipFile(whl) as zf:
        meta = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1), None)
        text = zf.read(meta).decode("utf-8", "replace") if meta else ""
    return [ln for ln in text.split("\n\n", 1)[0].splitlines() if ln.startswith("Requires-Dist:")]


def _last_line(output: str) -> str:
    useful = [ln.strip() for ln in output.splitlines() if ln.strip() and "is ignored: it is neither" not in ln]
    return (useful[-1] if useful else "(no output)")[:300]


def in_import_tree(path: str, names: Sequence[str]) -> bool:
    """Whether a module of the wheel is part of its packages' import tree: at the top, or
    every directory above it a regular package. A directory without ``__init__.py`` holds
    files for something else to load (freeze_core/lib: the modules of frozen applications,
    which this interpreter never imports)."""
    parts = path.split("/")
    prefix = ""
    if parts[0].endswith(".data") and len(parts) > 2:
        prefix, parts = "/".join(parts[:2]) + "/", parts[2:]
    have = set(names)
    return all(f"{prefix}{'/'.join(parts[:i])}/__init__.py" in have for i in range(1, len(parts)))


def cannot_load(loader: str) -> bool:
    """Whether a module's loader failure holds whatever is loaded first: libpython, an
    undefined symbol, a missing symbol version. A missing library other than libpython does
    not: the module loads once the system or an earlier import (ctypes, a dependency)
    provides it, which is how optional backends and dependencies' libraries work."""
    return bool(loader) and ("libpython" in loader or "cannot open shared object file" not in loader)


def meet(
    cli_py: Path, whl: Path, python: Path, hide: bool, members: Sequence[ElfMember]
) -> Tuple[str, str, Dict[str, str], Dict[str, str], List[Path], str]:
    """(truth, reason, imports, modules, dependency wheels, interpreter) of the package
    installed with its dependencies into a fresh venv of ``python`` and imported: its
    top-level names, then each extension module in its import tree."""
    deps, why = dependency_wheels(cli_py, python, whl)
    label = f"{'Debian' if hide else 'pyenv'} {python.name}"
    if why:
        return NOT_JUDGED, why, {}, {}, deps, label
    tops = import_names(whl)
    if not tops:
        return NOT_JUDGED, "the wheel has no importable top-level name", {}, {}, deps, label
    with zipfile.ZipFile(whl) as zf:
        names = zf.namelist()
    modules = [m for m in members if m.kind == "module" and in_import_tree(m.path, names)]
    with tempfile.TemporaryDirectory(dir=common.CACHE) as tmp:
        venv = Path(tmp) / "venv"
        r = run([str(python), "-m", "venv", "--without-pip", str(venv)], env=clean_env())
        if not r.ok:
            raise FieldError(f"cannot create a venv of {python}: {_last_line(r.output)}")
        vpy = venv / "bin" / "python"
        r = run(
            [str(cli_py), "-m", "pip", "--python", str(vpy), "install", "-q", "--no-index", "--find-links",
             str(common.CACHE / "deps" / whl.name[: -len(".whl")]), str(whl)],
            env=clean_env(),
            timeout=1800,
        )
        if not r.ok:
            return NOT_JUDGED, f"pip cannot install it into a venv of {python}: " + _last_line(r.output), {}, {}, \
                deps, label
        job = {
            "installed": True,
            "tops": tops,
            "modules": [{"path": m.path, "name": m.module} for m in modules],
            "out": str(Path(tmp) / "result.json"),
        }
        (Path(tmp) / "job.json").write_text(json.dumps(job))
        cmd = [str(vpy), "-s", str(PROBE), str(Path(tmp) / "job.json")]
        if hide:
            cmd = ["bash", str(WITHOUT_LIBPYTHON), *cmd]
        r = run(cmd, env=clean_env(PYTHONDONTWRITEBYTECODE="1"), cwd=Path(tmp), timeout=600)
        try:
            got: Dict[str, Any] = json.loads((Path(tmp) / "result.json").read_text())
        except (OSError, ValueError):
            return NOT_JUDGED, f"the import crashed (exit {r.code}): {_last_line(r.output)}", {}, {}, deps, label
    label = f"{label.split()[0]} {got['python']}" + (", libpython hidden" if hide else "")
    imports = {k: "ok" if v["ok"] else v["error"] for k, v in got["tops"].items()}
    loaded = {k: "ok" if v["ok"] else (v["loader"] or v["error"]) for k, v in got["modules"].items()}
    broken = [f"import {k}: {v['loader']}" for k, v in got["tops"].items() if not v["ok"] and v["loader"]]
    broken += [f"{k}: {v['loader']}" for k, v in got["modules"].items() if not v["ok"] and cannot_load(v["loader"])]
    other = [f"import {k}: {v['error']} (not a loader failure)" for k, v in got["tops"].items()
             if not v["ok"] and not v["loader"]]
    if broken:
        return BROKEN, "; ".join(broken), imports, loaded, deps, label
    if other:
        return NOT_JUDGED, "; ".join(other), imports, loaded, deps, label
    return WORKS, "", imports, loaded, deps, label


# ---------------------------------------------------------------------------- the gate


def check(cli_py: Path, wheels: Sequence[Path], python: Optional[Path]) -> CheckRun:
    """``nolibpython check --json [--python PY] WHEEL...``: its exit status, and its findings."""
    r = run(check_command(cli_py, wheels, python), timeout=900)
    errors: List[str] = []
    warnings: List[str] = []
    tail = ""
    try:
        doc = json.loads(r.output[r.output.index("{") :])
        for t in doc["targets"]:
            where = Path(t["path"]).name + ": " if len(wheels) > 1 else ""
            errors += [f"{where}{e}" for e in t["errors"]]
            for f in t["files"]:
                for p in f["problems"]:
                    if p["severity"] == "error":
                        errors.append(f"{where}{f['path']}: {p['code']}: {' '.join(p['detail'].split())[:240]}")
                    else:
                        warnings.append(f"{where}{f['path']}: {p['code']}")
    except (ValueError, KeyError, TypeError):
        tail = r.output.strip()[-400:]
    return CheckRun([w.name for w in wheels], r.code, round(r.seconds, 3), errors, warnings, tail)


def run_wheel(w: Wheel, cli_py: Path) -> WheelResult:
    """Fetch, check (alone and with its binary dependencies) and meet one listed wheel."""
    whl = fetch_wheel(w, cli_py)
    members = inventory(whl)
    kinds = [sum(1 for m in members if m.kind == k) for k in ("module", "library", "executable")]
    judge_with = truth_interpreter(*w.tags)
    python = judge_with[0] if judge_with else None
    checks = [check(cli_py, [whl], python)]
    res = WheelResult(w.file, list(w.exercises), round(whl.stat().st_size / 1e6, 1), len(members), kinds, "", [],
                      NOT_JUDGED, f"no interpreter here runs {w.tags[2]} wheels", {}, {}, checks)
    if judge_with is None:
        return res
    res.truth, res.reason, res.imports, res.modules, deps, res.interpreter = meet(
        cli_py, whl, judge_with[0], judge_with[1], members
    )
    res.dependencies = [d.name for d in deps]
    binary = [d for d in deps if not d.name.endswith("-any.whl")]
    if binary:
        checks.append(check(cli_py, [whl, *binary], python))
    return res


# ---------------------------------------------------------------------------- report


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _command(c: CheckRun) -> str:
    return "check WHEEL" if len(c.wheels) == 1 else f"check WHEEL + {len(c.wheels) - 1} dependency wheel(s)"


def wheel_section(wheels: Sequence[WheelResult]) -> List[str]:
    """The report's "Wheels" section: every wheel's exit statuses beside its ground truth."""
    truths = {t: [w for w in wheels if w.truth == t] for t in (WORKS, BROKEN, NOT_JUDGED)}
    wrong = [(w, c, what) for w in wheels for c, what in w.wrong()]
    lines = [
        "## Wheels",
        "",
        f"- wheels: {len(wheels)} ({sum(w.size_mb for w in wheels):.0f} MB); ELF files: "
        f"{sum(w.elf_files for w in wheels)}",
        f"- ground truth: works {len(truths[WORKS])}, broken {len(truths[BROKEN])}, "
        f"not judged {len(truths[NOT_JUDGED])}",
        "- what the wheels exercise (wheels each): "
        + ", ".join(f"{k} {n}" for k, n in sorted(
            {e: sum(1 for w in wheels if e in w.exercises) for w in wheels for e in w.exercises}.items())),
    ]
    for single in (True, False):
        runs = [c for w in wheels for c in w.checks if (len(c.wheels) == 1) == single]
        bad = [(w, what) for w, c, what in wrong if (len(c.wheels) == 1) == single]
        lines.append(
            f"- `nolibpython check {'WHEEL' if single else 'WHEEL DEP_WHEELS...'}`"
            f"{'' if single else ' (packages with binary dependencies)'}: {len(runs)} runs, "
            f"exit 0: {sum(1 for c in runs if c.status == 0)}, exit 1: {sum(1 for c in runs if c.status == 1)}, "
            f"other: {sum(1 for c in runs if c.status not in (0, 1))}; "
            f"{EXIT_1_ON_WORKING}: {sum(1 for _, what in bad if what == EXIT_1_ON_WORKING)}, "
            f"{EXIT_0_ON_BROKEN}: {sum(1 for _, what in bad if what == EXIT_0_ON_BROKEN)}"
        )
    lines += [
        f"- **wrong verdicts: {len(wrong)}** ({EXIT_1_ON_WORKING}: "
        f"{sum(1 for *_, what in wrong if what == EXIT_1_ON_WORKING)}, {EXIT_0_ON_BROKEN}: "
        f"{sum(1 for *_, what in wrong if what == EXIT_0_ON_BROKEN)}); checks with no verdict: "
        f"{sum(len(w.no_verdict()) for w in wheels)}",
        "",
        "| wheel | exercises | MB | ELF files (modules/libraries/programs) | judged on | binary dependencies "
        "| ground truth | `check WHEEL` | `check WHEEL DEP_WHEELS...` | wrong | modules imported (detail) | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for w in wheels:
        alone = w.checks[0]
        together = w.checks[1] if len(w.checks) > 1 else None
        failed = {k: v for k, v in w.modules.items() if v != "ok"}
        detail = (f"{len(w.modules) - len(failed)}/{len(w.modules)} ok" if w.modules else "-") + "".join(
            f"; {k}: {v}" for k, v in failed.items()
        )
        notes = ([w.reason] if w.reason else []) + [f"warning {x}" for x in dict.fromkeys(alone.warnings)]
        notes += [f"{_command(c)} said: {c.output}" for c in w.checks if c.output]
        deps = ", ".join(" ".join(d.split("-")[:2]) for d in w.dependencies if not d.endswith("-any.whl"))
        lines.append(
            f"| {w.file} | {', '.join(w.exercises)} | {w.size_mb} | {w.elf_files} ({'/'.join(map(str, w.kinds))}) | "
            f"{w.interpreter or '-'} | {_cell(deps) or '-'} "
            f"| **{w.truth}** | exit {alone.status} | {f'exit {together.status}' if together else '-'} | "
            f"{_cell('; '.join(f'{_command(c)}: {what}' for c, what in w.wrong())) or '-'} | {_cell(detail)[:400]} | "
            f"{_cell('; '.join(notes))[:400] or '-'} |"
        )
    lines.append("")
    if wrong:
        lines += ["### Wrong verdicts in this run", ""]
        for w, c, what in wrong:
            said = "; ".join(c.errors) or c.output or "(no error reported)"
            lines.append(f"- {w.file}: `{_command(c)}` gave {what} ({w.truth}: "
                         f"{_cell(', '.join(f'import {k} {v}' for k, v in w.imports.items()))}); "
                         f"the check said: {_cell(said)[:900]}")
        lines.append("")
    none = [(w, c) for w in wheels for c in w.no_verdict()]
    if none:
        lines += ["### Checks that gave no verdict", ""]
        lines += [f"- {w.file}: `{_command(c)}` exit {c.status}: {_cell(c.output or '; '.join(c.errors))[:600]}"
                  for w, c in none]
        lines.append("")
    return lines


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
