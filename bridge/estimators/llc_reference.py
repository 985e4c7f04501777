"""The reference learning-coefficient estimator (devinterp), on the library's models and tasks.

devinterp (an optional extra: ``pip install mechbridge[reference]``) samples
one chain after another from a HuggingFace ``Dataset`` with an ``input_ids``
column and a per-token loss. To feed it a regression split, each example's
``(x, y)`` is packed into one float row of ``input_ids`` and the loss callback
unpacks it and returns the batch loss broadcast to devinterp's per-token shape
(devinterp averages that tensor, so the mean, the gradient and the estimate
are those of the batch loss). devinterp deep-copies the model for every chain,
so it must not be given a ``TransformerBridge``.

devinterp's estimate averages the loss over every step, burn-in included;
compare it with :func:`bridge.estimators.llc.estimate_llc` run with ``n_burnin=0``.

Examples:
    >>> res = devinterp_llc(net, "half_sse", split, n_chains=2, n_draws=50,   # doctest: +SKIP
    ...                     step_size=1e-4, gamma=5.0, nbeta=100.0)
"""

from __future__ import annotations

import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from bridge.losses import LossFn, get_loss
from bridge.tasks.base import Split


def devinterp_available() -> bool:
    """Whether devinterp can be imported.

    Examples:
        >>> devinterp_available() in (True, False)
        True
    """
    try:
        import devinterp.slt.llc  # noqa: F401
    except Exception:
        return False
    return True


@dataclass
class ReferenceLLC:
    """devinterp's answer: ``mean`` and ``std`` over chains, ``per_chain`` estimates ``(n_chains,)``, ``seconds`` of wall time.

    Examples:
        >>> res = ReferenceLLC(mean=1.5, std=0.14, per_chain=np.array([1.4, 1.6]), seconds=2.0)
        >>> res.per_chain.shape, float(res.per_chain.mean()) == res.mean
        ((2,), True)
    """

    mean: float
    std: float
    per_chain: np.ndarray
    seconds: float


def devinterp_llc(
    model: nn.Module,
    loss_fn: LossFn | str,
    split: Split,
    *,
    n_chains: int = 4,
    n_draws: int = 200,
    step_size: float = 1e-3,
    gamma: float = 100.0,
    nbeta: float,
    seed: int = 0,
) -> ReferenceLLC:
    """Run devinterp's SGLD learning-coefficient estimate, full batch, no burn-in.

    Args:
        model: a plain ``nn.Module`` taking ``split.x`` (2-D float inputs); it is deep-copied per chain.
        loss_fn: batch-mean loss ``(output, target) -> scalar`` or a loss name.
        split: inputs ``(n, d_in)`` and targets ``(n, d_out)``.
        n_chains, n_draws, step_size, gamma, nbeta: as in :func:`bridge.estimators.llc.estimate_llc`.
        seed: devinterp's ``init_seed``.

    Raises:
        ImportError: devinterp is not installed.
        ValueError: the split is not 2-D float inputs and targets.

    Examples:
        >>> x = torch.randn(64, 2); net = nn.Linear(2, 1); split = Split(x, net(x).detach())  # y: (64, 1)
        >>> res = devinterp_llc(net, "half_sse", split, n_chains=2, n_draws=20, step_size=1e-4, gamma=5.0, nbeta=10.0)  # doctest: +SKIP
        >>> res.per_chain.shape  # doctest: +SKIP
        (2,)
        >>> devinterp_llc(net, "half_sse", Split(x, x[:, 0]), nbeta=10.0)  # 1-D targets are refused before devinterp is imported
        Traceback (most recent call last):
        ...
        ValueError: devinterp_llc packs 2-D float (x, y) rows; got x (64, 2) torch.float32, y (64,)
    """
    if split.x.dim() != 2 or split.y.dim() != 2 or not split.x.is_floating_point():
        raise ValueError(f"devinterp_llc packs 2-D float (x, y) rows; got x {tuple(split.x.shape)} {split.x.dtype}, y {tuple(split.y.shape)}")
    from datasets import Dataset
    from devinterp.slt.llc import llc

    loss = get_loss(loss_fn) if isinstance(loss_fn, str) else loss_fn
    d_in = split.x.shape[1]
    rows = torch.cat([split.x, split.y.to(split.x.dtype)], dim=1)
    dataset = Dataset.from_dict({"input_ids": rows.tolist()}).with_format("torch")
    n = rows.shape[0]

    def per_token(net: nn.Module, packed: Tensor) -> Tensor:
        packed = packed.to(split.x.dtype)
        value = loss(net(packed[:, :d_in]), packed[:, d_in:])
        return value.expand(packed.shape[0], packed.shape[1] - 1)

    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        out = llc(
            model,
            dataset,
            {},
            lr=step_size,
            n_beta=nbeta,
            loss_fn=per_token,
            num_chains=n_chains,
            num_draws=n_draws,
            batch_size=n,
            num_burnin_steps=0,
            num_init_loss_batches=1,
            init_seed=seed,
            localization=gamma,
            shuffle=False,
            device="cpu",
            output_path=Path(folder) / "samples.zarr",
        )
        per_chain = np.asarray(out["llc_per_chain"].values, dtype=float)
        seconds = time.perf_counter() - start
    return ReferenceLLC(float(per_chain.mean()), float(per_chain.std(ddof=1)) if n_chains > 1 else 0.0, per_chain, seconds)


__all__ = ["ReferenceLLC", "devinterp_available", "devinterp_llc"]
