"""Every task config outside its domain is refused at construction (before any data is drawn) by a
``ConfigError`` that names the field and shows the value received; drawn over valid small configs with one
field moved out of range."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import ConfigError
from bridge.tasks import (
    BooleanCubeConfig,
    HierarchyConfig,
    LinearTeacherConfig,
    ModularConfig,
    RepeatedTokensConfig,
    SparseFeaturesConfig,
    SparseParityConfig,
    TeacherMLPConfig,
)

non_primes = st.integers(-5, 60).filter(lambda n: n < 2 or any(n % k == 0 for k in range(2, n)))
non_positive = st.integers(-5, 0)
non_positive_floats = st.floats(-5.0, 0.0)

VALID = {
    ModularConfig: {"p": 7, "template_frequencies": (1, 3), "template_magnitudes": (1.0, 0.5)},
    SparseParityConfig: {"n_tasks": 3, "n_bits": 5, "k_bits": 2, "n_train": 10, "n_test_per_task": 2},
    BooleanCubeConfig: {"d": 4, "degrees": (1, 2), "coefficients": (1.0, -0.5), "n_train": 5},
    RepeatedTokensConfig: {"d_vocab": 16, "n_ctx": 12, "prefix": (0, 2), "block": (3, 5), "off_prefix": (3, 4), "off_block": (3, 4), "n_train": 4, "n_test": 2, "n_off": 2},
    HierarchyConfig: {"depth": 2, "branching": 3},
    SparseFeaturesConfig: {"n_features": 4, "n_train": 8, "n_test": 4},
    TeacherMLPConfig: {"d_in": 3, "n_train": 8, "n_test": 4, "width": 5},
    LinearTeacherConfig: {"singular_values": (3.0, 1.0), "d_in": 4, "d_out": 3, "n_train": 6},
}

# (config class, field, values outside its domain whatever the other fields of VALID are)
OUTSIDE = [
    (ModularConfig, "p", non_primes),
    (ModularConfig, "op", st.sampled_from(["/", "**", "plus", ""])),
    (ModularConfig, "train_fraction", st.one_of(st.floats(-2.0, 0.0), st.floats(1.0, 5.0, exclude_min=True))),
    (ModularConfig, "encoding", st.sampled_from(["onehots", "token", "bits"])),
    (ModularConfig, "template_frequencies", st.sampled_from([(0, 1), (1, 4), (3, 3), (-1, 2)])),
    (ModularConfig, "template_magnitudes", st.tuples(st.floats(-3.0, 0.0), st.floats(0.1, 2.0))),
    (ModularConfig, "random_labels", st.just(True)),
    (SparseParityConfig, "n_tasks", st.one_of(non_positive, st.integers(11, 40))),  # C(5, 2) = 10 subsets
    (SparseParityConfig, "n_bits", non_positive),
    (SparseParityConfig, "k_bits", st.one_of(non_positive, st.integers(6, 9))),
    (SparseParityConfig, "alpha", st.floats(-5.0, 0.0, exclude_max=True)),
    (SparseParityConfig, "n_train", non_positive),
    (SparseParityConfig, "n_test_per_task", non_positive),
    (BooleanCubeConfig, "d", st.one_of(non_positive, st.integers(13, 40))),
    (BooleanCubeConfig, "degrees", st.sampled_from([(1, 5), (-1, 2), (4, 4)])),
    (BooleanCubeConfig, "coefficients", st.sampled_from([(1.0,), (1.0, 2.0, 3.0)])),
    (BooleanCubeConfig, "n_train", st.one_of(non_positive, st.integers(16, 100))),
    (BooleanCubeConfig, "test", st.sampled_from(["all", "train", ""])),
    (BooleanCubeConfig, "draw", st.integers(-9, -1)),
    (BooleanCubeConfig, "subsets", st.sampled_from([((0, 4), (1,)), ((0, 0), (1,)), ((0, 1), (1, 0)), ((2,), (-1, 3))])),
    (RepeatedTokensConfig, "prefix", st.sampled_from([(3, 2), (-1, 2), (0, 6)])),  # (0, 6) with block (3, 5): 6 + 5 + 2 > n_ctx = 12
    (RepeatedTokensConfig, "block", st.sampled_from([(1, 3), (0, 4), (4, 3), (3, 9)])),
    (RepeatedTokensConfig, "off_block", st.sampled_from([(1, 3), (5, 4), (3, 7)])),
    (RepeatedTokensConfig, "n_ctx", st.integers(-3, 8)),
    (RepeatedTokensConfig, "d_vocab", st.integers(-3, 6)),
    (RepeatedTokensConfig, "off_prefix", st.sampled_from([(4, 3), (-2, 0), (3, 7)])),
    (RepeatedTokensConfig, "n_train", non_positive),
    (RepeatedTokensConfig, "n_test", non_positive),
    (RepeatedTokensConfig, "n_off", non_positive),
    (RepeatedTokensConfig, "background", st.sampled_from(["zipf", "trigram", ""])),
    (RepeatedTokensConfig, "bigram_concentration", non_positive_floats),
    (HierarchyConfig, "depth", non_positive),
    (HierarchyConfig, "branching", st.integers(-3, 1)),
    (HierarchyConfig, "feature_scale", non_positive_floats),
    (SparseFeaturesConfig, "n_features", non_positive),
    (SparseFeaturesConfig, "sparsity", st.one_of(st.floats(-2.0, 0.0, exclude_max=True), st.floats(1.0, 3.0))),
    (SparseFeaturesConfig, "importance_decay", st.one_of(non_positive_floats, st.floats(1.0, 3.0, exclude_min=True))),
    (SparseFeaturesConfig, "n_train", st.integers(-3, 1)),
    (SparseFeaturesConfig, "n_test", non_positive),
    (TeacherMLPConfig, "d_in", non_positive),
    (TeacherMLPConfig, "n_train", st.integers(-3, 1)),
    (TeacherMLPConfig, "n_test", st.integers(-9, -1)),
    (TeacherMLPConfig, "width", non_positive),
    (TeacherMLPConfig, "scale", non_positive_floats),
    (TeacherMLPConfig, "d_out", non_positive),
    (TeacherMLPConfig, "noise", st.floats(-3.0, 0.0, exclude_max=True)),
    (LinearTeacherConfig, "singular_values", st.tuples(st.floats(0.1, 3.0), st.floats(-3.0, 0.0))),
    (LinearTeacherConfig, "d_in", st.integers(-3, 1)),  # below the 2 modes
    (LinearTeacherConfig, "d_out", st.integers(-3, 1)),
    (LinearTeacherConfig, "n_train", st.integers(-3, 3)),  # below d_in = 4
    (LinearTeacherConfig, "n_test", st.integers(-9, -1)),
]
EXTRA = {(BooleanCubeConfig, "subsets"): {"degrees": ()}}  # subsets in place of the degrees


def _shown(value) -> list[str]:
    """The ways a message may show ``value`` (a tuple: as a whole or by the entry at fault)."""
    return [str(value), repr(value)] + ([str(v) for v in value] if isinstance(value, tuple) else [])


@pytest.mark.parametrize(("cls", "name", "bad"), OUTSIDE, ids=[f"{c.kind}.{n}" for c, n, _ in OUTSIDE])
@given(data=st.data())
@settings(max_examples=6, deadline=None, database=None)
def test_a_value_outside_the_domain_is_refused_naming_the_field_and_the_value(cls, name, bad, data):
    value = data.draw(bad)
    with pytest.raises(ConfigError) as refused:
        cls(**{**VALID[cls], **EXTRA.get((cls, name), {}), name: value})
    message = str(refused.value)
    assert name in message and cls.kind in message
    assert any(shown in message for shown in _shown(value)), message


def test_the_valid_bases_are_accepted_and_every_bounded_field_is_moved():
    for cls, kwargs in VALID.items():
        cls(**kwargs)
    for cls in VALID:  # every field but a free boolean has a domain, and a value outside it here
        assert {f.name for f in dataclasses.fields(cls)} - {n for c, n, _ in OUTSIDE if c is cls} <= {"shuffle_labels"}
