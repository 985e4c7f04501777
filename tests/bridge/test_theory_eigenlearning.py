"""Eigenlearning against simulated kernel ridge regression and simulated gradient descent."""

import re

import numpy as np
import pytest

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


@pytest.mark.parametrize(("ridge", "noise"), [(0.0, 0.0), (0.3, 0.0), (0.0, 0.05), (1.0, 0.2)])
def test_elasticity_is_the_log_derivative_of_the_predicted_test_mse(ridge, noise):
    """Against central differences of log(test MSE) in log λⱼ, on a power law in groups of modes."""
    lam, power, mult, n = LAM[:40] ** 0.5, V[:40] ** 2, np.arange(1, 41.0), 90
    out = el.elasticity(lam, np.sqrt(power), n, ridge, noise, mult)
    h, fd = 1e-5, []
    for j in range(lam.size):
        up, down = lam.copy(), lam.copy()
        up[j], down[j] = lam[j] * np.exp(h), lam[j] * np.exp(-h)
        fd.append((np.log(el.predict(up, np.sqrt(power), n, ridge, noise, mult).test_mse) - np.log(el.predict(down, np.sqrt(power), n, ridge, noise, mult).test_mse)) / (2 * h))
    np.testing.assert_allclose(out, fd, rtol=1e-5, atol=1e-9)
    assert np.abs(out).max() > 0.01  # not a trivial zero
    if ridge == 0:
        assert out.sum() == pytest.approx(0.0, abs=1e-10)  # a kernel scaled as a whole predicts the same
    else:
        assert out.sum() < -1e-3  # scaling the kernel up is lowering the ridge


def test_elasticity_of_a_target_on_one_mode_is_negative_only_on_that_mode_and_a_zero_prediction_is_refused():
    lam, mult, target = [1.0, 0.1, 0.01], [1, 5, 25], [0.0, 0.0, 1.0]
    for n in (4, 8, 16):
        e = el.elasticity(lam, target, n, multiplicities=mult)
        assert e[2] < -0.1 and e[0] > 0 and e[1] > 0  # raising another mode's eigenvalue takes learning from the target's
    with pytest.raises(ValueError, match="zero"):
        el.elasticity([1.0, 0.5], [0.0, 0.0], n=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": np.inf, "ridge": 0.1}, r"n \(training points\) must be finite and >= 1, got inf"),
        ({"n": np.nan, "ridge": 0.1}, r"n \(training points\) must be finite and >= 1"),
        ({"n": 0.5}, r"n \(training points\) must be finite and >= 1, got 0.5"),
        ({"n": 1, "ridge": np.inf}, "ridge must be finite and non-negative, got inf"),
        ({"n": 1, "ridge": np.nan}, "ridge must be finite and non-negative"),
        ({"n": 1, "noise": np.inf}, r"noise \(a variance\) must be finite and non-negative, got inf"),
        ({"n": 1, "noise": -0.1}, r"noise \(a variance\) must be finite and non-negative"),
    ],
)
def test_predict_refuses_non_finite_or_out_of_range_scalars(kwargs, message):
    with pytest.raises(ValueError, match=message):
        el.predict([1.0, 0.5, 0.1], [1.0, 1.0, 1.0], **kwargs)


def test_predict_refuses_non_finite_coefficients_and_eigenvalues():
    with pytest.raises(ValueError, match="target_coefficients must be finite"):
        el.predict([1.0, 0.5, 0.1], [1.0, np.nan, 1.0], n=1)
    with pytest.raises(ValueError, match="target_coefficients must be finite"):
        el.elasticity([1.0, 0.5, 0.1], [1.0, np.inf, 1.0], n=1)
    with pytest.raises(ValueError, match="eigenvalues must be finite and non-negative"):
        el.predict([1.0, np.nan, 0.1], [1.0, 1.0, 1.0], n=1)


@pytest.mark.parametrize("values", [np.ones((3, 3)), np.ones((3, 1)), [], [2.0]])
def test_cube_eigenvalues_need_one_value_per_distance(values):
    with pytest.raises(ValueError, match=rf"kernel_by_distance must be 1-D, K\(h\) for h = 0 … d with d ≥ 1, got shape {re.escape(str(np.shape(values)))}"):
        el.cube_eigenvalues(values)


def test_learnability_of_needs_one_learnability_per_eigenfunction_and_one_value_per_point():
    lam, v, phi = el.domain_spectrum(np.diag([4.0, 2.0, 1.0, 0.5]), np.ones(4))
    with pytest.raises(ValueError, match="prediction has 2 learnabilities for 4 eigenfunctions"):
        el.learnability_of(el.predict([1.0, 1.0], [1.0, 0.0], n=1), phi, np.ones(4))
    out = el.predict(lam, v, n=2)
    with pytest.raises(ValueError, match=r"eigenfunctions must be \(N, modes\) for a function on N = 3 points, got shape \(4, 4\)"):
        el.learnability_of(out, phi, np.ones(3))
    with pytest.raises(ValueError, match=r"eigenfunctions must be \(N, modes\)"):
        el.learnability_of(out, phi[:, 0], np.ones(4))
    assert el.learnability_of(out, phi, np.array([2.0, 0.0, 0.0, 0.0])) == pytest.approx(float(out.learnabilities[0]))


@pytest.mark.parametrize("kwargs, message", [({"n": float("inf")}, "n must be positive and finite"), ({"n": 2, "ridge": float("inf")}, "ridge must be non-negative and finite"), ({"n": 0}, "n must be positive")])
def test_effective_regularisation_refuses_infinite_or_non_positive_scalars(kwargs, message):
    from bridge.theory.eigenlearning import effective_regularisation

    with pytest.raises(ValueError, match=message):
        effective_regularisation([1.0, 0.5, 0.25, 0.125], **kwargs)


def test_expected_fraction_of_a_term_matches_kernel_regression_when_the_eigenfunctions_mix_the_terms():
    """Target g1 + g2/2 with g1, g2 = (φ₀ ± φ₅)/√2 of a power-law kernel: the other term leaks into each coefficient."""
    rng = np.random.default_rng(0)
    size, n, draws = 128, 32, 2000
    q, _ = np.linalg.qr(rng.standard_normal((size, size)))
    kernel = (q * np.arange(1, size + 1) ** -1.5) @ q.T * size
    phi = q * np.sqrt(size)
    g1, g2 = (phi[:, 0] + phi[:, 5]) / np.sqrt(2), (phi[:, 0] - phi[:, 5]) / np.sqrt(2)
    target = g1 + 0.5 * g2
    lam, v, eig = el.domain_spectrum(kernel, target)
    out = el.predict(lam, v, n)
    simulated = np.zeros(2)
    for _ in range(draws):
        rows = rng.choice(size, n, replace=False)
        learned = kernel[:, rows] @ np.linalg.solve(kernel[np.ix_(rows, rows)], target[rows])
        simulated += [g @ learned / (g @ target) for g in (g1, g2)]
    simulated /= draws
    expected = [el.expected_fraction(out, eig, v, g) for g in (g1, g2)]
    assert expected == pytest.approx(simulated, abs=0.004)  # 0.9557, 1.0548 against 0.9549, 1.0555 (s.e. 0.0003, 0.0007)
    assert abs(el.learnability_of(out, eig, g1) - simulated[0]) > 0.03  # each term alone: 0.923, without the leak
    with pytest.raises(ValueError, match="orthogonal to the target"):
        el.expected_fraction(out, eig, v, (phi[:, 0] - 3 * phi[:, 5]) / np.sqrt(10))
    with pytest.raises(ValueError, match="need one target coefficient and one learnability per eigenfunction"):
        el.expected_fraction(out, eig, v[:3], g1)


@pytest.mark.parametrize(("lam", "mult", "n", "ridge"), [
    (0.01, 1, 4, 1.0),  # more points than modes: the ridge alone holds κ up
    (1.0, 1, 2, 0.3),
    (0.5, 5, 1, 2.0),
    (1.0, 10, 2, 0.0),  # ridgeless: κ = λ(m − n)/n
    (2.0, 50, 3, 0.0),
])
def test_kappa_of_a_single_eigenvalue_level_is_the_positive_root_of_its_quadratic(lam, mult, n, ridge):
    """m λ/(λ + κ) + δ/κ = n is n κ² + (nλ − mλ − δ) κ − δλ = 0; κ is its positive root to near machine precision."""
    b = n * lam - mult * lam - ridge
    expected = (-b + np.sqrt(b * b + 4 * n * ridge * lam)) / (2 * n)
    assert el.effective_regularisation([lam], n, ridge, multiplicities=[mult]) == pytest.approx(expected, rel=1e-10)


def test_domain_spectrum_of_a_low_rank_kernel_is_non_negative_and_feeds_predict():
    """K = A Aᵀ of rank 2 on 8 points, its null directions rounded slightly below 0: eigenvalues eig(K)/8, with the six
    null ones exactly 0, so predict accepts them."""
    a = np.random.default_rng(0).standard_normal((8, 2))
    null = np.linalg.qr(a, mode="complete")[0][:, 2:]
    kernel = a @ a.T - 1e-12 * null @ null.T  # as rounding can leave a kernel that is positive semi-definite in exact arithmetic
    lam, v, _ = el.domain_spectrum(kernel, a[:, 0])
    np.testing.assert_allclose(lam[:2], np.linalg.svd(a, compute_uv=False) ** 2 / 8, rtol=1e-10)
    assert (lam[2:] == 0.0).all()
    kappa = el.predict(lam, v, n=1).kappa
    assert lam[:2] / (lam[:2] + kappa) == pytest.approx(lam[:2] / (lam[:2] + el.effective_regularisation(lam[:2], 1)), rel=1e-10)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: el.cube_multiplicities(-1), r"d \(the cube's dimension\) must be a non-negative integer, got -1"),
    (lambda: el.cube_multiplicities(2.0), r"d \(the cube's dimension\) must be a non-negative integer, got 2.0"),
    (lambda: el.expand([2.0, 1.0], [1, 1.5]), "multiplicities must be integers to expand"),
    (lambda: el.predict([1.0, 0.5], [1.0, 1.0], n=1, multiplicities=[3, -0.5]), "multiplicities must be finite and non-negative"),
    (lambda: el.learnability_of(el.predict([1.0, 1e-9], [0.75, 0.25], n=1), np.array([[1.0, 1.0], [1.0, -1.0]]), [0.0, 0.0]), "learnability of a zero function is undefined"),
    (lambda: el.cube_eigenvalues([2.0, np.nan, -2.0]), r"kernel_by_distance must be finite, got kernel_by_distance\[1\] = nan"),
    (lambda: el.domain_spectrum(np.diag([2.0, np.nan]), np.ones(2)), r"kernel must be finite, got kernel\[1, 1\] = nan"),
    (lambda: el.domain_spectrum(np.eye(2), [1.0, np.inf]), r"target must be finite, got target\[1\] = inf"),
    (lambda: el.domain_spectrum(np.diag([2.0, -0.5]), np.ones(2)), r"kernel is not positive semi-definite \(eigenvalues from -0.5 to 2\)"),
    (lambda: el.learnability_of(el.predict([1.0, 1e-9], [0.75, 0.25], n=1), np.array([[1.0, 1.0], [1.0, -1.0]]), [1.0, np.nan]), r"function must be finite, got function\[1\] = nan"),
    (lambda: el.expected_fraction(el.predict([1.0, 1e-9], [0.75, 0.25], n=1), np.array([[1.0, 1.0], [1.0, -1.0]]), [0.75, np.nan], [1.0, 0.0]), r"target_coefficients must be finite, got target_coefficients\[1\] = nan"),
])
def test_cube_and_domain_spectra_refuse_input_outside_their_domain_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_cube_multiplicities_reach_the_float_range_and_refuse_past_it_by_name():
    from math import comb

    top = el.cube_multiplicities(1029)  # C(1029, 514) ≈ 1.4e308, the last dimension whose counts are floats
    assert top.shape == (1030,)
    assert top[514] == float(comb(1029, 514)) and 1e308 < top[514] < 1.8e308
    with pytest.raises(ValueError, match=r"d \(the cube's dimension\) must be at most 1029 .*got 1030"):
        el.cube_multiplicities(1030)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: el.effective_regularisation(np.eye(2), n=1), r"eigenvalues must be 1-D, shape \(modes,\), got shape \(2, 2\)"),
    (lambda: el.predict(np.ones((1, 3)), [1.0, 0.0, 0.0], n=1), r"eigenvalues must be 1-D, shape \(modes,\), got shape \(1, 3\)"),
    (lambda: el.predict(2.0, [1.0], n=1), r"eigenvalues must be 1-D, shape \(modes,\), got shape \(\)"),
    (lambda: el.predict([1.0, 1.0], [1.0, 0.0], n=1, multiplicities=[[1, 2]]), r"multiplicities must be 1-D, shape \(modes,\), got shape \(1, 2\)"),
    (lambda: el.predict([1.0, 1.0], [[1.0, 0.0]], n=1), r"target_coefficients must be 1-D, shape \(modes,\), got shape \(1, 2\)"),
])
def test_spectra_that_are_not_one_dimensional_are_refused_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_domain_spectra_stay_importable_from_eigenlearning():
    from bridge.theory import spectra

    for name in ("cube_multiplicities", "cube_eigenvalues", "domain_spectrum", "learnability_of", "expected_fraction"):
        assert getattr(el, name) is getattr(spectra, name)
        assert name in el.__all__
