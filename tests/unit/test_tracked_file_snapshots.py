"""tests/support/tracked.py tells what changed between two snapshots of a git work tree:
edits to tracked files (clean or already dirty), new files, deletions; not ignored
files; nothing outside a work tree. Checked on a scratch git repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support import require
from support.tracked import changed_paths, commit_scratch_repository, tree_state


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.md").write_text("a\n")
    (root / "b.md").write_text("b\n")
    (root / ".gitignore").write_text(".cache/\n")
    return commit_scratch_repository(root)


def test_each_kind_of_change_is_seen(repo: Path) -> None:
    (repo / "b.md").write_text("dirty before the run\n")
    before = tree_state(repo)
    assert before is not None and set(before) == {"b.md"}
    assert changed_paths(before, tree_state(repo) or {}) == []  # control: nothing done, nothing seen
    (repo / "a.md").write_text("edited\n")
    (repo / "b.md").write_text("dirty, and edited again\n")
    (repo / "new.md").write_text("new\n")
    (repo / ".cache").mkdir()
    (repo / ".cache" / "results.jsonl").write_text("{}\n")  # ignored: not a change
    after = tree_state(repo)
    assert after is not None
    assert changed_paths(before, after) == ["a.md", "b.md", "new.md"]


def test_a_deleted_file_and_a_restored_one_are_seen(repo: Path) -> None:
    (repo / "a.md").unlink()
    before = tree_state(repo) or {}
    assert before == {"a.md": ""}
    (repo / "a.md").write_text("a\n")  # restored to the committed bytes
    (repo / "b.md").unlink()
    assert changed_paths(before, tree_state(repo) or {}) == ["a.md", "b.md"]


def test_outside_a_work_tree_there_is_no_state(tmp_path: Path) -> None:
    require(shutil.which("git"), "git is needed", apt=["git"])
    assert tree_state(tmp_path) is None
