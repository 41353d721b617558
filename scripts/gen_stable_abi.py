#!/usr/bin/env python3
"""Regenerate setuptools_nolibpython/data/stable_abi.json from CPython's Misc/stable_abi.toml.

CPython's ``Misc/stable_abi.toml`` is the authoritative list of the Stable ABI: each
exported item (``function.*`` and ``data.*`` tables) with the version it was added in,
``abi_only`` (exported for macros, not callable by name) and ``ifdef`` (only on some
platforms). Only exported items matter to a binary check, so only those are kept.

Usage (from a CPython checkout, or any copy of the file):

    python scripts/gen_stable_abi.py path/to/Misc/stable_abi.toml \\
        --commit <cpython commit> --version "3.15 (main)" [-o out.json]

The output names its origin, so a reader can tell which CPython it describes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List

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


def render(items: Dict[str, Dict[str, Any]], origin: str, commit: str, version: str) -> str:
    """JSON with one symbol per line, so that a regeneration diffs readably."""
    head = {
        "origin": origin,
        "cpython_commit": commit,
        "cpython_version": version,
        "generated_by": "scripts/gen_stable_abi.py",
        "kinds": list(EXPORTED_KINDS),
        "count": len(items),
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
    ap.add_argument("toml", help="path to CPython's Misc/stable_abi.toml")
    ap.add_argument("--commit", required=True, help="the CPython commit the file comes from")
    ap.add_argument("--version", required=True, help='the CPython version of that commit, e.g. "3.15 (main)"')
    ap.add_argument("--origin", default="https://github.com/python/cpython/blob/{commit}/Misc/stable_abi.toml")
    ap.add_argument("-o", "--output", default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    try:
        with open(args.toml, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        print(f"{args.toml}: cannot read: {exc}", file=sys.stderr)
        return 1
    items = items_from_toml(data)
    text = render(items, args.origin.format(commit=args.commit), args.commit, args.version)
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, args.output)
    print(f"wrote {len(items)} symbols to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
