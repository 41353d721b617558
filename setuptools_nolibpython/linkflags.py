"""Link-flag filtering: pure functions over argument lists.

Two jobs, both without touching a compiler object:
- drop every way of naming libpython (``-lpython3.11``, ``-l python3``,
  ``-l:libpython3.11.so.1.0``, ``/path/libpython3.11.so``, ``libpython3.11.a``, the same
  inside ``-Wl,`` lists and ``-Xlinker`` pairs);
- drop what forbids undefined symbols (``-Wl,--no-undefined``, ``-Wl,-z,defs``,
  ``-zdefs``, ``-z defs``, ``--unresolved-symbols=report-all``), then append flags that
  really allow them: GNU ld (bfd and gold) takes the last of conflicting options, so a
  ban that comes later (LDFLAGS after extra_link_args) would win again.

Arguments are split into segments (one driver token, one ``-Wl,`` list, one ``-Xlinker``
pair); their linker words form one stream so pairs such as ``-Wl,-z -Wl,defs`` or
``-Xlinker -z -Xlinker defs`` are seen across segments; a segment is rebuilt from the
words it keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Set, Tuple

from .names import is_libpython_filename, is_libpython_libname

__all__ = [
    "ALLOW_UNDEFINED_ARGS",
    "LIBPYTHON",
    "NO_UNDEFINED",
    "Change",
    "filter_libraries",
    "filter_link_args",
    "filter_objects",
    "with_allow_undefined",
]

#: Appended to every extension link. ``--allow-shlib-undefined`` covers symbols in the
#: shared libraries linked against; ``--unresolved-symbols=ignore-all`` is what cancels
#: ``-z defs``/``--no-undefined`` on both ld.bfd and ld.gold. Not ``ignore-in-object-files``:
#: that one *reports* shared libraries' unresolved symbols, so ld loads their indirect
#: dependencies and then fails an object that uses one of them ("DSO missing from command
#: line": Pillow's _imagingft.o calls roundf, found only through libfreetype -> libpng -> libm).
ALLOW_UNDEFINED_ARGS: Tuple[str, ...] = (
    "-Wl,--allow-shlib-undefined",
    "-Wl,--unresolved-symbols=ignore-all",
)

LIBPYTHON = "libpython"
NO_UNDEFINED = "forbids undefined symbols"

_NO_UNDEFINED_WORDS = {
    "--no-undefined",
    "-no-undefined",
    "--no-allow-shlib-undefined",
    "-no-allow-shlib-undefined",
    "-zdefs",
}
_STRICT_UNRESOLVED = {"report-all", "ignore-in-shared-libs"}


@dataclass(frozen=True)
class Change:
    """One argument removed or rewritten, and why; ``replacement`` None means removed."""

    original: str
    reason: str
    replacement: Optional[str] = None

    def describe(self) -> str:
        if self.replacement is None:
            return f"removed {self.original!r} ({self.reason})"
        return f"rewrote {self.original!r} to {self.replacement!r} ({self.reason})"


@dataclass
class _Segment:
    kind: str  # "driver" | "wl" | "xlinker"
    tokens: List[str]
    words: List[str]


def _segments(args: Sequence[str]) -> List[_Segment]:
    segs: List[_Segment] = []
    i = 0
    while i < len(args):
        tok = args[i]
        if tok.startswith("-Wl,"):
            segs.append(_Segment("wl", [tok], tok[4:].split(",")))
        elif tok == "-Xlinker" and i + 1 < len(args):
            segs.append(_Segment("xlinker", [tok, args[i + 1]], [args[i + 1]]))
            i += 1
        else:
            segs.append(_Segment("driver", [tok], [tok]))
        i += 1
    return segs


def _unresolved_value(word: str) -> Optional[str]:
    for prefix in ("--unresolved-symbols=", "-unresolved-symbols="):
        if word.startswith(prefix):
            return word[len(prefix):]
    return None


def _drop_reasons(words: Sequence[str]) -> List[Optional[str]]:
    """For each linker word, why it must go (or None)."""
    out: List[Optional[str]] = [None] * len(words)
    k = 0
    while k < len(words):
        w = words[k]
        nxt = words[k + 1] if k + 1 < len(words) else None
        if w == "-z" and nxt == "defs":
            out[k] = out[k + 1] = NO_UNDEFINED
            k += 2
            continue
        if w in ("-l", "--library") and nxt is not None and is_libpython_libname(nxt):
            out[k] = out[k + 1] = LIBPYTHON
            k += 2
            continue
        value = _unresolved_value(w)
        if w in _NO_UNDEFINED_WORDS or (value is not None and value in _STRICT_UNRESOLVED):
            out[k] = NO_UNDEFINED
        elif w.startswith("-l") and len(w) > 2 and is_libpython_libname(w[2:]):
            out[k] = LIBPYTHON
        elif w.startswith("--library=") and is_libpython_libname(w[len("--library="):]):
            out[k] = LIBPYTHON
        elif not w.startswith("-") and is_libpython_filename(w):
            out[k] = LIBPYTHON
        k += 1
    return out


def filter_link_args(args: Sequence[str]) -> Tuple[List[str], List[Change]]:
    """Return ``args`` without libpython and without undefined-symbol bans, and the changes."""
    segs = _segments(args)
    flat = [(si, w) for si, seg in enumerate(segs) for w in seg.words]
    reasons = _drop_reasons([w for _, w in flat])
    dropped: List[Set[int]] = [set() for _ in segs]
    why: List[Optional[str]] = [None] * len(segs)
    pos = [0] * len(segs)
    for (si, _), reason in zip(flat, reasons):
        if reason is not None:
            dropped[si].add(pos[si])
            why[si] = why[si] or reason
        pos[si] += 1
    result: List[str] = []
    changes: List[Change] = []
    for si, seg in enumerate(segs):
        if not dropped[si]:
            result.extend(seg.tokens)
            continue
        original = " ".join(seg.tokens)
        reason = why[si] or ""
        kept = [w for wi, w in enumerate(seg.words) if wi not in dropped[si]]
        if seg.kind == "wl" and kept:
            new = "-Wl," + ",".join(kept)
            result.append(new)
            changes.append(Change(original, reason, new))
        else:
            changes.append(Change(original, reason))
    return result, changes


def filter_libraries(libraries: Sequence[str]) -> Tuple[List[str], List[Change]]:
    """``Extension(libraries=...)`` / ``build_ext.libraries`` without libpython names."""
    kept = [lib for lib in libraries if not is_libpython_libname(lib)]
    changes = [Change(lib, LIBPYTHON) for lib in libraries if is_libpython_libname(lib)]
    return kept, changes


def filter_objects(objects: Sequence[str]) -> Tuple[List[str], List[Change]]:
    """``extra_objects`` / ``link_objects`` without paths to libpython (.so or .a)."""
    kept = [obj for obj in objects if not is_libpython_filename(obj)]
    changes = [Change(obj, LIBPYTHON) for obj in objects if is_libpython_filename(obj)]
    return kept, changes


def with_allow_undefined(args: Sequence[str]) -> List[str]:
    """``args`` with ALLOW_UNDEFINED_ARGS appended last (last option wins), once."""
    out = list(args)
    for flag in ALLOW_UNDEFINED_ARGS:
        if flag in out:
            out.remove(flag)
        out.append(flag)
    return out
