"""Ready to publish: the plugin's own sdist and wheel, built and checked as a packager does.

``python -m build`` (isolated, sdist then the wheel from the sdist) prints no deprecation
warning; both artifacts carry the SPDX license and the LICENSE file and pass
``twine check --strict``; the sdist holds every file git tracks (what the suite needs);
the version the CLI prints is the one in ``setuptools_nolibpython/__init__.py``.

The control is the same tree with the old ``license = { text = "MIT" }`` table, without
MANIFEST.in and with another ``__version__``: it warns, lacks the suite and reports the
other version, so each check here is seen to fail. .ci/run then runs the whole suite
from the unpacked sdist.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from typing import Dict, List, NamedTuple

import pytest
from support import REPO, in_parallel, run

CONTROL_VERSION = "0.0.0.dev1"
WARNING = re.compile(r".*(deprecat|BuildBackendWarning|would be ignored).*", re.IGNORECASE)
#: What a git checkout has and the sdist need not (the sdist is not a git repository).
NOT_IN_SDIST = {".gitignore"}
#: What the suite reads from the tree; the sdist must hold these even where git cannot tell.
SUITE_NEEDS = ["LICENSE", "CHANGELOG.md", "CONTRIBUTING.md", "Makefile", "requirements-dev.txt", "MANIFEST.in",
               "tests/conftest.py", "tests/support/__init__.py", "tests/support/without_libpython.sh",
               "sample_project/setup.py", "docs/compatibility.md", "docs/messages.md",
               "docs/check-json-schema.json", "scripts/gen_compat.py", "benchmarks/run.py", "fuzz/fuzz_check.py",
               ".ci/run"]
PLAIN = {"NO_COLOR": "1", "COLUMNS": "250"}  # twine's rich output: no colour, no wrapping
SKIP_DIRS = {".git", ".venv", ".cache", "build", "dist", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


class Built(NamedTuple):
    log: str
    sdist: Path
    wheel: Path


def source_version(tree: Path) -> str:
    """``__version__`` as written in the package source (read, not imported)."""
    module = ast.parse((tree / "setuptools_nolibpython" / "__init__.py").read_text())
    for node in module.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__version__" for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise AssertionError("setuptools_nolibpython/__init__.py assigns no __version__")


def copy_tree(dest: Path) -> Path:
    """The checkout as a packager has it: no venv, caches or build outputs."""
    def ignore(_dir: str, names: List[str]) -> List[str]:
        return [n for n in names if n in SKIP_DIRS or n.endswith((".egg-info", ".so", ".pyc"))]
    shutil.copytree(REPO, dest, ignore=ignore)
    return dest


def make_control(tree: Path) -> None:
    """The old license table, no MANIFEST.in, another version."""
    pyproject = tree / "pyproject.toml"
    text = pyproject.read_text()
    new = text.replace('license = "MIT"\nlicense-files = ["LICENSE"]\n', 'license = { text = "MIT" }\n')
    assert new != text, "pyproject.toml no longer spells the license as this control expects"
    pyproject.write_text(new)
    (tree / "MANIFEST.in").unlink()
    init = tree / "setuptools_nolibpython" / "__init__.py"
    init.write_text(re.sub(r'(?m)^__version__ = ".*"$', f'__version__ = "{CONTROL_VERSION}"', init.read_text()))
    assert source_version(tree) == CONTROL_VERSION


def build(tree: Path, out: Path) -> Built:
    proc = run([sys.executable, "-m", "build", "-o", out, tree])
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    return Built(log, *(next(out.glob(pattern)) for pattern in ("*.tar.gz", "*.whl")))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Built]:
    root = tmp_path_factory.mktemp("packaging")
    real = copy_tree(root / "real")
    control = copy_tree(root / "control")
    make_control(control)
    a, b = in_parallel(lambda: build(real, root / "real-dist"), lambda: build(control, root / "control-dist"))
    return {"real": a, "control": b}


def sdist_members(sdist: Path) -> Dict[str, bytes]:
    with tarfile.open(sdist) as tf:
        return {m.name.split("/", 1)[1]: tf.extractfile(m).read()  # type: ignore[union-attr]
                for m in tf.getmembers() if m.isfile() and "/" in m.name}


def wheel_metadata(wheel: Path, name: str = "METADATA") -> str:
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith(f".dist-info/{name}"))).decode()


def test_build_prints_no_deprecation_warning(built: Dict[str, Built]) -> None:
    warnings = [m.group(0).strip() for m in WARNING.finditer(built["real"].log)]
    assert not warnings, "python -m build warned:\n" + "\n".join(warnings)
    assert re.search(r"Successfully built \S+\.tar\.gz and \S+\.whl", built["real"].log)
    # Control: the old license table is a deprecation the same check sees.
    assert re.search(r"project\.license.*TOML table.*deprecated", built["control"].log, re.S | re.I), \
        built["control"].log[-4000:]


def test_license_metadata(built: Dict[str, Built]) -> None:
    license_text = (REPO / "LICENSE").read_bytes()
    assert license_text.startswith(b"MIT License\n")
    assert b"Copyright (c) 2026 the setuptools-nolibpython developers" in license_text
    real = built["real"]
    pkg_info = sdist_members(real.sdist)["PKG-INFO"].decode()
    for metadata in (wheel_metadata(real.wheel), pkg_info):
        assert "\nLicense-Expression: MIT\n" in metadata
        assert "\nLicense-File: LICENSE\n" in metadata
        assert "\nLicense: " not in metadata
    with zipfile.ZipFile(real.wheel) as zf:
        assert zf.read(f"setuptools_nolibpython-{source_version(REPO)}.dist-info/licenses/LICENSE") == license_text
    assert sdist_members(real.sdist)["LICENSE"] == license_text
    control = wheel_metadata(built["control"].wheel)
    assert "\nLicense: MIT\n" in control and "License-Expression" not in control


def test_twine_check_both_artifacts(built: Dict[str, Built], tmp_path: Path) -> None:
    real = built["real"]
    proc = run([sys.executable, "-m", "twine", "check", "--strict", real.sdist, real.wheel], env=PLAIN)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2, proc.stdout
    # Control: a wheel whose METADATA lost its Name is refused, by name.
    broken = tmp_path / real.wheel.name
    with zipfile.ZipFile(real.wheel) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".dist-info/METADATA"):
                data = re.sub(rb"(?m)^Name: .*\n", b"", data)
            dst.writestr(info, data)
    proc = run([sys.executable, "-m", "twine", "check", "--strict", broken], env=PLAIN)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "InvalidDistribution: Invalid distribution metadata: 'name' is a required field" in proc.stdout, proc.stdout


def test_sdist_carries_what_the_suite_needs(built: Dict[str, Built]) -> None:
    members = sdist_members(built["real"].sdist)
    assert not [p for p in SUITE_NEEDS if p not in members]
    assert not [p for p in members if "__pycache__" in p or p.endswith((".pyc", ".so"))
                or (".egg-info/" in p and not p.startswith("setuptools_nolibpython.egg-info/"))]
    control = sdist_members(built["control"].sdist)
    assert "tests/support/__init__.py" not in control and "Makefile" not in control
    top = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != REPO:
        pytest.skip(f"{REPO} is not a git checkout (an unpacked sdist?): no tracked-file list to compare with")
    tracked = run(["git", "-C", REPO, "ls-files"], check=True).stdout.splitlines()
    missing = [p for p in tracked if (REPO / p).is_file() and p not in members and p not in NOT_IN_SDIST]
    assert not missing, f"tracked files missing from the sdist (add them to MANIFEST.in): {missing}"


def test_version_has_one_source(built: Dict[str, Built], tmp_path: Path) -> None:
    version = source_version(REPO)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "setuptools_nolibpython.__version__"}
    # The CLI in this venv (the checkout, installed editable), both spellings.
    script = Path(sys.executable).parent / "nolibpython"
    for argv in ([script, "--version"], [sys.executable, "-m", "setuptools_nolibpython", "--version"]):
        proc = run(argv)
        assert (proc.returncode, proc.stdout) == (0, f"nolibpython {version}\n"), proc.stdout + proc.stderr
    # The built wheels: metadata and CLI say the version of the tree they were built from.
    for label, expected in (("real", version), ("control", CONTROL_VERSION)):
        wheel = built[label].wheel
        assert re.search(rf"(?m)^Version: {re.escape(expected)}$", wheel_metadata(wheel))
        assert "nolibpython = setuptools_nolibpython.cli:main" in wheel_metadata(wheel, "entry_points.txt")
        site = tmp_path / label
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(site)
        # cwd elsewhere: `python -m` puts the working directory (here the checkout) first.
        proc = run([sys.executable, "-m", "setuptools_nolibpython", "--version"], env={"PYTHONPATH": str(site)},
                   cwd=tmp_path)
        assert (proc.returncode, proc.stdout) == (0, f"nolibpython {expected}\n"), proc.stdout + proc.stderr


def test_changelog_heads_with_the_version() -> None:
    """The newest CHANGELOG section is the version in the source, with its date: a release
    moves the notes under it, and --version (held above) says the same."""
    headings = re.findall(r"(?m)^## (.+)$", (REPO / "CHANGELOG.md").read_text())
    assert re.fullmatch(rf"{re.escape(source_version(REPO))} \(\d{{4}}-\d\d-\d\d\b.*\)", headings[0]), headings[:2]


@pytest.mark.slow
def test_build_system_floor_is_setuptools_77(tmp_path: Path) -> None:
    """The plugin's own ``[build-system] requires`` starts where its metadata builds: 77.0.1
    (77.0.0 is yanked) builds it without a warning; 76.1.0 rejects the SPDX license."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["build-system"]["requires"] == ["setuptools>=77"]

    def build_with(version: str) -> "subprocess.CompletedProcess[str]":
        tree = tmp_path / f"src-{version}"
        tree.mkdir()
        for name in ("README.md", "LICENSE"):
            shutil.copy2(REPO / name, tree / name)
        shutil.copytree(REPO / "setuptools_nolibpython", tree / "setuptools_nolibpython",
                        ignore=shutil.ignore_patterns("__pycache__"))
        text = (REPO / "pyproject.toml").read_text()
        (tree / "pyproject.toml").write_text(text.replace('requires = ["setuptools>=77"]',
                                                          f'requires = ["setuptools=={version}"]'))
        return run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", tmp_path / f"out-{version}", tree])

    new, old = in_parallel(lambda: build_with("77.0.1"), lambda: build_with("76.1.0"))
    new_log, old_log = new.stdout + new.stderr, old.stdout + old.stderr
    assert new.returncode == 0 and "Successfully installed setuptools-77.0.1" in new_log, new_log[-4000:]
    assert not WARNING.search(new_log), WARNING.search(new_log)
    assert "Successfully installed setuptools-76.1.0" in old_log, old_log[-4000:]
    assert old.returncode != 0 and "invalid pyproject.toml config: `project.license`" in old_log, old_log[-4000:]
