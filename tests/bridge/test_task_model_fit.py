"""A model whose output does not have the shape of a task's targets is refused by the task's own loss (and so by
``validate`` before training), never scored by a squared error broadcast across the two shapes."""

import pytest
import torch

from bridge.config import ConfigError, RunConfig, TrainConfig
from bridge.models import DeepLinearConfig, MLPConfig, TransformerConfig
from bridge.tasks import LinearTeacherConfig, ModularConfig, RepeatedTokensConfig, SparseFeaturesConfig, make_task
from bridge.training.inputs import validate


def test_the_importance_weighted_loss_is_the_weighted_squared_error_of_outputs_of_its_width():
    data = make_task(SparseFeaturesConfig(n_features=5, importance_decay=0.5, n_train=8, n_test=4), seed=0)
    y = data.train.y
    expected = float(sum(0.5**i * (y[:, i].double() ** 2).mean() for i in range(5)))  # Σ_i I_i · mean_batch y_i² (output 0)
    assert data.loss_fn(torch.zeros(8, 5), y).item() == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert expected > 0.01


@pytest.mark.parametrize(("n_features", "width"), [(5, 1), (1, 3), (5, 4)])
def test_the_importance_weighted_loss_refuses_an_output_of_another_width(n_features, width):
    data = make_task(SparseFeaturesConfig(n_features=n_features, n_train=8, n_test=4), seed=0)
    with pytest.raises(ValueError, match=rf"^ImportanceWeightedMSE needs output and target of one shape ending in the {n_features} features of its importance, got output \(8, {width}\) and target \(8, {n_features}\)$"):
        data.loss_fn(torch.zeros(8, width), data.train.y)
    with pytest.raises(ValueError, match=rf"got output \(2, 8, {width}\) and target \(2, 8, {n_features}\)$"):  # many seeds at once
        data.loss_fn.stacked(torch.zeros(2, 8, width), torch.stack([data.train.y] * 2))


def test_the_importance_weighted_loss_keeps_scoring_many_instances_against_one_target():
    data = make_task(SparseFeaturesConfig(n_features=3, n_train=8, n_test=4), seed=0)
    y = data.train.y
    out = torch.zeros(8, 2, 3)  # two instances, each scored against the same target
    assert data.loss_fn(out, y).item() == pytest.approx(2 * float((y.double() ** 2).sum(-1).mean()), rel=1e-6)
    stacked = data.loss_fn.stacked(torch.zeros(4, 8, 2, 3), torch.stack([y] * 4))
    assert stacked.tolist() == pytest.approx([data.loss_fn(out, y).item()] * 4, rel=1e-6)


@pytest.mark.parametrize("d_out", [1, 3])
def test_an_mlp_of_another_output_width_does_not_fit_a_sparse_features_task(d_out):
    n = 1 if d_out == 3 else 5
    with pytest.raises(ConfigError, match=rf"^model 'mlp' \(d_in={n}, d_out={d_out}, widths=\(4,\)\) does not fit task 'sparse_features' \(train x \(8, {n}\), y \(8, {n}\); test x \(4, {n}\), y \(4, {n}\)\): ImportanceWeightedMSE .* got output \(2, {d_out}\) and target \(2, {n}\)$"):
        validate(RunConfig(SparseFeaturesConfig(n_features=n, n_train=8, n_test=4), MLPConfig(d_in=n, d_out=d_out, widths=(4,)), TrainConfig()))
    assert len(validate(RunConfig(SparseFeaturesConfig(n_features=n, n_train=8, n_test=4), MLPConfig(d_in=n, d_out=n, widths=(4,)), TrainConfig())).train) == 8


def test_the_modular_template_loss_refuses_logits_of_another_width():
    data = make_task(ModularConfig(p=3, train_fraction=1.0, template_frequencies=(1,), template_magnitudes=(1.0,)), seed=0)
    y = data.train.y  # (9, 3) template vectors
    with pytest.raises(ValueError, match=r"^the template loss needs last-position logits of the p=3 residues, \(n, pos, 3\), for targets \(9, 3\), got logits \(9, 3, 1\)$"):
        data.loss_fn(torch.zeros(9, 3, 1), y)
    logits = torch.zeros(9, 3, 3)
    logits[:, -1] = 1.0
    assert data.loss_fn(logits, y).item() == pytest.approx(float(((1.0 - y.double()) ** 2).mean()), rel=1e-6)


@pytest.mark.parametrize(
    "model, named",
    [
        (MLPConfig(d_in=5, d_out=5, widths=(4,)), r"model 'mlp' \(d_in=5, d_out=5, widths=\(4,\)\) does not fit task 'linear_teacher' \(train x \(8, 6\), y \(8, 5\); test x \(\d+, 6\), y \(\d+, 5\)\)"),
        (DeepLinearConfig(6, 4, 3), r"model 'deep_linear' \(d_in=6, d_hidden=4, d_out=3\) does not fit task 'linear_teacher' \(train x \(8, 6\), y \(8, 5\)"),
    ],
)
def test_a_model_that_does_not_fit_its_task_is_named_with_its_sizes_and_the_tasks_shapes(model, named):
    # the refusal carried torch's words alone ("mat1 and mat2 shapes cannot be multiplied"): no size of either side
    with pytest.raises(ConfigError, match=named):
        validate(RunConfig(LinearTeacherConfig((2.0,), d_in=6, d_out=5, n_train=8), model, TrainConfig()))


def test_a_transformer_whose_vocabulary_is_smaller_than_the_tasks_tokens_is_named_with_its_d_vocab():
    task = RepeatedTokensConfig(d_vocab=32, n_ctx=32, n_train=4, n_test=2, n_off=2)
    small = TransformerConfig(d_vocab=8, n_ctx=32, d_model=8, n_heads=2, d_head=4, n_layers=1, d_mlp=None)
    with pytest.raises(ConfigError, match=r"model 'transformer' \(d_vocab=8, .*n_ctx=32.*\) does not fit task 'repeated_tokens' \(train x \(4, 32\)"):
        validate(RunConfig(task, small, TrainConfig()))
