"""Which CPU float rounding a page's seed-0 numbers were measured under.

The quick runs of edge-of-stability, induction-heads, kernel-limit, quanta and grokking train long enough for a
difference in the last bit of a matrix product or an exponential (AVX2 against AVX-512 kernels in MKL, torch's own
vectorised kernels, OpenBLAS in NumPy) to grow into a different third digit: the same commit printed 0.890 on one
CPU and 0.893 on another, and a grokking step of 1692 against 1556 (and, in quanta and induction-heads, which claims
pass and which head of a layer becomes the induction head). Their pages quote one CPU's numbers, so their page checks
compare the seed-0 verdict (and what came out alike on both CPUs) everywhere, and digits only where
:func:`fingerprint` (a hash of float32 and float64 results of those kernels) is one :data:`REFERENCE` lists for the page; elsewhere
they skip there, naming this CPU's fingerprint. The other pages' numbers were the same on both CPUs and are always
checked.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

REFERENCE: dict[str, frozenset[str]] = {  # page → fingerprints of the CPUs whose quick runs print its numbers
    "case_studies/edge-of-stability.md": frozenset({"e4059ef80fe3598b"}),
    "case_studies/grokking.md": frozenset({"e4059ef80fe3598b"}),
    "case_studies/induction-heads.md": frozenset({"e4059ef80fe3598b"}),
    "case_studies/kernel-limit.md": frozenset({"e4059ef80fe3598b"}),
    "case_studies/quanta.md": frozenset({"e4059ef80fe3598b"}),
}


def fingerprint() -> str:
    """16 hex digits hashing thirty Adam steps of a small attention block (float32, one thread) and NumPy's eigh, lstsq
    and exp: equal on two machines whose kernels round alike."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(64, 12, 24, generator=g, dtype=torch.float32)
        y = torch.randint(0, 24, (64, 12), generator=g)
        w = [torch.nn.Parameter(torch.randn(24, 24, generator=g, dtype=torch.float32) / 5) for _ in range(4)]
        norm = torch.nn.LayerNorm(24, dtype=torch.float32)
        opt = torch.optim.Adam(w + list(norm.parameters()), lr=1e-2)
        causal = torch.triu(torch.full((12, 12), -1e9), 1)
        for _ in range(30):
            a = torch.softmax((x @ w[0]) @ (x @ w[1]).transpose(1, 2) / 24**0.5 + causal, -1)
            h = norm(x + torch.nn.functional.gelu(a @ (x @ w[2])))
            loss = torch.nn.functional.cross_entropy((torch.tanh(h) @ w[3]).reshape(-1, 24), y.reshape(-1)) + (h.exp().mean() - 1) ** 2
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    m = np.random.default_rng(0).standard_normal((37, 37))
    parts = [p.detach().numpy().tobytes() for p in w] + [np.linalg.eigh(m @ m.T)[0].tobytes(), np.linalg.lstsq(m[:, :20], m[:, 0], rcond=None)[0].tobytes(), np.exp(m).sum().tobytes()]
    return hashlib.sha256(b"".join(parts)).hexdigest()[:16]


def require_reference_rounding(page: str) -> None:
    """Skip the calling test unless this CPU rounds as the one ``page``'s numbers were measured on."""
    here, reference = fingerprint(), REFERENCE.get(page, frozenset())
    if here not in reference:
        pytest.skip(f"{page} quotes numbers measured on a CPU whose float rounding this one does not reproduce (fingerprint {here}, "
                    f"reference {', '.join(sorted(reference)) or 'not recorded'}); its digits are compared on that CPU only")
