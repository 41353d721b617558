"""What a test run did to the repository's files, told by git: running tests must never
change a tracked file nor leave a new one (generated documents are written by their
`make` targets). tests/conftest.py takes a snapshot at the start of a run and fails the
run when the end differs."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional


def tree_state(repo: Path) -> Optional[Dict[str, str]]:
    """{path: digest of its bytes ("" when absent)} for each path git lists as changed or
    new (ignored files excluded); None outside a git work tree (an sdist, a copy)."""
    proc = subprocess.run(["git", "-C", str(repo), "status", "--porcelain=v1", "-z", "--untracked-files=all"],
                          capture_output=True)
    if proc.returncode != 0:
        return None
    state: Dict[str, str] = {}
    fields = proc.stdout.decode("utf-8", "surrogateescape").split("\0")
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        if "R" in status or "C" in status:
            i += 1  # the rename's source follows as its own field
        p = repo / path
        state[path] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
    return state


def changed_paths(before: Dict[str, str], after: Dict[str, str]) -> List[str]:
    """Paths whose state differs between two snapshots (changed, new, restored or gone)."""
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


def commit_scratch_repository(root: Path) -> Path:
    """``root`` made a git repository with everything in it committed (for tests of what
    git sees); skips without git (a failure under CI=true)."""
    from . import require, run

    require(shutil.which("git"), "git is needed", apt=["git"])
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    run([*git, "init", "-q"], check=True)
    run([*git, "add", "-A"], check=True)
    run([*git, "commit", "-q", "-m", "scratch"], check=True)
    return root
