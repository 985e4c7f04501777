"""The empirical NTK against explicit Jacobian products, closed forms and the infinite-width ReLU kernel."""

import math

import pytest
import torch
from torch import nn

from bridge.estimators import (
    effective_rank,
    empirical_ntk,
    jacobian_ntk,
    kernel_distance,
    kernel_matrix,
    kernel_target_alignment,
    ntk_eigendecomposition,
    top_eigenvalues,
)
from bridge.models import DeepLinearConfig, MLPConfig, TransformerConfig, build_model


def relative_error(a, b):
    return float((a - b).norm() / b.norm())


def sphere(n, d, seed):
    """``n`` points uniform on the sphere of radius √d (so a fan-in-scaled pre-activation has unit variance)."""
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True) * math.sqrt(d)


def arccos_kernels(x):
    """Cho & Saul's arc-cosine kernels of order 0 and 1 for unit-variance pre-activations, and ``x·x'``.

    ``k0 = E[1{u>0} 1{v>0}] = (π − θ)/(2π)``, ``k1 = E[relu(u) relu(v)] = (sin θ + (π − θ) cos θ)/(2π)``,
    ``(u, v)`` standard normals with correlation ``cos θ = x·x'/d``.
    """
    dot = x @ x.T
    cos = (dot / x.shape[1]).clamp(-1, 1)
    theta = torch.arccos(cos)
    return (math.pi - theta) / (2 * math.pi), (torch.sin(theta) + (math.pi - theta) * cos) / (2 * math.pi), dot


class NTKParametrisedNet(nn.Module):
    """``f(x) = aᵀ relu(W x / √d) / √m`` with ``a, W`` standard normal: the NTK parametrisation (test-local)."""

    def __init__(self, d, m, seed):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(m, d, generator=g, dtype=torch.float64))
        self.a = nn.Parameter(torch.randn(1, m, generator=g, dtype=torch.float64))

    def forward(self, x):
        m, d = self.w.shape
        return torch.relu(x @ self.w.T / math.sqrt(d)) @ self.a.T / math.sqrt(m)


# --- exactness ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["trace", "full"])
def test_matches_the_explicit_jacobian_product_on_a_tiny_mlp(reduction):
    net = build_model(MLPConfig(d_in=3, d_out=2, widths=(5, 4), activation="tanh"), seed=0).double()
    with torch.no_grad():
        for layer in net.layers:
            layer.bias.normal_(generator=torch.Generator().manual_seed(1))  # non-zero biases
    x1 = torch.randn(7, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x2 = torch.randn(4, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    reference = jacobian_ntk(net, torch.cat([x1, x2]), output_reduction=reduction)
    if reduction == "trace":  # the trace of the full block kernel, too
        torch.testing.assert_close(reference, torch.einsum("ijaa->ij", jacobian_ntk(net, torch.cat([x1, x2]), output_reduction="full")), rtol=1e-12, atol=0)
    for a, b, ref in ((x1, None, reference[:7, :7]), (x1, x2, reference[:7, 7:])):
        k = empirical_ntk(net, a, b, chunk_size=3, output_reduction=reduction)
        assert k.dtype == torch.float64
        assert relative_error(k, ref) < 1e-6
        torch.testing.assert_close(k, ref, rtol=1e-6, atol=1e-9 * float(ref.abs().max()))


def test_deep_linear_network_kernel_is_its_closed_form():
    # f = W₂W₁x: Θ_ab(x, x') = δ_ab · xᵀW₁ᵀW₁x' + (W₂W₂ᵀ)_ab · x·x'
    net = build_model(DeepLinearConfig(d_in=4, d_hidden=6, d_out=3, init_std=0.7), seed=0).double()
    w1, w2 = (w.detach() for w in net.weights)
    x = torch.randn(9, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    hidden = x @ w1.T @ w1 @ x.T
    expected = torch.einsum("ij,ab->ijab", hidden, torch.eye(3, dtype=torch.float64)) + torch.einsum("ij,ab->ijab", x @ x.T, w2 @ w2.T)
    torch.testing.assert_close(empirical_ntk(net, x, output_reduction="full", chunk_size=4), expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(empirical_ntk(net, x), 3 * hidden + (w2**2).sum() * (x @ x.T), rtol=1e-10, atol=1e-10)


def test_chunked_and_unchunked_paths_agree():
    net = build_model(MLPConfig(d_in=5, d_out=3, widths=(16,), activation="gelu"), seed=1).double()
    x1 = torch.randn(23, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x2 = torch.randn(11, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for reduction in ("trace", "full"):
        whole = empirical_ntk(net, x1, chunk_size=None, output_reduction=reduction)
        torch.testing.assert_close(empirical_ntk(net, x1, chunk_size=7, output_reduction=reduction), whole, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(empirical_ntk(net, x1, x1, chunk_size=5, output_reduction=reduction), whole, rtol=1e-12, atol=1e-12)
        cross = empirical_ntk(net, x1, x2, chunk_size=None, output_reduction=reduction)
        torch.testing.assert_close(empirical_ntk(net, x1, x2, chunk_size=4, output_reduction=reduction), cross, rtol=1e-12, atol=1e-12)
    sym = empirical_ntk(net, x1, chunk_size=7)
    assert torch.equal(sym, sym.T)


def test_vector_outputs_trace_is_the_sum_of_per_output_kernels():
    net = build_model(MLPConfig(d_in=4, d_out=3, widths=(12,)), seed=2).double()
    x = torch.randn(10, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    per_output = [empirical_ntk(net, x, output=lambda out, o=o: out[:, o]) for o in range(3)]
    trace = empirical_ntk(net, x)
    torch.testing.assert_close(trace, sum(per_output), rtol=1e-12, atol=1e-12)
    full = empirical_ntk(net, x, output_reduction="full")
    for o in range(3):
        torch.testing.assert_close(full[:, :, o, o], per_output[o], rtol=1e-12, atol=1e-12)
    assert float((full[:, :, 0, 1] - full[:, :, 1, 0].T).abs().max()) < 1e-12  # Θ(x,x')_ab = Θ(x',x)_ba


def test_parameter_selection_splits_the_kernel_by_layer():
    net = build_model(MLPConfig(d_in=3, d_out=1, widths=(8,)), seed=0).double()
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    parts = [empirical_ntk(net, x, params=[prefix]) for prefix in ("layers.0.", "layers.1.")]
    torch.testing.assert_close(parts[0] + parts[1], empirical_ntk(net, x), rtol=1e-12, atol=1e-12)
    # last layer: ∂f/∂W₂ = relu(h), ∂f/∂b₂ = 1
    hidden = net.run_to(x, "hook_post.0").detach()
    torch.testing.assert_close(parts[1], hidden @ hidden.T + 1, rtol=1e-12, atol=1e-12)


def test_tiny_transformer_kernel_is_its_explicit_jacobian_product():
    cfg = TransformerConfig(d_vocab=5, n_ctx=3, d_model=8, n_heads=2, d_head=4, d_mlp=16, n_layers=2)
    model = build_model(cfg, seed=0)
    tokens = torch.randint(0, 5, (6, 3), generator=torch.Generator().manual_seed(0))
    before = model(tokens).detach()
    last = lambda logits: logits[:, -1]  # noqa: E731
    for output in (None, last):
        k = empirical_ntk(model, tokens, chunk_size=4, output_reduction="full", output=output)
        reference = jacobian_ntk(model, tokens, output_reduction="full", output=output)
        assert relative_error(k, reference) < 1e-5  # float32 model
        torch.testing.assert_close(k, reference, rtol=1e-4, atol=1e-5 * float(reference.abs().max()))
    assert k.shape == (6, 6, 5, 5) and float(kernel_matrix(k).diagonal().min()) > 0
    torch.testing.assert_close(model(tokens), before, rtol=0, atol=0)  # parameters restored, nothing copied


# --- infinite width ----------------------------------------------------------------------------


def test_ntk_parametrised_relu_net_matches_the_arccos_ntk_at_width_4096():
    # Jacot et al. 2018 for f = aᵀrelu(Wx/√d)/√m: Θ = k1 + k0 · x·x'/d (unit-variance pre-activations)
    x = sphere(32, 8, seed=0)
    k0, k1, dot = arccos_kernels(x)
    theory = k1 + k0 * dot / 8
    errors = {m: [relative_error(empirical_ntk(NTKParametrisedNet(8, m, seed), x), theory) for seed in range(8)] for m in (1024, 4096)}
    assert max(errors[4096][:4]) < 0.05, errors[4096]
    # the deviation is finite-width fluctuation: it shrinks as 1/√m (ratio 2 from 1024 to 4096)
    ratio = sum(errors[1024]) / sum(errors[4096])
    assert 1.5 < ratio < 2.7, ratio


def test_library_mlp_in_standard_parametrisation_matches_its_arccos_limit():
    # MLP: W₁ ~ N(0, 1/d), W₂ ~ N(0, 1/m), zero biases (standard parametrisation, not NTK):
    # Θ = Σ_j relu(h_j)relu(h'_j) + 1 + Σ_j W₂ⱼ² 1{h_j>0}1{h'_j>0} (x·x' + 1) → m·k1 + 1 + k0·(x·x' + 1),
    # where the last layer's term grows with m and the first layer's stays O(1).
    m, d = 4096, 8
    x = sphere(32, d, seed=0)
    k0, k1, dot = arccos_kernels(x)
    errors_full, errors_first = [], []
    for seed in range(4):
        net = build_model(MLPConfig(d_in=d, d_out=1, widths=(m,)), seed=seed).double()
        errors_full.append(relative_error(empirical_ntk(net, x), m * k1 + 1 + k0 * (dot + 1)))
        errors_first.append(relative_error(empirical_ntk(net, x, params=["layers.0.weight"]), k0 * dot))
    assert sum(errors_full) / 4 < 0.05, errors_full
    assert sum(errors_first) / 4 < 0.05, errors_first


# --- read-outs ---------------------------------------------------------------------------------


def test_kernel_distance_is_zero_for_equal_kernels_and_scale_invariant():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)
    k0, kt = a @ a.T, b @ b.T
    assert float(kernel_distance(k0, k0)) == pytest.approx(0.0, abs=1e-15)
    assert float(kernel_distance(k0, 7.5 * k0)) == pytest.approx(0.0, abs=1e-15)
    d = float(kernel_distance(k0, kt))
    assert d == pytest.approx(1 - float((k0 * kt).sum() / (k0.norm() * kt.norm())), rel=1e-12)
    assert float(kernel_distance(3 * k0, 0.2 * kt)) == pytest.approx(d, rel=1e-12) and 0 < d < 1
    assert float(kernel_distance(torch.diag(torch.tensor([1.0, 0.0])), torch.diag(torch.tensor([0.0, 2.0])))) == 1.0


def test_alignment_is_one_for_the_target_outer_product():
    y = torch.tensor([0.5, -1.0, 2.0, 0.25], dtype=torch.float64)
    assert float(kernel_target_alignment(torch.outer(y, y), y)) == pytest.approx(1.0, abs=1e-14)
    assert float(kernel_target_alignment(3 * torch.outer(y, y), 2 * y)) == pytest.approx(1.0, abs=1e-14)
    assert float(kernel_target_alignment(torch.eye(4, dtype=torch.float64), y)) == pytest.approx(0.5, abs=1e-14)  # ‖y‖²/(√n ‖y‖²)
    y2 = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(kernel_target_alignment(y2 @ y2.T, y2)) == pytest.approx(1.0, abs=1e-14)
    full = torch.einsum("ia,jb->ijab", y2, y2)  # vec(Y) vec(Y)ᵀ as an (n, n, O, O) kernel
    assert float(kernel_target_alignment(full, y2)) == pytest.approx(1.0, abs=1e-14)


def test_eigendecomposition_top_eigenvalues_and_effective_rank():
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    spectrum = torch.tensor([5.0, 3.0, 1.0, 0.5, 0.0, 0.0], dtype=torch.float64)
    k = q @ torch.diag(spectrum) @ q.T
    values, vectors = ntk_eigendecomposition(k, k=3)
    torch.testing.assert_close(values, spectrum[:3], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(k @ vectors, vectors * values, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(top_eigenvalues(k, 4), spectrum[:4], rtol=1e-12, atol=1e-12)
    assert float(effective_rank(k)) == pytest.approx(float(spectrum.sum() ** 2 / (spectrum**2).sum()), rel=1e-12)
    assert float(effective_rank(torch.eye(7))) == pytest.approx(7.0, rel=1e-12)
    block = torch.einsum("ij,ab->ijab", torch.eye(3), torch.diag(torch.tensor([2.0, 1.0])))
    torch.testing.assert_close(top_eigenvalues(block, 6), torch.tensor([2.0, 2.0, 2.0, 1.0, 1.0, 1.0]))


def test_bad_input_raises_before_any_work():
    net = build_model(MLPConfig(d_in=3, d_out=1, widths=(4,)), seed=0)
    x = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="output_reduction"):
        empirical_ntk(net, x, output_reduction="diag")
    with pytest.raises(ValueError, match="chunk_size"):
        empirical_ntk(net, x, chunk_size=0)
    with pytest.raises(ValueError, match="x2"):
        empirical_ntk(net, x, torch.zeros(2, 5))
    with pytest.raises(ValueError, match="matches no parameter"):
        empirical_ntk(net, x, params=["nope"])
    with pytest.raises(ValueError, match="different shapes"):
        kernel_distance(torch.eye(3), torch.eye(4))
    with pytest.raises(ValueError, match="examples"):
        kernel_target_alignment(torch.eye(3), torch.ones(4))
    with pytest.raises(ValueError, match="square"):
        effective_rank(torch.ones(2, 3))
    with pytest.raises(ValueError, match="k must be"):
        top_eigenvalues(torch.eye(3), 4)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: effective_rank(torch.zeros(3, 3)), "the effective rank of a zero kernel is undefined"),
    (lambda: kernel_distance(torch.eye(3), torch.zeros(3, 3)), "the distance to a zero kernel is undefined"),
    (lambda: kernel_target_alignment(torch.zeros(3, 3), torch.ones(3)), "the alignment of a zero kernel or a zero target is undefined"),
    (lambda: kernel_target_alignment(torch.eye(3), torch.zeros(3)), "the alignment of a zero kernel or a zero target is undefined"),
    (lambda: kernel_target_alignment(torch.zeros(3, 3, 2, 2) + torch.eye(2), torch.ones(3, 3)), "y has 3 outputs per example, the kernel 2"),
    (lambda: ntk_eigendecomposition(torch.eye(3), k=0), "k must be an integer between 1 and the kernel's size 3, got 0"),
])
def test_kernel_read_outs_refuse_a_zero_kernel_or_target_and_mismatched_outputs(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_eigendecomposition_of_a_slightly_asymmetric_kernel_is_that_of_its_symmetric_part():
    """The eigenpairs are those of (K + Kᵀ)/2 (a kernel from rounding is not exactly symmetric), not of one triangle."""
    k = torch.tensor([[2.0, 1.0], [0.0, 2.0]], dtype=torch.float64)  # symmetric part [[2, .5], [.5, 2]]: 2.5 and 1.5
    values, _ = ntk_eigendecomposition(k)
    torch.testing.assert_close(values, torch.tensor([2.5, 1.5], dtype=torch.float64), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(top_eigenvalues(k, 2), torch.tensor([2.5, 1.5], dtype=torch.float64), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(top_eigenvalues(k.T, 1), torch.tensor([2.5], dtype=torch.float64), rtol=1e-12, atol=1e-12)


def test_kernel_distance_is_never_below_zero_for_scaled_copies():
    """1 − cos rounds to −2.2e-16 for about a quarter of scaled copies; the distance is clamped to exactly 0."""
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        a = torch.randn(5, 3, generator=g, dtype=torch.float64)
        for scale in (1.0, 3.0, 0.1, 7.5):
            d = float(kernel_distance(a @ a.T, scale * (a @ a.T)))
            assert 0.0 <= d <= 1e-15


def test_kernel_distance_of_float32_kernels_is_computed_in_float64():
    """A lazily trained kernel moves by ~1e-3 relative, a distance of ~1e-6: float32 sums would lose it (cos is 1 − 1e-6 ± 1e-7)."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(64, 16, generator=g)
    k0 = a @ a.T
    noise = torch.randn(64, 64, generator=g)
    kt = k0 + 2e-3 * k0.norm() / 64 * (noise + noise.T)
    assert k0.dtype == kt.dtype == torch.float32
    reference = float(kernel_distance(k0.double(), kt.double()))
    assert 1e-7 < reference < 1e-4
    assert float(kernel_distance(k0, kt)) == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize(("call", "message"), [
    (lambda net, x: empirical_ntk(net, x, chunk_size=True), "chunk_size must be a positive integer or None, got True"),
    (lambda net, x: ntk_eigendecomposition(torch.eye(3), k=True), "k must be an integer between 1 and the kernel's size 3, got True"),
    (lambda net, x: ntk_eigendecomposition(torch.eye(3), k=1.5), "k must be an integer between 1 and the kernel's size 3, got 1.5"),
    (lambda net, x: top_eigenvalues(torch.eye(3), 2.0), "k must be an integer between 1 and the kernel's size 3, got 2.0"),
])
def test_a_bool_or_float_count_is_refused_by_name(call, message):
    """A bool chunk size ran as chunks of one input, a bool k as one eigenpair, and a float k failed inside slicing."""
    net = build_model(MLPConfig(d_in=3, d_out=1, widths=(4,)), seed=0)
    with pytest.raises(ValueError, match=message):
        call(net, torch.zeros(4, 3))


def test_a_numpy_integer_k_is_a_count():
    import numpy as np

    assert top_eigenvalues(torch.diag(torch.tensor([1.0, 3.0, 2.0])), np.int64(2)).tolist() == [3.0, 2.0]
