"""Loss floors of the repeated-token task with a Markov background: what a bigram stage can reach.

With ``background="bigram"`` the distinct tokens of a sequence (its prefix and
the block's first copy) are drawn from a Markov chain ``T``, each step
renormalised over the tokens not yet used. On those first-occurrence targets two
predictors bound what a model can learn before it does induction:

* **chain**: ``−log T[x_{j−1}, x_j]``, the loss of a predictor that knows the chain
  and reads only the previous token (a bigram table in the direct path
  ``W_E W_U`` can represent it);
* **Bayes**: ``−log T̃_j[x_{j−1}, x_j]`` with ``T̃_j`` the chain renormalised over the
  tokens unused before ``j``, the sampler's own probability: no predictor does
  better on average.

The Bayes floor is below the chain loss (renormalising only raises the
probability of the token drawn). The best predictor that reads only the
previous token lies between them.

Examples:
    >>> import torch
    >>> tokens = torch.tensor([[0, 1, 2]])
    >>> uniform = torch.full((4, 4), 0.25)
    >>> floors = bigram_floors(tokens, uniform, torch.tensor([[False, True, True]]))
    >>> round(floors["chain"], 4), round(floors["bayes"], 4)   # ln 4; (ln 3 + ln 2) / 2
    (1.3863, 0.8959)
"""

from __future__ import annotations

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor


def bigram_losses(tokens: Int[Tensor, "batch pos"], transition: Float[Tensor, "vocab vocab"]) -> dict[str, Float[Tensor, "batch pos"]]:
    """Per-target losses of the chain and Bayes predictors (column 0, never a target, is NaN).

    Args:
        tokens: ``(batch, pos)`` sequences of the task.
        transition: ``(V, V)`` row-stochastic chain, ``transition[a, b] = P(b | a)``.

    Returns:
        ``{"chain": (batch, pos), "bayes": (batch, pos)}``. The Bayes entry at ``j`` is
        the loss under the chain renormalised over the tokens unused before ``j``
        (``inf`` where the target was already used, those are not first occurrences, or where
        the chain gives it probability 0).

    Raises:
        TypeError: ``tokens`` not integers.
        ValueError: shapes that do not fit, no token, a token outside the vocabulary, or ``transition``
            not a chain (entries not finite and non-negative, or a row not summing to 1).

    Examples:
        >>> out = bigram_losses(torch.tensor([[0, 1, 2]]), torch.full((4, 4), 0.25))
        >>> out["chain"][0, 1:].round(decimals=4).tolist(), out["bayes"][0, 1:].round(decimals=4).tolist()   # ln 4; ln 3, ln 2
        ([1.3863, 1.3863], [1.0986, 0.6931])
    """
    if tokens.ndim != 2 or transition.ndim != 2 or transition.shape[0] != transition.shape[1]:
        raise ValueError(f"bigram_losses needs (batch, pos) tokens and a (V, V) chain, got {tuple(tokens.shape)} and {tuple(transition.shape)}")
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise TypeError(f"tokens must be integer token ids, got dtype {tokens.dtype}")
    if tokens.numel() == 0:
        raise ValueError(f"tokens is empty, shape {tuple(tokens.shape)}")
    rows_sum = transition.double().sum(1)
    if not (bool(torch.isfinite(transition).all()) and bool((transition >= 0).all()) and bool(torch.allclose(rows_sum, torch.ones_like(rows_sum), atol=1e-4))):
        raise ValueError(f"transition must be row-stochastic (finite, non-negative, rows summing to 1), got row sums {rows_sum.tolist()[:4]}")
    if int(tokens.max()) >= transition.shape[0] or int(tokens.min()) < 0:
        raise ValueError(f"tokens must lie in [0, {transition.shape[0]}), got [{int(tokens.min())}, {int(tokens.max())}]")
    tokens = tokens.long()  # uint8 ids would index as a boolean mask
    n, length = tokens.shape
    logt = transition.double().log()
    prev, nxt = tokens[:, :-1], tokens[:, 1:]
    chain = -logt[prev, nxt]
    used = torch.zeros(n, transition.shape[0], dtype=torch.bool, device=tokens.device)
    rows = torch.arange(n, device=tokens.device)
    bayes = torch.empty(n, length - 1, dtype=torch.float64, device=tokens.device)
    for j in range(1, length):
        used[rows, tokens[:, j - 1]] = True
        p = transition[tokens[:, j - 1]].double().masked_fill(used, 0.0)
        target = p[rows, tokens[:, j]]
        # a target of probability 0 (used before, or given 0 by the chain) costs inf, even when no unused token is left
        bayes[:, j - 1] = torch.where(target > 0, -(target / p.sum(1)).log(), torch.inf)
    nan = torch.full((n, 1), float("nan"), dtype=torch.float64, device=tokens.device)
    return {"chain": torch.cat([nan, chain], 1), "bayes": torch.cat([nan, bayes], 1)}


def bigram_floors(tokens: Int[Tensor, "batch pos"], transition: Float[Tensor, "vocab vocab"], mask: Bool[Tensor, "batch pos"]) -> dict[str, float]:
    """Mean :func:`bigram_losses` over ``mask`` (the first-occurrence targets): ``{"chain", "bayes"}`` in nats.

    Args:
        tokens: ``(batch, pos)`` sequences of the task.
        transition: ``(V, V)`` row-stochastic chain.
        mask: ``(batch, pos)``, the targets to average over (column 0 is ignored).

    Raises:
        TypeError: ``mask`` not boolean.
        ValueError: ``mask`` of another shape than ``tokens``, or selecting no target; see also :func:`bigram_losses`.

    Examples:
        >>> tokens, uniform = torch.tensor([[0, 1, 2]]), torch.full((4, 4), 0.25)
        >>> round(bigram_floors(tokens, uniform, torch.tensor([[False, False, True]]))["bayes"], 4)   # ln 2
        0.6931
    """
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be boolean, got dtype {mask.dtype}")
    if mask.shape != tokens.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} differs from tokens {tuple(tokens.shape)}")
    if not bool(mask[:, 1:].any()):
        raise ValueError("bigram_floors: the mask selects no target (column 0 is never one)")
    mask = mask.clone()
    mask[:, 0] = False
    losses = bigram_losses(tokens, transition)
    return {name: float(v[mask].mean()) for name, v in losses.items()}


__all__ = ["bigram_floors", "bigram_losses"]
