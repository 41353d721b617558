"""The setuptools glue: mixins for build_ext and bdist_wheel, and an explicit build_ext.

Mixins inherit ``object`` so that C3 keeps a project's own build_ext (Cython's,
pybind11's, one from setup.cfg) in the chain (setuptools-scm PR 1531). All decisions are
made by the core modules; this file only finds the arguments and the files.

Imports are light at module level: pip's metadata process looks up bdist_wheel (so it
loads this module) but builds nothing, and a build that links nothing reads no ELF
file, so the ELF code is imported by the methods that need it (benchmarks/overhead.py).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, List, Sequence, Tuple

# setuptools' build_ext is loaded in every backend process anyway (egg_info imports it).
from setuptools.command.build_ext import build_ext as _setuptools_build_ext
from setuptools.errors import BaseError

from .config import Config, effective_config, project_dir
from .errors import ConfigError, NoLibpythonError, ViolationError
from .hostplatform import platform_allows
from .logs import PREFIX, get_logger
from .sources import iter_tree_files

if TYPE_CHECKING:
    from .linkflags import Change

__all__ = ["BdistWheelMixin", "BuildError", "BuildExtMixin", "build_ext", "with_mixin"]

log = get_logger(__name__)

_subclasses: Dict[Tuple[type, type], type] = {}


class BuildError(NoLibpythonError, BaseError):  # type: ignore[misc]  # setuptools ships no type hints
    """Shown by setuptools as ``error: ...`` with exit status 1."""


def with_mixin(cls: type, mixin: type) -> type:
    """``cls`` with ``mixin`` in front; cached so repeated lookups give one class."""
    if issubclass(cls, mixin):
        return cls
    key = (mixin, cls)
    if key not in _subclasses:
        _subclasses[key] = type(cls.__name__, (mixin, cls), {"__module__": cls.__module__})
    return _subclasses[key]


def _config(cmd: Any) -> Config:
    cfg = getattr(cmd.distribution, "_nolibpython_config", None)
    if cfg is None:  # the explicit cmdclass form: opting in is the class itself
        try:
            # only the environment turns the explicit form off, in every spelling it accepts
            cfg = effective_config(project_dir(cmd.distribution), explicit=True)
        except ConfigError as exc:
            raise BuildError(f"{PREFIX}{exc}") from None
        if cfg.enable:
            _adopt_bdist_wheel(cmd.distribution)
        cmd.distribution._nolibpython_config = cfg
    return cfg


def _adopt_bdist_wheel(dist: Any) -> None:
    """Explicit form: bdist_wheel was created before this build_ext class was first used,
    so no class lookup can reach it; give the live command the whole-wheel check, or
    package data (prebuilt libraries) would be shipped unverified."""
    live = dist.command_obj.get("bdist_wheel")
    if live is None or "bdist_wheel" not in (dist.commands or []):
        return
    live.__class__ = with_mixin(type(live), BdistWheelMixin)
    dist._nolibpython_wheel_check = True


def _log_changes(subject: str, what: str, changes: Sequence[Change]) -> None:
    for change in changes:
        log.info("%s: %s from %s", subject, change.describe(), what)


def _needs_libpython(path: str) -> bool:
    from . import policy
    from .elf import read_elf
    from .errors import ElfReadError
    from .sources import FileSource

    try:
        with FileSource(path) as src:
            return bool(policy.libpython_needed(read_elf(src)))
    except (ElfReadError, OSError):
        return False


class BuildExtMixin:
    """Sanitise every extension link, then fix and verify what was built."""

    _nolibpython_verified = False

    def run(self) -> None:
        """A project's run() may build each extension itself and never call
        build_extensions() (the CMake pattern): verify its outputs after run() then,
        or editable and --inplace builds would ship them unchecked."""
        self._nolibpython_verified = False
        super().run()  # type: ignore[misc]
        if self._nolibpython_verified:
            return
        config = _config(self)
        if config.enable and platform_allows():
            self._nolibpython_after(config)

    def build_extensions(self) -> None:
        cmd: Any = self
        config = _config(cmd)
        if not config.enable or not platform_allows():
            super().build_extensions()  # type: ignore[misc]
            return
        self._nolibpython_sanitize()
        super().build_extensions()  # type: ignore[misc]
        self._nolibpython_after(config)
        self._nolibpython_verified = True

    def _nolibpython_sanitize(self) -> None:
        # Done once, before any (possibly parallel) build_extension: every list is
        # replaced by a new one, nothing is edited in place or restored later.
        from . import linkflags

        cmd: Any = self
        # Changes to the shared compiler apply to every extension: each is logged once
        # per extension (naming it), not once per compiler attribute.
        shared: Dict[Tuple[str, str], str] = {}
        for compiler in {id(c): c for c in (cmd.compiler, getattr(cmd, "shlib_compiler", None)) if c}.values():
            for attr in ("linker_so", "linker_so_cxx"):
                current = getattr(compiler, attr, None)
                if isinstance(current, list):
                    new, changes = linkflags.filter_link_args(current)
                    setattr(compiler, attr, new)
                    for change in changes:
                        shared.setdefault((change.describe(), "the linker command (LDSHARED/LDFLAGS)"), "")
            libs, changes = linkflags.filter_libraries(getattr(compiler, "libraries", []) or [])
            compiler.libraries = libs
            for change in changes:
                shared.setdefault((change.describe(), "build_ext libraries"), "")
            objs, changes = linkflags.filter_objects(getattr(compiler, "objects", []) or [])
            compiler.objects = objs
            for change in changes:
                shared.setdefault((change.describe(), "build_ext link_objects"), "")
        for ext in cmd.extensions:
            for what, where in shared:
                log.info("%s: %s from %s", ext.name, what, where)
            libs, c1 = linkflags.filter_libraries(ext.libraries or [])
            args, c2 = linkflags.filter_link_args(ext.extra_link_args or [])
            objs, c3 = linkflags.filter_objects(ext.extra_objects or [])
            ext.libraries, ext.extra_objects = libs, objs
            ext.extra_link_args = linkflags.with_allow_undefined(args)
            _log_changes(ext.name, "libraries", c1)
            _log_changes(ext.name, "extra_link_args", c2)
            _log_changes(ext.name, "extra_objects", c3)
            out = cmd.get_ext_fullpath(ext.name)
            if os.path.exists(out) and _needs_libpython(out):
                log.info("%s: %s needs libpython; relinking it", ext.name, out)
                os.remove(out)

    def _outputs(self) -> List[Tuple[str, str]]:
        cmd: Any = self
        out = []
        for ext in cmd.extensions:
            path = cmd.get_ext_fullpath(ext.name)
            if os.path.exists(path):
                rel = cmd.get_ext_filename(cmd.get_ext_fullname(ext.name)).replace(os.sep, "/")
                out.append((rel, path))
        return out

    def _nolibpython_after(self, config: Config) -> None:
        from .enforce import apply_fixes, enforce

        cmd: Any = self
        files = self._outputs()
        # Under bdist_wheel with the plugin active, the whole wheel tree is verified
        # there; here only the outputs are fixed, so each problem is reported once.
        wheel_checks = getattr(cmd.distribution, "_nolibpython_wheel_check", False) and (
            "bdist_wheel" in (cmd.distribution.commands or [])
        )
        if wheel_checks:
            # bdist_wheel verifies the whole wheel tree; here only fix the outputs.
            for line in apply_fixes(files, config):
                log.info("%s", line)
            return
        try:
            enforce(files, config, "build_ext outputs")
        except ViolationError as exc:
            raise BuildError(str(exc)) from None


class BdistWheelMixin:
    """Fix and verify every ELF file in the wheel tree after it is complete, before zipping."""

    def write_wheelfile(self, *args: Any, **kwargs: Any) -> None:
        super().write_wheelfile(*args, **kwargs)  # type: ignore[misc]
        cmd: Any = self
        if "editable_wheel" in (cmd.distribution.commands or []):
            return  # PEP 660: nothing is built yet; build_ext verifies its own outputs
        root = getattr(cmd, "bdist_dir", None)
        if not root or not os.path.isdir(root) or not platform_allows():
            return
        from .enforce import enforce  # light until it finds an ELF file among the files

        config = _config(cmd)
        files = list(iter_tree_files(root))  # enforce() finds the ELF files among them
        tags = ("-".join(cmd.get_tag()),) if hasattr(cmd, "get_tag") else ()
        try:
            enforce(files, config, "the wheel", wheel_tags=tags)
        except ViolationError as exc:
            raise BuildError(str(exc)) from None


class build_ext(BuildExtMixin, _setuptools_build_ext):  # type: ignore[misc]  # noqa: N801 - setuptools' name
    """Explicit form: ``cmdclass={"build_ext": setuptools_nolibpython.build_ext}``."""
