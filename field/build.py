"""The field trial's sdist stage: each sdist built without the plugin (a), with it (b) and
with it under hostile LDFLAGS (c); (c) checked, installed on Debian's python3.11 and imported."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from field import common
from field.common import (
    DEBIAN_PYTHON,
    HOSTILE_LDFLAGS,
    LOG_PREFIX,
    Sdist,
    clean_env,
    inventory,
    nolibpython_check,
    run,
)
from field.fetch import fetch_sdist
from field.judge import probe

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
    work = common.CACHE / "work" / s.name
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
