"""scripts/gen_compat.py: the table is what the tests recorded, gaps show as "not run",
bad input is one line naming file and line, and the output is never half-written."""

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
