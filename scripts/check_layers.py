#!/usr/bin/env python3
"""Layer lint: no module imports from a layer above its own, and no import cycle.

    python scripts/check_layers.py [--package DIR] [--doc FILE]

Every import of the package (``from . import x``, ``from .x import y``, absolute
``setuptools_nolibpython.x``), at module level or inside a function, is read with ``ast``
from every module of the package. The check fails (exit 1, one line per finding) when

- a module is in no layer of LAYERS, or LAYERS names a module that does not exist;
- a module imports one in a higher layer;
- the imports form a cycle (within a layer, where the first rule does not see it);
- CONTRIBUTING.md's "Architecture" list of layers (between the ``layers:`` markers)
  differs from LAYERS, so the document cannot drift from the code.

``make lint`` runs it, and ``make test`` runs ``make lint``.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "setuptools_nolibpython"

#: Bottom to top: (layer name, its modules). A module imports only from its own layer or
#: those listed before it. CONTRIBUTING.md's Architecture section repeats this list.
LAYERS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("foundation", ("errors", "logs")),
    ("inputs", ("config", "names", "syslibs", "globs", "hostplatform", "stable_abi", "pybuild")),
    ("link flags", ("linkflags",)),
    ("reading", ("sources", "elf", "dynsym", "wheeltags", "editables")),
    ("findings", ("findings",)),
    ("results", ("results",)),
    ("verdicts", ("policy",)),
    ("symbol check", ("ldso", "interpreter", "symbols")),
    ("scan", ("wheelsafety", "scan", "report", "installed", "checking")),
    ("repair", ("elfpatch", "wheelrepair", "envrepair")),
    ("build step", ("enforce",)),
    ("shells", ("activation", "commands", "build_meta", "wrap", "cli", "envcli", "__main__", "__init__")),
)

BEGIN = "<!-- layers:begin (checked by scripts/check_layers.py) -->"
END = "<!-- layers:end -->"
_LIST_LINE = re.compile(r"^\d+\. \*\*(?P<name>[^*]+)\*\*: (?P<modules>.+)$")


def imports_of(path: Path, modules: Set[str]) -> List[Tuple[str, int]]:
    """(package module, line) for every import of ``path``, at any depth (function-level too)."""
    found: List[Tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                head = (node.module or "").split(".")[0]
                # ``from . import x``: x is a module when the package has one of that name,
                # else a name of __init__ (``from . import __version__``).
                targets = [head] if head else [a.name if a.name in modules else "__init__" for a in node.names]
            elif node.level == 0 and (node.module or "").split(".")[0] == PACKAGE:
                parts = (node.module or "").split(".")
                targets = [parts[1]] if len(parts) > 1 else [a.name if a.name in modules else "__init__"
                                                             for a in node.names]
            else:
                continue
        elif isinstance(node, ast.Import):
            targets = [
                a.name.split(".")[1] if "." in a.name else "__init__"
                for a in node.names if a.name.split(".")[0] == PACKAGE
            ]
        else:
            continue
        found += [(t, node.lineno) for t in targets]
    return found


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """One cycle per strongly connected component with more than one module (or a self-import)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on: Set[str] = set()
    out: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: List[str] = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def doc_layers(doc: Path) -> Optional[List[Tuple[str, Tuple[str, ...]]]]:
    """The layer list of the document's Architecture section, or None without the markers."""
    text = doc.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return None
    body = text.split(BEGIN, 1)[1].split(END, 1)[0]
    out = []
    for line in body.strip().splitlines():
        m = _LIST_LINE.match(line.strip())
        if m:
            out.append((m["name"], tuple(re.findall(r"`([^`]+)`", m["modules"]))))
    return out


def check(package: Path, doc: Optional[Path], layers: Sequence[Tuple[str, Tuple[str, ...]]] = LAYERS) -> List[str]:
    """Every finding, one line each; [] when the package keeps its layers."""
    problems: List[str] = []
    level = {m: i for i, (_name, mods) in enumerate(layers) for m in mods}
    names = [name for name, _ in layers]
    files = {p.stem: p for p in sorted(package.glob("*.py"))}
    for mod in sorted(set(files) - set(level)):
        problems.append(f"{files[mod]}: module {mod!r} is in no layer of scripts/check_layers.py LAYERS")
    for mod in sorted(set(level) - set(files)):
        problems.append(f"LAYERS names {mod!r}, which is not a module of {package}")
    graph: Dict[str, Set[str]] = {}
    for mod, path in files.items():
        for target, line in imports_of(path, set(files)):
            if target not in files:
                problems.append(f"{path}:{line}: imports {target!r}, which is not a module of the package")
                continue
            graph.setdefault(mod, set()).add(target)
            if mod in level and target in level and level[target] > level[mod]:
                problems.append(
                    f"{path}:{line}: {mod} ({names[level[mod]]}) imports {target} from a higher layer "
                    f"({names[level[target]]})"
                )
    for cycle in _cycles(graph):
        problems.append(f"import cycle among {', '.join(cycle)} (function-level imports count)")
    if doc is not None:
        listed = doc_layers(doc) if doc.is_file() else None
        if not doc.is_file():
            problems.append(f"{doc}: no such file; its Architecture section should list the layers")
        elif listed is None:
            problems.append(f"{doc}: no layer list between {BEGIN!r} and {END!r} in its Architecture section")
        elif listed != [(n, tuple(m)) for n, m in layers]:
            problems.append(f"{doc}: the Architecture section's layers differ from scripts/check_layers.py LAYERS; "
                            "make them the same")
    return problems


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", type=Path, default=REPO / PACKAGE)
    parser.add_argument("--doc", type=Path, default=REPO / "CONTRIBUTING.md",
                        help="the document whose Architecture section lists the layers")
    args = parser.parse_args(argv)
    problems = check(args.package, args.doc)
    for line in problems:
        print(line)
    if problems:
        return 1
    print(f"layers: {sum(len(m) for _, m in LAYERS)} modules in {len(LAYERS)} layers, no upward import, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
