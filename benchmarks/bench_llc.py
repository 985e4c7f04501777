"""Learning-coefficient estimation: our vmapped SGLD vs devinterp, same model and settings, one run.

Model: the reduced-rank regression of ``llc-calibration`` (linear network
4 → 3 → 4, rank-1 teacher, whitened inputs) at the teacher-set minimum. Both
estimators run full batch with the same step size, localisation, nβ, number of
chains and draws (no burn-in: devinterp averages over every step). Printed:
wall times, the ratio (target ≥ 3×), and both estimates with their chain
spread; also our vmap path against our loop over chains. Each of the three is
run once on 5 draws before it is timed, so none pays for its first call.

Run: ``python benchmarks/bench_llc.py [--chains 8] [--draws 1000] [--n 1000]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from bridge.estimators.llc import SGLDConfig, default_nbeta, estimate_llc
from bridge.estimators.llc_reference import devinterp_available, devinterp_llc
from bridge.models import DeepLinearConfig, build_model
from bridge.models.deep_linear import set_balanced
from bridge.tasks import LinearTeacherConfig, make_task
from bridge.theory.aoyagi import rrr_learning_coefficient


def shared_model(n: int):
    """The 4 → 3 → 4 linear network set to a rank-1 teacher, and its data."""
    data = make_task(LinearTeacherConfig((1.0,), d_in=4, d_out=4, n_train=n), seed=0)
    net = build_model(DeepLinearConfig(4, 3, 4), seed=0)
    set_balanced(net, data.info["U"], data.info["S"], data.info["V"])
    return net, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    net, data = shared_model(args.n)
    settings = dict(n_chains=args.chains, n_draws=args.draws, step_size=5e-4, gamma=5.0, nbeta=default_nbeta(args.n))
    print(f"model: 4→3→4 linear network, rank-1 teacher, n={args.n}; {args.chains} chains × {args.draws} draws, ε=5e-4, γ=5, nβ=n/ln n; Aoyagi λ = {rrr_learning_coefficient(M=4, N=4, H=3, r=1)}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimate_llc(net, "half_sse", data.train, SGLDConfig(n_burnin=0, **{**settings, "n_draws": 5}), seed=99)  # warm-up
        start = time.perf_counter()
        ours = estimate_llc(net, "half_sse", data.train, SGLDConfig(n_burnin=0, **settings), seed=0)
        t_ours = time.perf_counter() - start
        estimate_llc(net, "half_sse", data.train, SGLDConfig(n_burnin=0, **{**settings, "n_draws": 5}), seed=99, vectorize=False)
        start = time.perf_counter()
        loop = estimate_llc(net, "half_sse", data.train, SGLDConfig(n_burnin=0, **settings), seed=0, vectorize=False)
        t_loop = time.perf_counter() - start
    print(f"mechbridge (vmap over chains): {t_ours:7.2f} s   λ̂ = {ours.mean:.3f} ± {ours.std:.3f} (chain std)")
    print(f"mechbridge (loop over chains): {t_loop:7.2f} s   λ̂ = {loop.mean:.3f} ± {loop.std:.3f}   vmap speed-up {t_loop / t_ours:.2f}×")

    if not devinterp_available():
        print("devinterp is not installed (pip install 'mechbridge[reference]'): reference timing skipped")
        return
    devinterp_llc(net, "half_sse", data.train, seed=99, **{**settings, "n_draws": 5})  # warm-up
    ref = devinterp_llc(net, "half_sse", data.train, seed=0, **settings)
    print(f"devinterp {_version()}:              {ref.seconds:7.2f} s   λ̂ = {ref.mean:.3f} ± {ref.std:.3f}")
    print(f"speed ratio devinterp / mechbridge: {ref.seconds / t_ours:.1f}× (target ≥ 3×)")
    print(f"|λ̂_ours − λ̂_devinterp| = {abs(ours.mean - ref.mean):.3f}, chain spread max(std) = {max(ours.std, ref.std):.3f}")


def _version() -> str:
    from importlib.metadata import version

    return version("devinterp")


if __name__ == "__main__":
    main()
