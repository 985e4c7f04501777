"""Eigenlearning against simulated kernel ridge regression and simulated gradient descent."""

import numpy as np
import pytest
import torch

from bridge.theory import eigenlearning as el

M = 1000  # features of the Gaussian design
LAM = np.arange(1, M + 1) ** -1.5  # power-law spectrum
V = np.arange(1, M + 1) ** -0.75  # power-law target coefficients


def simulate_krr(lam, v, n, ridge, noise, draws, seed):
    """Kernel ridge regression with the linear kernel on x ~ N(0, diag(λ)); target Σ vᵢ xᵢ/√λᵢ.

    Returns mean test MSE against the clean target (exact over x), its standard
    error, and mean train MSE against the noisy labels.
    """
    rng = np.random.default_rng(seed)
    beta = v / np.sqrt(lam)
    test, train = [], []
    for _ in range(draws):
        x = rng.standard_normal((n, lam.size)) * np.sqrt(lam)
        y = x @ beta + np.sqrt(noise) * rng.standard_normal(n)
        w = x.T @ np.linalg.solve(x @ x.T + ridge * np.eye(n), y)  # f = K(x, X)(K(X, X) + δI)⁻¹y
        test.append(float(np.sum(lam * (w - beta) ** 2)))
        train.append(float(np.mean((x @ w - y) ** 2)))
    return np.mean(test), np.std(test) / np.sqrt(draws), np.mean(train)


@pytest.mark.parametrize("n", [64, 256])
@pytest.mark.parametrize("ridge", [0.0, 0.1])
@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_test_and_train_mse_match_simulated_kernel_ridge_regression(n, ridge, noise):
    pred = el.predict(LAM, V, n, ridge=ridge, noise=noise)
    test, stderr, train = simulate_krr(LAM, V, n, ridge, noise, draws=100, seed=n + int(10 * ridge) + int(100 * noise))
    assert stderr / test < 0.015  # the simulation resolves a 5% difference
    assert abs(pred.test_mse - test) / test < 0.05, (pred.test_mse, test)
    assert pred.test_mse_noisy == pytest.approx(pred.test_mse + noise, rel=1e-12)
    if ridge == 0:
        assert pred.train_mse == 0.0 and train < 1e-12  # interpolation
    else:
        assert abs(pred.train_mse - train) / train < 0.05, (pred.train_mse, train)


def test_learned_coefficients_average_to_learnabilities():
    n, ridge = 128, 0.05
    pred = el.predict(LAM, V, n, ridge=ridge)
    rng = np.random.default_rng(1)
    beta = V / np.sqrt(LAM)
    learned = []
    for _ in range(40):
        x = rng.standard_normal((n, M)) * np.sqrt(LAM)
        w = x.T @ np.linalg.solve(x @ x.T + ridge * np.eye(n), x @ beta)
        learned.append(w[:8] / beta[:8])  # fraction of each of the top modes learned
    np.testing.assert_allclose(np.mean(learned, axis=0), pred.learnabilities[:8], atol=0.03)


@pytest.mark.parametrize("ridge", [0.0, 1e-6, 0.3, 50.0])
@pytest.mark.parametrize("n", [1, 10, 200, 900])
def test_kappa_solves_the_defining_equation(n, ridge):
    lam = np.concatenate([np.arange(1, M + 1) ** -2.5, [0.0, 0.0]])  # a wide range, plus null modes
    pred = el.predict(lam, np.ones_like(lam), n, ridge=ridge)
    kappa = pred.kappa
    residual = np.sum(lam / (lam + kappa)) + ridge / kappa - n
    assert abs(residual) < 1e-8
    np.testing.assert_allclose(pred.learnabilities, lam / (lam + kappa), rtol=1e-14)
    assert pred.overfitting == pytest.approx(n / (n - np.sum(pred.learnabilities**2)), rel=1e-12)
    if ridge == 0:
        assert abs(pred.learnabilities.sum() - n) < 1e-8


def test_multiplicities_equal_the_expanded_spectrum():
    lam, mult = np.array([2.0, 0.7, 0.1, 0.01]), np.array([1, 6, 15, 20])
    power = np.array([1.0, 0.5, 0.3, 0.2])  # total target power per eigenspace
    grouped = el.predict(lam, np.sqrt(power), n=12, ridge=0.0, noise=0.05, multiplicities=mult)
    rng = np.random.default_rng(0)
    split = [rng.dirichlet(np.ones(m)) * p for m, p in zip(mult, power)]  # any split of the power
    flat = el.predict(el.expand(lam, mult), np.sqrt(np.concatenate(split)), n=12, ridge=0.0, noise=0.05)
    assert grouped.kappa == pytest.approx(flat.kappa, rel=1e-12)
    assert grouped.test_mse == pytest.approx(flat.test_mse, rel=1e-10)
    assert float(np.sum(mult * grouped.learnabilities)) == pytest.approx(12.0, rel=1e-10)


def test_cube_eigenvalues_match_the_dense_kernel_matrix():
    d = 6
    cube = np.array(np.meshgrid(*[[1.0, -1.0]] * d, indexing="ij")).reshape(d, -1).T
    kernel = lambda dot: np.exp(dot / d) + 0.3 * (dot / d) ** 3  # a dot-product kernel
    dense = np.linalg.eigvalsh(kernel(cube @ cube.T) / 2**d)
    per_degree = el.cube_eigenvalues(kernel(d - 2.0 * np.arange(d + 1)))
    expanded = np.sort(el.expand(per_degree, el.cube_multiplicities(d)))
    np.testing.assert_allclose(expanded, dense, atol=1e-12)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="more than n"):
        el.predict([1.0, 0.5, 0.0], [1.0, 1.0, 1.0], n=2)
    with pytest.raises(ValueError, match="target_coefficients"):
        el.predict([1.0, 0.5], [1.0], n=1)
    with pytest.raises(ValueError, match="non-negative"):
        el.predict([1.0, -0.5], [1.0, 1.0], n=1)
    with pytest.raises(ValueError, match="ridge"):
        el.predict([1.0, 0.5], [1.0, 1.0], n=1, ridge=-1.0)
    assert el.predict([1.0, 0.5], [1.0, 1.0], n=5, ridge=0.1).kappa > 0  # a ridge allows n ≥ rank


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
    np.testing.assert_allclose(measured, el.half_times(eig, lr, n, discrete=True), rtol=1e-6)
    np.testing.assert_allclose(measured, el.half_times(eig, lr, n), rtol=0.05)
    steps = np.arange(len(residuals))
    np.testing.assert_allclose(residuals, el.mode_residuals(eig, steps, lr, n), rtol=1e-6, atol=1e-12)
    assert np.all(np.diff(measured) > 0)  # larger eigenvalues are learned first


def test_the_interpolant_is_kernel_descent_at_infinite_time_and_the_minimum_norm_fit():
    rng = np.random.default_rng(3)
    features = rng.standard_normal((40, 6))
    kernel, target = features @ features.T, rng.standard_normal(40)  # rank 6: fewer parameters than the 15 training points
    rows = rng.permutation(40)[:15]
    f = el.interpolant(kernel, rows, target[rows])
    assert f == pytest.approx(el.kernel_descent(kernel, rows, target[rows], 0.5, [np.inf])[0], abs=1e-10)
    reference = kernel[:, rows] @ np.linalg.pinv(kernel[np.ix_(rows, rows)], rcond=1e-12) @ target[rows]
    assert f == pytest.approx(reference, abs=1e-9)
