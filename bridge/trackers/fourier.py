"""Trackers for modular-arithmetic networks: Fourier spectra, restricted/excluded loss, weight norm.

Each records, over training, a probe of :mod:`probes.fourier`,
:mod:`probes.restricted_loss` or :mod:`probes.modular` (which reads the two
model families of modular arithmetic: toy transformers on ``[a, b, =]`` and
two-layer MLPs on concatenated one-hots).

Examples:
    >>> from bridge.models import MLPConfig, build_model
    >>> from bridge.tasks import make_task
    >>> from bridge.tasks.modular import ModularConfig
    >>> data = make_task(ModularConfig(p=7, encoding="onehot"), seed=0)
    >>> net = build_model(MLPConfig(d_in=14, d_out=7, widths=(8,), activation="quadratic"), seed=0)
    >>> rows = FourierTracker(key_frequencies=(1,))(net, 0, data)
    >>> sorted({r["observable"] for r in rows})[:3]
    ['fourier/embed_gini', 'fourier/embed_n_key', 'fourier/embed_norm']
"""

from __future__ import annotations

from dataclasses import dataclass

import einops
import torch
from torch import Tensor, nn

import bridge.tasks.modular  # noqa: F401  (registers the "modular" task)
from bridge.tasks.base import TaskData
from bridge.trackers.base import Row, row
from probes.fourier import cluster_neurons, frequency_norms, gini, key_frequencies, neuron_frequency_fve, top_share
from probes.modular import logits_and_neurons, residue_embedding, weight_norm
from probes.restricted_loss import excluded_loss, logit_frequency_norms, logit_fve, restricted_loss, template_loss_components


@dataclass
class WeightNormTracker:
    """Row ``weights/norm``: the total parameter norm (what weight decay shrinks).

    Examples:
        >>> layer = torch.nn.Linear(2, 2, bias=False)
        >>> _ = torch.nn.init.ones_(layer.weight)
        >>> WeightNormTracker()(layer, 0, None)  # ‖(1, 1, 1, 1)‖ = 2
        [{'observable': 'weights/norm', 'value': 2.0}]
    """

    name: str = "weight_norm"

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        return [row("weights/norm", weight_norm(model))]


@dataclass
class TemplateLossTracker:
    """Rows ``template/loss`` (per ``frequency``): each template frequency's share of the MSE (regression variant).

    Examples:
        >>> from bridge.tasks import ModularConfig, make_task
        >>> data = make_task(ModularConfig(p=5, encoding="onehot", template_frequencies=(1, 2), template_magnitudes=(1.0, 2.0)), seed=0)
        >>> zero = torch.nn.Linear(10, 5, bias=False); _ = zero.weight.data.zero_()
        >>> [(r["frequency"], r["value"]) for r in TemplateLossTracker()(zero, 0, data)]  # a zero output misses m²/2
        [(1, 0.5), (2, 2.0)]
    """

    name: str = "template_loss"

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        template = data.info.get("template") or {}
        if not template:
            raise ValueError("TemplateLossTracker needs a modular task with template_frequencies")
        outputs, _ = logits_and_neurons(model, data, neurons=False)
        parts = template_loss_components(outputs, template, data.info["op"])
        return [row("template/loss", v, frequency=k) for k, v in parts.items()]


@dataclass
class FourierTracker:
    """Fourier mechanism observables of a modular-arithmetic network.

    Rows: ``fourier/embed_norm`` (per ``frequency``), ``fourier/embed_gini``,
    ``fourier/embed_top_share`` (share of the squared norm in the ``n_top``
    largest frequencies), ``fourier/embed_n_key``; ``fourier/logit_norm`` (per
    ``frequency``), ``fourier/n_key``, ``fourier/logit_fve``;
    ``fourier/restricted_loss``, ``fourier/excluded_loss``,
    ``fourier/full_loss`` (train split); ``fourier/neuron_fve`` (mean best
    FVE), ``fourier/neurons_clustered`` (share with best FVE ≥ 0.5),
    ``fourier/neuron_count`` (per ``frequency``); ``weights/norm``.

    Args:
        key_frequencies: the key set for the restricted/excluded loss and the
            logit FVE; ``None`` takes, at each step, the smallest set of
            frequencies carrying ``mass`` of the logits' squared norm.
        mass: share of squared norm that defines key sets.
        n_top: how many frequencies ``embed_top_share`` counts.
        neurons: also measure neuron clusters (one extra cached forward).
        logits: also measure the logit rows and the restricted/excluded loss
            (needs class-label targets; off for the regression variant).

    Examples:
        >>> from bridge.models import MLP, MLPConfig
        >>> from bridge.tasks import ModularConfig, make_task
        >>> net = MLP(MLPConfig(d_in=14, d_out=7, widths=(4,)))  # one-hot a and b, p = 7
        >>> _ = net.layers[0].weight.data.copy_(torch.cos(2 * torch.pi * 2 * torch.arange(14.0) / 7).expand(4, 14))  # frequency 2
        >>> rows = FourierTracker(neurons=False, logits=False)(net, 0, make_task(ModularConfig(p=7, encoding="onehot"), seed=0))
        >>> [round(r["value"], 4) for r in rows if r["observable"] in ("fourier/embed_norm", "fourier/embed_n_key")]
        [0.0, 0.0, 5.2915, 0.0, 1.0]
    """

    key_frequencies: tuple[int, ...] | None = None
    mass: float = 0.8
    n_top: int = 8
    neurons: bool = True
    logits: bool = True
    name: str = "fourier"

    def __post_init__(self) -> None:
        if not 0 < self.mass <= 1:
            raise ValueError(f"mass must be in (0, 1], got {self.mass}")
        if self.n_top < 1:
            raise ValueError(f"n_top must be >= 1, got {self.n_top}")
        if self.key_frequencies is not None:
            self.key_frequencies = tuple(int(k) for k in self.key_frequencies)

    def __call__(self, model: nn.Module, step: int, data: TaskData) -> list[Row]:
        if "p" not in data.info or "op" not in data.info:
            raise ValueError("FourierTracker needs a modular task (data.info with 'p' and 'op')")
        p = data.info["p"]
        emb = frequency_norms(residue_embedding(model, p).cpu())
        rows = [row("fourier/embed_norm", v, frequency=k) for k, v in enumerate(emb.tolist())]
        rows += [
            row("fourier/embed_gini", gini(emb[1:])),
            row("fourier/embed_top_share", top_share(emb, self.n_top)),
            row("fourier/embed_n_key", len(key_frequencies(emb, self.mass))),
        ]
        rows.append(row("weights/norm", weight_norm(model)))
        if not (self.logits or self.neurons):
            return rows
        logits, acts = logits_and_neurons(model, data, self.neurons)
        if self.logits:
            rows += self._logit_rows(logits, data)
        if acts is not None:
            fve = neuron_frequency_fve(acts)
            freq, best = cluster_neurons(fve)
            counts = torch.bincount(freq[freq > 0], minlength=fve.shape[0])
            rows += [row("fourier/neuron_fve", best.mean()), row("fourier/neurons_clustered", (freq > 0).double().mean())]
            rows += [row("fourier/neuron_count", int(counts[k]), frequency=k) for k in range(1, fve.shape[0])]
        return rows

    def _logit_rows(self, logits: Tensor, data: TaskData) -> list[Row]:
        op, labels, train_index = data.info["op"], einops.rearrange(data.info["table"], "a b -> (a b)"), data.info["train_index"]
        lnorm = logit_frequency_norms(logits, op)
        rows = [row("fourier/logit_norm", v, frequency=k) for k, v in enumerate(lnorm.tolist())]
        keys = list(self.key_frequencies) if self.key_frequencies is not None else key_frequencies(lnorm, self.mass)
        rows += [
            row("fourier/n_key", len(keys)),
            row("fourier/logit_fve", logit_fve(logits, keys, op)),
            row("fourier/restricted_loss", restricted_loss(logits, labels, train_index, keys, op)),
            row("fourier/excluded_loss", excluded_loss(logits, labels, train_index, keys, op)),
            row("fourier/full_loss", excluded_loss(logits, labels, train_index, [], op)),
        ]
        return rows


__all__ = ["FourierTracker", "TemplateLossTracker", "WeightNormTracker"]
