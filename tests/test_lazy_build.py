"""The build path is lazy: a build that links nothing imports no ELF code, and pip's
metadata processes import only the config and the mixins.

Observed in the real build processes: the test project's setup.py registers an atexit
hook that writes the process's ``sys.modules`` (and which setuptools command it ran) to
a file, so every process pip starts for the build reports what it imported. Negative
control: the same project with a C extension imports the ELF reader in its build
process, so the check can fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

from support import built_wheel, make_project, pip_wheel

#: The modules that read or judge ELF files (every one imports elf, directly or not).
ELF_MODULES = {
    f"setuptools_nolibpython.{m}"
    for m in ("elf", "dynsym", "elfpatch", "ldso", "interpreter", "symbols", "policy", "scan", "wheelsafety",
              "wheelrepair", "stable_abi", "pybuild")
}

#: What a process that builds nothing may import: reading the table, routing the commands.
LIGHT = {
    f"setuptools_nolibpython.{m}"
    for m in ("activation", "config", "errors", "logs", "hostplatform", "commands", "sources")
}

DUMP = """
import atexit, json, os, sys

_COMMAND = list(sys.argv[1:])


def _dump():
    path = os.path.join(os.environ["NOLIBPYTHON_MODULES_DIR"], "%d.json" % os.getpid())
    with open(path, "w") as f:
        json.dump({"argv": _COMMAND, "modules": sorted(sys.modules)}, f)


atexit.register(_dump)
"""


def _processes(project: Path, tmp_path: Path, wheelhouse: Path) -> List[Dict[str, List[str]]]:
    dumps = tmp_path / "modules"
    dumps.mkdir()
    proc = pip_wheel(project, tmp_path / "out", wheelhouse, env={"NOLIBPYTHON_MODULES_DIR": str(dumps)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    built_wheel(tmp_path / "out")
    found = [json.loads(p.read_text()) for p in sorted(dumps.glob("*.json"))]
    assert any("bdist_wheel" in d["argv"] for d in found), [d["argv"] for d in found]
    return found


def _build(found: List[Dict[str, List[str]]]) -> Dict[str, List[str]]:
    return next(d for d in found if "bdist_wheel" in d["argv"])


def test_build_that_links_nothing_imports_no_elf_code(tmp_path: Path, wheelhouse: Path) -> None:
    project = make_project(tmp_path / "p", modules=(), setup_py=DUMP + "from setuptools import setup\nsetup()\n")
    found = _processes(project, tmp_path, wheelhouse)
    build = _build(found)
    # The plugin was active in the build process (it judged the wheel: the mixins ran) ...
    assert "setuptools_nolibpython.commands" in build["modules"], build["modules"]
    assert "setuptools_nolibpython.enforce" in build["modules"]
    # ... and no process pip started imported any ELF code.
    for d in found:
        loaded = sorted(ELF_MODULES & set(d["modules"]))
        assert not loaded, f"{d['argv']}: imported {loaded}"
    # The get_requires and metadata processes build nothing: the config and the mixins only.
    for d in found:
        if "bdist_wheel" not in d["argv"]:
            ours = {m for m in d["modules"] if m.startswith("setuptools_nolibpython.")}
            assert ours <= LIGHT, f"{d['argv']}: imported {sorted(ours - LIGHT)}"


def test_build_that_links_a_module_imports_the_elf_reader(tmp_path: Path, wheelhouse: Path) -> None:
    """Negative control: the same observation sees the ELF code where a module is linked."""
    setup_py = DUMP + (
        "from setuptools import Extension, setup\n"
        'setup(ext_modules=[Extension("probe._ext", ["probe/_ext.c"])])\n'
    )
    found = _processes(make_project(tmp_path / "p", setup_py=setup_py), tmp_path, wheelhouse)
    build = _build(found)
    assert {"setuptools_nolibpython.elf", "setuptools_nolibpython.symbols"} <= set(build["modules"])
    for d in found:
        if "bdist_wheel" not in d["argv"]:
            assert not ELF_MODULES & set(d["modules"]), d["argv"]
