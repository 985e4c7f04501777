"""The local learning coefficient as a tracker: rows ``llc/mean``, ``llc/std`` and ``llc/diverged``.

Optionally also per chain (``llc/chain``, index ``chain``) and the chains'
traces (``llc/trace``: ``nβ (L_n(w_t) − L_n(w*))`` at every ``trace_every``-th
draw, indices ``chain`` and ``draw``), so a figure of the chains reads the run
instead of sampling again.

Online (called by :func:`bridge.train` at tracked steps) or offline (by
:func:`bridge.analyze` over a run's checkpoints); each call samples fresh SGLD
chains around the model's current weights on the task's training split, with a
seed derived from ``(seed, step)`` so repeated analyses give the same numbers.

Examples:
    >>> import torch
    >>> from bridge.models import DeepLinearConfig, build_model
    >>> from bridge.tasks import LinearTeacherConfig, make_task
    >>> data = make_task(LinearTeacherConfig((2.0,), d_in=3, d_out=3, n_train=64), seed=0)
    >>> from bridge.estimators import SGLDConfig
    >>> tracker = LLCTracker(SGLDConfig(n_chains=2, n_draws=20, n_burnin=10, step_size=1e-4))
    >>> [r["observable"] for r in tracker(build_model(DeepLinearConfig(3, 4, 3), seed=0), 0, data)]
    ['llc/mean', 'llc/std', 'llc/diverged']
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from torch import nn

from bridge.estimators.llc import LLCResult, LLCWarning, SGLDConfig, estimate_llc
from bridge.seeding import derive_seed
from bridge.tasks.base import Split, TaskData
from bridge.trackers.base import Row, row


@dataclass
class LLCTracker:
    """Learning-coefficient tracker (see :func:`bridge.estimators.llc.estimate_llc` for the arguments).

    Args:
        sgld: the sampler's settings.
        params: parameter prefixes to restrict to (``None``: the trainable parameters), e.g.
            ``("blocks.1.attn",)``; a single string is one prefix.
        per_chain: also emit ``llc/chain`` rows with a ``chain`` index column.
        trace_every: also emit ``llc/trace`` rows, ``nβ (L_n(w_t) − L_n(w*))`` at draws
            ``0, trace_every, 2·trace_every, …`` of every chain (index columns ``chain``
            and ``draw``; the mean over all draws of a chain is its ``llc/chain``);
            0 (default) emits none.
        seed: base seed; the chains at ``step`` use ``derive_seed(seed, "llc", step)``.
        max_examples: sample on at most this many training examples (the first ones, so
            every step sees the same subset); ``None``: all.
        warn: raise the estimator's warnings (:class:`~bridge.estimators.llc.LLCWarning`); ``False``
            keeps them in ``last_result.warnings`` only (diverged chains are counted in ``llc/diverged``).

    Attributes:
        last_result: the :class:`~bridge.estimators.llc.LLCResult` of the latest call (traces, warnings).

    Examples:
        >>> from bridge.estimators import SGLDConfig
        >>> from bridge.models import DeepLinearConfig, build_model
        >>> from bridge.tasks import LinearTeacherConfig, make_task
        >>> data = make_task(LinearTeacherConfig((2.0,), d_in=3, d_out=3, n_train=64), seed=0)
        >>> tracker = LLCTracker(SGLDConfig(n_chains=2, n_draws=4, n_burnin=0, step_size=1e-4), trace_every=2)
        >>> rows = tracker(build_model(DeepLinearConfig(3, 4, 3), seed=0), 0, data)
        >>> [(r["chain"], r["draw"]) for r in rows if r["observable"] == "llc/trace"], tracker.last_result.trace.shape
        ([(0, 0), (0, 2), (1, 0), (1, 2)], (2, 4))
    """

    sgld: SGLDConfig = field(default_factory=SGLDConfig)
    params: tuple[str, ...] | None = None
    per_chain: bool = False
    trace_every: int = 0
    seed: int = 0
    max_examples: int | None = None
    warn: bool = True
    name: str = "llc"
    version = 2  # 0d55dcd: a string of params is one prefix (its characters sampled the whole model)
    last_result: LLCResult | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (isinstance(self.trace_every, int) and not isinstance(self.trace_every, bool) and self.trace_every >= 0):
            raise ValueError(f"LLCTracker.trace_every must be a non-negative integer (0: no traces), got {self.trace_every!r}")
        if self.max_examples is not None and self.max_examples < 2:
            raise ValueError(f"max_examples must be at least 2 or None, got {self.max_examples}")
        if isinstance(self.params, (list, str)):  # one prefix, not its characters
            self.params = (self.params,) if isinstance(self.params, str) else tuple(self.params)

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        split = Split(data.train.x[: self.max_examples], data.train.y[: self.max_examples])
        with warnings.catch_warnings():  # warned again below, naming the step (over training, which checkpoint is the question)
            warnings.simplefilter("ignore", LLCWarning)
            result = estimate_llc(
                model,
                data.loss_fn,
                split,
                self.sgld,
                params=None if self.params is None else list(self.params),
                seed=derive_seed(self.seed, "llc", int(step)),
                progress=False,  # one estimate per checkpoint, under the training's or the analysis's own bar
            )
        self.last_result = result
        for message in result.warnings if self.warn else ():
            warnings.warn(f"step {step}: {message}", LLCWarning, stacklevel=2)
        rows = [row("llc/mean", result.mean), row("llc/std", result.std), row("llc/diverged", float(result.diverged.sum()))]
        if self.per_chain:
            rows += [row("llc/chain", v, chain=c) for c, v in enumerate(result.per_chain)]
        if self.trace_every:
            excess = result.nbeta * (result.trace[:, :: self.trace_every] - result.init_loss)
            draws = range(0, result.trace.shape[1], self.trace_every)
            rows += [row("llc/trace", float(v), chain=c, draw=d) for c, chain in enumerate(excess) for d, v in zip(draws, chain)]
        return rows


__all__ = ["LLCTracker"]
