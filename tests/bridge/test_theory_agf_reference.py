"""AGF's acquisition predictions: a frequency that is no Fourier mode of the modulus is refused by name."""

import numpy as np
import pytest
import torch

from bridge.theory import agf


def _weights():
    g = torch.Generator().manual_seed(0)
    return tuple(0.01 * torch.randn(s, generator=g, dtype=torch.float64) for s in [(16, 7), (16, 7), (7, 16)])


@pytest.mark.parametrize("frequency", [1.5, True, np.bool_(True), float("nan")])
def test_a_frequency_that_is_not_a_whole_number_is_refused_by_name(frequency):
    # 1.5 passed the range check 1 <= k <= 3 and got a blow-up time (815 steps) for a non-periodic "component"
    U, V, W = _weights()
    with pytest.raises(ValueError, match=r"frequencies must be in 1\.\.3, got \[.*\] \(each a whole number"):
        agf.predict_acquisitions(U, V, W, {frequency: 1.0}, lr=1.0)


def test_a_whole_number_frequency_of_any_numeric_type_gives_the_prediction_of_the_int():
    U, V, W = _weights()
    (expected,) = agf.predict_acquisitions(U, V, W, {2: 1.0}, lr=1.0)
    for k in (2.0, np.int64(2), np.float32(2.0)):
        (got,) = agf.predict_acquisitions(U, V, W, {k: 1.0}, lr=1.0)
        assert got.step == pytest.approx(expected.step, rel=1e-12)
