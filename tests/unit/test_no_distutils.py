"""The package never imports distutils: its error classes come from setuptools.errors."""

from __future__ import annotations

from pathlib import Path


def test_no_distutils_import_in_the_package() -> None:
    """Error classes come from setuptools.errors (setuptools >= 59), never distutils."""
    import ast

    import setuptools_nolibpython

    pkg = Path(setuptools_nolibpython.__file__).parent
    offenders = []
    for py in sorted(pkg.glob("*.py")):
        for node in ast.walk(ast.parse(py.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{py.name}: {n}" for n in names if n.split(".")[0] == "distutils"]
    assert offenders == []
    from setuptools.errors import BaseError

    from setuptools_nolibpython.commands import BuildError
    from setuptools_nolibpython.errors import NoLibpythonError

    assert issubclass(BuildError, BaseError) and issubclass(BuildError, NoLibpythonError)
