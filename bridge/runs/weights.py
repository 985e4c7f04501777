"""Loading checkpoint tensors into a model: names, shapes and dtypes checked before anything is copied."""

from __future__ import annotations

import torch
from torch import nn

from bridge.runs.errors import CorruptFileError


def load_weights(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load ``tensors`` into ``model`` strictly: the same names, shapes and dtypes, or nothing is loaded.

    Args:
        model: the model to load into (its ``state_dict`` gives what is expected).
        tensors: name -> tensor, as read from a checkpoint.
        source: the file the tensors came from, named in the error.

    Raises:
        CorruptFileError: a name is missing or unexpected, or a tensor's shape or dtype
            differs from the model's (naming ``source`` and the tensor).

    Examples:
        >>> model = nn.Linear(2, 3)
        >>> load_weights(model, {"weight": torch.zeros(3, 2), "bias": torch.zeros(3)}, "step_00000000.safetensors")
        >>> load_weights(model, {"weight": torch.zeros(2, 2), "bias": torch.zeros(3)}, "step_00000000.safetensors")
        Traceback (most recent call last):
        ...
        bridge.runs.errors.CorruptFileError: step_00000000.safetensors does not match the model: tensor 'weight' has shape (2, 2), the model expects (3, 2)
    """
    expected = model.state_dict()
    if set(tensors) != set(expected):
        missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise CorruptFileError(f"{source} does not match the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    for name, want in expected.items():
        got = tensors[name]
        if tuple(got.shape) != tuple(want.shape):
            raise CorruptFileError(f"{source} does not match the model: tensor {name!r} has shape {tuple(got.shape)}, the model expects {tuple(want.shape)}")
        if got.dtype != want.dtype:
            raise CorruptFileError(f"{source} does not match the model: tensor {name!r} has dtype {str(got.dtype).removeprefix('torch.')}, the model expects {str(want.dtype).removeprefix('torch.')}")
    model.load_state_dict(tensors, strict=True)
