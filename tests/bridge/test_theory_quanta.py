"""The quantization model's laws against a direct simulation of the model itself."""

import numpy as np
import pytest
from scipy.stats import poisson

from bridge.theory import quanta

N_TASKS = 10**6
A, B = 0.05, 0.7  # per-sample loss of a learned / unlearned quantum


def _slope(x, y):
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def simulate_parameters(alpha, n_params, params_per_quantum):
    """A model of N parameters learns the ⌊N/C⌋ most frequent quanta; its mean loss, by direct sums."""
    weights = np.arange(1, N_TASKS + 1, dtype=float) ** -(alpha + 1)
    p = weights / weights.sum()
    out = []
    for n in n_params:
        k = int(n // params_per_quantum)
        out.append(A * p[:k].sum() + B * p[k:].sum())
    return np.array(out)


def simulate_data(alpha, n_samples, samples_needed, seed):
    """Draw D samples from the Zipf mixture; a quantum is learned if it was seen ≥ τ times."""
    rng = np.random.default_rng(seed)
    weights = np.arange(1, N_TASKS + 1, dtype=float) ** -(alpha + 1)
    p = weights / weights.sum()
    out = []
    for d in n_samples:
        counts = rng.multinomial(int(d), p)
        learned = counts >= samples_needed
        out.append(float(np.sum(p * np.where(learned, A, B))))
    return np.array(out)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_parameter_exponent_matches_simulated_quanta(alpha):
    c = 50.0
    n_params = c * np.unique(np.round(np.geomspace(10, 1000, 15)))  # 10 … 1000 quanta, far from the 10⁶ floor
    loss = simulate_parameters(alpha, n_params, c)
    slope = -_slope(n_params, loss - A)
    assert abs(slope - quanta.parameter_exponent(alpha)) / alpha < 0.05, slope
    np.testing.assert_allclose(quanta.loss_vs_parameters(n_params, alpha, N_TASKS, c, B, A), loss, rtol=1e-10)


@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_data_exponent_matches_simulated_quanta(alpha):
    tau = 5
    n_samples = np.geomspace(1e3, 1e6, 10)
    loss = simulate_data(alpha, n_samples, tau, seed=int(10 * alpha))
    slope = -_slope(n_samples, loss - A)
    target = quanta.data_exponent(alpha)
    assert abs(slope - target) / target < 0.05, slope
    expected = quanta.loss_vs_data(n_samples, alpha, N_TASKS, tau, B, A)
    p = quanta.zipf_frequencies(alpha, N_TASKS)
    seen = poisson.sf(tau - 1, n_samples[:, None] * p)  # P(quantum learned), counts ≈ independent Poisson
    sigma = (B - A) * np.sqrt((p**2 * seen * (1 - seen)).sum(1))  # spread of one draw's loss
    assert np.all(np.abs(loss - expected) < 4 * sigma), (loss - expected) / sigma
    assert abs(-_slope(n_samples, expected - A) - target) / target < 0.05


def test_local_exponent_tends_to_alpha_and_steepens_at_the_floor():
    alpha, n_tasks = 0.8, 2000
    tail = quanta.expected_loss(np.arange(n_tasks + 1), alpha, n_tasks, 1.0, 0.0)
    k = np.array([10, 30, 100, 1000, 1900])
    direct = np.log(tail[k] / tail[k + 1]) / np.log((k + 1) / k)
    np.testing.assert_allclose(quanta.local_exponent(k, alpha, n_tasks), direct, rtol=1e-10)
    assert abs(quanta.local_exponent(30, alpha, n_tasks) - alpha) < 0.05 * alpha
    assert quanta.local_exponent(1000, alpha, n_tasks) > 1.5 * alpha  # the floor bends the law
    assert quanta.expected_loss(n_tasks, alpha, n_tasks, 0.7, 0.05) == pytest.approx(0.05)  # the floor itself


def test_order_frequencies_and_learned_sets():
    pred = quanta.predict(alpha=0.4, n_tasks=50, loss_unlearned=B, loss_learned=A)
    assert pred.frequencies.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(pred.frequencies[:-1] / pred.frequencies[1:], (np.arange(2, 51) / np.arange(1, 50)) ** 1.4, rtol=1e-12)
    assert pred.order.tolist() == list(range(50))
    shuffled = np.random.default_rng(0).permutation(pred.frequencies)
    assert np.all(np.diff(shuffled[quanta.acquisition_order(shuffled)]) <= 0)
    learned = np.zeros(50, dtype=bool)
    learned[:7] = True
    assert quanta.loss_from_learned(learned, pred.frequencies, B, A) == pytest.approx(float(quanta.expected_loss(7, 0.4, 50, B, A)), rel=1e-12)
    with pytest.raises(ValueError, match="alpha"):
        quanta.zipf_frequencies(0.0, 10)
    with pytest.raises(ValueError, match="n_tasks"):
        quanta.zipf_frequencies(1.0, 2.5)


def test_local_exponent_needs_an_integer_k():
    with pytest.raises(ValueError, match=r"k \(a number of quanta\) must be an integer, got 1.5"):
        quanta.local_exponent(1.5, 1.0, 100)
    with pytest.raises(ValueError, match="must be an integer"):
        quanta.local_exponent([10, 20.5], 1.0, 100)
    assert quanta.local_exponent(10.0, 1.0, 100) == quanta.local_exponent(10, 1.0, 100)
    for k in (100, 0):
        with pytest.raises(ValueError, match=r"k must be in \[1, n_tasks - 1\]"):
            quanta.local_exponent(k, 1.0, 100)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: quanta.expected_loss(-1, 0.5, 10), r"k_learned must be in \[0, n_tasks\] = \[0, 10\], got \[-1.0\] among them"),
    (lambda: quanta.expected_loss([3, 11], 0.5, 10), r"k_learned must be in \[0, n_tasks\] = \[0, 10\], got \[11.0\] among them"),
    (lambda: quanta.expected_loss(np.nan, 0.5, 10), r"k_learned must be in \[0, n_tasks\] = \[0, 10\], got \[nan\]"),
    (lambda: quanta.zipf_frequencies(0.5, np.nan), "n_tasks must be a positive integer, got nan"),
    (lambda: quanta.zipf_frequencies(np.inf, 10), "alpha must be positive and finite, got inf"),
    (lambda: quanta.quanta_learned_parameters([-10, 20], 10, 50), r"n_params must be non-negative, got \[-10.0\] among them"),
    (lambda: quanta.quanta_learned_parameters([10], 10, np.nan), "n_tasks must be a positive integer, got nan"),
    (lambda: quanta.learned_probability(-5, 1.0, 2), r"n_samples must be non-negative, got \[-5.0\] among them"),
    (lambda: quanta.learned_probability(5, 1.0, 2, samples_needed=np.nan), "samples_needed must be a positive integer, got nan"),
    (lambda: quanta.loss_from_learned([True, False], [0.0, 0.0]), "frequencies must be finite, non-negative and not all zero"),
    (lambda: quanta.loss_from_learned([2.0, 0.0], [0.75, 0.25]), r"learned must be booleans or probabilities in \[0, 1\], got \[2.0, 0.0\]"),
    (lambda: quanta.acquisition_order([[0.1, 0.6]]), r"frequencies must be 1-D \(n_tasks,\), got shape \(1, 2\)"),
    (lambda: quanta.acquisition_order([0.1, np.nan]), "frequencies must be numbers, got NaN"),
])
def test_quanta_laws_refuse_input_outside_their_domain_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_acquisition_order_breaks_ties_by_index_on_long_lists():
    """40 subtasks in two tied groups (long enough that an unstable sort would shuffle each group)."""
    frequencies = np.array([0.1] * 20 + [0.2] * 20)
    assert quanta.acquisition_order(frequencies).tolist() == list(range(20, 40)) + list(range(20))


def test_a_fractional_number_of_learned_quanta_is_rounded_down():
    """p = (0.8, 0.2) at α = 1: 1.6 learned quanta is one learned, loss 0.2 (not 0, as rounding to 2 would give)."""
    np.testing.assert_allclose(quanta.expected_loss([0.4, 1.6, 1.99], 1.0, 2, loss_unlearned=1.0), [1.0, 0.2, 0.2], rtol=1e-12)
