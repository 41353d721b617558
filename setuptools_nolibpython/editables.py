"""What an editable wheel loads from outside itself: the built files its loader points at.

A PEP 660 wheel need not hold the extension modules it makes importable:

- meson-python's holds a loader, ``_<name>_editable_loader.py``, which rebuilds (ninja)
  and imports from a build directory named in its ``MesonpyMetaFinder(...)`` call; meson's
  introspection file ``meson-info/intro-install_plan.json`` there maps each built file to
  its install destination. Those files are what the editable imports.
- scikit-build-core's default ("redirect") editable wheel holds its compiled modules
  itself, so checking the wheel checks them; nothing to find here.

Only data is read (the loader is parsed, never run). A loader whose form is not
recognised gives a note, not a guess.
"""

from __future__ import annotations

import ast
import json
import os
import re
import zipfile
from dataclasses import dataclass
from typing import List, Optional, Tuple

__all__ = ["ExternalFiles", "external_files"]

#: meson-python's loader module at the root of its editable wheels.
_MESONPY_LOADER = re.compile(r"_[^/]+_editable_loader\.py")
_MAX_LOADER = 4 * 1024 * 1024
#: Install-destination prefixes that mean "the package root" in meson's install plan.
_SITE = re.compile(r"^\{py_(?:plat|pure)lib\}/")


@dataclass(frozen=True)
class ExternalFiles:
    """Files outside an editable wheel that it imports, as (path in site-packages, real path)."""

    build_dir: Optional[str]
    files: Tuple[Tuple[str, str], ...] = ()
    notes: Tuple[str, ...] = ()


def _mesonpy_build_dir(source: str) -> Optional[str]:
    """The build directory: third argument of the loader's ``MesonpyMetaFinder(...)`` call."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name == "MesonpyMetaFinder" and len(node.args) >= 3:
                arg = node.args[2]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    return arg.value
    return None


def _install_plan(build_dir: str) -> Tuple[List[Tuple[str, str]], List[str]]:
    path = os.path.join(build_dir, "meson-info", "intro-install_plan.json")
    try:
        with open(path, encoding="utf-8") as f:
            plan = json.load(f)
        targets = plan["targets"]
        pairs = [(_SITE.sub("", str(v["destination"])), str(k)) for k, v in targets.items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return [], [f"{path}: cannot read meson's install plan ({exc}); the modules the editable wheel loads "
                    "from there were not checked"]
    return sorted((rel, p) for rel, p in pairs if os.path.isfile(p)), []


def external_files(wheel: str) -> ExternalFiles:
    """The files an editable wheel loads from a build directory (meson-python), if any."""
    with zipfile.ZipFile(wheel) as zf:
        loaders = [i for i in zf.infolist() if _MESONPY_LOADER.fullmatch(i.filename) and i.file_size <= _MAX_LOADER]
        if not loaders:
            return ExternalFiles(None)
        source = zf.read(loaders[0]).decode("utf-8", "replace")
    try:
        build_dir = _mesonpy_build_dir(source)
    except (SyntaxError, ValueError):
        build_dir = None
    if build_dir is None:
        return ExternalFiles(None, (), (f"{loaders[0].filename}: no build directory found in this meson-python "
                                        "loader; the modules it loads were not checked",))
    files, notes = _install_plan(build_dir)
    return ExternalFiles(build_dir, tuple(files), tuple(notes))
