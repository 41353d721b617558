"""The package keeps its shape: layers, no import cycle, CONTRIBUTING.md's Architecture list, honest dependencies.

scripts/check_layers.py runs on the real package (it must pass) and on copies broken on
purpose (each must fail, naming the break): an upward import hidden in a function, a
cycle inside one layer, a module with no layer, a CONTRIBUTING.md list that drifted or went missing.
"""

from __future__ import annotations

import ast
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
from support import REPO, run

SCRIPT = REPO / "scripts" / "check_layers.py"
PACKAGE = REPO / "setuptools_nolibpython"


def check(package: Path = PACKAGE, doc: Path = REPO / "CONTRIBUTING.md") -> "tuple[int, str]":
    proc = run([sys.executable, SCRIPT, "--package", package, "--doc", doc])
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    dest = tmp_path / "setuptools_nolibpython"
    shutil.copytree(PACKAGE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_the_package_keeps_its_layers() -> None:
    rc, out = check()
    assert rc == 0, out
    assert "no upward import, no cycle" in out


def test_unchanged_copy_passes(copy: Path) -> None:
    """Control for the tests below: the copy itself is clean, so each failure is its break's."""
    rc, out = check(copy)
    assert rc == 0, out


def test_function_level_upward_import_fails(copy: Path) -> None:
    append(copy / "names.py", "\n\ndef _late() -> None:\n    from .cli import main  # noqa\n")
    rc, out = check(copy)
    assert rc == 1
    assert "names.py:" in out and "names (inputs) imports cli from a higher layer (shells)" in out, out


def test_cycle_within_a_layer_fails(copy: Path) -> None:
    append(copy / "globs.py", "\n\ndef _a() -> None:\n    from .syslibs import libc_of  # noqa\n")
    rc, out = check(copy)
    assert rc == 0, out  # one direction alone is allowed (same layer) ...
    append(copy / "syslibs.py", "\n\ndef _b() -> None:\n    from . import globs  # noqa\n")
    rc, out = check(copy)
    assert rc == 1 and "import cycle among globs, syslibs" in out, out  # ... both make a cycle
    assert "higher layer" not in out


def test_module_without_a_layer_fails(copy: Path) -> None:
    (copy / "extra.py").write_text('"""A module nobody placed."""\n')
    rc, out = check(copy)
    assert rc == 1 and "module 'extra' is in no layer" in out, out


def test_contributing_list_must_match(tmp_path: Path) -> None:
    text = (REPO / "CONTRIBUTING.md").read_text()
    line = "7. **verdicts**: `policy`"
    assert line in text
    drifted = tmp_path / "CONTRIBUTING.md"
    drifted.write_text(text.replace(line, "7. **verdicts**: `policy`, `report`"))
    rc, out = check(doc=drifted)
    assert rc == 1 and "differ from scripts/check_layers.py LAYERS" in out, out


def test_default_document_is_contributing(tmp_path: Path) -> None:
    """Without --doc the script reads CONTRIBUTING.md, where the Architecture section lives;
    README.md (for users) has no layer list, so pointing the check there fails."""
    proc = run([sys.executable, SCRIPT])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rc, out = check(doc=REPO / "README.md")
    assert rc == 1 and "no layer list between" in out, out


# ---------------------------------------------------------------- dependencies
def _imports(package: Path) -> "set[str]":
    found = set()
    for py in package.glob("*.py"):
        for node in ast.walk(ast.parse(py.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def test_declared_dependencies_are_the_imported_ones() -> None:
    """Each runtime dependency is imported by the package, and ``wheel`` is neither
    (setuptools' backend asks for it where it provides bdist_wheel: the setuptools 61/69
    cells of tests/test_matrix_setuptools.py build that way)."""
    from packaging.requirements import Requirement

    deps = {Requirement(d).name for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    imported = _imports(PACKAGE)
    module_of = {"setuptools": "setuptools", "packaging": "packaging", "pyelftools": "elftools", "tomli": "tomli"}
    assert deps == set(module_of), deps
    assert all(module_of[d] in imported for d in deps), imported
    assert "wheel" not in deps and "wheel" not in imported


def test_pyelftools_names_machines_and_stays_off_the_reading_path() -> None:
    """A check of a clean ELF file never imports pyelftools; naming a machine for a message does."""
    code = (
        "import sys\n"
        "from setuptools_nolibpython.cli import main\n"
        "main(['check', '--check-symbols', 'off', '/bin/true'])\n"
        "print('AFTER-CHECK', 'elftools' in sys.modules)\n"
        "from setuptools_nolibpython.elf import describe_machine\n"
        "print('NAMED', describe_machine('EM_AARCH64'), '|', describe_machine('EM_X86_64'), '|',"
        " describe_machine('EM_NO_SUCH'))\n"
        "print('AFTER-NAMING', 'elftools' in sys.modules)\n"
    )
    proc = run([sys.executable, "-c", code], check=True)
    assert "AFTER-CHECK False" in proc.stdout, proc.stdout
    assert "NAMED AArch64 | Advanced Micro Devices X86-64 | EM_NO_SUCH" in proc.stdout, proc.stdout
    assert "AFTER-NAMING True" in proc.stdout  # control: the probe sees the import when it happens
