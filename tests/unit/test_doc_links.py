"""Every relative link of the documentation (README.md, CONTRIBUTING.md, CHANGELOG.md and
docs/*.md) resolves to a file or directory of the repository, so a moved or renamed
document cannot leave a dead link behind."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Tuple

from support import REPO

#: [text](target) and [text](target "title"), but not images' or code spans' look-alikes.
LINK = re.compile(r"(?<!\!)\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~)")


def documents(root: Path) -> List[Path]:
    return sorted([*(root / n for n in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")),
                   *(root / "docs").glob("*.md")])


def relative_links(doc: Path) -> List[Tuple[int, str]]:
    """(line number, target) of every relative link outside code blocks and code spans."""
    out: List[Tuple[int, str]] = []
    fenced = False
    for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if fenced:
            continue
        for m in LINK.finditer(re.sub(r"`[^`]*`", "", line)):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
                continue  # https:, mailto:, a fragment of the same page
            out.append((n, target))
    return out


def dead_links(root: Path) -> List[str]:
    dead = []
    for doc in documents(root):
        for n, target in relative_links(doc):
            path = (doc.parent / target.split("#", 1)[0]).resolve()
            inside = path == root.resolve() or root.resolve() in path.parents
            if not inside or not path.exists():
                dead.append(f"{doc.relative_to(root)}:{n}: {target}")
    return dead


def test_every_relative_link_resolves() -> None:
    docs = documents(REPO)
    assert REPO / "docs" / "messages.md" in docs and all(d.is_file() for d in docs), docs
    links = [t for d in docs for _n, t in relative_links(d)]
    assert "docs/messages.md" in links and "CONTRIBUTING.md" in links  # the parser sees them
    assert dead_links(REPO) == []


def test_a_dead_link_is_found(tmp_path: Path) -> None:
    """Control: the same check on a copy with one link broken, one pointing outside the
    repository, and look-alikes in code that are not links."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "CONTRIBUTING.md").write_text("x\n")
    (tmp_path / "CHANGELOG.md").write_text("[ok](README.md)\n")
    (tmp_path / "README.md").write_text(
        "[fine](CONTRIBUTING.md) [web](https://example.org) [here](#top) [dir](docs)\n"
        "`[code](nowhere.md)`\n```\n[fenced](nowhere.md)\n```\n"
        "[gone](docs/missing.md#part) and [out](../outside.md)\n")
    (tmp_path / "docs" / "a.md").write_text("[up](../README.md) [broken](b.md)\n")
    assert dead_links(tmp_path) == ["README.md:6: docs/missing.md#part", "README.md:6: ../outside.md",
                                    "docs/a.md:1: b.md"]
