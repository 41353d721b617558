"""``build-backend = "setuptools_nolibpython.build_meta"``: setuptools' backend, plugin on.

Importing this module turns the plugin on for the backend process, where setuptools
runs setup.py in-process, so the table's ``enable`` is not needed.
"""

from __future__ import annotations

from setuptools import build_meta as _backend

from .config import force_enable

__all__ = [
    "build_sdist",
    "build_wheel",
    "get_requires_for_build_sdist",
    "get_requires_for_build_wheel",
    "prepare_metadata_for_build_wheel",
]

force_enable()

get_requires_for_build_wheel = _backend.get_requires_for_build_wheel
get_requires_for_build_sdist = _backend.get_requires_for_build_sdist
prepare_metadata_for_build_wheel = _backend.prepare_metadata_for_build_wheel
build_wheel = _backend.build_wheel
build_sdist = _backend.build_sdist

# PEP 660 hooks exist in setuptools >= 64 only.
if hasattr(_backend, "build_editable"):
    get_requires_for_build_editable = _backend.get_requires_for_build_editable
    prepare_metadata_for_build_editable = _backend.prepare_metadata_for_build_editable
    build_editable = _backend.build_editable
