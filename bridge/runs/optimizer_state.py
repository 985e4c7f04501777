"""An optimizer's state as tensors and JSON text, so that it is stored as safetensors (never pickled)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Flatten an optimizer's state into tensors plus JSON metadata (no pickle): the inverse of
    :func:`optimizer_from_tensors`.

    Examples:
        >>> w = torch.nn.Parameter(torch.ones(3)); opt = torch.optim.Adam([w], lr=0.1)
        >>> w.grad = torch.ones(3); opt.step()
        >>> tensors, meta = optimizer_to_tensors(opt); sorted(tensors)
        ['state.0.exp_avg', 'state.0.exp_avg_sq', 'state.0.step']
        >>> restored = torch.optim.Adam([w], lr=0.1); restored.load_state_dict(optimizer_from_tensors(tensors, meta))
        >>> restored.state_dict()["param_groups"][0]["betas"], torch.equal(restored.state[w]["exp_avg"], opt.state[w]["exp_avg"])
        ((0.9, 0.999), True)
    """
    import torch

    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    meta = {"param_groups": json.dumps(state["param_groups"]), "scalars": json.dumps(scalars)}
    return tensors, meta


def optimizer_from_tensors(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> dict[str, Any]:
    """Rebuild an optimizer ``state_dict`` written by :func:`optimizer_to_tensors` (a round trip is shown there).

    Examples:
        >>> tensors = {"state.0.momentum_buffer": torch.ones(3)}
        >>> meta = {"param_groups": '[{"lr": 0.1, "momentum": 0.9, "params": [0]}]', "scalars": "{}"}
        >>> state = optimizer_from_tensors(tensors, meta); state["param_groups"][0]["lr"], state["state"][0]["momentum_buffer"].shape
        (0.1, torch.Size([3]))
    """
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = value
    for idx, entries in json.loads(meta["scalars"]).items():
        state.setdefault(int(idx), {}).update(entries)
    groups = json.loads(meta["param_groups"])
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    return {"state": state, "param_groups": groups}
