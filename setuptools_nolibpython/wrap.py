"""``build-backend = "setuptools_nolibpython.wrap"``: any PEP 517 backend, checked before it hands over a wheel.

The real backend is named by ``backend`` in ``[tool.setuptools-nolibpython]`` of the
pyproject.toml in the current directory (front-ends run hooks in the project directory).
Every hook it has is passed through unchanged; ``build_wheel`` and ``build_editable``
then judge the finished wheel (enforce.judge_wheel: the setuptools path's fixes and
verdict, from one read of the zip) and an editable wheel's externally loaded modules
(editables.external_files, enforce.judge_files), and write fixes only when all pass. Optional hooks exist here exactly
when the real backend has them: front-ends probe with getattr/hasattr, so they are
resolved by a module ``__getattr__`` (PEP 562), which loads the backend on first use.

``setuptools.build_meta`` (and ``setuptools_nolibpython.build_meta``) are routed to the
setuptools path, which also strips libpython from link lines and checks before zipping.
Configuration errors stop the build with one line (SystemExit with a message, as
setuptools' own ``error:`` lines do), never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, NoReturn, Optional

from .config import TABLE, Config, force_enable, load_config
from .errors import ConfigError, ViolationError
from .logs import PREFIX, get_logger, show_on_stderr

__all__ = ["build_sdist", "build_wheel"]

log = get_logger(__name__)

#: Optional PEP 517 / PEP 660 hooks: present here only when the real backend has them.
_OPTIONAL_HOOKS = (
    "get_requires_for_build_wheel",
    "get_requires_for_build_sdist",
    "prepare_metadata_for_build_wheel",
    "get_requires_for_build_editable",
    "prepare_metadata_for_build_editable",
    "build_editable",
)
#: Inner backends that are the setuptools path: routed to it, which checks on its own.
_SETUPTOOLS_BACKENDS = {
    "setuptools.build_meta": "setuptools_nolibpython.build_meta",
    "setuptools_nolibpython.build_meta": "setuptools_nolibpython.build_meta",
}
#: How each backend's build links libpython, said after a file that needs it.
_HINTS = {
    "scikit_build_core": "CMake: link the module to Python::Module, not Python::Python "
                         "(find_package(Python COMPONENTS Interpreter Development.Module); "
                         "python_add_library(<name> MODULE ...) links it so)",
    "mesonpy": "meson: build the module with py.extension_module(...) and dependencies: py.dependency(), "
               "not dependency('python3-embed'), py.dependency(embed: true) or libpython in link_args",
}


class _Loaded:
    """The real backend, the config, and whether this wrapper judges its wheels."""

    def __init__(self, name: str, backend: Any, config: Config, checks: bool, pyproject: Path) -> None:
        self.name = name
        self.backend = backend
        self.config = config
        self.checks = checks
        self.pyproject = pyproject


_loaded: Optional[_Loaded] = None


def _fail(message: str) -> NoReturn:
    raise SystemExit(f"error: {PREFIX}{message}")


def _import(spec: str, pyproject: Path) -> Any:
    """Import ``module`` or ``module:object`` the way PEP 517 front-ends do."""
    module_name, _, obj_path = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # a backend's import may fail in any way; one line, no traceback
        _fail(f"{pyproject}: [tool.{TABLE}] backend = {spec!r} cannot be imported "
              f"({type(exc).__name__}: {exc}); add the package that provides it to [build-system] requires")
    for part in filter(None, obj_path.split(".")):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            _fail(f"{pyproject}: [tool.{TABLE}] backend = {spec!r}: {module_name} has no attribute {part!r}")
    return obj


def _load() -> _Loaded:
    global _loaded
    if _loaded is not None:
        return _loaded
    pyproject = Path.cwd() / "pyproject.toml"
    try:
        config = load_config(Path.cwd(), force_enable=True)  # choosing the wrapper turns the checks on
    except ConfigError as exc:
        _fail(str(exc))
    spec = config.backend
    if not spec:
        _fail(f'{pyproject}: [tool.{TABLE}] has no backend; build-backend = "setuptools_nolibpython.wrap" needs '
              'the real backend there, e.g. backend = "scikit_build_core.build" or backend = "mesonpy"')
    module_name, _, obj_path = spec.partition(":")
    if module_name == __name__:
        _fail(f"{pyproject}: [tool.{TABLE}] backend = {spec!r} names this wrapper itself; name the real "
              'backend, e.g. "scikit_build_core.build" or "mesonpy"')
    checks = True
    if module_name in _SETUPTOOLS_BACKENDS:
        force_enable()  # the setuptools path checks before zipping, and cleans link lines too
        checks = False
        if not obj_path:
            spec = _SETUPTOOLS_BACKENDS[module_name]
    else:
        show_on_stderr()  # other backends configure no logging: without this our lines vanish
    backend = _import(spec, pyproject)
    if backend is sys.modules[__name__]:
        _fail(f"{pyproject}: [tool.{TABLE}] backend = {config.backend!r} names this wrapper itself; name the "
              'real backend, e.g. "scikit_build_core.build" or "mesonpy"')
    if checks and not config.enable:
        log.info("SETUPTOOLS_NOLIBPYTHON turns the checks off; %s's wheels are "
                 "passed through unchecked", spec)
    _loaded = _Loaded(spec, backend, config, checks and config.enable, pyproject)
    return _loaded


def _hook(name: str) -> Callable[..., Any]:
    """A mandatory hook of the real backend, or one line saying it has none."""
    loaded = _load()
    hook: Optional[Callable[..., Any]] = getattr(loaded.backend, name, None)
    if hook is None or not callable(hook):
        _fail(f"{loaded.pyproject}: backend {loaded.name!r} has no {name} hook, which the front-end called; "
              "is it a PEP 517 build backend?")
    return hook


def _hint(loaded: _Loaded) -> str:
    return _HINTS.get(loaded.name.split(".")[0].split(":")[0], "")


def _verify(loaded: _Loaded, directory: str, name: str, editable: bool) -> str:
    """The verdict on the wheel the backend wrote, before its name is handed over."""
    if not loaded.checks:
        return name
    from .enforce import judge_files, judge_wheel, settle

    wheel = os.path.join(directory, name)
    try:
        # Every verdict before any write: an editable install that fails leaves the
        # backend's build directory (meson-python's, say) as it was.
        pending = [judge_wheel(wheel, loaded.config, _hint(loaded))]
        if editable:
            from .editables import external_files

            outside = external_files(wheel)
            for note in outside.notes:
                log.warning("%s", note)
            if outside.files:
                pending.append(judge_files(list(outside.files), loaded.config,
                                           f"{outside.build_dir} (loaded by the editable wheel)", (name,),
                                           _hint(loaded), context="backend"))
        settle(pending)
    except ViolationError as exc:
        try:
            os.unlink(wheel)  # the wheel is never handed over
        except OSError:
            pass
        raise SystemExit(f"error: {exc}") from None
    return name


# ---------------------------------------------------------------- mandatory hooks
def build_wheel(
    wheel_directory: str, config_settings: Optional[Mapping[str, Any]] = None, metadata_directory: Optional[str] = None
) -> str:
    name = _hook("build_wheel")(wheel_directory, config_settings, metadata_directory)
    return _verify(_load(), wheel_directory, str(name), editable=False)


def build_sdist(sdist_directory: str, config_settings: Optional[Mapping[str, Any]] = None) -> str:
    return str(_hook("build_sdist")(sdist_directory, config_settings))


# ---------------------------------------------------------------- optional hooks
def _build_editable(inner: Callable[..., Any]) -> Callable[..., str]:
    def build_editable(
        wheel_directory: str, config_settings: Optional[Mapping[str, Any]] = None,
        metadata_directory: Optional[str] = None,
    ) -> str:
        name = inner(wheel_directory, config_settings, metadata_directory)
        return _verify(_load(), wheel_directory, str(name), editable=True)

    return build_editable


def __getattr__(name: str) -> Any:
    """PEP 562: an optional hook exists here exactly when the real backend has it."""
    if name not in _OPTIONAL_HOOKS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    loaded = _load()
    inner = getattr(loaded.backend, name, None)
    if inner is None:
        raise AttributeError(f"backend {loaded.name!r} has no {name} hook")
    return _build_editable(inner) if name == "build_editable" else inner

