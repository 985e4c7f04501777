"""Aoyagi's learning coefficient against one derived independently: a single hidden unit and the zero teacher.

With ``H = 1`` and ``r = 0`` the average log-loss ratio is ``K(a, b) ∝ ‖a‖² ‖b‖²`` (``a ∈ ℝ^M``, ``b ∈ ℝ^N``).
In polar coordinates ``K = ρ_a² ρ_b²`` with volume ``ρ_a^{M−1} ρ_b^{N−1} dρ_a dρ_b``; the real log canonical
threshold of a monomial ``x^{2k} y^{2l}`` with measure ``x^{h−1} y^{g−1}`` is ``min(h/(2k), g/(2l))``, here
``min(M, N)/2``.
"""

from fractions import Fraction

import pytest

from bridge.theory.aoyagi import rrr_learning_coefficient_exact


@pytest.mark.parametrize("M", range(1, 8))
@pytest.mark.parametrize("N", range(1, 8))
def test_one_hidden_unit_and_the_zero_teacher_give_half_the_smaller_dimension(M, N):
    assert rrr_learning_coefficient_exact(M=M, N=N, H=1, r=0) == Fraction(min(M, N), 2)
