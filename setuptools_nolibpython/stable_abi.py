"""The Stable ABI as data: which Py*/_Py* symbols an abi3 module may use, and since when.

The list comes from CPython's ``Misc/stable_abi.toml`` (the authoritative source),
converted by ``scripts/gen_stable_abi.py`` into ``data/stable_abi.json``, which states the
CPython commit it was made from. Only exported items (functions, data) are kept: a
binary can only reference those.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, Mapping, Optional, Tuple

__all__ = [
    "DATA_FILE",
    "StableAbi",
    "StableAbiItem",
    "Version",
    "format_version",
    "load",
    "parse_limited_api",
    "parse_version",
]

Version = Tuple[int, int]

DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "stable_abi.json")

#: ``ifdef`` feature macros that are never defined on Linux: such items are not exported there.
_NOT_ON_LINUX = frozenset({"MS_WINDOWS", "USE_STACKCHECK"})


@dataclass(frozen=True)
class StableAbiItem:
    name: str
    added: Version
    kind: str  # "function" or "data"
    abi_only: bool = False
    ifdef: Optional[str] = None

    @property
    def on_linux(self) -> bool:
        return self.ifdef not in _NOT_ON_LINUX


def parse_version(text: str) -> Version:
    """``"3.10"`` -> (3, 10); raises ValueError on anything else."""
    m = re.fullmatch(r"(\d+)\.(\d+)", text.strip())
    if not m:
        raise ValueError(f"not a X.Y version: {text!r}")
    return int(m[1]), int(m[2])


def format_version(v: Version) -> str:
    return f"{v[0]}.{v[1]}"


def parse_limited_api(value: object) -> Version:
    """A target given as ``"3.9"``, ``"cp39"``, ``(3, 9)`` or ``0x03090000`` -> (3, 9)."""
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(x, int) for x in value):
        return (value[0], value[1])
    if isinstance(value, int) and not isinstance(value, bool):
        return ((value >> 24) & 0xFF, (value >> 16) & 0xFF)
    if isinstance(value, str):
        text = value.strip().lower()
        m = re.fullmatch(r"cp(\d)(\d+)", text)
        if m:
            return int(m[1]), int(m[2])
        if text.startswith("0x"):
            return parse_limited_api(int(text, 16))
        return parse_version(text)
    raise ValueError(f"not a Python version: {value!r}")


@dataclass(frozen=True)
class StableAbi:
    items: Mapping[str, StableAbiItem]
    origin: str
    cpython_version: str

    def get(self, name: str) -> Optional[StableAbiItem]:
        return self.items.get(name)


@lru_cache(maxsize=1)
def load() -> StableAbi:
    """The shipped table (read once per process)."""
    with open(DATA_FILE, encoding="utf-8") as f:
        raw: Dict[str, Any] = json.load(f)
    items = {
        name: StableAbiItem(
            name=name,
            added=parse_version(entry["added"]),
            kind=str(entry["kind"]),
            abi_only=bool(entry.get("abi_only", False)),
            ifdef=entry.get("ifdef"),
        )
        for name, entry in raw["symbols"].items()
    }
    return StableAbi(items, str(raw.get("origin", "")), str(raw.get("cpython_version", "")))
