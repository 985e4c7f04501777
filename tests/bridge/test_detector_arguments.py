"""Settings and curves the stage detectors cannot read are refused, before any work, with a ValueError that names
the argument and the value received: a negative or undefined least fall of an abrupt drop, a running median over a
window that is not a whole number or over a curve that is not 1-D, and a relative tolerance that is not a number
>= 0 for the loss's first increase."""

from __future__ import annotations

import numpy as np
import pytest

from bridge.stages import abrupt_drop, first_increase, plateau_loss_trend, running_median

T = np.arange(0.0, 2000.0, 50.0)
DROP = np.where(T < 1000, 3.0, np.where(T < 1200, 3.0 * 0.03 ** ((T - 1000) / 200), 0.09))


@pytest.mark.parametrize("min_fall", [-1.0, float("nan"), float("-inf")])
def test_an_abrupt_drop_refuses_a_least_fall_below_zero_or_not_a_number(min_fall):
    """Before: ``min_fall=nan`` passed every drop (``fall < nan`` is false) and a negative one was taken as given."""
    with pytest.raises(ValueError, match=f"min_fall must be a number >= 0, got {min_fall}"):
        abrupt_drop(T, DROP, min_fall=min_fall)


@pytest.mark.parametrize("noise_sigmas", [-5.0, float("nan")])
def test_an_abrupt_drop_refuses_a_noise_multiple_below_zero_or_not_a_number(noise_sigmas):
    with pytest.raises(ValueError, match=f"noise_sigmas must be a number >= 0, got {noise_sigmas}"):
        abrupt_drop(T, DROP, min_fall=1.0, noise_sigmas=noise_sigmas)


def test_an_abrupt_drop_of_exactly_zero_least_fall_is_accepted():
    drop = abrupt_drop(T, DROP, min_fall=0.0)
    assert (drop.start, drop.end) == (1000.0, 1200.0)


@pytest.mark.parametrize("window", [3.0, 2.5, True, "3"])
def test_a_running_median_refuses_a_window_that_is_not_a_whole_number(window):
    """Before: numpy's own TypeError for 3.0, and ``True`` was read as a window of one sample."""
    with pytest.raises(ValueError, match=f"window must be a positive odd whole number, got {window!r}"):
        running_median([1.0, 2.0, 3.0, 4.0, 5.0], window)


@pytest.mark.parametrize("shape", [(3, 5), (2, 2), ()])
def test_a_running_median_refuses_values_that_are_not_1d(shape):
    """Before: a (3, 5) array got numpy's message about ``window_shape``; a (2, 2) one came back unchanged."""
    with pytest.raises(ValueError, match=rf"values must be 1-D, got shape {shape}".replace("(", r"\(").replace(")", r"\)")):
        running_median(np.ones(shape), 3)


def test_a_running_median_of_a_whole_numpy_window_is_the_same_as_of_an_int():
    y = [1.0, 9.0, 2.0, 3.0, 4.0]
    assert running_median(y, np.int64(3)).tolist() == running_median(y, 3).tolist() == [2.0, 2.0, 3.0, 3.0, 3.0]


@pytest.mark.parametrize("rtol", [float("nan"), -0.5, float("inf")])
def test_the_first_increase_refuses_a_tolerance_that_is_not_a_finite_number_at_least_zero(rtol):
    """Before: ``rtol=nan`` found no increase on a loss that doubles, and ``rtol=-0.5`` took a fall for one."""
    with pytest.raises(ValueError, match=f"rtol must be a finite number >= 0, got {rtol}"):
        first_increase([0, 1, 2], [1.0, 0.5, 2.0], rtol=rtol)


@pytest.mark.parametrize("rtol", [float("nan"), -0.5])
def test_the_loss_trend_on_the_plateau_refuses_a_tolerance_that_is_not_a_finite_number_at_least_zero(rtol):
    with pytest.raises(ValueError, match=f"rtol must be a finite number >= 0, got {rtol}"):
        plateau_loss_trend([0, 1, 2], [1.0, 0.5, 2.0], 0, rtol=rtol)
