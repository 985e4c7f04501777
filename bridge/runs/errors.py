"""Errors of the run store (a light module: the command line imports it to print them on one line)."""


class RunError(RuntimeError):
    """A run directory that is missing, incomplete or inconsistent.

    Examples:
        >>> import bridge
        >>> bridge.load_run("no/such/run")
        Traceback (most recent call last):
        ...
        bridge.runs.errors.RunError: run directory no/such/run does not exist
    """


class CorruptFileError(RuntimeError):
    """A file in a run directory that cannot be read back (truncated, damaged or of the wrong kind).

    Examples:
        >>> import tempfile, pathlib; from bridge.runs.storage import read_metadata
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "step_00000100.safetensors"; _ = file.write_bytes(b"not a checkpoint")
        >>> read_metadata(file)
        Traceback (most recent call last):
        ...
        bridge.runs.errors.CorruptFileError: checkpoint step_00000100.safetensors is corrupt or truncated (...)
    """


class Diverged(FloatingPointError):
    """Training produced a non-finite loss (or, with ``weights``, non-finite weights): ``step`` is the step, ``loss`` the value.

    Examples:
        >>> str(Diverged(12, float("inf")))
        'training loss became inf at step 12; lower train.lr'
        >>> str(Diverged(12, float("nan"), weights=True))
        'weights became non-finite at step 12; lower train.lr'
    """

    def __init__(self, step: int, loss: float, detail: str = "", *, weights: bool = False) -> None:
        self.step, self.loss = int(step), float(loss)
        what = "weights" if weights else "training loss"
        super().__init__(f"{what}{detail} became {'non-finite' if weights else loss} at step {step}; lower train.lr")
