"""pyelftools as the oracle of the ELF reader: the same facts, read by each, to compare."""

from __future__ import annotations

import io
from typing import Dict

from elftools.elf.elffile import ELFFile

from setuptools_nolibpython.elf import read_elf


def oracle(stream: io.BufferedIOBase) -> Dict[str, object]:
    """needed / rpath / runpath / soname / type / machine as pyelftools reads them."""
    elf = ELFFile(stream)
    out: Dict[str, object] = {"needed": [], "rpath": [], "runpath": [], "soname": None,
                              "type": elf["e_type"], "machine": elf["e_machine"], "dynamic": False}
    for seg in elf.iter_segments():
        if seg["p_type"] != "PT_DYNAMIC":
            continue
        out["dynamic"] = True
        for tag in seg.iter_tags():
            kind = tag.entry.d_tag
            if kind == "DT_NEEDED":
                out["needed"].append(tag.needed)  # type: ignore[union-attr]
            elif kind == "DT_RPATH":
                out["rpath"].extend(p for p in tag.rpath.split(":") if p)  # type: ignore[union-attr]
            elif kind == "DT_RUNPATH":
                out["runpath"].extend(p for p in tag.runpath.split(":") if p)  # type: ignore[union-attr]
            elif kind == "DT_SONAME" and out["soname"] is None:
                out["soname"] = tag.soname
    return out


def ours(info_src: object) -> Dict[str, object]:
    info = read_elf(info_src)  # type: ignore[arg-type]
    return {"needed": list(info.needed), "rpath": list(info.rpath), "runpath": list(info.runpath),
            "soname": info.soname, "type": info.file_type, "machine": info.machine,
            "dynamic": info.is_dynamic}
