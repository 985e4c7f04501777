"""Curvature benchmark: Lanczos vs power iteration, the cost of a Hessian-vector product, tracking overhead.

Everything is measured in one run on this machine (1 torch thread):

1. Hessian-vector products (HVPs) and seconds that Lanczos (ARPACK ``eigsh``,
   cold random start) and power iteration (same start; stopped by an oracle the
   moment it is within the target, which favours it) need to reach 1e-3 relative
   accuracy on the top eigenvalue, against a tight reference (``tol=1e-10``).
   Models: the edge-of-stability MLP at its last checkpoint (at the edge, where
   the top of the spectrum is crowded) and a toy transformer at initialisation.
2. One HVP (double backward) in units of one gradient (forward + backward),
   timed in alternating rounds (medians), so both see the same machine load.
3. Overhead of sharpness tracking on the edge-of-stability quick preset: wall
   time of training the three step sizes with the sharpness tracker at every
   step vs without it (loss at checkpoints only, same checkpoints); both are
   run once on 20 steps first, so neither timing pays for the first call, and
   the two alternate step size by step size.

Run: ``python benchmarks/bench_curvature.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bridge.estimators.hessian import hessian_operator, lanczos_top, power_iteration
from bridge.losses import cross_entropy_last
from bridge.models import TransformerConfig, build_model
from bridge.seeding import generator
from bridge.trackers.curvature import SharpnessTracker
from bridge.training.loop import train, with_train
from case_studies.edge_of_stability import PRESETS, EdgeOfStability

TARGET = 1e-3


def lanczos_to_target(op, reference: float, v0: np.ndarray, ncv: int) -> tuple[int, float, float]:
    """Loosest ARPACK tolerance (1e-3, 1e-4, ...) whose answer is within TARGET; HVPs and seconds of that call."""
    for tol in (1e-3, 1e-4, 1e-5, 1e-6, 1e-8):
        before = op.n_hvp
        start = time.perf_counter()
        values, _ = lanczos_top(op, 1, v0=v0, tol=tol, ncv=ncv)
        seconds = time.perf_counter() - start
        err = abs(values[0] - reference) / abs(reference)
        if err <= TARGET:
            return op.n_hvp - before, seconds, err
    return op.n_hvp - before, seconds, err


def krylov_to_target(op, reference: float, v0: np.ndarray, max_iter: int = 500) -> tuple[int, float]:
    """Plain Lanczos recurrence (full reorthogonalisation): products until the top Ritz value is within TARGET."""
    from scipy.linalg import eigh_tridiagonal

    start = time.perf_counter()
    basis = [v0 / np.linalg.norm(v0)]
    alphas: list[float] = []
    betas: list[float] = []
    for m in range(1, max_iter + 1):
        w = op.matvec(basis[-1])
        alphas.append(float(basis[-1] @ w))
        q = np.array(basis)
        w = w - q.T @ (q @ w)
        w = w - q.T @ (q @ w)
        ritz = eigh_tridiagonal(np.array(alphas), np.array(betas), eigvals_only=True)[-1] if betas else alphas[0]
        if abs(ritz - reference) <= TARGET * abs(reference):
            return m, time.perf_counter() - start
        beta = float(np.linalg.norm(w))
        if beta == 0:
            break
        betas.append(beta)
        basis.append(w / beta)
    return max_iter, time.perf_counter() - start


def power_to_target(op, reference: float, v0: np.ndarray, max_iter: int = 20000) -> tuple[int, float, float]:
    before = op.n_hvp
    start = time.perf_counter()
    res = power_iteration(op, v0=v0, max_iter=max_iter, rtol=0.0, stop=lambda v: abs(v - reference) <= TARGET * abs(reference))
    seconds = time.perf_counter() - start
    return op.n_hvp - before, seconds, abs(res.value - reference) / abs(reference)


def compare(name: str, model, x, y, loss_fn, repeats: int) -> None:
    with hessian_operator(model, x, y, loss_fn) as op:
        ref_vals, _ = lanczos_top(op, 2, tol=1e-10, ncv=min(op.shape[0], 60))
        ref = float(ref_vals[0])
        rows = []
        for r in range(repeats):
            v0 = torch.randn(op.shape[0], generator=generator(r), dtype=torch.float64).numpy()
            rows.append((*lanczos_to_target(op, ref, v0, 20), *lanczos_to_target(op, ref, v0, 8), *krylov_to_target(op, ref, v0), *power_to_target(op, ref, v0)))
        # cost of one HVP vs one gradient, in alternating rounds of n calls each
        v = torch.randn(op.shape[0], generator=generator(99), dtype=torch.float64).numpy()
        params = [p for p in model.parameters() if p.requires_grad]
        n, hvp_rounds, grad_rounds = 10, [], []
        for _ in range(7):
            start = time.perf_counter()
            for _ in range(n):
                op.matvec(v)
            hvp_rounds.append((time.perf_counter() - start) / n)
            start = time.perf_counter()
            for _ in range(n):
                torch.autograd.grad(loss_fn(model(x), y), params)
            grad_rounds.append((time.perf_counter() - start) / n)
        hvp_s, grad_s = float(np.median(hvp_rounds)), float(np.median(grad_rounds))
    a = np.array(rows)
    med = np.median(a, axis=0)
    print(f"\n[{name}] {op.shape[0]} parameters, λ1 = {ref:.6g}, λ2/λ1 = {ref_vals[1] / ref:.4f}  (median of {repeats} random starts)")
    print(f"  eigsh, ncv=20 (scipy default):  {med[0]:5.0f} HVPs {med[1] * 1e3:8.1f} ms  (rel. error {med[2]:.1e})")
    print(f"  eigsh, ncv=8 (tracker default): {med[3]:5.0f} HVPs {med[4] * 1e3:8.1f} ms  (rel. error {med[5]:.1e})")
    print(f"  Lanczos recurrence, Ritz value: {med[6]:5.0f} HVPs {med[7] * 1e3:8.1f} ms")
    print(f"  power iteration (oracle stop):  {med[8]:5.0f} HVPs {med[9] * 1e3:8.1f} ms  (rel. error {med[10]:.1e})")
    print(f"  power / Lanczos: {med[8] / med[6]:.1f}x HVPs (recurrence), {med[8] / med[3]:.1f}x HVPs and {med[9] / med[4]:.1f}x time (eigsh ncv=8)")
    print(f"  one HVP = {hvp_s * 1e3:.3f} ms = {hvp_s / grad_s:.2f} gradients (one gradient = {grad_s * 1e3:.3f} ms)")


def tracking_overhead(root: Path) -> tuple[float, float]:
    """Seconds to train the quick preset's step sizes with and without the per-step sharpness tracker."""
    configs = EdgeOfStability().runs(PRESETS["quick"], seed=0).values()

    def trained(cfg, tracked: bool, folder: Path) -> None:
        if not tracked:
            cfg = with_train(cfg, schedule=dataclasses.replace(cfg.train.schedule, track_every=0))
        trackers = [SharpnessTracker(k=1, trace_probes=0, loading=False)] if tracked else []
        train(cfg, folder, trackers=trackers, device="cpu", progress=False)

    first = next(iter(configs))
    for tracked in (False, True):  # warm-up: the first call of each pays its imports
        trained(with_train(first, steps=20), tracked, root / f"warmup_{tracked}")
    times = {False: 0.0, True: 0.0}
    for cfg in configs:  # alternate, so both see the same machine load
        for tracked in (False, True):
            start = time.perf_counter()
            trained(cfg, tracked, root / f"{'tracked' if tracked else 'plain'}_{cfg.train.lr:g}")
            times[tracked] += time.perf_counter() - start
    return times[False], times[True]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain, tracked = tracking_overhead(root)
        print(f"[tracking overhead] edge-of-stability quick preset ({len(PRESETS['quick'].lrs)} step sizes x {PRESETS['quick'].train.steps} steps)")
        print(f"  untracked: {plain:.1f} s   sharpness at every step: {tracked:.1f} s   ratio {tracked / plain:.2f}x")
        from bridge.runs.run import load_run

        run = load_run(root / f"tracked_{PRESETS['quick'].lrs[0]:g}")
        data = run.task_data()
        compare(f"EoS MLP, step {run.steps[-1]}, η={PRESETS['quick'].lrs[0]:g}", run.model_at(run.steps[-1]), data.train.x, data.train.y, data.loss_fn, args.repeats)
    cfg = TransformerConfig(d_vocab=11, n_ctx=6, d_model=32, n_heads=4, d_head=8, n_layers=2, d_mlp=64)
    model = build_model(cfg, seed=0)
    tokens = torch.randint(0, 11, (128, 6), generator=generator(0))
    compare("toy transformer at init, 2 layers", model, tokens, tokens[:, 0], cross_entropy_last, args.repeats)


if __name__ == "__main__":
    main()
