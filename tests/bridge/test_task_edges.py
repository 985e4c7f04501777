"""Every registered task at the edges of its sizes and scales, through training: a task without a test split
trains and records no test rows; a scale whose data or loss overflow the training dtype is refused before any
file is written by a ``ConfigError`` naming the task, the seed and the sizes (it trained into a divergence at
step 0 that blamed the learning rate)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bridge import RunConfig, TrainConfig, train
from bridge.config import ConfigError
from bridge.models import MLPConfig, TransformerConfig
from bridge.tasks import (
    TASKS,
    BooleanCubeConfig,
    HierarchyConfig,
    LinearTeacherConfig,
    ModularConfig,
    RepeatedTokensConfig,
    SparseFeaturesConfig,
    SparseParityConfig,
    TeacherMLPConfig,
)
from bridge.tasks.hierarchy import make_hierarchy
from bridge.tasks.linear import make_linear_teacher
from bridge.training.inputs import validate

SMALL = {  # kind → (a small task, a model that fits it)
    "teacher_mlp": (TeacherMLPConfig(d_in=3, n_train=8, n_test=4, width=5), MLPConfig(3, 1, widths=(4,))),
    "linear_teacher": (LinearTeacherConfig((3.0, 1.0), d_in=4, d_out=3, n_train=6, n_test=4), MLPConfig(4, 3, widths=(4,))),
    "hierarchy": (HierarchyConfig(depth=2, branching=2), MLPConfig(4, 7, widths=(4,))),
    "boolean_cube": (BooleanCubeConfig(d=4, degrees=(1, 2), coefficients=(1.0, -0.5), n_train=5), MLPConfig(4, 1, widths=(4,))),
    "modular": (ModularConfig(p=7, encoding="onehot", template_frequencies=(1,), template_magnitudes=(1.0,)), MLPConfig(14, 7, widths=(4,))),
    "sparse_features": (SparseFeaturesConfig(n_features=4, n_train=8, n_test=4), MLPConfig(4, 4, widths=(4,))),
    "multitask_sparse_parity": (SparseParityConfig(n_tasks=3, n_bits=5, k_bits=2, n_train=10, n_test_per_task=2), MLPConfig(8, 2, widths=(4,))),
    "repeated_tokens": (
        RepeatedTokensConfig(d_vocab=16, n_ctx=12, prefix=(0, 2), block=(3, 5), off_prefix=(3, 4), off_block=(3, 4), n_train=4, n_test=2, n_off=2),
        TransformerConfig(d_vocab=16, n_ctx=12, d_model=8, n_heads=1, d_head=8, n_layers=1, d_mlp=None),
    ),
}
# kind → the field that scales its targets (None: inputs and targets bounded by construction: bits, tokens, [0, 1])
SCALE = {
    "teacher_mlp": "noise",
    "linear_teacher": "singular_values",
    "hierarchy": "feature_scale",
    "boolean_cube": "coefficients",
    "modular": "template_magnitudes",
    "sparse_features": None,
    "multitask_sparse_parity": None,
    "repeated_tokens": None,
}
NO_TEST = {"teacher_mlp": {"n_test": 0}, "linear_teacher": {"n_test": 0}, "modular": {"train_fraction": 1.0}, "hierarchy": {}}
SCALED = [kind for kind, name in SCALE.items() if name]


def scaled(kind: str, scale: float):
    task, model = SMALL[kind]
    value = getattr(task, SCALE[kind])
    return RunConfig(dataclasses.replace(task, **{SCALE[kind]: tuple(scale for _ in value) if isinstance(value, tuple) else scale}), model, TrainConfig(lr=0.01, steps=2), seed=3)


def test_every_registered_task_has_a_small_config_and_says_what_scales_it():
    assert set(SMALL) == set(SCALE) == set(TASKS.names())


@pytest.mark.parametrize("kind", sorted(SMALL))
def test_the_small_config_of_every_task_trains(kind, tmp_path):
    task, model = SMALL[kind]
    run = train(RunConfig(task, model, TrainConfig(lr=0.01, steps=2)), tmp_path / "run", device="cpu", progress=False)
    assert run.status == "complete" and run.steps[-1] == 2


@pytest.mark.parametrize("kind", sorted(NO_TEST))
def test_a_task_without_a_test_split_trains_and_records_train_rows_only(kind, tmp_path):
    task, model = SMALL[kind]
    cfg = RunConfig(dataclasses.replace(task, **NO_TEST[kind]), model, TrainConfig(lr=0.01, steps=2))
    assert validate(cfg).test is None
    run = train(cfg, tmp_path / "run", device="cpu", progress=False)
    observables = set(run.metrics["observable"])
    assert "loss/train" in observables and not any(o.endswith("/test") for o in observables), observables
    assert run.metrics.loc[run.metrics["observable"] == "loss/train", "value"].between(0.0, 1e3).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", SCALED)
def test_targets_that_overflow_to_inf_are_refused_naming_the_task_seed_and_sizes_before_any_file(kind, dtype, tmp_path):
    cfg = scaled(kind, 1e300)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, dtype=dtype))
    with pytest.raises(ConfigError) as refused:
        train(cfg, tmp_path / "run", device="cpu", progress=False)
    message = str(refused.value)
    assert message.startswith(f"task {kind!r} drawn by seed 3 gives non-finite train targets y in {dtype}: "), message
    assert "train x (" in message and f"{SCALE[kind]}=" in message and "1e+300" in message, message
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kind", SCALED)
def test_targets_whose_loss_overflows_float32_are_refused_before_any_step_not_blamed_on_the_learning_rate(kind, tmp_path):
    """Targets of 1e38 are finite in float32 but their squared error is not: training ended at step 0 with
    "training loss became inf at step 0; lower train.lr", though no step had been taken."""
    with pytest.raises(ConfigError) as refused:
        train(scaled(kind, 1e38), tmp_path / "run", device="cpu", progress=False)
    message = str(refused.value)
    assert f"on task {kind!r} drawn by seed 3 is inf on its first 2 training examples before any step" in message, message
    assert "overflow float32" in message and "train x (" in message and "lr" not in message.split("(")[0], message
    assert not (tmp_path / "run").exists()



def test_a_feature_scale_whose_targets_underflow_float32_is_refused_by_name():
    """feature_scale = 1e-300 made every float32 target 0 and info["U"] NaN (0/0 after the norms' squares underflowed)."""
    with pytest.raises(ConfigError, match=r"hierarchy\.feature_scale = 1e-300 .*float32.*at least 3\.52[0-9]*e-38"):
        HierarchyConfig(depth=2, branching=3, feature_scale=1e-300)   # 9 items: the bound is 3 × 1.175e-38
    data = make_hierarchy(HierarchyConfig(depth=2, branching=3, feature_scale=1e-30), seed=0)   # well above it: exact
    assert bool(torch.isfinite(data.info["U"]).all()) and float(data.train.y.max()) == pytest.approx(1e-30, rel=1e-6)
    ones = make_hierarchy(HierarchyConfig(depth=2, branching=3), seed=0)
    torch.testing.assert_close(data.info["S"], ones.info["S"] * 1e-30, rtol=1e-6, atol=0)
    torch.testing.assert_close(data.info["U"], ones.info["U"], rtol=1e-6, atol=1e-7)


def test_a_singular_value_whose_targets_underflow_float32_is_refused_by_name():
    """(1e-300, 1.0) stored S = (0, 1) in float32: the first mode was dropped without a word."""
    with pytest.raises(ConfigError, match=r"linear_teacher\.singular_values\[0\] = 1e-300 .*float32.*at least 4\.[0-9]*e-38"):
        LinearTeacherConfig((1e-300, 1.0), d_in=4, d_out=3)   # the bound is √(4 · 3) × 1.18e-38
    data = make_linear_teacher(LinearTeacherConfig((1e-30,), d_in=4, d_out=3, n_test=0), seed=0)   # well above it: kept
    assert float(data.info["S"][0]) == pytest.approx(1e-30, rel=1e-6)
    assert float(torch.linalg.matrix_norm(data.info["teacher"], ord=2)) == pytest.approx(1e-30, rel=1e-5)
