"""A task or model whose sizes need more memory than the machine has is refused by a ConfigError naming the sizing
fields and the bytes before anything is allocated (not a RuntimeError from torch's allocator, nor a process killed
once the memory is touched); the estimate it is judged by is close to what the builder really holds."""

import time

import pytest
import torch

import bridge.tasks.memory
from bridge.config import ConfigError, RunConfig, TrainConfig
from bridge.models import DeepLinearConfig, LazyConfig, MLPConfig, ToySuperpositionConfig, TransformerConfig, build_model
from bridge.tasks import (
    LinearTeacherConfig,
    ModularConfig,
    RepeatedTokensConfig,
    SparseFeaturesConfig,
    SparseParityConfig,
    TeacherMLPConfig,
    make_task,
)
from bridge.tasks.memory import check_memory, estimate
from bridge.training.inputs import validate

M = 10**6
HUGE_TASKS = [  # each far beyond any machine's memory (a TB or more)
    (LinearTeacherConfig((1.0,), d_in=M, d_out=M), "d_in=1000000, d_out=1000000"),
    (LinearTeacherConfig((1.0,), d_in=4, d_out=4, n_test=10**11), "n_test=100000000000"),
    (ModularConfig(p=1000003), "p=1000003"),
    (ModularConfig(p=2**61 - 1), f"p={2**61 - 1}"),
    (ModularConfig(p=10007, encoding="onehot"), "p=10007, encoding='onehot'"),
    (RepeatedTokensConfig(n_train=10**11), "n_train=100000000000"),
    (RepeatedTokensConfig(d_vocab=10**11, n_train=10, n_test=10, n_off=10), "d_vocab=100000000000"),
    (RepeatedTokensConfig(n_ctx=10**11, n_train=10, n_test=10, n_off=10), "n_ctx=100000000000"),
    (SparseFeaturesConfig(n_features=M, n_train=M), "n_features=1000000, n_train=1000000"),
    (SparseParityConfig(n_train=10**12), "n_train=1000000000000"),
    (TeacherMLPConfig(n_train=10**11), "n_train=100000000000"),
    (TeacherMLPConfig(width=10**11), "width=100000000000"),
]
HUGE_MODELS = [
    (MLPConfig(d_in=M, d_out=M, widths=(M,)), "d_in=1000000, widths=(1000000,), d_out=1000000"),
    (DeepLinearConfig(d_in=M, d_hidden=M, d_out=M), "d_hidden=1000000"),
    (TransformerConfig(d_vocab=10**9, n_ctx=4), "d_vocab=1000000000"),
    (TransformerConfig(d_vocab=7, n_ctx=10**7), "n_ctx=10000000"),
    (ToySuperpositionConfig(n_features=M, n_hidden=M), "n_features=1000000, n_hidden=1000000"),
    (LazyConfig(MLPConfig(d_in=M, d_out=1, widths=(M,))), "widths=(1000000,)"),
]
MESSAGE = r"needs about [0-9.e+]+ [kMGTPE]?B of memory( for 2 copies)?, more than the [0-9.]+ [kMGTPE]?B of this machine$"


@pytest.mark.parametrize(("config", "named"), HUGE_TASKS, ids=lambda v: getattr(v, "kind", ""))
def test_a_task_too_large_for_memory_is_refused_naming_its_sizes(config, named):
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=rf"^{config.kind} with .*{_escaped(named)}.* {MESSAGE}"):
        make_task(config, seed=0)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(("config", "named"), HUGE_MODELS, ids=lambda v: getattr(v, "kind", ""))
def test_a_model_too_large_for_memory_is_refused_naming_its_sizes(config, named):
    kind = config.model.kind if config.kind == "lazy" else config.kind
    with pytest.raises(ConfigError, match=rf"^{kind} with .*{_escaped(named)}.* {MESSAGE}"):
        build_model(config, seed=0)


def test_training_refuses_a_task_too_large_before_building_it():
    config = RunConfig(SparseFeaturesConfig(n_features=M, n_train=M), MLPConfig(d_in=M, d_out=M, widths=(4,)), TrainConfig())
    with pytest.raises(ConfigError, match=r"^sparse_features with n_features=1000000, n_train=1000000, n_test=4096 needs about 17.1 TB of memory"):
        validate(config)


def _tensor_bytes(data) -> int:
    splits = [data.train, data.test, *(v for v in data.info.values() if hasattr(v, "x") and hasattr(v, "y"))]
    held = sum(t.nbytes for s in splits if s is not None for t in {id(s.x): s.x, id(s.y): s.y}.values())
    return held + sum(v.nbytes for v in data.info.values() if isinstance(v, torch.Tensor))


@pytest.mark.parametrize(
    "config",
    [
        LinearTeacherConfig((1.0,), d_in=64, d_out=32, n_train=256, n_test=128),
        ModularConfig(p=53),
        ModularConfig(p=31, encoding="onehot"),
        RepeatedTokensConfig(d_vocab=64, n_ctx=32, n_train=4096, n_test=512, n_off=512),
        SparseFeaturesConfig(n_features=64, n_train=2048, n_test=1024),
        SparseParityConfig(n_tasks=20, n_bits=40, k_bits=3, n_train=4096, n_test_per_task=64),
        TeacherMLPConfig(d_in=16, width=64, n_train=512, n_test=256),
    ],
    ids=lambda c: c.kind,
)
def test_a_task_estimate_is_within_a_small_factor_of_the_tensors_it_returns(config):
    """The estimate covers what the task returns and the temporaries it draws them with: at least what is
    returned, at most ten times it (a config is refused only when it is really too large)."""
    need, held = estimate(config)[1], _tensor_bytes(make_task(config, seed=0))
    assert held <= need <= 10 * held, (need, held)


@pytest.mark.parametrize(
    "config",
    [MLPConfig(d_in=30, d_out=7, widths=(64, 32)), DeepLinearConfig(12, 40, 9, depth=4), ToySuperpositionConfig(20, 5, n_instances=3),
     TransformerConfig(d_vocab=50, n_ctx=16, d_model=32, n_heads=2, d_head=16, d_mlp=64, n_layers=2)],
    ids=lambda c: c.kind,
)
def test_a_model_estimate_is_within_a_small_factor_of_its_weights(config):
    model = build_model(config, seed=0)
    held = sum(t.nbytes for t in model.state_dict().values())
    need = estimate(config)[1]
    assert held <= need <= 3 * held + 4096 * 8, (need, held)


def test_the_limit_is_the_machine_memory_and_a_lazy_model_counts_both_copies(monkeypatch):
    inner = MLPConfig(d_in=30, d_out=7, widths=(64,))
    need = estimate(inner)[1]
    assert need == 4 * (31 * 64 + 65 * 7)
    check_memory(inner, limit=need)
    with pytest.raises(ConfigError, match=rf"^mlp with d_in=30, widths=\(64,\), d_out=7 needs about {need / 1000:.1f} kB of memory, more than the {(need - 1) / 1000:.1f} kB of this machine$"):
        check_memory(inner, limit=need - 1)
    monkeypatch.setattr(bridge.tasks.memory, "machine_memory", lambda: need + need // 2)
    assert build_model(inner, seed=0)(torch.zeros(2, 30)).shape == (2, 7)
    with pytest.raises(ConfigError, match=r"^mlp with .* of memory for 2 copies, more than the 14.6 kB of this machine$"):
        build_model(LazyConfig(inner, alpha=2.0), seed=0)


def _escaped(text: str) -> str:
    import re

    return re.escape(text)
