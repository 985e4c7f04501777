"""The local learning coefficient by SGLD (Lau et al. 2023), many chains at once.

The estimator is ``λ̂ = nβ · (E_β[L_n(w)] − L_n(w*))`` where the expectation is
over the localised, tempered posterior ``∝ exp(−nβ L_n(w) − γ/2 ‖w − w*‖²)``,
sampled by stochastic-gradient Langevin dynamics started at ``w*``::

    w ← w − ε/2 · (nβ ∇L_n(w) + γ (w − w*)) + noise_level · N(0, ε)

``nβ`` defaults to ``n / ln n`` (β = 1/ln n, the WBIC temperature). ``L_n`` must
be the per-sample negative log-likelihood up to a constant (``half_sse`` for a
regression with unit noise, cross-entropy for a classifier): the estimate scales
with it. Gradients are full batch; chains run side by side through
``torch.func.vmap`` over stacked parameter copies swapped into the model by
:class:`bridge.estimators.reparam.ParameterSlots` (a functional call that, unlike
``torch.func.functional_call``, restores a ``TransformerBridge``), so a model is
never copied. If a
model cannot be vmapped the chains run one after another with the same updates.

Examples:
    >>> import torch
    >>> from bridge.tasks import Split
    >>> x = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
    >>> net = torch.nn.Linear(3, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = net.weight.copy_(torch.tensor([[1.0, -2.0, 0.5]]))
    >>> res = estimate_llc(net, "half_sse", Split(x, net(x).detach()),
    ...                    SGLDConfig(n_chains=4, n_draws=400, step_size=1e-3, gamma=1.0), seed=0)
    >>> abs(res.mean - 1.5) < 0.3   # a regular model: d/2
    True
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import einops
import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor, nn
from torch.func import grad_and_value, vmap

from bridge.config import ConfigError, config_class
from bridge.estimators.reparam import ParameterSlots, model_input, name_prefixes, scalar_loss
from bridge.losses import LossFn, get_loss
from bridge.models.base import eval_mode
from bridge.progress import progress_bar
from bridge.seeding import generator
from bridge.tasks.base import Split

ParamSelector = Callable[[str], bool] | Sequence[str] | str | None


@config_class("sgld")
@dataclass(frozen=True)
class SGLDConfig:
    """Settings of the SGLD sampler behind every learning-coefficient estimate (one place, used everywhere).

    Args:
        n_chains: independent chains, run side by side.
        n_draws: steps per chain whose loss enters the estimate.
        n_burnin: steps per chain discarded first.
        step_size: SGLD step ``ε``.
        gamma: localisation strength ``γ`` (pulls chains back to ``w*``).
        nbeta: ``nβ``; ``None`` means ``n / ln n``.
        noise_level: scale of the Langevin noise (1 is SGLD, 0 is gradient descent on
            the localised tempered objective ``nβ L_n + γ/2 ‖w − w*‖²`` with step ``ε/2``).

    Examples:
        >>> SGLDConfig(n_chains=2, n_draws=50).n_burnin
        100
    """

    n_chains: int = 4
    n_draws: int = 200
    n_burnin: int = 100
    step_size: float = 1e-3
    gamma: float = 100.0
    nbeta: float | None = None
    noise_level: float = 1.0

    def __post_init__(self) -> None:
        try:
            _check_settings(self.n_chains, self.n_draws, self.n_burnin, self.step_size, self.gamma, 1.0 if self.nbeta is None else self.nbeta, self.noise_level)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"sgld: {e}") from None


class LLCWarning(UserWarning):
    """A learning-coefficient estimate whose sampler settings or chains look wrong.

    Warned before sampling (a step size the drift cannot take) and after (chains that
    diverged or found a lower loss than ``w*``); the estimate is returned all the same.

    Examples:
        >>> import warnings
        >>> x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0)); net = torch.nn.Linear(2, 1)
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     _ = estimate_llc(net, "half_sse", (x, net(x).detach()), SGLDConfig(n_chains=2, n_draws=20, n_burnin=0, step_size=1.0, gamma=1.0))
        >>> [str(w.message).split(":")[0] for w in caught if w.category is LLCWarning]
        ['step_size·nbeta = 12.8 > 10', '2 of 2 chains diverged (non-finite loss or loss far above L_n(w*)=0); lower step_size, raise gamma, or check that w* is a trained minimum']
    """


@dataclass
class LLCResult:
    """What :func:`estimate_llc` measured.

    Attributes:
        mean: the estimate λ̂ averaged over chains.
        std: standard deviation of the per-chain estimates (0 for one chain).
        per_chain: ``(chains,)`` per-chain estimates ``nβ (mean_t L_n(w_t) − L_n(w*))``.
        trace: ``(chains, draws)`` loss ``L_n`` at every draw after burn-in.
        burnin_trace: ``(chains, burnin)`` loss during burn-in.
        init_loss: ``L_n(w*)``.
        nbeta: the inverse temperature times ``n`` that was used.
        n_params: number of sampled parameters (the subset's size).
        diverged: ``(chains,)`` True where a chain went non-finite or far above the start.
        warnings: every warning message that was raised.
        vectorized: whether chains ran under ``vmap``.

    Examples:
        >>> res = estimate_llc(torch.nn.Linear(1, 1, bias=False), "half_sse", (torch.zeros(4, 1), torch.zeros(4, 1)),
        ...                    SGLDConfig(n_chains=2, n_draws=3, n_burnin=1))  # a weight the loss never sees: λ = 0
        >>> res.mean, res.per_chain.shape, res.trace.shape, res.burnin_trace.shape, res.n_params
        (0.0, (2,), (2, 3), (2, 1), 1)
    """

    mean: float
    std: float
    per_chain: Float[np.ndarray, " chain"]
    trace: Float[np.ndarray, "chain draw"]
    burnin_trace: Float[np.ndarray, "chain burnin"]
    init_loss: float
    nbeta: float
    n_params: int
    diverged: Float[np.ndarray, " chain"]
    warnings: list[str] = field(default_factory=list)
    vectorized: bool = True

    @property
    def any_diverged(self) -> bool:
        return bool(np.any(self.diverged))


def default_nbeta(n: int) -> float:
    """``n / ln n`` (β = 1/ln n); ``n`` must be at least 2.

    Examples:
        >>> round(default_nbeta(1000), 3)
        144.765
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:  # NaN and inf gave a NaN nβ
        raise ValueError(f"need an integer count of at least 2 samples for nβ = n/ln n, got n={n!r}")
    return n / math.log(n)


def select_params(model: nn.Module, params: ParamSelector = None, slots: ParameterSlots | None = None) -> list[str]:
    """Canonical names of the parameters to sample: the trainable ones (``None``:
    those with ``requires_grad``), those any of whose names (``named_parameters``
    paths or ``state_dict`` keys, so ``"blocks.0.attn"`` works on a
    ``TransformerBridge``) start with one of the given prefixes (a string or a list
    of strings), or those a predicate accepts.

    Examples:
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
        >>> select_params(net, ["1."])
        ['1.weight', '1.bias']
        >>> _ = net[0].weight.requires_grad_(False)  # frozen: left out by default, still selectable by name
        >>> select_params(net), select_params(net, "0.")
        (['0.bias', '1.weight', '1.bias'], ['0.weight', '0.bias'])
    """
    slots = slots or ParameterSlots(model)
    names = slots.names
    if params is None:
        current = slots.parameters()
        chosen = [n for n in names if current[n].requires_grad]
        if not chosen:
            raise ValueError("the model has no parameter that requires grad; pass `params` to choose some")
    elif callable(params):
        chosen = [n for n in names if any(params(a) for a in sorted(slots.aliases[n]))]
    else:
        prefixes = name_prefixes(params)
        chosen = [n for n in names if any(a == p or a.startswith(p) for a in slots.aliases[n] for p in prefixes)]
    if not chosen:
        raise ValueError(f"parameter selection {params!r} matches no parameter of the model (names: {names[:8]}...)")
    return chosen


def _check_settings(n_chains: int, n_draws: int, n_burnin: int, step_size: float, gamma: float, nbeta: float, noise_level: float) -> None:
    if not (isinstance(n_chains, int) and n_chains >= 1):
        raise ValueError(f"n_chains must be a positive integer, got {n_chains!r}")
    if not (isinstance(n_draws, int) and n_draws >= 1):
        raise ValueError(f"n_draws must be a positive integer, got {n_draws!r}")
    if not (isinstance(n_burnin, int) and n_burnin >= 0):
        raise ValueError(f"n_burnin must be a non-negative integer, got {n_burnin!r}")
    if not (math.isfinite(step_size) and step_size > 0):
        raise ValueError(f"step_size must be a positive number, got {step_size!r}")
    if not (math.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"gamma (localisation) must be >= 0, got {gamma!r}")
    if not (math.isfinite(nbeta) and nbeta > 0):
        raise ValueError(f"nbeta must be a positive number, got {nbeta!r}")
    if not (math.isfinite(noise_level) and noise_level >= 0):
        raise ValueError(f"noise_level must be >= 0, got {noise_level!r}")


def _settings_warnings(step_size: float, gamma: float, nbeta: float, n: int) -> list[str]:
    out = []
    if step_size * gamma > 1.0:
        out.append(f"step_size·gamma = {step_size * gamma:.3g} > 1: the localisation term overshoots w* every step; lower step_size or gamma")
    if nbeta > n:
        out.append(f"nbeta = {nbeta:.4g} exceeds n = {n}: the posterior is colder than the likelihood (β > 1); the estimate is biased low")
    if step_size * nbeta > 10.0:
        out.append(
            f"step_size·nbeta = {step_size * nbeta:.3g} > 10: a drift step of ε·nβ/2 times the loss curvature above 2 diverges; "
            "lower step_size (typical ε·nβ is 1e-3 to 1)"
        )
    return out


def _chain_divergence(trace: np.ndarray, init_loss: float, nbeta: float, n_params: int) -> np.ndarray:
    """A chain diverged if it is non-finite or its late loss sits more than ``2·d/nβ``
    above the start (λ ≤ d/2, so the mean excess should stay below ``d/(2nβ)``)."""
    finite = np.isfinite(trace).all(axis=1)
    late = trace[:, trace.shape[1] // 2 :]
    with np.errstate(invalid="ignore", over="ignore"):
        excess = np.where(finite, late.mean(axis=1) - init_loss, np.inf)
    limit = 2.0 * n_params / nbeta + 1e-6 * (1.0 + abs(init_loss))
    return ~finite | (excess > limit)


def estimate_llc(
    model: nn.Module,
    loss_fn: LossFn | str,
    split: Split | tuple[Tensor, Tensor],
    sgld: SGLDConfig | None = None,
    *,
    params: ParamSelector = None,
    seed: int | torch.Generator = 0,
    vectorize: bool | None = None,
    progress: bool | None = None,
) -> LLCResult:
    """Estimate the local learning coefficient of ``model`` at its current weights ``w*``.

    Args:
        model: any ``nn.Module`` (MLP, deep linear network, ``TransformerBridge``);
            its weights are read, never modified.
        loss_fn: ``(output, target) -> scalar`` mean per-sample negative
            log-likelihood, or the name of a loss in :mod:`bridge.losses`.
        split: the data ``(x, y)`` with ``n`` examples (full batch), finite; floating-point tensors are cast to the parameters' dtype.
        sgld: the sampler's settings (:class:`SGLDConfig`; default ``SGLDConfig()``).
        params: which parameters to sample (``None``: the trainable ones, those with
            ``requires_grad``; prefixes such as
            ``["blocks.0.attn"]``; or a predicate on names). The rest stay at ``w*``.
        seed: an integer in ``[-2**63, 2**64)`` (torch's seed range) or a ``torch.Generator`` for the noise.
        vectorize: ``True`` forces ``vmap``, ``False`` a loop over chains,
            ``None`` tries ``vmap`` and falls back to the loop if the model refuses it.
        progress: progress over the sampler's ``n_burnin + n_draws`` steps (:func:`bridge.progress.progress_bar`:
            ``None`` a bar on a terminal or in a notebook, plain lines in a log; ``False`` nothing); the estimate
            does not depend on it.

    Returns:
        An :class:`LLCResult`; warnings (class :class:`LLCWarning`) are also issued
        when chains diverge, the estimate is negative, burn-in looks too short or
        the step size and ``nβ`` are out of a sane range.

    Raises:
        ValueError: ``x`` and ``y`` not holding the same positive number of examples (at least 2 without ``sgld.nbeta``: the default ``nβ = n/ln n``), a seed that is neither an integer in torch's range nor a generator, or a loss at ``w*`` that is not finite.

    Examples:
        >>> x, net = torch.randn(50, 2, generator=torch.Generator().manual_seed(0)), torch.nn.Linear(2, 1)
        >>> res = estimate_llc(net, "half_sse", (x, net(x).detach()), SGLDConfig(n_chains=2, n_draws=20, n_burnin=5, gamma=1.0))
        >>> res.init_loss, res.trace.shape, res.n_params, round(res.nbeta, 2)  # w* fits exactly; nβ = 50 / ln 50
        (0.0, (2, 20), 3, 12.78)
    """
    if not isinstance(seed, torch.Generator) and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not -(2**63) <= seed < 2**64):
        raise ValueError(f"seed must be an integer in [-2**63, 2**64) or a torch.Generator, got {seed!r}")  # int() would round 1.5 to 1
    loss = get_loss(loss_fn) if isinstance(loss_fn, str) else loss_fn
    x, y = (split.x, split.y) if isinstance(split, Split) else split
    if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"split: x and y must hold the same positive number of examples, got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    x, y = model_input("split.x", x, model), model_input("split.y", y, model)
    n = int(x.shape[0])
    sgld = SGLDConfig() if sgld is None else sgld
    if not isinstance(sgld, SGLDConfig):
        raise ConfigError(f"sgld must be an SGLDConfig, got {type(sgld).__name__}")
    n_chains, n_draws, n_burnin, step_size, gamma, noise_level = sgld.n_chains, sgld.n_draws, sgld.n_burnin, sgld.step_size, sgld.gamma, sgld.noise_level
    if sgld.nbeta is None and n < 2:  # default_nbeta named its own n, which the caller never passed
        raise ValueError(f"split: the default nβ = n/ln n needs at least 2 examples, got a split of {n} (x of shape {tuple(x.shape)}); set SGLDConfig(nbeta=...) to sample with one")
    nbeta = default_nbeta(n) if sgld.nbeta is None else float(sgld.nbeta)
    slots = ParameterSlots(model)
    names = select_params(model, params, slots)
    g = seed if isinstance(seed, torch.Generator) else generator(seed)

    state = slots.parameters()
    fixed = {k: v.detach() for k, v in state.items() if k not in names}
    w_star = {k: state[k].detach().clone() for k in names}
    n_params = sum(v.numel() for v in w_star.values())
    messages = _settings_warnings(step_size, gamma, nbeta, n)

    def loss_of(sub: dict[str, Tensor]) -> Tensor:
        with slots.swapped({**fixed, **sub}) as net:
            return scalar_loss(loss(net(x), y))  # grad_and_value refused a (1,) loss

    step = grad_and_value(loss_of)
    with eval_mode(model), torch.enable_grad():
        init_loss = float(loss_of(w_star).detach())
        if not math.isfinite(init_loss):
            raise ValueError(f"the loss at w* is {init_loss}: no estimate around it (check the data and the weights for NaN or inf)")
        run = _run_vmap if vectorize in (None, True) else _run_loop
        try:
            losses, vectorized = run(step, w_star, n_chains, n_burnin + n_draws, step_size, gamma, nbeta, noise_level, g, progress), run is _run_vmap
        except Exception as err:  # vmap refuses some modules (data-dependent control flow, in-place ops)
            if vectorize is True or run is _run_loop:
                raise
            messages.append(f"vmap failed ({type(err).__name__}: {str(err)[:120]}); chains ran in a loop")
            losses, vectorized = _run_loop(step, w_star, n_chains, n_burnin + n_draws, step_size, gamma, nbeta, noise_level, g, progress), False

    burn, trace = losses[:, :n_burnin], losses[:, n_burnin:]
    diverged = _chain_divergence(trace, init_loss, nbeta, n_params)
    with np.errstate(invalid="ignore", over="ignore"):
        per_chain = nbeta * (trace.mean(axis=1) - init_loss)
    mean = float(per_chain.mean())
    std = float(per_chain.std(ddof=1)) if n_chains > 1 else 0.0
    if diverged.any():
        messages.append(
            f"{int(diverged.sum())} of {n_chains} chains diverged (non-finite loss or loss far above L_n(w*)={init_loss:.4g}); "
            "lower step_size, raise gamma, or check that w* is a trained minimum"
        )
    if np.isfinite(mean) and mean < 0:
        messages.append(f"negative estimate {mean:.3g}: chains found lower loss than w*, so w* is not a local minimum (train longer or raise gamma)")
    if n_draws >= 20 and np.isfinite(trace).all() and n_chains > 2:
        half = n_draws // 2
        shift = nbeta * (trace[:, half:].mean(axis=1) - trace[:, :half].mean(axis=1))  # per chain
        t_stat = abs(shift.mean()) / (shift.std(ddof=1) / math.sqrt(n_chains) + 1e-12)
        if t_stat > 4.0 and abs(shift.mean()) > 0.1 * max(abs(mean), 1e-9):
            messages.append(f"the loss trace still drifts between the two halves of the draws (nβ·Δ = {shift.mean():.3g}, t = {t_stat:.1f}): increase n_burnin or step_size")
    for msg in messages:
        warnings.warn(msg, LLCWarning, stacklevel=2)
    return LLCResult(mean, std, per_chain, trace, burn, init_loss, nbeta, n_params, diverged, messages, vectorized)


def _sgld_update(w: dict[str, Tensor], grads: dict[str, Tensor], w_star: dict[str, Tensor], step_size: float, gamma: float, nbeta: float, noise_level: float, g: torch.Generator) -> dict[str, Tensor]:
    out = {}
    for k, v in w.items():
        drift = nbeta * grads[k] + gamma * (v - w_star[k])
        new = v - 0.5 * step_size * drift
        if noise_level > 0:
            noise = torch.randn(v.shape, generator=g, dtype=v.dtype).to(v.device)
            new = new + noise_level * math.sqrt(step_size) * noise
        out[k] = new
    return out


def _chain_copies(w_star: dict[str, Tensor], n_chains: int) -> dict[str, Tensor]:
    """Every chain's own copy of the parameters, stacked on a leading ``chain`` axis."""
    return {k: einops.repeat(v, "... -> chain ...", chain=n_chains).contiguous() for k, v in w_star.items()}


def _loss_trace(w_star: dict[str, Tensor], n_chains: int, n_steps: int) -> Tensor:
    """The ``(chain, step)`` losses, float64 (a float64 model's losses unrounded), on the parameters' device: each step's
    losses stay there and the trace is read once at the end, not once per step."""
    return torch.empty(n_chains, n_steps, dtype=torch.float64, device=next(iter(w_star.values())).device)


def _run_vmap(step: Callable[[dict[str, Tensor]], tuple[dict[str, Tensor], Tensor]], w_star: dict[str, Tensor], n_chains: int, n_steps: int, step_size: float, gamma: float, nbeta: float, noise_level: float, g: torch.Generator, progress: bool | None = False) -> np.ndarray:
    batched = vmap(step)
    w = _chain_copies(w_star, n_chains)
    anchor = {k: v.unsqueeze(0) for k, v in w_star.items()}
    losses = _loss_trace(w_star, n_chains, n_steps)
    for t in progress_bar(range(n_steps), f"llc: {n_chains} chains", progress, unit="step"):
        grads, values = batched(w)
        losses[:, t] = values.detach()
        w = _sgld_update({k: v.detach() for k, v in w.items()}, grads, anchor, step_size, gamma, nbeta, noise_level, g)
    return losses.cpu().numpy().astype(np.float64)


def _run_loop(step: Callable[[dict[str, Tensor]], tuple[dict[str, Tensor], Tensor]], w_star: dict[str, Tensor], n_chains: int, n_steps: int, step_size: float, gamma: float, nbeta: float, noise_level: float, g: torch.Generator, progress: bool | None = False) -> np.ndarray:
    # same noise stream layout as the vmap path: one draw per parameter per step, chains stacked
    w = _chain_copies(w_star, n_chains)
    anchor = {k: v.unsqueeze(0) for k, v in w_star.items()}
    losses = _loss_trace(w_star, n_chains, n_steps)
    for t in progress_bar(range(n_steps), f"llc: {n_chains} chains", progress, unit="step"):
        grads = {k: torch.empty_like(v) for k, v in w.items()}
        for c in range(n_chains):
            gc, value = step({k: v[c] for k, v in w.items()})
            losses[c, t] = value.detach()
            for k in grads:
                grads[k][c] = gc[k]
        w = _sgld_update(w, grads, anchor, step_size, gamma, nbeta, noise_level, g)
    return losses.cpu().numpy().astype(np.float64)


__all__ = ["LLCResult", "LLCWarning", "ParamSelector", "default_nbeta", "estimate_llc", "select_params"]
