"""Empirical NTK: ``empirical_ntk`` (vmap of jacrev, chunked) vs the full Jacobian by ``torch.autograd.functional.jacobian``.

Model: an MLP ``32 → 128 → 48 → 1`` (10,465 parameters, ReLU) on 1024 Gaussian
inputs; the kernel is ``J Jᵀ`` ``(1024, 1024)``. Methods, each in a fresh process
(so peak memory is its own) after a warm-up on 8 inputs:

* ``empirical_ntk``: per-example Jacobians of 256 inputs at a time, block products.
* ``jacobian + matmul`` (``bridge.estimators.jacobian_ntk``): ``torch.autograd.functional.jacobian``
  of the batched forward w.r.t. the flat parameter vector (one backward pass per
  output row, its default), then ``J Jᵀ``.
* ``jacobian(vectorize=True) + matmul``: the same with its vmap-ed backward passes.
* the bare matrix product ``J @ J.T`` of a given random ``(1024, 10465)`` matrix:
  the floor of any method that forms the whole product (``empirical_ntk`` forms
  only the blocks on and above the diagonal, 10 of 16 at 256 inputs a chunk).

Peak memory is the rise of the process's resident set above its level before the
call (Linux ``VmHWM`` after resetting it through ``/proc/self/clear_refs``).
Times are medians over repeats. Also measured: ``empirical_ntk`` on 4096 inputs
(the ``4096 × 4096`` kernel).

    OMP_NUM_THREADS=1 python benchmarks/bench_ntk.py [--repeats 3] [--no-large]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
import statistics
import time
from pathlib import Path

import torch

D_IN, WIDTHS, N = 32, (128, 48), 1024


def _status(field: str) -> int:
    """A field of ``/proc/self/status`` in bytes."""
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", text).group(1)) * 1024


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _setup(n: int):
    from bridge.models import MLPConfig, build_model

    net = build_model(MLPConfig(d_in=D_IN, d_out=1, widths=WIDTHS), seed=0)
    x = torch.randn(n, D_IN, generator=torch.Generator().manual_seed(0))
    return net, x


def _method(name: str):
    from bridge.estimators import empirical_ntk, jacobian_ntk

    if name == "empirical_ntk":
        return lambda net, x: empirical_ntk(net, x, chunk_size=256)
    if name == "jacobian":
        return lambda net, x: jacobian_ntk(net, x, vectorize=False)
    if name == "jacobian_vectorized":
        return lambda net, x: jacobian_ntk(net, x, vectorize=True)
    if name == "matmul":
        n_params = sum(p.numel() for p in _setup(1)[0].parameters())
        jacobians: dict[int, torch.Tensor] = {}  # drawn once per size, outside the timed calls after the warm-up

        def product(net, x):
            j = jacobians.setdefault(x.shape[0], torch.randn(x.shape[0], n_params, generator=torch.Generator().manual_seed(1)))
            return j @ j.T

        return product
    raise ValueError(name)


def _measure(name: str, n: int, repeats: int, queue) -> None:
    torch.set_num_threads(1)
    net, x = _setup(n)
    fn = _method(name)
    fn(net, x[:8])  # warm-up
    if name == "matmul":
        fn(net, x)  # draws the matrix, so only the product is timed
    base = _status("VmRSS")
    tracked = _reset_peak()
    seconds, kernel = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        kernel = fn(net, x)
        seconds.append(time.perf_counter() - start)
    peak = _status("VmHWM") - base if tracked else float("nan")
    queue.put((statistics.median(seconds), peak, kernel.numpy() if name != "matmul" and n <= N else None))  # numpy: pickled by value


def run(name: str, n: int, repeats: int):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(name, n, repeats, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-large", action="store_true", help="skip the 4096-input kernel")
    args = parser.parse_args()
    torch.set_num_threads(1)
    n_params = sum(p.numel() for p in _setup(1)[0].parameters())
    mb = 2**20
    print(f"MLP {D_IN}→{'→'.join(map(str, WIDTHS))}→1, {n_params} parameters, {N} inputs, 1 thread; full Jacobian {N * n_params * 4 / mb:.1f} MB, kernel {N * N * 4 / mb:.1f} MB")
    results = {name: run(name, N, args.repeats) for name in ("empirical_ntk", "jacobian", "jacobian_vectorized", "matmul")}
    ours_s, ours_mem, ours_k = results["empirical_ntk"]
    flops = 2 * N * N * n_params
    for name, label in (("empirical_ntk", "empirical_ntk (chunk 256)"), ("jacobian", "jacobian + matmul"), ("jacobian_vectorized", "jacobian(vectorize=True) + matmul"), ("matmul", "bare J @ J.T (floor)")):
        s, mem, k = results[name]
        agree = "" if k is None or name == "empirical_ntk" else f"  max rel. diff to empirical_ntk {float(abs(k - ours_k).max() / abs(ours_k).max()):.1e}"
        print(f"  {label:36s} {s:8.3f} s  {s / ours_s:7.1f}x time  peak +{mem / mb:7.1f} MB  ({flops / s / 1e9:5.1f} GFLOP/s of the product){agree}")
    print(f"  time ratio jacobian / empirical_ntk: {results['jacobian'][0] / ours_s:.1f}x; memory ratio {results['jacobian'][1] / ours_mem:.1f}x")
    print(f"  empirical_ntk / bare product: {ours_s / results['matmul'][0]:.2f}x (it multiplies 10/16 of the blocks)")
    if not args.no_large:
        s, mem, _ = run("empirical_ntk", 4 * N, 1)
        print(f"  empirical_ntk on {4 * N} inputs: {s:.1f} s, peak +{mem / mb:.0f} MB (kernel {16 * N * N * 4 / mb:.0f} MB, full Jacobian would be {4 * N * n_params * 4 / mb:.0f} MB)")


if __name__ == "__main__":
    main()
