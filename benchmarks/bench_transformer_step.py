"""Toy transformer training step: TransformerLens-native model vs the same architecture in bare PyTorch.

Measured in one run, one torch thread:

1. ms per full-batch AdamW step of the grokking quick preset's transformer
   (``bridge.models.build_model``) and of a bare-PyTorch copy with the same
   weights (outputs checked equal first), and their ratio;
2. the step's FLOPs (counted from the architecture), its achieved FLOP/s, and
   the ratio to the machine's measured fp32 matmul rate (a large square
   matmul timed in the same run).

Usage: ``python benchmarks/bench_transformer_step.py [--steps 30] [--p 59]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from bridge.models import TransformerConfig, build_model
from bridge.tasks import make_task
from bridge.tasks.modular import ModularConfig


class BareTransformer(nn.Module):
    """One-layer attention + ReLU MLP, no LayerNorm, learned positions, untied embed/unembed (Nanda et al.)."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        d, h, dh = cfg.d_model, cfg.n_heads, cfg.d_head
        self.cfg = cfg
        self.embed = nn.Parameter(torch.empty(cfg.d_vocab, d))
        self.pos = nn.Parameter(torch.empty(cfg.n_ctx, d))
        self.q, self.k, self.v = (nn.Linear(d, h * dh) for _ in range(3))
        self.o = nn.Linear(h * dh, d)
        self.mlp_in, self.mlp_out = nn.Linear(d, cfg.d_mlp), nn.Linear(cfg.d_mlp, d)
        self.unembed = nn.Linear(d, cfg.d_vocab_out or cfg.d_vocab)
        self.register_buffer("mask", torch.triu(torch.ones(cfg.n_ctx, cfg.n_ctx, dtype=torch.bool), 1))

    def load_from(self, state: dict[str, torch.Tensor]) -> BareTransformer:
        names = {
            "embed": "embed.weight", "pos": "pos_embed.weight",
            "q.weight": "blocks.0.attn.q.weight", "q.bias": "blocks.0.attn.q.bias",
            "k.weight": "blocks.0.attn.k.weight", "k.bias": "blocks.0.attn.k.bias",
            "v.weight": "blocks.0.attn.v.weight", "v.bias": "blocks.0.attn.v.bias",
            "o.weight": "blocks.0.attn.o.weight", "o.bias": "blocks.0.attn.o.bias",
            "mlp_in.weight": "blocks.0.mlp.in.weight", "mlp_in.bias": "blocks.0.mlp.in.bias",
            "mlp_out.weight": "blocks.0.mlp.out.weight", "mlp_out.bias": "blocks.0.mlp.out.bias",
            "unembed.weight": "unembed.weight", "unembed.bias": "unembed.bias",
        }  # fmt: skip
        self.load_state_dict({mine: state[theirs].clone() for mine, theirs in names.items()} | {"mask": self.mask})
        return self

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, n = tokens.shape
        h, dh = self.cfg.n_heads, self.cfg.d_head
        x = self.embed[tokens] + self.pos[:n]
        q, k, v = (lin(x).view(b, n, h, dh).transpose(1, 2) for lin in (self.q, self.k, self.v))
        scores = (q @ k.transpose(-1, -2)) / dh**0.5
        scores = scores.masked_fill(self.mask[:n, :n], float("-inf"))
        z = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, h * dh)
        x = x + self.o(z)
        x = x + self.mlp_out(F.relu(self.mlp_in(x)))
        return self.unembed(x)


def step_flops(cfg: TransformerConfig, batch: int) -> float:
    """Matmul FLOPs of one forward+backward pass (backward counted as twice the forward)."""
    n, d, hd = cfg.n_ctx, cfg.d_model, cfg.n_heads * cfg.d_head
    per_token = 2 * d * hd * 4 + 2 * 2 * d * cfg.d_mlp + 2 * d * (cfg.d_vocab_out or cfg.d_vocab) + 2 * 2 * n * hd
    return 3.0 * per_token * n * batch


def time_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> list[float]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x)[:, -1, :], y)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times


def matmul_rate(n: int = 1024, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2.0 * n**3 / best


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--p", type=int, default=59)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    p = args.p
    cfg = TransformerConfig(d_vocab=p + 1, n_ctx=3, d_model=64, n_heads=4, d_head=16, n_layers=1, d_mlp=256, d_vocab_out=p, act_fn="relu")
    data = make_task(ModularConfig(p=p, train_fraction=0.4), seed=0)
    x, y = data.train.x, data.train.y
    lens = build_model(cfg, seed=0)
    bare = BareTransformer(cfg).load_from(lens.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(bare(x), lens(x), atol=1e-4, rtol=1e-4)
    lens_t, bare_t = [], []
    for _ in range(3):  # interleave so load changes hit both alike
        lens_t += time_steps(lens, x, y, args.steps)[2:]
        bare_t += time_steps(bare, x, y, args.steps)[2:]
    lens_ms, bare_ms = 1e3 * statistics.median(lens_t), 1e3 * statistics.median(bare_t)
    flops = step_flops(cfg, len(y))
    peak = matmul_rate()
    out = {
        "bridge_ms_per_step": lens_ms,
        "bare_ms_per_step": bare_ms,
        "bridge_over_bare": lens_ms / bare_ms,
        "step_gflop": flops / 1e9,
        "bridge_gflops": flops / lens_ms / 1e6,
        "bare_gflops": flops / bare_ms / 1e6,
        "matmul_gflops": peak / 1e9,
    }
    out["bridge_fraction_of_matmul"] = out["bridge_gflops"] / out["matmul_gflops"]
    out["bare_fraction_of_matmul"] = out["bare_gflops"] / out["matmul_gflops"]
    print(f"toy transformer (p={p}, batch {len(y)}×3 tokens, d_model 64, d_mlp 256), AdamW full-batch step, 1 thread")
    print(f"  TransformerLens-native bridge: {lens_ms:7.2f} ms/step   ({out['bridge_gflops']:.2f} GFLOP/s)")
    print(f"  bare PyTorch, same weights:    {bare_ms:7.2f} ms/step   ({out['bare_gflops']:.2f} GFLOP/s)")
    print(f"  ratio bridge / bare:           {out['bridge_over_bare']:.2f}×")
    print(f"  step FLOPs {out['step_gflop']:.3f} GFLOP; fp32 1024² matmul: {out['matmul_gflops']:.1f} GFLOP/s")
    print(f"  fraction of matmul rate: bridge {out['bridge_fraction_of_matmul']:.1%}, bare {out['bare_fraction_of_matmul']:.1%}")
    return out


if __name__ == "__main__":
    main()
