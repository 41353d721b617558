"""docs/ci.md as it stands: its YAML jobs parse and build then gate, and its gate is an
install followed by a check (the gate itself runs on real wheels in tests/test_ci_doc.py)."""

from __future__ import annotations

from typing import Any, Dict

import yaml
from support.cipage import INSTALL, REPORT, blocks, gate_lines

EXPLAIN = "nolibpython check dist/*.whl"


def jobs() -> Dict[str, Any]:
    docs = [yaml.safe_load(b) for b in blocks("yaml")]
    github = next(d for d in docs if "jobs" in d)
    gitlab = next(d for d in docs if "jobs" not in d)
    return {"github": github, "gitlab": gitlab}


def test_gate_is_install_then_check() -> None:
    assert gate_lines() == [INSTALL, f"nolibpython check --json dist/*.whl > {REPORT}"]


def test_github_job_builds_then_gates() -> None:
    (job,) = jobs()["github"]["jobs"].values()
    runs = [step.get("run", "") for step in job["steps"]]
    build = next(i for i, r in enumerate(runs) if "cibuildwheel" in r and "--output-dir dist" in r)
    gate = next(i for i, r in enumerate(runs) if r.splitlines() == gate_lines())
    assert build < gate
    explain = next(s for s in job["steps"] if s.get("if") == "failure()")
    assert explain["run"].strip() == EXPLAIN
    upload = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and REPORT in upload["with"]["path"].split()


def test_gitlab_job_builds_then_gates() -> None:
    (job,) = jobs()["gitlab"].values()
    script = job["script"]
    build = script.index("python -m build --outdir dist .")
    assert script[build + 1:] == gate_lines()
    assert any(EXPLAIN in line and "$CI_JOB_STATUS" in line for line in job["after_script"])
    assert job["artifacts"]["when"] == "always" and REPORT in job["artifacts"]["paths"]
