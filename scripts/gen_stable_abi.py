#!/usr/bin/env python3
"""Regenerate setuptools_nolibpython/data/stable_abi.json from CPython's Misc/stable_abi.toml.

CPython's ``Misc/stable_abi.toml`` is the authoritative list of the Stable ABI: each
exported item (``function.*`` and ``data.*`` tables) with the version it was added in,
``abi_only`` (exported for macros, not callable by name) and ``ifdef`` (only on some
platforms). Only exported items matter to a binary check, so only those are kept.

Usage (from a CPython checkout, or any copy of the file):

    python scripts/gen_stable_abi.py path/to/Misc/stable_abi.toml \\
        --commit <cpython commit> --version "3.15 (main)" [-o out.json]

Where no copy of the file from the wanted CPython can be had, the items can come from
the ``abi3info`` package instead (PyPI; its data is generated from CPython main's
``Misc/stable_abi.toml``, which it follows), installed in the running interpreter:

    pip install abi3info==2026.9.25
    python scripts/gen_stable_abi.py --abi3info --version "..." [-o out.json]

The output names its origin, so a reader can tell which CPython it describes. It also
records what abi3t (PEP 803, the free-threaded Stable ABI) changes, as far as the source
says: the structs it makes opaque. No source marks exported functions or data as GIL-only,
so abi3 and abi3t modules are held to the same exported items.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from setuptools_nolibpython.elfpatch import write_atomically

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, os.pardir, "setuptools_nolibpython", "data", "stable_abi.json"))
EXPORTED_KINDS = ("function", "data")


def _version_key(v: str) -> List[int]:
    return [int(x) for x in v.split(".")]


def items_from_toml(data: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """{symbol: {"added", "kind", ["abi_only"], ["ifdef"]}} for every exported item."""
    out: Dict[str, Dict[str, Any]] = {}
    for kind in EXPORTED_KINDS:
        for name, fields in (data.get(kind) or {}).items():
            added = fields.get("added")
            if not isinstance(added, str):
                raise SystemExit(f"{kind}.{name}: 'added' is missing or not a string")
            _version_key(added)  # validates the form X.Y
            entry: Dict[str, Any] = {"added": added, "kind": kind}
            if fields.get("abi_only"):
                entry["abi_only"] = True
            if fields.get("ifdef"):
                entry["ifdef"] = str(fields["ifdef"])
            if name in out:
                raise SystemExit(f"{name} is listed twice")
            out[name] = entry
    if not out:
        raise SystemExit("no [function.*] or [data.*] items found: is this Misc/stable_abi.toml?")
    return out


def abi3t_opaque_from_toml(data: Dict[str, Any]) -> List[str]:
    """Structs abi3t hides: ``struct_abi_kind = 'members'`` (PyObject, PyVarObject: opaque
    in abi3t) and full-ABI structs marked ``abi3t_opaque``."""
    return sorted(
        name for name, f in (data.get("struct") or {}).items()
        if f.get("struct_abi_kind") == "members" or f.get("abi3t_opaque")
    )


def items_from_abi3info() -> Tuple[Dict[str, Dict[str, Any]], List[str], str]:
    """The same items from the installed abi3info package: (items, abi3t-opaque structs, its version)."""
    try:
        import abi3info
        from abi3info.models import FullStruct, PartialStruct
    except ImportError as exc:
        raise SystemExit(f"--abi3info: cannot import abi3info ({exc}): pip install abi3info") from exc
    from importlib.metadata import version as dist_version

    out: Dict[str, Dict[str, Any]] = {}
    for kind, table in (("function", abi3info.FUNCTIONS), ("data", abi3info.DATAS)):
        for item in table.values():
            entry: Dict[str, Any] = {"added": f"{item.added.major}.{item.added.minor}", "kind": kind}
            if getattr(item, "abi_only", False):
                entry["abi_only"] = True
            if item.ifdef is not None:
                entry["ifdef"] = item.ifdef.name
            out[item.symbol.name] = entry
    opaque = sorted(
        name for name, st in abi3info.STRUCTS.items()
        if isinstance(st, PartialStruct) or (isinstance(st, FullStruct) and st.abi3t_opaque)
    )
    return out, opaque, dist_version("abi3info")


def render(items: Dict[str, Dict[str, Any]], origin: str, commit: Optional[str], version: str,
           abi3t_opaque: Sequence[str] = ()) -> str:
    """JSON with one symbol per line, so that a regeneration diffs readably."""
    head = {
        "origin": origin,
        "cpython_commit": commit,
        "cpython_version": version,
        "generated_by": "scripts/gen_stable_abi.py",
        "kinds": list(EXPORTED_KINDS),
        "count": len(items),
        # What abi3t (PEP 803) changes per the source: these structs' layouts are hidden.
        # No exported function or data item is marked GIL-only, so abi3t modules are held
        # to the same items as abi3 ones (with a target of 3.15 at least).
        "abi3t_opaque_structs": list(abi3t_opaque),
    }
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value)},")
    lines.append('  "symbols": {')
    names = sorted(items)
    for i, name in enumerate(names):
        comma = "," if i < len(names) - 1 else ""
        lines.append(f"    {json.dumps(name)}: {json.dumps(items[name], sort_keys=True)}{comma}")
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("toml", nargs="?", help="path to CPython's Misc/stable_abi.toml")
    ap.add_argument("--abi3info", action="store_true",
                    help="take the items from the installed abi3info package instead of a file")
    ap.add_argument("--commit", help="the CPython commit the file comes from (required with a file)")
    ap.add_argument("--version", required=True, help='the CPython version of that commit, e.g. "3.15 (main)"')
    ap.add_argument("--origin", default=None,
                    help="where the data comes from (default: the file's URL at --commit, or the abi3info release)")
    ap.add_argument("-o", "--output", default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    if args.abi3info == bool(args.toml):
        ap.error("give either the path of Misc/stable_abi.toml or --abi3info")
    if args.abi3info:
        items, opaque, release = items_from_abi3info()
        origin = args.origin or (
            f"abi3info {release} (PyPI), generated from Misc/stable_abi.toml of python/cpython main")
        text = render(items, origin, args.commit, args.version, opaque)
    else:
        if not args.commit:
            ap.error("--commit is required with a file")
        try:
            with open(args.toml, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            print(f"{args.toml}: cannot read: {exc}", file=sys.stderr)
            return 1
        items = items_from_toml(data)
        origin = (args.origin or "https://github.com/python/cpython/blob/{commit}/Misc/stable_abi.toml").format(
            commit=args.commit)
        text = render(items, origin, args.commit, args.version, abi3t_opaque_from_toml(data))
    write_atomically(args.output, text.encode("utf-8"), 0o644)
    print(f"wrote {len(items)} symbols to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
