"""Per-head measurements of attention-only transformers: pattern scores, copying, composition.

Pattern scores (Olsson et al. 2022) read attention patterns on token sequences:

* **previous-token score**: mean attention from position ``q`` to ``q - 1``;
* **duplicate-token score**: mean attention mass from a token to its earlier copies;
* **induction (prefix-matching) score**: mean attention mass from a token to the
  positions right after its earlier copies.

Weight scores (Elhage et al. 2021) read the weights, in TransformerLens's
row-vector convention (``x @ W``): the OV circuit ``W_V W_O`` and QK circuit
``W_Q W_Kᵀ`` of every head; the **copying score** is the share (by magnitude)
of positive eigenvalues of ``W_E W_V W_O W_U``; the **composition scores** of a
layer-``l`` head into a later head are ``‖A B‖_F / (‖A‖_F ‖B‖_F)`` with
``A = W_OV`` of the earlier head and ``B = W_QK`` (Q), ``W_QKᵀ`` (K) or ``W_OV`` (V)
of the later one.

Examples:
    >>> import torch
    >>> pattern = torch.eye(4).roll(-1, dims=1).tril()[None, None]   # every query on its predecessor
    >>> pattern[..., 0, 0] = 1.0
    >>> float(pattern_scores(pattern, torch.tensor([[1, 2, 3, 4]]))["previous_token"][0])
    1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from bridge.losses import at_least_float32
from bridge.models.base import eval_mode
from probes.tokens import as_bridge, check_tokens

SCORES = ("previous_token", "duplicate_token", "induction")


@dataclass(frozen=True)
class HeadWeights:
    """A transformer's weights, per head, in row-vector convention (``resid @ W``).

    Attributes:
        W_E: ``(d_vocab, d_model)``; W_U: ``(d_model, d_vocab_out)``.
        W_Q, W_K, W_V: ``(n_layers, n_heads, d_model, d_head)``.
        W_O: ``(n_layers, n_heads, d_head, d_model)``.

    Examples:
        >>> eye = torch.eye(2).expand(1, 3, 2, 2)
        >>> w = HeadWeights(torch.eye(2), torch.eye(2), eye, eye, eye, eye)
        >>> w.n_layers, w.n_heads, tuple(w.OV.shape), w.QK[0, 0].tolist()
        (1, 3, (1, 3, 2, 2), [[1.0, 0.0], [0.0, 1.0]])
    """

    W_E: Float[Tensor, "d_vocab d_model"]
    W_U: Float[Tensor, "d_model d_vocab_out"]
    W_Q: Float[Tensor, "layer head d_model d_head"]
    W_K: Float[Tensor, "layer head d_model d_head"]
    W_V: Float[Tensor, "layer head d_model d_head"]
    W_O: Float[Tensor, "layer head d_head d_model"]

    @property
    def n_layers(self) -> int:
        return self.W_Q.shape[0]

    @property
    def n_heads(self) -> int:
        return self.W_Q.shape[1]

    @property
    def OV(self) -> Float[Tensor, "layer head d_model d_model"]:
        return self.W_V @ self.W_O

    @property
    def QK(self) -> Float[Tensor, "layer head d_model d_model"]:
        return self.W_Q @ self.W_K.transpose(-1, -2)


def head_weights(model: nn.Module) -> HeadWeights:
    """Read per-head weights from a TransformerBridge's ``state_dict`` (nn.Linear layout).

    ``blocks.{l}.attn.q.weight`` is ``(n_heads * d_head, d_model)``, ``o.weight`` is
    ``(d_model, n_heads * d_head)`` and ``unembed.weight`` is ``(d_vocab_out, d_model)``.
    The matrices are float64 for a float64 model and float32 otherwise.
    A normalised model's LayerNorm or RMSNorm weights are folded into the matrices that
    read the normalised stream (``ln1`` into ``W_Q``, ``W_K``, ``W_V``; ``ln_final`` into
    ``W_U``), as TransformerLens's ``fold_ln`` does; the normalisation's division by the
    stream's scale, its centring and its bias are not represented.

    Examples:
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> w = head_weights(model)
        >>> tuple(w.W_E.shape), tuple(w.W_U.shape), tuple(w.W_Q.shape), tuple(w.W_O.shape)
        ((8, 16), (16, 8), (2, 2, 16, 8), (2, 2, 8, 16))
    """
    sd = {k: at_least_float32(v.detach()).cpu() for k, v in model.state_dict().items()}  # a float64 model keeps its digits
    cfg = as_bridge(model).cfg
    n_layers, n_heads, d_head = cfg.n_layers, cfg.n_heads, cfg.d_head
    if "embed.weight" not in sd or "blocks.0.attn.q.weight" not in sd:
        raise ValueError("head_weights needs a TransformerBridge with embed.weight and blocks.{l}.attn.{q,k,v,o}.weight")

    def norm(name: str) -> Tensor:  # the weight a normalisation multiplies the stream by (ones without one)
        return sd.get(f"{name}.weight", torch.ones(sd["embed.weight"].shape[1], dtype=sd["embed.weight"].dtype))

    def split_in(name: str) -> Tensor:
        w = [sd[f"blocks.{layer}.attn.{name}.weight"] * norm(f"blocks.{layer}.ln1") for layer in range(n_layers)]
        return einops.rearrange(w, "layer (head d_head) d_model -> layer head d_model d_head", head=n_heads, d_head=d_head).contiguous()

    o_layers = [sd[f"blocks.{layer}.attn.o.weight"] for layer in range(n_layers)]
    w_o = einops.rearrange(o_layers, "layer d_model (head d_head) -> layer head d_head d_model", head=n_heads, d_head=d_head).contiguous()
    return HeadWeights(sd["embed.weight"], (sd["unembed.weight"] * norm("ln_final")).T.contiguous(), split_in("q"), split_in("k"), split_in("v"), w_o)


def copying_scores(w: HeadWeights) -> Float[Tensor, "layer head"]:
    """Share (by magnitude) of positive-real-part eigenvalues of each head's ``W_E W_OV W_U``.

    The nonzero eigenvalues of the ``(V, V)`` circuit are those of the small
    ``(d_head, d_head)`` matrix ``W_O W_U W_E W_V``. 1: the head copies the tokens it
    attends to; 0: it suppresses them. Needs ``d_vocab == d_vocab_out``.

    Returns:
        ``(n_layers, n_heads)``, in [0, 1]; float64 for float64 weights, else float32.

    Examples:
        >>> eye, flip = torch.eye(2).expand(1, 2, 2, 2), torch.stack([torch.eye(2), -torch.eye(2)])[None]
        >>> copying_scores(HeadWeights(torch.eye(2), torch.eye(2), eye, eye, eye, flip)).tolist()   # OV = +I, −I
        [[1.0, 0.0]]
    """
    if w.W_E.shape[0] != w.W_U.shape[1]:
        raise ValueError(f"copying score needs d_vocab == d_vocab_out, got {w.W_E.shape[0]} and {w.W_U.shape[1]}")
    small = (w.W_O @ (w.W_U @ w.W_E) @ w.W_V).double()
    eig = torch.linalg.eigvals(small)
    mag = eig.abs()
    return ((mag * (eig.real > 0)).sum(-1) / mag.sum(-1).clamp_min(1e-30)).to(torch.promote_types(w.W_O.dtype, torch.float32))


def composition_score(a: Tensor, b: Tensor) -> Tensor:
    """``‖A B‖_F / (‖A‖_F ‖B‖_F)`` over the last two axes (broadcasting): ``(..., d, k)`` and ``(..., k, e)`` pairs to ``(...)``.

    The score does not change with the scale of either matrix: each is divided by a power of two near its largest
    entry first (no rounding changes), so weights of 1e-25 or 1e25 in float32 keep their score (their squared
    norms left the float range and gave 0/0 or inf/inf = NaN). A pair with a zero matrix has no score: NaN
    (0/0), as ``A B`` has no direction to compare.

    Raises:
        ValueError: ``a`` or ``b`` below 2-D, or ``a``'s last axis not the length of ``b``'s second to last.

    Examples:
        >>> e0, e1 = torch.diag(torch.tensor([1.0, 0.0])), torch.diag(torch.tensor([0.0, 1.0]))
        >>> round(float(composition_score(torch.eye(2), torch.eye(2))), 4), float(composition_score(e0, e1))   # 1/√2; orthogonal
        (0.7071, 0.0)
        >>> float(composition_score(torch.zeros(2, 2), torch.eye(2)))   # a zero matrix: no score
        nan
    """
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
        raise ValueError(f"composition_score needs matrices a (..., d, k) and b (..., k, e), got a of shape {tuple(a.shape)} and b of shape {tuple(b.shape)}")
    a, b = _unit_scale(a), _unit_scale(b)
    return torch.linalg.matrix_norm(a @ b) / (torch.linalg.matrix_norm(a) * torch.linalg.matrix_norm(b))


def _unit_scale(m: Tensor) -> Tensor:
    """``m`` divided, per matrix of its last two axes, by the power of two just above its largest entry (exact)."""
    top = m.detach().abs().amax((-2, -1), keepdim=True) if m.numel() else m.new_zeros(m.shape[:-2] + (1, 1))
    ok = torch.isfinite(top) & (top > 0)
    return torch.ldexp(m, torch.where(ok, -torch.frexp(torch.where(ok, top, torch.ones_like(top))).exponent, 0))


def composition_scores(w: HeadWeights) -> dict[str, Float[Tensor, "layer head layer head"]]:
    """Q-, K-, V-composition of every head ``(l0, h0)`` into every later head ``(l1, h1)``.

    Entries with ``l1 <= l0`` are NaN. Biases are left out (Elhage et al. 2021). Float64 weights give
    float64 scores, others float32.

    Returns:
        ``{"q", "k", "v"}`` → ``(n_layers, n_heads, n_layers, n_heads)`` indexed ``[l0, h0, l1, h1]``.

    Examples:
        >>> eye = torch.eye(2).expand(2, 1, 2, 2)
        >>> k = composition_scores(HeadWeights(torch.eye(2), torch.eye(2), eye, eye, eye, eye))["k"]
        >>> tuple(k.shape), round(float(k[0, 0, 1, 0]), 4), bool(k[1, 0, 0, 0].isnan())
        ((2, 1, 2, 1), 0.7071, True)
    """
    L, H = w.n_layers, w.n_heads
    ov, qk = w.OV, w.QK
    out = {}
    for kind, right in (("q", qk), ("k", qk.transpose(-1, -2)), ("v", ov)):
        score = torch.full((L, H, L, H), float("nan"), dtype=torch.promote_types(ov.dtype, torch.float32))
        for l0 in range(L):
            for l1 in range(l0 + 1, L):
                score[l0, :, l1, :] = composition_score(ov[l0][:, None], right[l1][None, :])
        out[kind] = score
    return out


def composition_baseline(d_model: int, d_head: int, *, samples: int = 200, seed: int = 0) -> tuple[float, float]:
    """Mean and std of the composition score of two random rank-``d_head`` products of Gaussians.

    Composition scores of unrelated heads are not zero: this is the level to compare against.

    Examples:
        >>> tuple(round(v, 2) for v in composition_baseline(16, 4))
        (0.24, 0.05)
    """
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(samples, d_model, d_head, generator=g) @ torch.randn(samples, d_head, d_model, generator=g)
    b = torch.randn(samples, d_model, d_head, generator=g) @ torch.randn(samples, d_head, d_model, generator=g)
    s = composition_score(a, b)
    return float(s.mean()), float(s.std())


def _token_shape(tokens: Tensor) -> tuple[int, int]:
    if tokens.ndim != 2:
        raise ValueError(f"tokens must be (batch, pos), got shape {tuple(tokens.shape)}")
    return tokens.shape[0], tokens.shape[1]


def pattern_scores(pattern: Float[Tensor, "batch head query key"], tokens: Int[Tensor, "batch pos"]) -> dict[str, Float[Tensor, " head"]]:
    """Previous-token, duplicate-token and induction scores of one layer's attention patterns.

    Every score is a mean over the (sequence, query) pairs where it is defined,
    pooled over the batch: previous-token over queries ``q >= 1``; duplicate and
    induction over queries whose token occurred before. The duplicate score sums
    attention over all earlier copies ``k < q`` with ``tokens[k] == tokens[q]``;
    the induction score over all keys ``k <= q`` with ``tokens[k-1] == tokens[q]``
    and ``k - 1 < q``.

    Args:
        pattern: ``(batch, head, query, key)`` attention probabilities.
        tokens: ``(batch, pos)`` with ``pos == query == key``.

    Returns:
        ``{"previous_token", "duplicate_token", "induction"}`` → ``(head,)``.

    Computed in float64 for a float64 ``pattern`` (scores in float64), else in float32.

    Raises:
        ValueError: ``tokens`` not 2-D integer ids (float tokens compared 5.0 with 5.2 as values), or ``pattern`` of another shape. (A head whose pattern is NaN, as in a
            diverging run whose trackers still read it, gets NaN scores; the other heads keep theirs.)

    Examples:
        >>> pattern = torch.zeros(1, 1, 4, 4)
        >>> pattern[0, 0, [0, 1, 2, 3], [0, 0, 0, 1]] = 1.0                  # queries 2, 3 look at their earlier copies
        >>> {k: round(float(v[0]), 4) for k, v in pattern_scores(pattern, torch.tensor([[5, 6, 5, 6]])).items()}
        {'previous_token': 0.3333, 'duplicate_token': 1.0, 'induction': 0.0}
    """
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise ValueError(f"tokens must be integer token ids, got dtype {tokens.dtype}")
    b, n = _token_shape(tokens)
    if pattern.ndim != 4 or pattern.shape[0] != b or pattern.shape[2] != n or pattern.shape[3] != n:
        raise ValueError(f"pattern must be (batch, head, {n}, {n}) for tokens {tuple(tokens.shape)}, got {tuple(pattern.shape)}")
    pattern = at_least_float32(pattern)  # float64 patterns keep float64 scores
    strict = torch.ones(n, n, dtype=torch.bool, device=tokens.device).tril(-1)
    same = (tokens[:, :, None] == tokens[:, None, :]) & strict  # (b, q, k): k < q, same token
    after = torch.zeros_like(same)
    after[:, :, 1:] = same[:, :, :-1]  # key k right after an earlier copy at k - 1 < q
    has_copy = same.any(-1)  # (b, q)

    def masked_mean(mass: Tensor, valid: Tensor) -> Tensor:  # mass (b, h, q), valid (b, q)
        v = valid[:, None, :].to(pattern.dtype)
        return (mass * v).sum((0, 2)) / v.sum((0, 2)).clamp_min(1.0)

    prev = torch.zeros(b, pattern.shape[1], n, dtype=pattern.dtype, device=pattern.device)
    prev[:, :, 1:] = pattern.diagonal(offset=-1, dim1=2, dim2=3)
    q_valid = torch.ones(b, n, dtype=torch.bool, device=tokens.device)
    q_valid[:, 0] = False
    dup = (pattern * same[:, None].to(pattern.dtype)).sum(-1)
    ind = (pattern * after[:, None].to(pattern.dtype)).sum(-1)
    return {"previous_token": masked_mean(prev, q_valid), "duplicate_token": masked_mean(dup, has_copy), "induction": masked_mean(ind, has_copy)}


def previous_token_by_position(pattern: Float[Tensor, "batch head query key"]) -> Float[Tensor, "head query"]:
    """Mean attention from each query position ``q`` to ``q - 1``, per head (column 0 is NaN).

    A previous-token head built from positional embeddings may work only at the
    positions where training needed it; :func:`pattern_scores` averages that away.
    Float64 for a float64 ``pattern``, else float32.

    Examples:
        >>> pattern = torch.eye(4).roll(-1, dims=1).tril()[None, None].repeat(1, 2, 1, 1)
        >>> pattern[:, :, 0, 0] = 1.0
        >>> pattern[0, 1, 2:] = torch.eye(4)[2:]                       # head 1 looks at itself from q = 2 on
        >>> previous_token_by_position(pattern)[:, 1:].tolist()
        [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]
    """
    if pattern.ndim != 4 or pattern.shape[2] != pattern.shape[3]:
        raise ValueError(f"pattern must be (batch, head, query, key) with query == key, got {tuple(pattern.shape)}")
    pattern = at_least_float32(pattern)
    out = torch.full(pattern.shape[1:3], float("nan"), dtype=pattern.dtype, device=pattern.device)
    out[:, 1:] = pattern.diagonal(offset=-1, dim1=2, dim2=3).mean(0)
    return out


def induction_by_key_position(pattern: Float[Tensor, "batch head query key"], tokens: Int[Tensor, "batch pos"]) -> tuple[Float[Tensor, "head pos"], Int[Tensor, " pos"]]:
    """Induction attention grouped by the position of the key it needs.

    For every query whose token occurred exactly once before, at ``s``, the
    induction key is ``s + 1``; entry ``[h, k]`` is head ``h``'s mean attention to
    it over the queries whose key is ``k`` (NaN where there are none), with the
    number of such queries per ``k``. Separates "the head does induction" from
    "it does induction where its keys carry previous-token information". The mass is float64 for a
    float64 ``pattern``, else float32.

    Examples:
        >>> tokens = torch.tensor([[7, 1, 2, 3, 1, 2, 3]])
        >>> pattern = torch.zeros(1, 1, 7, 7)
        >>> pattern[0, 0, torch.arange(7), torch.tensor([0, 0, 0, 0, 2, 3, 3])] = 1.0   # query 6 misses key 4
        >>> mass, count = induction_by_key_position(pattern, tokens)
        >>> mass[0, 2:5].tolist(), count[2:5].tolist()
        ([1.0, 1.0, 0.0], [1, 1, 1])
    """
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise ValueError(f"tokens must be integer token ids, got dtype {tokens.dtype}")
    b, n = _token_shape(tokens)
    if pattern.ndim != 4 or pattern.shape[0] != b or pattern.shape[2] != n or pattern.shape[3] != n:
        raise ValueError(f"pattern must be (batch, head, {n}, {n}) for tokens {tuple(tokens.shape)}, got {tuple(pattern.shape)}")
    same = (tokens[:, :, None] == tokens[:, None, :]) & torch.ones(n, n, dtype=torch.bool, device=tokens.device).tril(-1)
    once = same.sum(-1) == 1  # (b, q)
    key = (same.float().argmax(-1) + 1).clamp_max(n - 1)  # (b, q)
    index = einops.repeat(key, "batch query -> batch head query 1", head=pattern.shape[1])
    mass = at_least_float32(pattern).gather(3, index).squeeze(-1)  # (b, h, q)
    onehot = torch.nn.functional.one_hot(key, n).to(mass.dtype) * once[..., None].to(mass.dtype)  # (b, q, k)
    count = onehot.sum((0, 1))
    total = einops.einsum(mass, onehot, "batch head query, batch query key -> head key")
    return (total / count.clamp_min(1.0)).masked_fill(count == 0, float("nan")), count.long()


def previous_token_reach(prev_by_position: Float[Tensor, "head query"], level: float = 0.5) -> int:
    """Last query position up to which a layer's previous-token attention, summed over heads, stays ≥ ``level``.

    ``prev_by_position`` is :func:`previous_token_by_position` of the layer (column 0
    ignored); 0 when position 1 is already below ``level``. Uniform attention alone
    gives ``n_heads / (q + 1)`` at query ``q``, so an untrained layer of ``H`` heads
    reaches about ``2H − 1``.

    A position where the sum is NaN (a head's pattern was NaN, as in a diverging run) does
    not stay ≥ ``level``: the reach ends before it.

    Examples:
        >>> previous_token_reach(torch.tensor([[float("nan"), 0.9, 0.6, 0.1, 0.9]]))
        2
        >>> previous_token_reach(torch.tensor([[float("nan"), 0.9, float("nan"), 0.9]]))   # NaN at query 2
        1
    """
    if prev_by_position.ndim != 2:
        raise ValueError(f"prev_by_position must be (head, query) from previous_token_by_position, got shape {tuple(prev_by_position.shape)}")
    if not math.isfinite(level):
        raise ValueError(f"level must be a finite number, got {level!r}")
    total = prev_by_position[:, 1:].sum(0)
    below = (~(total >= level)).nonzero()  # NaN is not ≥ level
    return int(below[0]) if len(below) else len(total)


def attention_patterns(model: nn.Module, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "layer batch head query key"]:
    """Every layer's attention pattern on ``tokens`` (no grad; eval mode restored after).

    Examples:
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> patterns = attention_patterns(model, torch.tensor([[1, 2, 3, 1, 2, 3]]))
        >>> tuple(patterns.shape), patterns[:, 0, :, 0, 0].tolist()   # query 0 can only attend to itself
        ((2, 1, 2, 6, 6), [[1.0, 1.0], [1.0, 1.0]])
    """
    check_tokens(model, tokens=tokens)
    bridge = as_bridge(model)
    with eval_mode(model), torch.no_grad():
        names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(bridge.cfg.n_layers)]
        _, cache = bridge.run_with_cache(tokens, names_filter=lambda name: name in names)
        return torch.stack([cache[name] for name in names])


def head_scores(model: nn.Module, tokens: Int[Tensor, "batch pos"], patterns: Float[Tensor, "layer batch head query key"] | None = None) -> dict[str, Float[Tensor, "layer head"]]:
    """:func:`pattern_scores` of every layer on ``tokens``, stacked to ``(layer, head)``.

    ``patterns``: the model's :func:`attention_patterns` on ``tokens``, when already computed.

    Examples:
        >>> import torch
        >>> from bridge.models import TransformerConfig, build_model
        >>> model = build_model(TransformerConfig(d_vocab=8, n_ctx=6, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0)
        >>> scores = head_scores(model, torch.tensor([[1, 2, 3, 1, 2, 3]]))
        >>> tuple(scores["induction"].shape)
        (2, 2)
    """
    patterns = attention_patterns(model, tokens) if patterns is None else patterns
    per_layer = [pattern_scores(p, tokens) for p in patterns]
    return {name: torch.stack([s[name] for s in per_layer]) for name in SCORES}


__all__ = [
    "SCORES", "HeadWeights", "attention_patterns", "composition_baseline", "composition_score", "composition_scores", "copying_scores",
    "head_scores", "head_weights", "induction_by_key_position", "pattern_scores", "previous_token_by_position", "previous_token_reach",
]
