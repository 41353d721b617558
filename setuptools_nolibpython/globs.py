"""``allow`` globs with path-segment semantics, like .gitignore's and pathlib's ``**``.

``*``, ``?`` and ``[...]`` match within one segment (they never cross ``/``); a segment
that is exactly ``**`` matches zero or more whole segments. So ``pkg/*.so`` matches
``pkg/x.so`` but not ``pkg/sub/x.so``; ``pkg/**/*.so`` matches both; ``*.so`` matches
only top-level files. ``fnmatch`` alone lets ``*`` cross ``/``, which allowed more files
than a user wrote.
"""

from __future__ import annotations

import fnmatch
from functools import lru_cache
from typing import Sequence, Tuple

__all__ = ["match_path", "matches_any"]


@lru_cache(maxsize=512)
def _segments(pattern: str) -> Tuple[str, ...]:
    return tuple(s for s in pattern.strip("/").split("/") if s != "")


def _match(path: Tuple[str, ...], pat: Tuple[str, ...]) -> bool:
    if not pat:
        return not path
    head, rest = pat[0], pat[1:]
    if head == "**":
        return any(_match(path[i:], rest) for i in range(len(path) + 1))
    return bool(path) and fnmatch.fnmatchcase(path[0], head) and _match(path[1:], rest)


def match_path(path: str, pattern: str) -> bool:
    """Does the posix ``path`` (inside a wheel or tree) match ``pattern``, segment by segment?"""
    return _match(_segments(path), _segments(pattern))


def matches_any(path: str, patterns: Sequence[str]) -> bool:
    return any(match_path(path, p) for p in patterns)
