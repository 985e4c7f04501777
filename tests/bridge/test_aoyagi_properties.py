"""Property tests of the reduced-rank-regression learning coefficient: the branch is the one Aoyagi & Watanabe's
inequalities pick, neighbouring branches agree on their common boundary, λ is symmetric in inputs and outputs,
rises with the hidden width and the teacher's rank, lies between half the dimension of the rank-r matrices and
half the parameter count, equals the regular value where the model is regular, and is exact for any size of
integer (NumPy ones included)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.theory.aoyagi import BRANCHES, RRRShape, rrr_branch, rrr_learning_coefficient, rrr_learning_coefficient_exact

PROPERTY = settings(max_examples=200, deadline=None, database=None)


@st.composite
def shapes(draw, largest: int = 40):
    M, N, H = (draw(st.integers(1, largest)) for _ in range(3))
    return dict(M=M, N=N, H=H, r=draw(st.integers(0, min(M, N, H))))


def _central(M, N, H, r) -> Fraction:
    """Aoyagi & Watanabe's case 1 as printed: ``[−(H+r)² − M² − N² + 2(H+r)(M+N) + 2MN] / 8`` (+1/8 when odd)."""
    odd = (M + N + H + r) % 2
    return Fraction(-((H + r) ** 2) - M**2 - N**2 + 2 * (H + r) * (M + N) + 2 * M * N + odd, 8)


def _paper(M, N, H, r) -> tuple[str, Fraction]:
    """The four cases, each tested on its own inequalities (the paper lists them without an order)."""
    cases = [
        ("M+N<H+r", M + N < H + r, Fraction(M * N, 2)),
        ("M+H<N+r", M + H < N + r, Fraction(H * M - H * r + N * r, 2)),
        ("N+H<M+r", N + H < M + r, Fraction(H * N - H * r + M * r, 2)),
        ("central", N + r <= M + H and M + r <= N + H and H + r <= M + N, _central(M, N, H, r)),
    ]
    holding = [(name, value) for name, holds, value in cases if holds]
    assert len(holding) == 1, f"{(M, N, H, r)} is in {len(holding)} cases"
    return holding[0]


@PROPERTY
@given(shapes())
def test_branch_and_value_are_the_single_case_of_the_paper_that_holds(shape):
    name, value = _paper(**shape)
    branch = rrr_branch(**shape)
    assert branch in BRANCHES and branch.startswith(name)
    assert rrr_learning_coefficient_exact(**shape) == value
    assert rrr_learning_coefficient(**shape) == float(value)


@PROPERTY
@given(shapes())
def test_value_is_symmetric_in_inputs_and_outputs_and_bounded_by_the_regular_dimensions(shape):
    lam = rrr_learning_coefficient_exact(**shape)
    M, N, H, r = shape["M"], shape["N"], shape["H"], shape["r"]
    assert rrr_learning_coefficient_exact(M=N, N=M, H=H, r=r) == lam
    assert Fraction(r * (M + N - r), 2) <= lam <= Fraction(H * (M + N), 2) == RRRShape(**shape).n_params / Fraction(2)
    assert lam <= Fraction(M * N, 2)
    assert lam > 0


@PROPERTY
@given(shapes())
def test_value_does_not_fall_when_a_hidden_unit_or_a_teacher_rank_is_added(shape):
    lam = rrr_learning_coefficient_exact(**shape)
    assert rrr_learning_coefficient_exact(**{**shape, "H": shape["H"] + 1}) >= lam
    if shape["r"] < min(shape["M"], shape["N"], shape["H"]):
        assert rrr_learning_coefficient_exact(**{**shape, "r": shape["r"] + 1}) >= lam


@PROPERTY
@given(st.integers(1, 60), st.integers(1, 60), st.integers(1, 60))
def test_a_regular_model_has_half_the_dimension_of_the_matrices_it_reaches(M, N, H):
    r = min(M, N, H)
    if r == H:  # the rank-H matrices, of dimension H(M + N) − H²
        assert rrr_learning_coefficient_exact(M=M, N=N, H=H, r=H) == Fraction(H * (M + N) - H * H, 2)
    wide = M + N + H  # at least M + N hidden units: every N × M matrix
    assert rrr_learning_coefficient_exact(M=M, N=N, H=wide, r=0) == Fraction(M * N, 2)
    assert rrr_learning_coefficient_exact(M=M, N=N, H=wide, r=min(M, N)) == Fraction(M * N, 2)


@PROPERTY
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 40))
def test_the_central_formula_meets_each_outer_case_on_their_common_boundary(M, H, r):
    r = min(r, M, H)
    N = M + H - r  # M + H = N + r: the edge between the central case and M+H<N+r
    if r <= N:
        assert _central(M, N, H, r) == Fraction(H * M - H * r + N * r, 2) == rrr_learning_coefficient_exact(M=M, N=N, H=H, r=r)
    H2 = M + N - r if r <= min(M, N) else None  # H + r = M + N: the edge with M+N<H+r
    if H2 is not None and H2 >= r:
        assert _central(M, N, H2, r) == Fraction(M * N, 2) == rrr_learning_coefficient_exact(M=M, N=N, H=H2, r=r)


@PROPERTY
@given(shapes(largest=12), st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64]))
def test_numpy_integer_sizes_give_the_same_value_as_python_ints(shape, kind):
    as_numpy = {name: kind(value) for name, value in shape.items()}
    assert rrr_learning_coefficient_exact(**as_numpy) == rrr_learning_coefficient_exact(**shape)
    assert rrr_branch(**as_numpy) == rrr_branch(**shape)
    assert RRRShape(**as_numpy) == RRRShape(**shape) and type(RRRShape(**as_numpy).H) is int


def test_numpy_sizes_are_accepted_and_exact_beyond_int64():
    # an np.int64 size was refused as "not a positive integer"; accepted, its products must not wrap around
    big = np.int64(10**10)
    assert rrr_learning_coefficient_exact(M=big, N=big, H=big, r=big) == Fraction(10**20, 2)
    assert rrr_learning_coefficient(M=np.int64(3), N=3, H=3, r=np.int64(0)) == 3.5


@pytest.mark.parametrize(
    "sizes, message",
    [
        (dict(M=3.0, N=3, H=3, r=0), "M must be a positive integer"),
        (dict(M=3, N=np.float64(3), H=3, r=0), "N must be a positive integer"),
        (dict(M=3, N=3, H=np.bool_(True), r=0), "H must be a positive integer"),
        (dict(M=3, N=3, H=3, r=True), "teacher rank r"),
        (dict(M=3, N=3, H=2, r=np.int64(3)), r"teacher rank r .* got 3"),
        (dict(M=3, N=3, H=3, r=-1), "teacher rank r"),
    ],
)
def test_a_size_that_is_not_a_positive_integer_is_refused_by_name(sizes, message):
    with pytest.raises(ValueError, match=message):
        rrr_learning_coefficient_exact(**sizes)
