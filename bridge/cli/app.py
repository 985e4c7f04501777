"""The ``mechbridge`` program: the typer app, its own options (``--version``, ``--import``), its commands in the
order ``--help`` lists them, and :func:`main`, the entry point of the console script.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from bridge.cli.errors import run_app
from bridge.cli.run_dirs import analyze_cmd, report_cmd
from bridge.cli.studies import list_cmd, robustness_cmd, run_cmd, sweep_cmd

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None, help="Bridge learning mechanics and mechanistic interpretability on toy models.")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"mechbridge {version('mechbridge')}")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
            typer.echo("mechbridge (not installed)")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")] = False,
    import_: Annotated[list[str] | None, typer.Option("--import", metavar="MODULE", help="import a module (installed, or a .py file in the working directory) that registers trackers, models, tasks or case studies (repeatable)")] = None,
) -> None:
    """Bridge learning mechanics and mechanistic interpretability on toy models."""
    from bridge.plugins import export_plugins, load_plugins

    here = str(Path.cwd())
    search = here if import_ and "" not in sys.path and here not in sys.path else None
    if search:
        sys.path.append(search)  # as ``python -m`` does: a plugin module in the working directory imports
    load_plugins(import_ or [])
    if import_:
        export_plugins(import_, search)  # a backend's workers import them too


def command_help(function: Callable[..., Any]) -> str:
    r"""The ``--help`` text of a command: its docstring up to its ``Examples:`` (doctests for the tests, not for
    the terminal, where click would run them into one paragraph), with rST's double backquotes made single.

    Examples:
        >>> def f(): ...
        >>> f.__doc__ = "Print a table; ``--all`` prints every row.\n\n    Examples:\n        >>> f()\n"
        >>> command_help(f)
        'Print a table; `--all` prints every row.'
    """
    text = (function.__doc__ or "").split("Examples:")[0]
    return inspect.cleandoc(text).strip().replace("``", "`")


_COMMANDS: list[tuple[str, Callable[..., Any]]] = [("list", list_cmd), ("run", run_cmd), ("robustness", robustness_cmd), ("sweep", sweep_cmd), ("analyze", analyze_cmd), ("report", report_cmd)]
for _name, _function in _COMMANDS:
    app.command(_name, help=command_help(_function))(_function)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mechbridge`` console script; returns the exit code.

    ``argv`` are the command's arguments (``None``: the process's). An error the user can fix
    (an unknown name, a bad setting, a missing or damaged run directory) is one line on stderr,
    ``mechbridge: error: ...``, and exit code 2, never a traceback; a report that does not pass
    exits 1; Ctrl-C (SIGINT) prints one line saying so and exits 130.

    Examples:
        >>> main(["list"])  # doctest: +ELLIPSIS
        case studies:
          deep-linear          Saxe mode dynamics vs hierarchical differentiation in a deep linear network
        ...
        0
        >>> main(["run", "no-such-study"])  # stderr: mechbridge: error: unknown case study 'no-such-study' (known: ...)
        2
    """
    return run_app(app, argv)


def console() -> None:
    """Console-script wrapper: exit with :func:`main`'s code (what the ``mechbridge`` command runs).

    Examples:
        >>> from unittest import mock
        >>> with mock.patch("sys.argv", ["mechbridge", "run", "no-such-study"]):  # stderr: mechbridge: error: unknown case study ...
        ...     console()
        Traceback (most recent call last):
        ...
        SystemExit: 2
    """
    sys.exit(main())
