"""The toy model of superposition ``x̂ = ReLU(Wᵀ W x + b)`` (Elhage et al. 2022), many instances at once.

``W`` has shape ``(instances, m, n)``: column ``W[:, :, i]`` is feature ``i``'s
direction in the ``m``-dimensional hidden space. Independent instances share
one forward pass (the paper's leading instance dimension), which makes sweeps
over importance and sparsity cheap; with one instance, inputs and outputs are
plain ``(batch, n)``.

Examples:
    >>> net = ToySuperposition(ToySuperpositionConfig(n_features=5, n_hidden=2), seed=0)
    >>> tuple(net(torch.rand(3, 5)).shape)
    (3, 5)
    >>> many = ToySuperposition(ToySuperpositionConfig(n_features=5, n_hidden=2, n_instances=4), seed=0)
    >>> tuple(many(torch.rand(3, 4, 5)).shape)
    (3, 4, 5)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint

from bridge.config import config_class, require
from bridge.models.base import MODELS, generator
from bridge.tasks.memory import check_memory, sized
from bridge.tasks.sparse_features import ImportanceWeightedMSE, sample_sparse_features


@config_class("toy_superposition")
@dataclass(frozen=True)
class ToySuperpositionConfig:
    """``n_features`` features through ``n_hidden`` dimensions, ``n_instances`` independent copies.

    Args:
        n_features: ``n``; n_hidden: ``m``; n_instances: independent models trained side by side.
        init_scale: ``W`` entries ~ N(0, init_scale² · 2/(m + n)) (Xavier normal at 1).

    Examples:
        >>> ToySuperpositionConfig(n_features=5, n_hidden=2, n_instances=3).init_scale
        1.0
        >>> ToySuperpositionConfig(n_features=5, n_hidden=0)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: toy_superposition.n_hidden must be positive, got 0
    """

    n_features: int
    n_hidden: int
    n_instances: int = 1
    init_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("n_features", "n_hidden", "n_instances"):
            require(getattr(self, name) >= 1, f"toy_superposition.{name} must be positive, got {getattr(self, name)}")
        require(self.init_scale > 0, f"toy_superposition.init_scale must be positive, got {self.init_scale}")


@sized("toy_superposition")
def _toy_superposition_bytes(c: ToySuperpositionConfig) -> tuple[dict, int]:
    """``W`` (drawn, then scaled) and ``b`` in float32."""
    i, m, n = c.n_instances, c.n_hidden, c.n_features
    return {"n_features": n, "n_hidden": m, "n_instances": i}, 4 * (2 * i * m * n + i * n)


class ToySuperposition(HookedRootModule):
    """Hook points: ``hook_hidden`` (``W x``, ``(batch, instances, m)``) and ``hook_out`` (``x̂``, ``(batch, instances, n)``),
    both with the instance axis even for one instance and a ``(batch, n)`` input, whose output drops it.

    ``W``: ``(instances, m, n)``, ``b``: ``(instances, n)``; input ``(batch, n)`` or
    ``(batch, instances, n)``, output the same (``(batch, instances, n)`` for a
    ``(batch, n)`` input when there are several instances).

    Examples:
        >>> net = ToySuperposition(ToySuperpositionConfig(n_features=3, n_hidden=2), seed=0)
        >>> _ = net.W.data.copy_(torch.eye(2, 3)[None])   # features 0 and 1 get a dimension each, feature 2 none
        >>> [round(v, 4) for v in net(torch.tensor([[0.3, 0.5, 0.7]]))[0].tolist()]
        [0.3, 0.5, 0.0]
    """

    def __init__(self, config: ToySuperpositionConfig, seed: int = 0) -> None:
        check_memory(config)
        super().__init__()
        self.config = config
        i, m, n = config.n_instances, config.n_hidden, config.n_features
        std = config.init_scale * math.sqrt(2.0 / (m + n))
        self.W = nn.Parameter(torch.randn(i, m, n, generator=generator(seed)) * std)
        self.b = nn.Parameter(torch.zeros(i, n))
        self.hook_hidden = HookPoint()
        self.hook_out = HookPoint()
        self.setup()

    def forward(self, x: Float[Tensor, "batch *inst n"]) -> Float[Tensor, "batch *inst n"]:
        single = x.dim() == 2
        if single:
            x = x.unsqueeze(1).expand(-1, self.config.n_instances, -1)  # a view: every instance reads the same input
        h = self.hook_hidden((self.W @ x.movedim(0, -1)).movedim(-1, 0))  # computed as (instance, hidden, batch): see below
        out = self.hook_out(torch.relu(self.W.mT @ h.movedim(0, -1) + self.b[..., None]).movedim(-1, 0))
        return out.squeeze(1) if single and self.config.n_instances == 1 else out  # a view, whose gradient is one too (indexing's is a zero-filled copy)

    def forward_stacked(self, params: Mapping[str, Tensor], x: Float[Tensor, "seed batch *inst n"]) -> Float[Tensor, "seed batch *inst n"]:
        """Many models at once: ``params`` (``W``, ``b``) with a leading seed axis; row ``k`` equals ``forward``
        with ``params[name][k]``, bit for bit (what :func:`bridge.train_seeds` steps with instead of ``vmap``).

        Both compute with the batch as the matrices' last axis, ``W x`` of shape
        ``(hidden, batch)``: the contracted axes (``n``, ``m``) are tiny, and products
        whose long axis is the contiguous one cost a fraction of ``x Wᵀ`` on a CPU
        (the stacked step of eight 5 → 2 models on 2000 inputs: 0.72 ms instead of 0.97 ms).
        """
        w, b = params["W"], params["b"]
        single = x.dim() == 3
        if single:
            x = x.unsqueeze(2).expand(-1, -1, self.config.n_instances, -1)
        h = w @ x.movedim(1, -1)  # (seed, instance, hidden, batch)
        out = torch.relu(w.mT @ h + b[..., None]).movedim(-1, 1)
        return out.squeeze(2) if single and self.config.n_instances == 1 else out


@MODELS.register("toy_superposition")
def build_toy_superposition(config: ToySuperpositionConfig, seed: int) -> ToySuperposition:
    """The registered ``toy_superposition`` builder: ``W`` drawn from ``seed``, ``b`` zero.

    Examples:
        >>> net = build_toy_superposition(ToySuperpositionConfig(n_features=5, n_hidden=2, n_instances=3), seed=0)
        >>> tuple(net.W.shape), tuple(net.b.shape), net.b.abs().sum().item()
        ((3, 2, 5), (3, 5), 0.0)
    """
    return ToySuperposition(config, seed)


def fit_fresh_samples(
    model: ToySuperposition,
    importance: Float[Tensor, "inst n"],
    density: Float[Tensor, " inst"],
    *,
    steps: int,
    batch_size: int = 1024,
    lr: float = 1e-2,
    seed: int = 0,
    progress: bool | None = None,
    desc: str = "fresh samples",
) -> Float[Tensor, " steps"]:
    """Train every instance with Adam on fresh samples each step (the paper's protocol).

    Each instance ``k`` sees features of density ``density[k]`` and is scored
    with ``importance[k]``; instances are independent (Adam is elementwise and
    the loss is a sum over instances).

    Args:
        model: the model, trained in place.
        importance: ``(instances, n)`` feature importances.
        density: ``(instances,)`` probability that a feature is nonzero.
        steps, batch_size, lr, seed: Adam steps, fresh samples per step, learning rate, sampling seed.
        progress, desc: progress over the steps (:func:`bridge.progress.progress_bar`: ``None`` a bar on a
            terminal or in a notebook, plain lines in a log, ``False`` nothing) and its label.

    Returns:
        ``(steps,)`` loss per step, summed over instances.

    Raises:
        Diverged: an Adam step too large for float32 (``lr`` near float32's largest number), naming ``lr``.

    Examples:
        >>> net = ToySuperposition(ToySuperpositionConfig(n_features=3, n_hidden=2, n_instances=2), seed=0)
        >>> history = fit_fresh_samples(net, torch.ones(2, 3), torch.tensor([1.0, 0.1]), steps=50, batch_size=64)
        >>> tuple(history.shape), bool(history[-10:].mean() < history[:10].mean())
        ((50,), True)
    """
    inst, n = model.config.n_instances, model.config.n_features
    importance = torch.as_tensor(importance, dtype=torch.float32)
    density = torch.as_tensor(density, dtype=torch.float32).cpu()  # sampled with a CPU generator
    if importance.shape != (inst, n) or density.shape != (inst,):
        raise ValueError(f"need importance of shape {(inst, n)} and density of shape {(inst,)}, got {tuple(importance.shape)} and {tuple(density.shape)}")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive, got {steps}, {batch_size}")
    from bridge.progress import progress_bar
    from bridge.training.optim import take_step

    g, device = generator(seed), model.W.device  # samples drawn on the CPU (the same on every device), then moved
    loss_fn = ImportanceWeightedMSE(importance.to(device))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = torch.empty(steps, device=device)
    for step in progress_bar(range(steps), desc, progress, unit="step"):
        x = sample_sparse_features(batch_size, density, n, g).to(device)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), x)
        loss.backward()
        take_step(opt, step)
        history[step] = loss.detach()
    return history


def instance_losses(model: ToySuperposition, importance: Tensor, density: Tensor, *, batch_size: int = 20000, seed: int = 1) -> Float[Tensor, " inst"]:
    """Each instance's expected loss, estimated on one large fresh batch; ``(instances,)``.

    ``importance`` is ``(instances, n)`` and ``density`` ``(instances,)``, as in :func:`fit_fresh_samples`.

    Examples:
        >>> net = ToySuperposition(ToySuperpositionConfig(n_features=3, n_hidden=2, n_instances=2), seed=0)
        >>> _ = net.W.data.zero_()   # x̂ = 0, so the loss is Σᵢ E[xᵢ²] = density · 3 · 1/3
        >>> [round(v, 2) for v in instance_losses(net, torch.ones(2, 3), torch.tensor([1.0, 0.0])).tolist()]
        [1.0, 0.0]
    """
    x = sample_sparse_features(batch_size, torch.as_tensor(density).cpu(), model.config.n_features, generator(seed)).to(model.W.device)
    with torch.no_grad():
        return (torch.as_tensor(importance).to(x.device) * (model(x) - x) ** 2).sum(-1).mean(0)


__all__ = ["ToySuperposition", "ToySuperpositionConfig", "build_toy_superposition", "fit_fresh_samples", "instance_losses"]
