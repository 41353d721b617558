"""The field trial: real PyPI sdists built with and without the plugin, real wheels checked,
and mutants of real modules, each verdict held against what the loader really does.

`make field` runs everything and writes docs/field-trial.md; tests/test_field_subset.py
runs a few of each through the same functions. Everything downloaded or built lives under
.cache/field/ and is reused: a warm run downloads nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # run as `python field/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from field import common
from field.build import SdistResult, run_sdist
from field.common import REPO, FieldError, Sdist, Wheel, load_projects
from field.fetch import build_venv, debian_venv, plugin_wheel
from field.render import machine_meta, merge_results, render, rerender, write_atomic

if TYPE_CHECKING:
    from field.judge import WheelResult


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
            rerender(common.CACHE / "results.json", Path(args.out))
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
    common.CACHE.mkdir(parents=True, exist_ok=True)
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
        results = merge_results(json.loads((common.CACHE / "results.json").read_text(encoding="utf-8")), results,
                                all_sdists, all_wheels)
        write_atomic(common.CACHE / "results.json", json.dumps(results, indent=1))
        rerender(common.CACHE / "results.json", Path(args.out))
        _say(f"merged into .cache/field/results.json and wrote {args.out}")
        return 0
    write_atomic(common.CACHE / "results.json", json.dumps(results, indent=1))
    write_atomic(Path(args.out), render(sres, wres, mres, meta, partial))
    _say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
