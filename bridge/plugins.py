"""User plugins: modules that register their own trackers, tasks, models or case studies.

They are imported, in this order, from the ``mechbridge.plugins`` entry-point
group of installed packages, the ``MECHBRIDGE_PLUGINS`` environment variable
(module names separated by commas) and the command line's ``--import MODULE``.
Registering the same object twice is harmless, so a plugin may be imported by
several of these. A sweep backend's worker imports them too before it trains: the
command line passes its ``--import`` modules on through the environment
(:func:`export_plugins`), which the processes it starts inherit.

Examples:
    >>> load_plugins(["json"])
    ['json']
"""

from __future__ import annotations

import importlib
import os
import traceback
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path, PurePosixPath

from bridge.config import ConfigError

ENV = "MECHBRIDGE_PLUGINS"
GROUP = "mechbridge.plugins"


def load_plugins(modules: Sequence[str] = ()) -> list[str]:
    """Import the plugins of the entry-point group, of ``MECHBRIDGE_PLUGINS`` and ``modules``; return their names.

    Args:
        modules: module names to import after those of the entry points and the environment.

    Returns:
        The names imported, in order (entry points, ``MECHBRIDGE_PLUGINS``, ``modules``).

    Raises:
        ConfigError: a named module cannot be imported (naming it and why).

    Examples:
        >>> load_plugins(["math", "json"])[-2:]
        ['math', 'json']
        >>> load_plugins(["no_such_plugin"])
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: cannot import plugin module 'no_such_plugin': No module named 'no_such_plugin'
    """
    names = [ep.value.partition(":")[0] for ep in entry_points(group=GROUP)]
    names += [m.strip() for m in os.environ.get(ENV, "").split(",") if m.strip()]
    names += list(modules)
    for name in names:
        _import(name)
    return names


def _import(name: str) -> None:
    """Import the plugin module ``name``; any failure (a bad name, a missing module, an error or ``sys.exit``
    while it runs) is a :class:`ConfigError` naming the module, chained to the original exception."""
    if not name.strip():
        raise ConfigError(f"cannot import plugin module {name!r}: its name is empty (give a module name such as mypackage.trackers)")
    if name.startswith("."):  # a relative name, or a path such as ./ext/my_models.py
        why = _file_hint(name) or ": a relative name (give the module's full name, such as mypackage.trackers)"
        raise ConfigError(f"cannot import plugin module {name!r}{why}")
    try:
        importlib.import_module(name)
    except ImportError as e:
        hint = _file_hint(name)
        raise ConfigError(f"cannot import plugin module {name!r}{hint}: {e}") from None
    except SyntaxError as e:
        raise ConfigError(f"cannot import plugin module {name!r}: {type(e).__name__}: {e.msg} ({Path(e.filename or '?').name}, line {e.lineno})") from e
    except SystemExit as e:
        raise ConfigError(f"cannot import plugin module {name!r}: it called sys.exit({e.code!r})") from e
    except Exception as e:  # the module's own code failed: name where, the chained traceback has the rest
        frames = [f for f in traceback.extract_tb(e.__traceback__) if not f.filename.startswith("<frozen")]
        where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
        raise ConfigError(f"cannot import plugin module {name!r}: it raised {type(e).__name__}: {e}{where}") from e


def _file_hint(name: str) -> str:
    """What to give instead of ``name`` when it is a file's path rather than a module's name (``""`` otherwise):
    the dotted name of a relative path, or the file's own name with its folder on ``PYTHONPATH``.

    Examples:
        >>> _file_hint("ext/my_models.py")
        " (give the module's dotted name, 'ext.my_models', importable from the working directory or PYTHONPATH, not its file path)"
        >>> _file_hint("/opt/ext/my_models.py")
        " (give the module's name, 'my_models', with its folder /opt/ext on PYTHONPATH, not its file path)"
        >>> _file_hint("mypackage.trackers")
        ''
    """
    if not name.endswith(".py") and "/" not in name and "\\" not in name:
        return ""
    path = PurePosixPath(name.replace("\\", "/"))
    parts = [p for p in (path.parent / path.stem if path.suffix == ".py" else path).parts if p not in (".", "")]
    if path.is_absolute() or ".." in parts or not parts:
        return f" (give the module's name, {path.stem!r}, with its folder {path.parent} on PYTHONPATH, not its file path)"
    return f" (give the module's dotted name, {'.'.join(parts)!r}, importable from the working directory or PYTHONPATH, not its file path)"


def export_plugins(modules: Sequence[str], search: str | None = None) -> None:
    """Let the processes started from this one (a backend's workers) import ``modules`` too.

    The modules join ``MECHBRIDGE_PLUGINS`` and ``search``, a directory this process
    found them in (the working directory, for ``mechbridge --import``), joins
    ``PYTHONPATH``; a worker's :func:`load_plugins` then imports them.

    Args:
        modules: plugin module names, already imported here.
        search: a directory to put on the workers' ``sys.path`` (``None``: none).

    Examples:
        >>> old = dict(os.environ); os.environ.pop(ENV, None)
        >>> export_plugins(["json", "math"]); export_plugins(["math"]); os.environ[ENV]
        'json,math'
        >>> os.environ.clear(); os.environ.update(old)
    """
    names = [m.strip() for m in os.environ.get(ENV, "").split(",") if m.strip()]
    os.environ[ENV] = ",".join(dict.fromkeys([*names, *modules]))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if search is not None and search not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([*paths, search])
