"""How the ``mechbridge`` command line fails: :class:`CLIError`, the error a command raises for a mistake the
user can fix, and :func:`run_app`, which runs the program and turns every such failure into one line on stderr
(``mechbridge: error: …``) and an exit code (2; 130 for Ctrl-C), never a traceback.
"""

from __future__ import annotations

import sys

import typer

try:  # typer >= 0.20 vendors its own copy of click
    from typer import _click as click
except ImportError:  # pragma: no cover - older typer
    import click  # type: ignore[no-redef]

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process stopped by Ctrl-C
INTERRUPTED = "interrupted (Ctrl-C or SIGINT); what was written is kept, and a run stopped this way is recorded as interrupted: the same command with --resume continues it"


class CLIError(Exception):
    """An error to report on one line (:func:`run_app` prints it and exits 2).

    Examples:
        >>> str(CLIError("--seeds takes at least one seed"))
        '--seeds takes at least one seed'
    """


def run_app(app: typer.Typer, argv: list[str] | None) -> int:
    """Run the typer ``app`` on the arguments ``argv`` (``None``: the process's) and return its exit code.

    An error the user can fix (a :class:`CLIError`, a bad config, a missing or damaged run directory, a
    usage error) is one line on stderr and :data:`EXIT_ERROR`; Ctrl-C is one line and :data:`EXIT_INTERRUPTED`;
    ``typer.Exit(code)`` returns ``code``; any other exception propagates.

    Examples:
        >>> def refuse() -> None:
        ...     raise CLIError("no such thing")
        >>> one = typer.Typer(); _ = one.command()(refuse)
        >>> run_app(one, [])  # stderr: mechbridge: error: no such thing
        2
    """
    from bridge.config import ConfigError
    from bridge.runs.errors import CorruptFileError, RunError

    expected = (CLIError, ConfigError, RunError, CorruptFileError, FileExistsError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, ValueError)
    try:
        result = app(args=argv, standalone_mode=False, prog_name="mechbridge")
    except click.exceptions.NoArgsIsHelpError as e:
        print(e.format_message())
        return 0
    except click.exceptions.UsageError as e:
        _fail(e.format_message())
        return EXIT_ERROR
    except (typer.Abort, KeyboardInterrupt):
        _fail(INTERRUPTED)
        return EXIT_INTERRUPTED
    except typer.Exit as e:
        return e.exit_code
    except expected as e:
        _fail(str(e))
        return EXIT_ERROR
    except KeyError as e:
        _fail(str(e.args[0]) if e.args else "unknown key")
        return EXIT_ERROR
    if result == EXIT_INTERRUPTED:  # typer turns Ctrl-C into a silent exit 130 (no command exits so itself)
        _fail(INTERRUPTED)
    return result if isinstance(result, int) else 0  # typer.Exit(code) comes back as the return value


def _fail(message: str) -> None:
    line = " ".join(str(message).split())
    print(f"mechbridge: error: {line}", file=sys.stderr)
