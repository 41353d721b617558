"""A wheel's tags: the ``Tag:`` lines of ``.dist-info/WHEEL``, checked against its file name.

The symbol check judges a wheel against its target (an abi3 floor, a CPython build, a
libc); a renamed file must not change that verdict, so the WHEEL metadata written by
the build is read (with ``packaging.tags``, PEP 425 / PEP 427) and the file name is only
the fallback. When the two disagree, installers go by the file name: that is a finding.
"""

from __future__ import annotations

import os
import re
import zipfile
from typing import FrozenSet, Iterable, Optional, Set, Tuple

from packaging.tags import Tag, parse_tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .errors import ZIP_ERRORS
from .pybuild import WheelTarget

__all__ = ["wheel_target"]

_WHEEL_MEMBER = re.compile(r"^[^/]+\.dist-info/WHEEL$")
_MAX_WHEEL_FILE = 1024 * 1024


def _filename_tags(path: str) -> FrozenSet[Tag]:
    """Tags from a wheel file name (empty when the name is not a valid wheel name)."""
    try:
        return frozenset(parse_wheel_filename(os.path.basename(path))[3])
    except InvalidWheelFilename:
        return frozenset()


def _parse_wheel_file(text: str) -> FrozenSet[Tag]:
    """Every tag of the ``Tag:`` lines of a WHEEL file (compressed tag sets expanded)."""
    tags: Set[Tag] = set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "tag" and value.strip():
            try:
                tags |= parse_tag(value.strip())
            except ValueError:
                continue  # a malformed tag line says nothing about the target
    return frozenset(tags)


def _read_wheel_tags(zf: zipfile.ZipFile) -> FrozenSet[Tag]:
    """The WHEEL tags of an open wheel; empty when there is no readable WHEEL file."""
    for info in zf.infolist():
        if _WHEEL_MEMBER.match(info.filename) and 0 < info.file_size <= _MAX_WHEEL_FILE:
            try:
                with zf.open(info) as f:
                    return _parse_wheel_file(f.read(_MAX_WHEEL_FILE).decode("utf-8", "replace"))
            except ZIP_ERRORS:
                return frozenset()
    return frozenset()


def _as_strings(tags: Iterable[Tag]) -> Tuple[str, ...]:
    """``py-abi-plat`` strings, sorted, as the symbol check takes them."""
    return tuple(sorted(str(t) for t in tags))


def wheel_target(path: str, zf: Optional[zipfile.ZipFile] = None) -> Tuple[WheelTarget, Optional[str]]:
    """(the target to judge the wheel against, a one-line finding when name and WHEEL disagree).

    WHEEL's tags win; the file name is used when WHEEL has none (or cannot be read). The
    tags are parsed here once (packaging.tags.Tag), never again as strings. ``zf``: the
    wheel already open.
    """
    from_name = _filename_tags(path)
    try:
        if zf is not None:
            from_wheel = _read_wheel_tags(zf)
        else:
            with zipfile.ZipFile(path) as opened:
                from_wheel = _read_wheel_tags(opened)
    except ZIP_ERRORS:
        from_wheel = frozenset()
    if not from_wheel:
        return WheelTarget.from_tags(from_name), None
    finding = None
    if from_name and from_name != from_wheel:
        finding = (
            f"the file name's tags ({', '.join(_as_strings(from_name))}) differ from the Tag lines of "
            f".dist-info/WHEEL ({', '.join(_as_strings(from_wheel))}): installers go by the file name, this "
            "check judged the WHEEL tags; rename the file to match WHEEL (or rebuild the wheel)"
        )
    return WheelTarget.from_tags(from_wheel), finding
