"""scripts/gen_compat.py over records made here: rows come from the records and gaps say
"not run", a bad results line is one line and leaves the output untouched, and --check
compares cells (case and result), not evidence, and writes nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Dict, List

from support import REPO, run

GEN = REPO / "scripts" / "gen_compat.py"


def _gen(results: Path, output: Path, *extra: str) -> "tuple[int, str, str]":
    proc = run([sys.executable, str(GEN), "--results", str(results), "--output", str(output), *extra])
    return proc.returncode, proc.stdout, proc.stderr


def _write(path: Path, records: List[Dict[str, str]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_rows_come_from_records_and_gaps_are_not_run(tmp_path: Path) -> None:
    results, output = tmp_path / "r.jsonl", tmp_path / "compat.md"
    _write(results, [
        {"section": "interpreters", "case": "CPython 3.11 (pyenv, shared libpython)", "status": "pass",
         "detail": "first|record"},
        {"section": "interpreters", "case": "CPython 3.11 (pyenv, shared libpython)", "status": "pass",
         "detail": "evidence 42"},
        {"section": "a new section", "case": "odd case", "status": "limit", "detail": "as documented"},
    ])
    rc, _, err = _gen(results, output)
    assert rc == 0, err
    text = output.read_text()
    assert "| CPython 3.11 (pyenv, shared libpython) | pass | evidence 42 |" in text  # last record wins
    assert "first" not in text
    assert "| CPython 3.12 (pyenv, shared libpython) | not run |" in text  # required, no record
    assert "## A new section" in text and "| odd case | fails as documented | as documented |" in text
    # --check turns missing required cells into a failing exit status.
    rc, _, err = _gen(results, output, "--check")
    assert rc == 1 and "CPython 3.12 (pyenv, shared libpython): not run" in err


def test_bad_results_line_is_one_line_error_and_output_untouched(tmp_path: Path) -> None:
    results, output = tmp_path / "r.jsonl", tmp_path / "compat.md"
    output.write_text("previous document\n")
    results.write_text(json.dumps({"section": "s", "case": "c", "status": "pass"}) + "\n{not json\n")
    rc, _, err = _gen(results, output)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gen_compat: {results}:2: not a compat record"), err
    assert "Traceback" not in err
    assert output.read_text() == "previous document\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".compat.md")] == []


def _all_required(detail: str, **status: str) -> List[Dict[str, str]]:
    """A record for every required cell (pass, unless ``status`` maps a case elsewhere)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_compat", GEN)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return [{"section": s, "case": c, "status": status.get(c, "pass"), "detail": f"{detail} {c}"}
            for s, cases in mod.REQUIRED.items() for c in cases]


def test_check_compares_cells_not_evidence_and_writes_nothing(tmp_path: Path) -> None:
    """--check fails on a committed document whose cells differ from the run's, names the cell,
    writes nothing; evidence and date (machine- and run-specific) may differ freely."""
    committed, results = tmp_path / "compatibility.md", tmp_path / "r.jsonl"
    _write(results, _all_required("built on machine A in 12.3 s:"))
    rc, out, err = _gen(results, committed)
    assert rc == 0, err
    text = committed.read_text()
    # Another machine, another day: every evidence text differs, the cells are the same.
    _write(results, _all_required("built on machine B in 45.6 s:"))
    rc, out, err = _gen(results, committed, "--check")
    assert rc == 0, out + err
    assert "has the same cells" in out
    assert committed.read_text() == text  # --check never writes
    # A cell whose result changed: the committed document is stale.
    case = "CPython 3.13 (pyenv, shared libpython)"
    _write(results, _all_required("built on machine B:", **{case: "n/a"}))
    rc, out, err = _gen(results, committed, "--check")
    assert rc == 1, out + err
    assert f"{committed} is stale" in err
    assert f"Interpreters: {case}: n/a in this run" in err and f"Interpreters: {case}: pass in the committed" in err
    assert committed.read_text() == text
    # A cell the committed document lacks (a new test's) is stale too; a case with a "|" parses.
    _write(results, [*_all_required("x"), {"section": "embedding hosts", "case": "dlopen A|B", "status": "pass"}])
    rc, _, err = _gen(results, committed, "--check")
    assert rc == 1 and "Embedding hosts: dlopen A\\|B: pass in this run" in err, err
    # Without the committed document: one line, no traceback.
    rc, _, err = _gen(results, tmp_path / "missing.md", "--check")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "cannot read" in err, err
