"""The linearised dynamics' per-mode factors: eigenvalues of a Gram matrix, which is positive semi-definite."""

import numpy as np
import pytest

from bridge.theory import linearised as lin


@pytest.mark.parametrize("call", [
    lambda: lin.half_times([4.0, -1.0], lr=0.1, n=4),
    lambda: lin.half_times([4.0, -1.0], lr=0.1, n=4, discrete=True),
    lambda: lin.mode_residuals([4.0, -1.0], [0, 100], lr=0.1, n=4, discrete=False),
    lambda: lin.mode_residuals([-1.0], [0, 100], lr=0.1, n=4),
], ids=["half-times flow", "half-times descent", "residuals flow", "residuals descent, all negative"])
def test_a_negative_gram_eigenvalue_is_refused_by_name_and_position(call):
    # it gave an infinite half-time and a residual growing as e^{+η|λ̂|t/n} (12.2 after 100 steps), silently
    with pytest.raises(ValueError, match=r"gram_eigenvalues must be non-negative .*got gram_eigenvalues\[\d\] = -1\.0"):
        call()


def test_a_negative_eigenvalue_within_rounding_of_a_float32_gram_matrix_is_taken():
    # eigh of a float32 Gram matrix of rank 1 in double precision: the zero eigenvalue comes out at about −1e-7·λ̂_max
    x = np.random.default_rng(0).standard_normal((1, 5)).astype(np.float32)
    values = np.linalg.eigvalsh((x.T @ x).astype(np.float64))
    values[0] = -abs(values[-1]) * 1e-7  # the rounding of float32 entries, at its worst sign
    times = lin.half_times(values, lr=0.1, n=5)
    assert np.isinf(times[0]) and times[-1] == pytest.approx(5 * np.log(2) / (0.1 * values[-1]), rel=1e-12)
