"""Property tests of the losses: each against its formula written out element by element in double precision
(cross-entropy as a log-sum-exp per row, next-token cross-entropy over every position, the squared errors with
their documented reductions), cross-entropy unchanged by a constant added to a row of logits, the per-seed forms
row by row, accuracy as a count, and an output whose shape differs from its target's refused by name."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import ConfigError, RunConfig, TrainConfig
from bridge.losses import accuracy, cross_entropy_last, cross_entropy_next, half_sse, mse, per_seed
from bridge.models import MLPConfig
from bridge.tasks import LinearTeacherConfig
from bridge.training.inputs import validate

PROPERTY = settings(max_examples=60, deadline=None, database=None)
FLOATS = st.floats(-30, 30, allow_nan=False, width=32)


def _tensor(draw, shape, elements=FLOATS):
    n = math.prod(shape)
    return torch.tensor(draw(st.lists(elements, min_size=n, max_size=n)), dtype=torch.float32).reshape(shape)


def _log_softmax_at(row: list[float], k: int) -> float:
    """``log softmax(row)[k]`` by hand: ``row[k] − max − log Σ exp(row − max)``."""
    top = max(row)
    return row[k] - top - math.log(math.fsum(math.exp(v - top) for v in row))


@st.composite
def sequence_logits(draw):
    """``(logits (batch, pos, vocab), labels (batch,), tokens (batch, pos))``."""
    batch, pos, vocab = draw(st.integers(1, 4)), draw(st.integers(2, 5)), draw(st.integers(2, 6))
    logits = _tensor(draw, (batch, pos, vocab))
    labels = torch.tensor(draw(st.lists(st.integers(0, vocab - 1), min_size=batch, max_size=batch)))
    tokens = torch.tensor(draw(st.lists(st.integers(0, vocab - 1), min_size=batch * pos, max_size=batch * pos))).reshape(batch, pos)
    return logits, labels, tokens


# float32 logits up to 30 in size: each log-softmax term is rounded to a few ulps of 60
CE_TOL = dict(rel=1e-5, abs=64 * torch.finfo(torch.float32).eps)


@PROPERTY
@given(sequence_logits())
def test_cross_entropy_of_the_last_position_is_the_mean_negative_log_softmax_of_each_label(drawn):
    logits, labels, _ = drawn
    rows = logits[:, -1].double().tolist()
    want = -math.fsum(_log_softmax_at(row, int(k)) for row, k in zip(rows, labels)) / len(rows)
    assert cross_entropy_last(logits, labels).item() == pytest.approx(want, **CE_TOL)


@PROPERTY
@given(sequence_logits())
def test_next_token_cross_entropy_averages_every_position_predicting_the_token_after_it(drawn):
    logits, _, tokens = drawn
    batch, pos, _ = logits.shape
    terms = [_log_softmax_at(logits[b, t].double().tolist(), int(tokens[b, t + 1])) for b in range(batch) for t in range(pos - 1)]
    assert cross_entropy_next(logits, tokens).item() == pytest.approx(-math.fsum(terms) / len(terms), **CE_TOL)


@PROPERTY
@given(sequence_logits(), st.data())
def test_a_constant_added_to_each_row_of_logits_leaves_cross_entropy_unchanged(drawn, data):
    logits, labels, tokens = drawn
    shift = _tensor(data.draw, (logits.shape[0], logits.shape[1], 1), st.floats(-1000, 1000, width=32))
    moved = logits + shift  # rounded: each logit moves by up to an ulp of 1030
    tol = dict(rel=1e-5, abs=4 * 1030 * torch.finfo(torch.float32).eps)
    assert cross_entropy_last(moved, labels).item() == pytest.approx(cross_entropy_last(logits, labels).item(), **tol)
    assert cross_entropy_next(moved, tokens).item() == pytest.approx(cross_entropy_next(logits, tokens).item(), **tol)


@PROPERTY
@given(sequence_logits(), st.sampled_from([torch.float16, torch.bfloat16]))
def test_half_precision_logits_are_scored_in_float32_as_their_exact_values(drawn, dtype):
    logits, labels, tokens = drawn
    low = logits.to(dtype)
    exact = low.double()
    rows = exact[:, -1].tolist()
    want = -math.fsum(_log_softmax_at(row, int(k)) for row, k in zip(rows, labels)) / len(rows)
    got = cross_entropy_last(low, labels)
    assert got.dtype == torch.float32 and got.item() == pytest.approx(want, **CE_TOL)
    assert cross_entropy_next(low, tokens).item() == pytest.approx(cross_entropy_next(exact, tokens).item(), **CE_TOL)


@st.composite
def regression_pairs(draw, seeds: int | None = None):
    """``(output, target)`` of one shape: ``(batch, d_out)``, with a leading seed axis when ``seeds``."""
    shape = (draw(st.integers(1, 5)), draw(st.integers(1, 4)))
    if seeds:
        shape = (seeds, *shape)
    return _tensor(draw, shape, st.floats(-100, 100, width=32)), _tensor(draw, shape, st.floats(-100, 100, width=32))


SSE_TOL = dict(rel=4 * torch.finfo(torch.float32).eps * 20, abs=0)  # a float32 sum of at most 20 squares


@PROPERTY
@given(regression_pairs())
def test_squared_errors_are_their_documented_reductions_of_the_elementwise_errors(pair):
    output, target = pair
    rows = [[(o - t) ** 2 for o, t in zip(ro, rt)] for ro, rt in zip(output.double().tolist(), target.double().tolist())]
    batch, d_out = output.shape
    assert half_sse(output, target).item() == pytest.approx(0.5 * math.fsum(math.fsum(r) for r in rows) / batch, **SSE_TOL)
    assert mse(output, target).item() == pytest.approx(math.fsum(math.fsum(r) for r in rows) / (batch * d_out), **SSE_TOL)


@PROPERTY
@given(st.integers(1, 4).flatmap(lambda k: regression_pairs(seeds=k)))
def test_the_per_seed_squared_errors_are_each_seeds_loss_bit_for_bit(pair):
    output, target = pair
    for loss in (half_sse, mse):
        rows = per_seed(loss)(output, target)
        assert rows.shape == (output.shape[0],)
        assert rows.tolist() == [loss(output[k], target[k]).item() for k in range(output.shape[0])]


@PROPERTY
@given(sequence_logits())
def test_accuracy_is_the_share_of_rows_whose_largest_last_logit_is_the_label(drawn):
    logits, labels, _ = drawn
    last = logits[:, -1].tolist()
    hits = sum(max(range(len(row)), key=lambda j: (row[j], -j)) == int(k) for row, k in zip(last, labels))  # first maximum, as argmax
    assert accuracy(logits, labels).item() == pytest.approx(hits / len(last), rel=1e-7, abs=0)
    assert accuracy(logits[:, -1], labels).item() == accuracy(logits, labels).item()


@pytest.mark.parametrize(
    "loss, name, output, target",
    [
        (half_sse, "half_sse", torch.zeros(4, 1), torch.zeros(4)),
        (mse, "mse", torch.zeros(4, 1), torch.zeros(4)),
        (per_seed(half_sse), "half_sse", torch.zeros(2, 4, 1), torch.zeros(2, 4)),
        (per_seed(mse), "mse", torch.zeros(2, 4, 1), torch.zeros(2, 4)),
    ],
)
def test_an_output_whose_shape_differs_from_its_targets_is_refused_not_broadcast(loss, name, output, target):
    # (4, 1) − (4,) broadcasts to (4, 4): a loss of every output against every target
    with pytest.raises(ValueError, match=rf"{name} needs output and target of one shape, got output {tuple(output.shape)} and target {tuple(target.shape)}".replace("(", r"\(").replace(")", r"\)")):
        loss(output, target)


@pytest.mark.parametrize("teacher_out, model_out", [(1, 3), (3, 1)])
def test_a_model_with_more_or_fewer_outputs_than_the_targets_does_not_fit_the_task(teacher_out, model_out):
    cfg = RunConfig(LinearTeacherConfig((2.0,), d_in=6, d_out=teacher_out, n_train=8), MLPConfig(d_in=6, d_out=model_out, widths=(4,)), TrainConfig(steps=1))
    with pytest.raises(ConfigError, match=rf"model 'mlp' \(d_in=6, d_out={model_out}, widths=\(4,\)\) does not fit task 'linear_teacher' \(train x \(8, 6\), y \(8, {teacher_out}\); .*\): half_sse needs output and target of one shape, got output \(2, {model_out}\) and target \(2, {teacher_out}\)"):
        validate(cfg)
