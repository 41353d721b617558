"""Wheels made here with zipfile, proper or hostile, for the container-safety tests."""

from __future__ import annotations

import io
import warnings
import zipfile
from typing import Dict, List, Tuple

import elfgen

INFO = "probe-1.0.dist-info"

EXT = elfgen.build(elfgen.GOOD["le64-libpython"][0])

WHEEL_DATA = b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-linux_x86_64\n"


def base_members() -> Dict[str, bytes]:
    return {"probe/__init__.py": b"", "probe/_ext.so": EXT, "probe/data.txt": b"some package data\n" * 20}


def zip_of(entries: List[Tuple[zipfile.ZipInfo, bytes]], record: bool = True, record_text: str = "") -> bytes:
    """A wheel from explicit ZipInfo entries (names, modes, methods as given)."""
    files = [(zipfile.ZipInfo(f"{INFO}/WHEEL"), WHEEL_DATA)]
    files += entries
    if record:
        text = record_text or "".join(elfgen.record_line(i.filename, d) + "\n" for i, d in files) + f"{INFO}/RECORD,,\n"
        files.append((zipfile.ZipInfo(f"{INFO}/RECORD"), text.encode()))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name"
        with zipfile.ZipFile(buf, "w") as zf:
            for info, data in files:
                if info.compress_type is None:
                    info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
    return buf.getvalue()


def entries(members: Dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> List[Tuple[zipfile.ZipInfo, bytes]]:
    out = []
    for name, data in members.items():
        info = zipfile.ZipInfo(name)
        info.compress_type = method
        info.external_attr = 0o100644 << 16
        out.append((info, data))
    return out
