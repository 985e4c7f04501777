"""The ``mechbridge`` command line: ``list``, ``run``, ``sweep``, ``analyze``, ``report``, ``--version``.

Every failure prints one line (``mechbridge: error: …``) and exits non-zero;
nothing already on disk is overwritten.

The program and its entry point are in :mod:`bridge.cli.app`, the commands that run case studies in
:mod:`bridge.cli.studies`, those on a run directory already written in :mod:`bridge.cli.run_dirs`, and how a
failure becomes one line in :mod:`bridge.cli.errors`.
"""

from bridge.cli.app import app, console, main

__all__ = ["app", "console", "main"]
