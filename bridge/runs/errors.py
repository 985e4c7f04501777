"""Errors of the run store (a light module: the command line imports it to print them on one line)."""


class RunError(RuntimeError):
    """A run directory that is missing, incomplete or inconsistent."""


class CorruptFileError(RuntimeError):
    """A file in a run directory that cannot be read back (truncated, damaged or of the wrong kind)."""
