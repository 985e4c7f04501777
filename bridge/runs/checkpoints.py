"""The checkpoint files of a run directory: where the weights (and optimizer state) of a step are stored, which
steps have weights, and the model rebuilt from the weights of a step.

Layout inside a run directory::

    checkpoints/step_<8-digit step>.safetensors   model weights at a step
    checkpoints/optim_<8-digit step>.safetensors  optimizer state (kept for the last few checkpoints)
"""

from __future__ import annotations

import numbers
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bridge.runs.errors import CorruptFileError, RunError
from bridge.runs.headers import CHECKPOINTS, checkpoint_files
from bridge.runs.storage import load_tensors, read_metadata
from bridge.runs.weights import load_weights

_STEP_FILE = re.compile(r"^step_(\d{8})\.safetensors$")


def checkpoint_path(path: Path, step: int, kind: str = "step") -> Path:
    """``path/checkpoints/{kind}_{step:08d}.safetensors``.

    Examples:
        >>> checkpoint_path(Path("run"), 30, "optim").as_posix()
        'run/checkpoints/optim_00000030.safetensors'
    """
    return Path(path) / CHECKPOINTS / f"{kind}_{step:08d}.safetensors"


def saved_steps(path: str | Path) -> list[int]:
    """Steps with a model checkpoint file in the run directory ``path``, ascending.

    Examples:
        >>> import tempfile; run = Path(tempfile.mkdtemp()); (run / CHECKPOINTS).mkdir(); _ = [checkpoint_path(run, s).touch() for s in (10, 2)]
        >>> saved_steps(run), saved_steps(run / "nothing-here")
        ([2, 10], [])
    """
    folder = Path(path) / CHECKPOINTS
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for f in folder.iterdir() if (m := _STEP_FILE.match(f.name)))


def check_checkpoints(path: str | Path, last_step: int | None = None) -> None:
    """Check that every checkpoint file of the run directory ``path`` is whole, reading little of it:
    each file's safetensors header must parse and its tensors must fill the file to its size (a
    file cut short or grown fails). The weights at ``last_step`` (the run's trained model) must
    exist and are read in full against their checksum. A value changed in an earlier checkpoint
    is found when that checkpoint is loaded.

    Raises:
        CorruptFileError: naming the run directory and the file.

    Examples:
        >>> import tempfile; from bridge import train, RunConfig, TrainConfig; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
        >>> run = train(RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=3)), Path(tempfile.mkdtemp()) / "run", device="cpu", progress=False)
        >>> check_checkpoints(run.path, 3)
        >>> file = checkpoint_path(run.path, 1); file.write_bytes(file.read_bytes()[:-4]) and check_checkpoints(run.path, 3)
        Traceback (most recent call last):
        ...
        bridge.runs.errors.CorruptFileError: .../run: checkpoint step_00000001.safetensors is corrupt or truncated (... not fully covered)
    """
    path = Path(path)
    try:
        for file in checkpoint_files(path):
            read_metadata(file)
        if last_step is not None:
            final = checkpoint_path(path, last_step)
            if not final.is_file():
                raise CorruptFileError(f"checkpoint {final.name} of the last step {last_step} is missing")
            load_tensors(final)
    except CorruptFileError as e:
        raise CorruptFileError(f"{path}: {e}") from None


def load_model(run: Any, step: int, device: str | torch.device = "cpu", into: nn.Module | None = None, *, train: bool = False) -> nn.Module:
    """The model of ``run`` with the weights saved at ``step``: what :meth:`Run.model_at <bridge.runs.run.Run.model_at>`
    returns, whose arguments and errors these are.

    ``run`` is a :class:`~bridge.runs.run.Run` (anything with its ``path``, ``steps`` and ``config``); its config is
    read only when the model is built here, not when it is given as ``into``.

    Examples:
        >>> import tempfile; from bridge import train, RunConfig, TrainConfig; from bridge.models import DeepLinearConfig; from bridge.tasks import LinearTeacherConfig
        >>> cfg = RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=3))
        >>> run = train(cfg, Path(tempfile.mkdtemp()) / "run", device="cpu", progress=False)
        >>> model = load_model(run, 3); model.training, load_model(run, 0, into=model) is model
        (False, True)
        >>> load_model(run, 5)
        Traceback (most recent call last):
        ...
        KeyError: 'no checkpoint at step 5 in ... (nearest: [1, 2, 3])'
    """
    from bridge.models import MODELS, build_model, move_to

    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(f"step must be an integer checkpoint step (one of run.steps), got {step!r}")
    file = checkpoint_path(run.path, step)
    if not file.exists():
        near = sorted(run.steps, key=lambda s: abs(s - step))[:3]
        raise KeyError(f"no checkpoint at step {step} in {run.path} (nearest: {sorted(near)}{'; a step, not a position: the last is run.steps[-1]' if step < 0 else ''})")
    if into is None and run.config.model.kind not in MODELS:
        raise RunError(
            f"{run.path} was trained with model kind {run.config.model.kind!r}, which has no model builder in this process: "
            f"import the module that registers it with @MODELS.register({run.config.model.kind!r}) "
            "(`import MODULE` in Python, `mechbridge --import MODULE`, or MECHBRIDGE_PLUGINS=MODULE)"
        )
    model = into if into is not None else build_model(run.config.model, run.config.seed)
    if into is None and run.config.train.dtype != "float32":  # the dtype training used and the checkpoints store
        model = move_to(model, getattr(torch, run.config.train.dtype))
    current = next(model.parameters()).device
    load_weights(model, load_tensors(file, current), str(file))
    model.train(train)
    return model if current == torch.device(device) else move_to(model, device)
