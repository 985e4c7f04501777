"""Property tests of the quantization model: frequencies, tails, losses and slopes against the same sums in
50-digit arithmetic; losses that fall with what is learned, agree between the prefix and the set formulas,
do not depend on the units or the order of the frequencies, and keep their relative precision near the floor;
input outside the domain refused by name."""

from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.theory import quanta

PROPERTY = settings(max_examples=60, deadline=None, database=None)
alphas = st.floats(0.05, 4.0)


def _mp_weights(alpha: float, n_tasks: int) -> list:
    return [mpmath.mpf(j) ** (-(mpmath.mpf(alpha) + 1)) for j in range(1, n_tasks + 1)]


@PROPERTY
@given(alphas, st.integers(1, 300))
def test_zipf_frequencies_are_the_normalised_power_law_to_1e_13(alpha, n_tasks):
    p = quanta.zipf_frequencies(alpha, n_tasks)
    with mpmath.workdps(50):
        w = _mp_weights(alpha, n_tasks)
        z = sum(w)
        exact = np.array([float(x / z) for x in w])
    assert p.shape == (n_tasks,)
    np.testing.assert_allclose(p, exact, rtol=1e-13, atol=0)
    assert np.all(np.diff(p) < 0)  # strictly decreasing with rank


@PROPERTY
@given(alphas, st.integers(1, 200), st.floats(0.0, 1.0), st.floats(-3, 3), st.floats(-3, 3))
def test_prefix_loss_is_the_exact_tail_and_agrees_with_the_loss_of_the_learned_set(alpha, n_tasks, fraction, b, a):
    k = int(fraction * n_tasks)
    loss = float(quanta.expected_loss(k, alpha, n_tasks, loss_unlearned=b, loss_learned=a))
    with mpmath.workdps(50):
        w = _mp_weights(alpha, n_tasks)
        exact = float(mpmath.mpf(a) + (mpmath.mpf(b) - mpmath.mpf(a)) * sum(w[k:]) / sum(w))
    assert loss == pytest.approx(exact, rel=1e-12, abs=1e-13)
    learned = np.arange(n_tasks) < k
    set_loss = quanta.loss_from_learned(learned, quanta.zipf_frequencies(alpha, n_tasks), loss_unlearned=b, loss_learned=a)
    assert set_loss == pytest.approx(loss, rel=1e-12, abs=1e-13)


@PROPERTY
@given(alphas, st.integers(2, 100))
def test_prefix_loss_falls_from_b_to_the_floor_as_quanta_are_learned(alpha, n_tasks):
    losses = quanta.expected_loss(np.arange(n_tasks + 1), alpha, n_tasks, loss_unlearned=2.0, loss_learned=0.5)
    assert losses[0] == pytest.approx(2.0, rel=1e-14) and losses[-1] == 0.5
    assert np.all(np.diff(losses) < 0)


@PROPERTY
@given(
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12),
    st.data(),
    st.sampled_from([1e-300, 1e-10, 1.0, 7.0, 1e200, 1.5e308]),
)
def test_loss_of_a_learned_set_ignores_the_units_and_the_order_of_the_frequencies(weights, data, scale):
    p = np.array(weights)
    if p.max() == 0:
        p[0] = 1.0
    p = p / p.max()  # largest 1: every scaled copy below is a valid, finite list of frequencies
    q = np.array(data.draw(st.lists(st.floats(0.0, 1.0), min_size=len(p), max_size=len(p))))
    reference = quanta.loss_from_learned(q, p, loss_unlearned=1.5, loss_learned=0.25)
    with mpmath.workdps(40):
        total = sum(mpmath.mpf(x) for x in p)
        exact = float(sum(mpmath.mpf(x) / total * (mpmath.mpf(y) * 0.25 + (1 - mpmath.mpf(y)) * 1.5) for x, y in zip(p, q)))
    assert reference == pytest.approx(exact, rel=1e-13)
    assert quanta.loss_from_learned(q, p * scale, loss_unlearned=1.5, loss_learned=0.25) == pytest.approx(reference, rel=1e-13)
    perm = np.array(data.draw(st.lists(st.integers(0, len(p) - 1), min_size=len(p), max_size=len(p), unique=True)))
    assert quanta.loss_from_learned(q[perm], p[perm], loss_unlearned=1.5, loss_learned=0.25) == pytest.approx(reference, rel=1e-13)


def test_frequencies_given_as_counts_near_the_largest_float_give_the_loss_of_their_proportions():
    # their sum overflowed to inf, every normalised frequency became 0 and the loss 0.0
    assert quanta.loss_from_learned([True, False], [1e308, 1e308], loss_unlearned=1.0) == 0.5


@PROPERTY
@given(st.lists(st.integers(0, 5), min_size=1, max_size=15), st.sampled_from([1e-300, 0.5, 3.0, 1e300]))
def test_acquisition_order_sorts_by_frequency_breaks_ties_by_index_and_ignores_units(counts, scale):
    p = np.array(counts, dtype=float)
    order = quanta.acquisition_order(p)
    assert sorted(order.tolist()) == list(range(len(p)))
    keys = [(-p[i], i) for i in order]
    assert keys == sorted(keys)
    np.testing.assert_array_equal(quanta.acquisition_order(p * scale), order)


@PROPERTY
@given(alphas, st.integers(1, 40), st.integers(1, 6), st.floats(-2, 6))
def test_learned_probability_is_the_poisson_tail_and_grows_with_the_data(alpha, n_tasks, tau, log_d):
    d = 10.0**log_d
    prob = quanta.learned_probability(d, alpha, n_tasks, samples_needed=tau)
    p = quanta.zipf_frequencies(alpha, n_tasks)
    with mpmath.workdps(40):
        exact = np.array([float(mpmath.gammainc(tau, 0, mpmath.mpf(d) * mpmath.mpf(x), regularized=True)) for x in p])
    np.testing.assert_allclose(prob, exact, rtol=1e-10, atol=1e-300)
    assert np.all(quanta.learned_probability(2 * d, alpha, n_tasks, samples_needed=tau) >= prob)
    assert np.all(quanta.learned_probability(d, alpha, n_tasks, samples_needed=tau + 1) <= prob)
    if tau == 1:
        np.testing.assert_allclose(prob, -np.expm1(-d * p), rtol=1e-12)


@PROPERTY
@given(alphas, st.integers(1, 30), st.integers(1, 4), st.floats(-1, 6))
def test_excess_loss_after_d_samples_keeps_ten_digits_even_close_to_the_floor(alpha, n_tasks, tau, log_d):
    d = 10.0**log_d
    p = quanta.zipf_frequencies(alpha, n_tasks)
    with mpmath.workdps(50):
        # P(count < τ) = Q(τ, D p), the regularised upper incomplete gamma
        exact = sum(mpmath.mpf(x) * mpmath.gammainc(tau, mpmath.mpf(d) * mpmath.mpf(x), mpmath.inf, regularized=True) for x in p)
    if exact < 1e-290:
        return  # below the smallest normal float
    excess = float(quanta.loss_vs_data(d, alpha, n_tasks, samples_needed=tau, loss_unlearned=1.0))
    assert excess == pytest.approx(float(exact), rel=1e-9, abs=0)
    assert float(quanta.loss_vs_data(2 * d, alpha, n_tasks, samples_needed=tau, loss_unlearned=1.0)) <= excess


def test_loss_after_many_samples_of_few_quanta_is_tiny_not_zero():
    # 1 − P(learned) rounded to 0 once P(learned) rounded to 1: an excess of about 6e-31 (mostly e^{−64.5}·p₁₀)
    # was 0.0, and a small excess lost digits (at D = 3000, 2.56134348e-11 for 2.56134344e-11)
    with mpmath.workdps(50):
        w = _mp_weights(1.0, 10)
        exact = float(sum(x / sum(w) * mpmath.exp(-1e4 * x / sum(w)) for x in w))
    assert float(quanta.loss_vs_data(1e4, 1.0, 10, loss_unlearned=1.0)) == pytest.approx(exact, rel=1e-10, abs=0)


@PROPERTY
@given(st.integers(0, 10**6), st.floats(0.5, 1e4), st.integers(1, 10**4))
def test_quanta_held_by_n_parameters_are_the_whole_multiples_of_c_up_to_n_tasks(n_params, per_quantum, n_tasks):
    held = int(quanta.quanta_learned_parameters(n_params, per_quantum, n_tasks))
    assert 0 <= held <= n_tasks
    if held < n_tasks:
        assert held * per_quantum <= n_params * (1 + 1e-15) and (held + 1) * per_quantum > n_params * (1 - 1e-15)
    loss = quanta.loss_vs_parameters(n_params, 1.0, n_tasks, per_quantum, loss_unlearned=1.0)
    assert float(loss) == float(quanta.expected_loss(held, 1.0, n_tasks, loss_unlearned=1.0))


def _mp_local_exponent(k: int, alpha: float, n_tasks: int) -> float:
    with mpmath.workdps(60):
        w = _mp_weights(alpha, n_tasks)
        return float(mpmath.log(sum(w[k:]) / sum(w[k + 1 :])) / mpmath.log(mpmath.mpf(k + 1) / k))


@PROPERTY
@given(st.floats(0.05, 400.0), st.integers(2, 120), st.floats(0.0, 1.0))
def test_local_exponent_is_the_secant_slope_of_the_exact_tail_for_any_alpha(alpha, n_tasks, fraction):
    k = 1 + int(fraction * (n_tasks - 2))  # in [1, n_tasks − 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        slope = float(quanta.local_exponent(k, alpha, n_tasks))
        more_quanta = float(quanta.local_exponent(k, alpha, n_tasks + 1))
    if k == n_tasks - 1:
        assert slope == math.inf
    else:
        assert slope == pytest.approx(_mp_local_exponent(k, alpha, n_tasks), rel=1e-10)
    assert more_quanta <= slope  # a floor further away flattens the slope at the same k


def test_local_exponent_of_a_steep_law_is_finite_where_both_tails_are_below_the_smallest_float():
    # 500^{−121} and 501^{−121} both underflow to 0: the slope was 0/0 = NaN
    slope = float(quanta.local_exponent(500, 120.0, 1000))
    assert slope == pytest.approx(_mp_local_exponent(500, 120.0, 1000), rel=1e-10)


def test_local_exponent_just_before_the_floor_is_inf_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(quanta.local_exponent(9, 1.0, 10)) == math.inf


@PROPERTY
@given(st.floats(1e-300, 1e300))
def test_data_exponent_is_the_parameter_exponent_over_one_plus_alpha(alpha):
    assert quanta.parameter_exponent(alpha) == alpha
    assert quanta.data_exponent(alpha) == pytest.approx(alpha / (1 + alpha), rel=1e-15)
    assert 0 < quanta.data_exponent(alpha) <= 1


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: quanta.expected_loss(1, 1.0, 3, loss_unlearned=float("nan")), "loss_unlearned"),
        (lambda: quanta.expected_loss(1, 1.0, 3, loss_learned=float("inf")), "loss_learned"),
        (lambda: quanta.loss_vs_parameters(10, 1.0, 3, 5.0, loss_unlearned=float("nan")), "loss_unlearned"),
        (lambda: quanta.loss_vs_data(10, 1.0, 3, loss_learned=float("nan")), "loss_learned"),
        (lambda: quanta.loss_from_learned([True], [1.0], loss_unlearned=float("-inf")), "loss_unlearned"),
        (lambda: quanta.predict(1.0, 3, loss_unlearned=float("nan")), "loss_unlearned"),
        (lambda: quanta.local_exponent(1, float("nan"), 3), "alpha"),
        (lambda: quanta.local_exponent(1, 1.0, 2.5), "n_tasks"),
        (lambda: quanta.loss_from_learned([], []), "frequencies"),
    ],
)
def test_a_loss_or_size_that_is_not_a_number_is_refused_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()
