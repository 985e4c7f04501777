"""The linearised dynamics against simulated gradient descent of models linear in their parameters."""

import numpy as np
import pytest
import torch

from bridge.theory import linearised as lin


def test_half_times_match_gradient_descent_of_a_linear_model():
    """Full-batch GD on (1/2n)‖Xw − y‖²: each Gram eigenmode's residual halves when predicted."""
    n, m, lr = 32, 200, 0.05
    g = torch.Generator().manual_seed(0)
    lam = torch.arange(1, m + 1, dtype=torch.float64) ** -1.0
    x = torch.randn(n, m, generator=g, dtype=torch.float64) * lam.sqrt()
    y = torch.randn(n, generator=g, dtype=torch.float64)
    gram_eigs, vecs = torch.linalg.eigh(x @ x.T)
    modes = [n - 1, n - 2, n - 4, n - 8]  # the largest few Gram eigenvalues
    w = torch.zeros(m, dtype=torch.float64, requires_grad=True)
    residuals = []
    for _ in range(300):
        r = x @ w - y
        residuals.append((vecs[:, modes].T @ r).detach().abs().numpy())
        loss = 0.5 * (r**2).mean()
        (grad,) = torch.autograd.grad(loss, w)
        with torch.no_grad():
            w -= lr * grad
    residuals = np.array(residuals) / residuals[0]
    measured = []
    for j in range(len(modes)):
        below = int(np.argmax(residuals[:, j] <= 0.5))
        a, b = np.log(residuals[below - 1, j]), np.log(residuals[below, j])
        measured.append(below - 1 + (np.log(0.5) - a) / (b - a))  # log-linear between steps
    eig = gram_eigs[modes].numpy()
    assert lr * eig.max() / n < 0.1  # close to gradient flow
    np.testing.assert_allclose(measured, lin.half_times(eig, lr, n, discrete=True), rtol=1e-6)
    np.testing.assert_allclose(measured, lin.half_times(eig, lr, n), rtol=0.05)
    steps = np.arange(len(residuals))
    np.testing.assert_allclose(residuals, lin.mode_residuals(eig, steps, lr, n), rtol=1e-6, atol=1e-12)
    assert np.all(np.diff(measured) > 0)  # larger eigenvalues are learned first


def test_kernel_descent_is_gradient_descent_of_a_linear_model():
    g = np.random.default_rng(0)
    features = g.normal(size=(32, 12))  # a model f = Φ θ linear in 12 parameters on a domain of 32 points
    train, y = np.array([1, 4, 7, 9, 20, 30]), g.normal(size=6)
    lr, theta, out = 0.05, np.zeros(12), []
    for _ in range(41):
        out.append(features @ theta)
        residual = features[train] @ theta - y
        theta = theta - lr * 2 * features[train].T @ residual / len(train)  # mean squared error, no ½
    predicted = lin.kernel_descent(features @ features.T, train, y, 2 * lr, np.arange(41))
    np.testing.assert_allclose(predicted, np.array(out), rtol=1e-9, atol=1e-10)
    with pytest.raises(ValueError, match="diverges"):
        lin.kernel_descent(features @ features.T, train, y, 10.0, [1])


def test_the_interpolant_is_kernel_descent_at_infinite_time_and_the_minimum_norm_fit():
    rng = np.random.default_rng(3)
    features = rng.standard_normal((40, 6))
    kernel, target = features @ features.T, rng.standard_normal(40)  # rank 6: fewer parameters than the 15 training points
    rows = rng.permutation(40)[:15]
    f = lin.interpolant(kernel, rows, target[rows])
    assert f == pytest.approx(lin.kernel_descent(kernel, rows, target[rows], 0.5, [np.inf])[0], abs=1e-10)
    reference = kernel[:, rows] @ np.linalg.pinv(kernel[np.ix_(rows, rows)], rcond=1e-12) @ target[rows]
    assert f == pytest.approx(reference, abs=1e-9)


@pytest.mark.parametrize("fn", [lin.kernel_descent, lin.interpolant])
def test_kernel_descent_and_interpolant_refuse_bad_inputs(fn):
    extra = (0.1, [1]) if fn is lin.kernel_descent else ()
    with pytest.raises(ValueError, match=r"kernel must be square \(N, N\), got shape \(3, 4\)"):
        fn(np.ones((3, 4)), [0, 1], [1.0, 2.0], *extra)
    with pytest.raises(ValueError, match="kernel must be square"):
        fn(np.ones(3), [0, 1], [1.0, 2.0], *extra)
    with pytest.raises(ValueError, match="targets has 3 entries for 2 training rows"):
        fn(np.eye(3), [0, 1], [1.0, 2.0, 3.0], *extra)
    with pytest.raises(ValueError, match=r"train_index must be rows in 0..2 of the kernel, got 5"):
        fn(np.eye(3), [0, 5], [1.0, 2.0], *extra)
    with pytest.raises(ValueError, match=r"train_index must be rows in 0..2 of the kernel, got -1"):
        fn(np.eye(3), [0, -1], [1.0, 2.0], *extra)
    with pytest.raises(ValueError, match="train_index must be integers, got 0.5"):
        fn(np.eye(3), [0, 0.5], [1.0, 2.0], *extra)
    with pytest.raises(TypeError, match="train_index must be integer row indices, got dtype bool"):
        fn(np.eye(3), [True, False, True], [1.0, 2.0, 3.0], *extra)
    with pytest.raises(ValueError, match="train_index is empty"):
        fn(np.eye(3), [], [], *extra)
    assert fn(np.eye(3), np.array([0.0, 2.0]), [1.0, 2.0], *extra) == pytest.approx(fn(np.eye(3), [0, 2], [1.0, 2.0], *extra))


@pytest.mark.parametrize("lr", [-0.1, 0.0, np.inf, np.nan])
def test_kernel_descent_refuses_a_learning_rate_that_is_not_positive(lr):
    with pytest.raises(ValueError, match="lr must be finite and positive"):
        lin.kernel_descent(np.eye(3), [0, 1], [1.0, 2.0], lr, [1])


@pytest.mark.parametrize("fn", [lin.half_times, lin.mode_residuals])
def test_half_times_and_mode_residuals_need_a_positive_rate_and_an_integer_n(fn):
    call = (lambda lr, n: fn([4.0, 1.0], lr, n)) if fn is lin.half_times else (lambda lr, n: fn([4.0, 1.0], [0, 5], lr, n))
    for lr in (-0.1, 0.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="lr must be finite and positive"):
            call(lr, 4)
    for n in (0, -4, 2.5, np.inf):
        with pytest.raises(ValueError, match=r"n \(training points\) must be an integer >= 1"):
            call(0.1, n)
    assert call(0.1, 4.0) == pytest.approx(call(0.1, 4))


def test_discrete_mode_residuals_need_integer_steps_where_the_factor_is_negative():
    with pytest.raises(ValueError, match=r"discrete steps must be integers where 1 − η λ̂/n < 0, got step 2.5"):
        lin.mode_residuals([30.0], [2.5], lr=0.2, n=4)
    np.testing.assert_allclose(lin.mode_residuals([30.0], [2, 3], lr=0.2, n=4)[:, 0], [0.25, -0.125])  # (1 − 1.5)^t
    np.testing.assert_allclose(lin.mode_residuals([4.0], [2.5], lr=0.2, n=4)[:, 0], [0.8**2.5])  # a positive factor takes any t
    assert np.isfinite(lin.mode_residuals([30.0], [2.5], lr=0.2, n=4, discrete=False)).all()


def test_kernel_descent_needs_whole_steps_where_the_factor_is_negative():
    kernel = np.diag([6.0, 1.0])  # one training point of eigenvalue 6: η λ̂/n = 1.5 at η = 0.25
    with pytest.raises(ValueError, match=r"steps must be whole numbers where 1 − η λ̂/n < 0 .*got step 2.5"):
        lin.kernel_descent(kernel, [0], [1.0], lr=0.25, steps=[0, 2.5])
    f = lin.kernel_descent(kernel, [0], [1.0], lr=0.25, steps=[0, 1, 2, np.inf])
    np.testing.assert_allclose(f[:, 0], [0.0, 1.5, 0.75, 1.0])  # 1 − (−0.5)^t, then the interpolant
    np.testing.assert_allclose(lin.kernel_descent(kernel, [0], [1.0], lr=0.1, steps=[2.5])[0, 0], 1 - 0.4**2.5)  # a positive factor takes any t


@pytest.mark.parametrize("discrete", [False, True])
def test_a_zero_eigenvalue_never_halves_while_the_others_keep_their_half_times(discrete):
    """Half-times of [2, 0] at η = 0.1, n = 2: the zero mode is never learned (inf); the other is n ln 2/(η λ̂) or ln 2/−ln(1 − η λ̂/n)."""
    out = lin.half_times([2.0, 0.0], lr=0.1, n=2, discrete=discrete)
    first = np.log(2) / -np.log1p(-0.1) if discrete else 2 * np.log(2) / 0.2
    assert out[0] == pytest.approx(first, rel=1e-12)
    assert out[1] == np.inf


@pytest.mark.parametrize(("call", "message"), [
    (lambda: lin.half_times([4.0, np.nan], lr=0.1, n=4), "gram_eigenvalues must be finite, got nan"),
    (lambda: lin.mode_residuals([4.0], [0, -1], lr=0.1, n=4), r"steps must be non-negative \(inf for the limit\), got -1.0"),
    (lambda: lin.mode_residuals([4.0], [np.nan], lr=0.1, n=4, discrete=False), r"steps must be non-negative \(inf for the limit\), got nan"),
    (lambda: lin.kernel_descent(np.eye(3), [0], [1.0], 0.5, [-1]), r"steps must be non-negative \(inf for the limit\), got -1.0"),
    (lambda: lin.kernel_descent(np.full((2, 2), np.nan), [0], [1.0], 0.5, [1]), "kernel must be finite"),
    (lambda: lin.interpolant(np.array([[1.0, np.inf], [np.inf, 1.0]]), [0], [1.0]), "kernel must be finite"),
    (lambda: lin.kernel_descent(np.eye(3), [0, 1], [1.0, np.nan], 0.5, [1]), "targets must be finite, got nan"),
    (lambda: lin.kernel_descent(np.eye(3), [0], [1.0], 2.0, [1]), "η λ̂/n ≥ 2 diverges"),  # factor exactly −1: never settles
    (lambda: lin.interpolant(np.eye(3), [0, 1], [-np.inf, 1.0]), "targets must be finite, got -inf"),
])
def test_linearised_dynamics_refuse_input_outside_their_domain_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_interpolant_fits_a_training_point_whose_gram_eigenvalue_is_tiny():
    """Gram eigenvalues 1 and 1e-8: the pseudo-inverse keeps the small one (cut at 1e-12 of the largest), so both points are fitted."""
    kernel = np.diag([1.0, 1e-8, 1.0])
    f = lin.interpolant(kernel, [0, 1], [1.0, -2.0])
    np.testing.assert_allclose(f, [1.0, -2.0, 0.0], rtol=1e-9, atol=1e-12)
    late = lin.kernel_descent(kernel, [0, 1], [1.0, -2.0], lr=1.0, steps=[np.inf])[0]
    np.testing.assert_allclose(late, f, rtol=1e-9, atol=1e-12)


def test_discrete_half_times_refuse_a_rate_of_exactly_one():
    with pytest.raises(ValueError, match="η λ̂/n ≥ 1 does not decay monotonically"):
        lin.half_times([4.0, 1.0], lr=1.0, n=4, discrete=True)


@pytest.mark.parametrize("fn", ["interpolant", "kernel_descent"])
def test_a_training_gram_matrix_that_is_not_positive_semi_definite_is_refused(fn):
    """An indefinite or negative "kernel" had its negative modes dropped (all of them: zeros everywhere) without a word;
    a float32 kernel's rounding (negative eigenvalues near 1e-8 of the largest) is still taken."""
    call = (lambda k: lin.interpolant(k, [0, 1, 2], [1.0, -1.0, 0.5])) if fn == "interpolant" else (lambda k: lin.kernel_descent(k, [0, 1, 2], [1.0, -1.0, 0.5], 0.1, [5]))
    for bad in (-np.eye(4) - 1, np.diag([2.0, -0.5, 1.0, 1.0])):
        with pytest.raises(ValueError, match=r"training Gram matrix .* is not positive semi-definite \(eigenvalues from -"):
            call(bad)
    x = np.random.default_rng(0).normal(size=(4, 2))
    rank_two = (x @ x.T).astype(np.float32).astype(float)  # PSD of rank 2: two eigenvalues are rounding, either sign
    assert np.linalg.eigvalsh(rank_two[:3, :3]).min() < 1e-6 * np.linalg.eigvalsh(rank_two[:3, :3]).max()
    assert np.all(np.isfinite(call(rank_two)))
