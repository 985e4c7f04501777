"""Deep linear network ``x ↦ W_L ⋯ W_1 x`` with hook points between layers.

Two initialisations (``DeepLinearConfig.init``):

* ``"gaussian"``: every weight entry drawn from ``N(0, init_std²)`` with the seed.
* ``"balanced"``: Saxe et al.'s decoupled initial condition, every teacher mode
  at strength ``init_strength`` with all layers balanced. It needs the
  teacher's singular vectors, which a model builder (given only the config and
  the seed) does not have: the network is built with zero weights and
  :meth:`DeepLinearNetwork.init_from_task` sets them from a task's
  ``info["U"]``, ``info["V"]``. :func:`bridge.train` calls it on every model
  that has the method, right after building it; outside training call
  :func:`balanced_init` yourself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint

from bridge.config import ConfigError, config_class, require
from bridge.models.base import MODELS, generator
from bridge.tasks.memory import check_memory, sized


@config_class("deep_linear")
@dataclass(frozen=True)
class DeepLinearConfig:
    """A depth-``depth`` linear network ``d_in → d_hidden → … → d_out`` without biases.

    Args:
        d_in, d_hidden, d_out: layer widths.
        depth: number of weight matrices (≥ 2).
        init_std: standard deviation of every weight entry of a ``"gaussian"``
            initialisation (small values give the sigmoidal, stage-wise regime
            of Saxe et al.).
        init: ``"gaussian"`` (random) or ``"balanced"`` (aligned to the
            teacher's modes, see :func:`balanced_init`; needs a task whose info
            has ``U`` and ``V``).
        init_strength: initial strength ``u₀`` of every teacher mode in the
            end-to-end map under ``"balanced"`` (> 0).

    Examples:
        >>> DeepLinearConfig(d_in=4, d_hidden=8, d_out=3, depth=3).init
        'gaussian'
        >>> DeepLinearConfig(d_in=4, d_hidden=8, d_out=3, depth=1)
        Traceback (most recent call last):
        ...
        bridge.config.ConfigError: deep_linear.depth must be >= 2, got 1
    """

    d_in: int
    d_hidden: int
    d_out: int
    depth: int = 2
    init_std: float = 1e-3
    init: str = "gaussian"
    init_strength: float = 1e-3

    def __post_init__(self) -> None:
        require(self.depth >= 2, f"deep_linear.depth must be >= 2, got {self.depth}")
        for name in ("d_in", "d_hidden", "d_out"):
            require(getattr(self, name) > 0, f"deep_linear.{name} must be positive, got {getattr(self, name)}")
        require(self.init_std > 0, f"deep_linear.init_std must be positive, got {self.init_std}")
        require(self.init in INITS, f"deep_linear.init must be one of {INITS}, got {self.init!r}")
        require(self.init_strength > 0, f"deep_linear.init_strength must be positive, got {self.init_strength}")


INITS = ("gaussian", "balanced")


@sized("deep_linear")
def _deep_linear_bytes(c: DeepLinearConfig) -> tuple[dict, int]:
    """Every layer's float32 weights (and the largest one's draw before scaling), and a few kB of modules a layer."""
    sizes = (c.d_in * c.d_hidden, c.d_hidden**2, c.d_hidden * c.d_out)
    need = 4 * (sizes[0] + (c.depth - 2) * sizes[1] + sizes[2] + max(sizes)) + 4096 * c.depth
    return {"d_in": c.d_in, "d_hidden": c.d_hidden, "d_out": c.d_out, "depth": c.depth}, need


class DeepLinearNetwork(HookedRootModule):
    """``y = W_{L-1} ⋯ W_0 x``; ``weights[l]`` has shape ``(d_{l+1}, d_l)``.

    Hook points: ``hook_in``, ``hook_hidden.{l}`` after layer ``l`` (l < depth-1), ``hook_out``.

    Examples:
        >>> net = DeepLinearNetwork(DeepLinearConfig(d_in=4, d_hidden=8, d_out=3, depth=3), seed=0)
        >>> _, cache = net.run_with_cache(torch.eye(4))
        >>> tuple(cache["hook_hidden.1"].shape)
        (4, 8)
    """

    def __init__(self, config: DeepLinearConfig, seed: int = 0) -> None:
        check_memory(config)
        super().__init__()
        self.config = config
        dims = [config.d_in] + [config.d_hidden] * (config.depth - 1) + [config.d_out]
        if config.init == "gaussian":
            g = generator(seed)
            initial = [torch.randn(d_out, d_in, generator=g) * config.init_std for d_in, d_out in zip(dims[:-1], dims[1:])]
        else:  # "balanced": set by init_from_task once the teacher's modes are known
            initial = [torch.zeros(d_out, d_in) for d_in, d_out in zip(dims[:-1], dims[1:])]
        self.weights = nn.ParameterList(nn.Parameter(w) for w in initial)
        self.hook_in = HookPoint()
        self.hook_hidden = nn.ModuleList(HookPoint() for _ in range(config.depth - 1))
        self.hook_out = HookPoint()
        self.setup()

    def forward(self, x: Float[Tensor, "batch d_in"]) -> Float[Tensor, "batch d_out"]:
        h = self.hook_in(x)
        for layer, w in enumerate(self.weights):
            h = h @ w.T
            h = self.hook_hidden[layer](h) if layer < len(self.hook_hidden) else self.hook_out(h)
        return h

    def forward_stacked(self, params: Mapping[str, Tensor], x: Float[Tensor, "seed batch d_in"]) -> Float[Tensor, "seed batch d_out"]:
        """Many networks at once: ``params`` are this model's parameters with a leading seed axis.

        Row ``k`` equals ``vmap`` of ``forward`` with ``params[name][k]`` in place of each parameter,
        bit for bit (what :func:`bridge.train_seeds` steps with instead of that ``vmap``), and
        ``forward`` itself on those parameters to float rounding: PyTorch multiplies a stack of
        small matrices (under 400 multiply-adds each, as in a width-8 network on 16 inputs) with a
        kernel of its own, which rounds otherwise than one matrix product.
        """
        h = x
        for layer in range(len(self.weights)):
            h = h @ params[f"weights.{layer}"].mT
        return h

    def run_to(self, x: Float[Tensor, "batch d_in"], hook: str) -> Float[Tensor, "batch d"]:
        """The activation at hook point ``hook`` on ``x``, computed without running any hook.

        Equal to what a forward hook on ``hook`` captures when no hook changes the
        activations (:func:`probes.cached_activation` checks that before using it).
        """
        if hook not in self.hook_dict:
            raise KeyError(f"hook {hook!r} not found in {type(self).__name__}")
        layers = 0 if hook == "hook_in" else len(self.weights) if hook == "hook_out" else int(hook.rpartition(".")[2]) + 1
        h = x
        for layer in range(layers):
            h = h @ self.weights[layer].T
        return h

    def init_from_task(self, info: dict) -> None:
        """Apply a task-dependent initialisation: for ``init="balanced"``, :func:`balanced_init`
        with ``info["U"]``, ``info["V"]`` and ``config.init_strength``; nothing for ``"gaussian"``.

        Raises:
            ConfigError: ``"balanced"`` and ``info`` has no ``U``/``V``, or they do not fit the network.
        """
        if self.config.init != "balanced":
            return
        if info.get("U") is None or info.get("V") is None:
            raise ConfigError("deep_linear.init 'balanced' needs a task whose info has the teacher's U and V (e.g. linear_teacher, hierarchy)")
        try:
            balanced_init(self, info["U"], info["V"], self.config.init_strength)
        except ValueError as e:
            raise ConfigError(f"deep_linear.init 'balanced': {e}") from None

    def end_to_end(self) -> Float[Tensor, "d_out d_in"]:
        """The product ``W_{L-1} ⋯ W_0``."""
        total, *later = self.weights  # the parameters, without the module a slice of the list builds
        for w in later:
            total = w @ total
        return total


def set_balanced(net: DeepLinearNetwork, u: Float[Tensor, "d_out mode"], s: Float[Tensor, " mode"], v: Float[Tensor, "d_in mode"]) -> DeepLinearNetwork:
    """Set a depth-2 network to the balanced factorisation ``W₂W₁ = U diag(s) Vᵀ`` (in place).

    ``W₁ = diag(√s) Vᵀ`` on the first hidden units and ``W₂ = U diag(√s)``; every
    other weight is zero. A minimum of the teacher's loss, e.g. the ``w*`` of a
    learning-coefficient estimate.

    Raises:
        ValueError: depth other than 2, more modes than hidden units, ``U``, ``s``, ``V`` of shapes
            that do not fit, or a negative or non-finite singular value; the weights are left as they were.

    Examples:
        >>> net = DeepLinearNetwork(DeepLinearConfig(d_in=3, d_hidden=4, d_out=2), seed=0)
        >>> u, v = torch.eye(2)[:, :1], torch.eye(3)[:, :1]
        >>> set_balanced(net, u, torch.tensor([4.0]), v).end_to_end()[0, 0].item()
        4.0
    """
    cfg = net.config
    if s.ndim != 1 or cfg.depth != 2 or len(s) > cfg.d_hidden:
        raise ValueError(f"set_balanced needs depth 2 and d_hidden >= {len(s) if s.ndim == 1 else 'r'} modes, got depth {cfg.depth}, d_hidden {cfg.d_hidden} and s of shape {tuple(s.shape)}")
    r = len(s)
    if u.shape != (cfg.d_out, r) or v.shape != (cfg.d_in, r):
        raise ValueError(f"U {tuple(u.shape)} and V {tuple(v.shape)} must be ({cfg.d_out}, {r}) and ({cfg.d_in}, {r}) for {r} singular values")
    if not bool(torch.isfinite(s).all()) or bool((s < 0).any()):
        raise ValueError(f"singular values s must be finite and >= 0, got {s.tolist()}")
    with torch.no_grad():
        for w in net.weights:
            w.zero_()
        net.weights[0][:r] = s.sqrt()[:, None] * v.T
        net.weights[1][:, :r] = u * s.sqrt()
    return net


def balanced_init(net: DeepLinearNetwork, u: Float[Tensor, "d_out mode"], v: Float[Tensor, "d_in mode"], strength: float) -> DeepLinearNetwork:
    """Set ``net`` (any depth ``L``) to Saxe's decoupled, balanced start ``W_{L-1}⋯W_0 = strength · U Vᵀ`` (in place).

    Mode ``i`` runs through hidden unit ``i`` of every hidden layer, each layer
    carrying ``strength^{1/L}``: ``W_0 = c E Vᵀ``, ``W_l = c E Eᵀ`` (``0 < l < L−1``),
    ``W_{L−1} = c U Eᵀ`` with ``c = strength^{1/L}`` and ``E`` the first ``r``
    hidden basis vectors; every other weight is zero. The layers are balanced
    (``W_{l+1}ᵀW_{l+1} = W_l W_lᵀ``), so each mode starts at ``u₀ = strength``
    on the trajectory :func:`bridge.theory.saxe.mode_trajectory` describes.

    Args:
        net: the network (its weights are overwritten).
        u: ``(d_out, r)`` output singular vectors of the teacher (orthonormal columns).
        v: ``(d_in, r)`` input singular vectors.
        strength: ``u₀ > 0``, the same for every mode.

    Raises:
        ValueError: shapes that do not fit, ``r > d_hidden`` or a ``strength`` not finite and positive
            (before any weight is written).

    Examples:
        >>> net = DeepLinearNetwork(DeepLinearConfig(d_in=3, d_hidden=4, d_out=2, depth=3), seed=0)
        >>> u, v = torch.eye(2)[:, :1], torch.eye(3)[:, :1]
        >>> round(balanced_init(net, u, v, 0.008).end_to_end()[0, 0].item(), 6)
        0.008
    """
    cfg, r = net.config, u.shape[-1]
    if u.shape != (cfg.d_out, r) or v.shape != (cfg.d_in, r):
        raise ValueError(f"U {tuple(u.shape)} and V {tuple(v.shape)} must be ({cfg.d_out}, r) and ({cfg.d_in}, r)")
    if r > cfg.d_hidden or not 0 < strength < float("inf"):
        raise ValueError(f"need r <= d_hidden={cfg.d_hidden} modes and a finite strength > 0, got r={r}, strength={strength}")
    dtype = net.weights[0].dtype
    c = float(strength) ** (1.0 / cfg.depth)
    with torch.no_grad():
        for w in net.weights:
            w.zero_()
        net.weights[0][:r] = c * v.T.to(dtype)
        for w in net.weights[1:-1]:
            w[:r, :r] = c * torch.eye(r, dtype=dtype)
        net.weights[-1][:, :r] = c * u.to(dtype)
    return net


@MODELS.register("deep_linear")
def build_deep_linear(config: DeepLinearConfig, seed: int) -> DeepLinearNetwork:
    """The registered ``deep_linear`` builder: a :class:`DeepLinearNetwork` with weights drawn from ``seed``.

    Examples:
        >>> net = build_deep_linear(DeepLinearConfig(d_in=4, d_hidden=8, d_out=3, depth=3), seed=0)
        >>> [tuple(w.shape) for w in net.weights], tuple(net.end_to_end().shape)
        ([(8, 4), (8, 8), (3, 8)], (3, 4))
        >>> build_deep_linear(DeepLinearConfig(4, 8, 3, init="balanced"), seed=0).end_to_end().abs().max().item()   # zero until init_from_task
        0.0
    """
    return DeepLinearNetwork(config, seed)
