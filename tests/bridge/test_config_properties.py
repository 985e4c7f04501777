"""Property tests of the config layer, over every registered config kind and every case-study preset:
a config that is accepted reads back equal from its dict and from its JSON text, and from its own text
set by ``--set``; a value that is refused raises ``ConfigError`` naming the field, never another exception."""

from __future__ import annotations

import dataclasses
import json
import typing

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.config import CONFIG_CLASSES, ConfigError, RunConfig, ScheduleConfig, TrainConfig, config_from_dict, config_to_dict
from bridge.field_types import mismatch
from bridge.models import LazyConfig, MLPConfig
from bridge.overrides import apply, parse
from bridge.sweep.grid import value_text
from bridge.tasks import LinearTeacherConfig
from case_studies.base import CASE_STUDIES, get_case_study

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
PRESETS = {f"{name}/{preset}": p for name in CASE_STUDIES.names() for preset, p in get_case_study(name).presets.items()}


def configs_in(obj) -> list:
    """Every registered config nested in ``obj`` (a preset, a config), ``obj`` included."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        own = [obj] if hasattr(type(obj), "kind") else []
        return own + [c for f in dataclasses.fields(obj) for c in configs_in(getattr(obj, f.name))]
    return [c for v in obj for c in configs_in(v)] if isinstance(obj, tuple | list) else []


def project_kinds() -> list[str]:
    """The config kinds the project registers (not those a test module registers for its own models)."""
    return [kind for kind in CONFIG_CLASSES.names() if CONFIG_CLASSES.get(kind).__module__.split(".")[0] in ("bridge", "case_studies", "probes")]


def _bases() -> list:
    found = [c for p in PRESETS.values() for c in configs_in(p)]
    for kind in project_kinds():
        try:
            found.append(CONFIG_CLASSES.get(kind)())
        except (ConfigError, TypeError):  # a kind whose fields have no defaults
            pass
    deep_linear = PRESETS["deep-linear/quick"]
    found += [LazyConfig(MLPConfig(d_in=3, d_out=1), alpha=10.0), RunConfig(deep_linear.task, deep_linear.model, deep_linear.train, seed=3, name="dl")]
    return list(dict.fromkeys(found))


BASES = _bases()


def leaves(cfg, prefix: str = ""):
    """``(dotted path, value)`` of every field of ``cfg`` that is not itself a dataclass."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from leaves(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", value


numbers_ = st.one_of(
    st.integers(-3, 64),
    st.integers(-(2**70), 2**70),
    st.integers(10**300, 10**320),  # beyond the floats
    st.floats(),  # NaN and infinities too
    st.floats(0, 2),
    st.integers(0, 64).map(np.int64),
    st.floats(0.01, 1).map(np.float32),
)
words = st.sampled_from(["gd", "sgd", "adam", "adamw", "float64", "cosine", "linear", "relu", "gelu", "mup", "standard", "tokens", "onehot", "+", "*", "LN", "uniform", "", "é", "none"])
scalars = st.one_of(numbers_, st.booleans(), st.none(), words, st.text(max_size=4))
values = st.one_of(scalars, st.lists(scalars, max_size=4), st.lists(scalars, max_size=4).map(tuple), st.lists(st.lists(st.integers(0, 5), max_size=3).map(tuple), max_size=3).map(tuple))


def test_every_registered_config_kind_is_varied_from_a_valid_one():
    project = set(project_kinds())
    assert {"train", "run", "mlp", "transformer"} <= project <= {c.kind for c in BASES}


@given(st.sampled_from(BASES), st.data())
@PROPERTY
def test_a_config_with_one_field_changed_is_refused_naming_it_or_reads_back_equal_from_dict_and_json(base, data):
    name = data.draw(st.sampled_from([f.name for f in dataclasses.fields(base)]))
    value = data.draw(values)
    try:
        cfg = dataclasses.replace(base, **{name: value})
    except ConfigError as e:
        assert base.kind in str(e) or name in str(e), str(e)
        if mismatch(value, typing.get_type_hints(type(base))[name]):  # the wrong type: the message names kind.field
            assert f"{base.kind}.{name} must be " in str(e), str(e)
        return
    as_dict = config_to_dict(cfg)
    assert config_from_dict(as_dict) == cfg
    text = json.dumps(as_dict, allow_nan=False)  # plain JSON: Python numbers only, and finite
    again = config_from_dict(json.loads(text))
    assert again == cfg and config_to_dict(again) == as_dict and json.dumps(config_to_dict(again), allow_nan=False) == text
    assert hash(again) == hash(cfg)


@given(st.sampled_from(BASES), st.data())
@PROPERTY
def test_a_field_set_from_the_text_of_a_valid_value_reads_back_that_value(base, data):
    name = data.draw(st.sampled_from([f.name for f in dataclasses.fields(base)]))
    try:
        cfg = dataclasses.replace(base, **{name: data.draw(values)})
    except ConfigError:
        return
    value = getattr(cfg, name)
    if dataclasses.is_dataclass(value) or name in ("task", "model"):  # a whole config is not set from text
        return
    changed = apply(base, [f"{name}={value_text(value)}"])
    assert changed == cfg and isinstance(getattr(changed, name), bool) == isinstance(value, bool)


PRESET_LEAVES = [(key, path) for key, preset in PRESETS.items() for path, _ in leaves(preset)]
texts = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["none", "true", "nan", "NaN", "Infinity", "1e400", "-1", "0", "[]", "[1]", "[[1, 2]]", "{}", "1,,2", "[1,", "[null]", "0x10", "1" * 400, "9" * 5000, "[" + "9" * 5000 + "]"]),
    st.integers(-(2**70), 2**70).map(str),
    st.floats().map(repr),
    st.lists(st.integers(-3, 30), max_size=4).map(lambda xs: ",".join(map(str, xs))),
)


@given(st.sampled_from(PRESET_LEAVES), texts)
@PROPERTY
def test_any_text_set_on_any_preset_field_applies_or_is_refused_as_a_config_error(leaf, text):
    key, path = leaf
    preset = PRESETS[key]
    try:
        changed = apply(preset, [f"{path}={text}"])
    except ConfigError:
        return
    assert PRESETS[key] is preset and type(changed) is type(preset)
    for cfg in configs_in(changed):  # what was accepted holds Python values its JSON reads back as
        assert config_from_dict(json.loads(json.dumps(config_to_dict(cfg), allow_nan=False))) == cfg


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["kind", "d_in", "n_log"]) | st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def config_dicts(draw) -> dict:
    """A dict naming a registered kind and some of its fields, with any JSON values (nested configs among them)."""
    kind = draw(st.sampled_from(CONFIG_CLASSES.names()))
    names = [f.name for f in dataclasses.fields(CONFIG_CLASSES.get(kind))]
    values = json_values | st.sampled_from(CONFIG_CLASSES.names()).map(lambda k: {"kind": k}) | st.sampled_from([config_to_dict(c) for c in BASES])
    return {"kind": kind, **{n: draw(values) for n in draw(st.lists(st.sampled_from(names), max_size=len(names), unique=True))}}


@given(config_dicts())
@PROPERTY
def test_any_json_object_naming_a_config_kind_reads_as_that_config_or_is_refused_as_a_config_error(data):
    try:
        cfg = config_from_dict(data)
    except ConfigError:
        return
    assert cfg.kind == data["kind"] and config_from_dict(json.loads(json.dumps(config_to_dict(cfg), allow_nan=False))) == cfg


# The examples the properties above found, written out.


def test_a_float_field_given_an_integer_beyond_the_floats_is_refused_naming_the_field():
    with pytest.raises(ConfigError, match=r"^train\.lr must be a finite number, got an integer of about 400 digits \(int\)$"):
        TrainConfig(lr=10**400)
    with pytest.raises(ConfigError, match=r"^lr must be a finite number, got '1111"):
        apply(TrainConfig(), ["lr=" + "1" * 400])
    with pytest.raises(ConfigError, match=r"^betas must be a finite number"):
        apply(TrainConfig(), ["betas=" + "1" * 400 + ",0.5"])


def test_an_integer_too_long_to_print_is_refused_naming_the_field():
    with pytest.raises(ConfigError, match=r"^train\.steps must be an integer within ±\(2\*\*63 - 1\), got an integer of about 5000 digits \(int\)$"):
        TrainConfig(steps=10**5000)


def test_an_integer_past_the_int64_range_is_refused_for_its_size_not_its_type():
    with pytest.raises(ConfigError, match=r"^train\.steps must be an integer within ±\(2\*\*63 - 1\), got 9223372036854775808 \(int\)$"):
        TrainConfig(steps=2**63)
    assert TrainConfig(steps=2**63 - 1).steps == 2**63 - 1
    with pytest.raises(ConfigError, match=r"^train\.steps must be an integer, got 2\.5 \(float\)$"):
        TrainConfig(steps=2.5)
    with pytest.raises(ConfigError, match=r"^steps must be an integer, got '1111"):
        apply(TrainConfig(), ["steps=" + "1" * 5000])
    with pytest.raises(ConfigError, match=r"^widths must be a list such as \[1, 2\] or 1,2; '\[1111"):
        parse("[" + "1" * 5000 + "]", tuple[int, ...], "widths")


def test_numpy_numbers_are_accepted_as_the_python_numbers_they_hold():
    cfg = TrainConfig(optimizer="sgd", steps=np.int64(10), lr=np.float32(0.5), batch_size=np.int32(4), betas=[np.float64(0.5), np.float32(0.25)], schedule=ScheduleConfig(n_log=np.uint8(3)))
    assert (cfg.steps, cfg.lr, cfg.batch_size, cfg.betas, cfg.schedule.n_log) == (10, 0.5, 4, (0.5, 0.25), 3)
    assert [type(v) for v in (cfg.steps, cfg.lr, cfg.batch_size, *cfg.betas, cfg.schedule.n_log)] == [int, float, int, float, float, int]
    assert config_from_dict(json.loads(json.dumps(config_to_dict(cfg)))) == cfg
    widths = MLPConfig(d_in=np.int64(3), d_out=1, widths=[np.int64(8), 8]).widths
    assert widths == (8, 8) and all(type(w) is int for w in widths)


def test_a_config_dict_without_a_field_that_has_no_default_is_refused_naming_it():
    with pytest.raises(ConfigError, match=r"^mlp: missing fields \['d_out'\] \(they have no default\)$"):
        config_from_dict({"kind": "mlp", "d_in": 3})
    with pytest.raises(ConfigError, match=r"^linear_teacher: missing fields \['singular_values', 'd_in', 'd_out'\]"):
        config_from_dict({"kind": "run", "task": {"kind": "linear_teacher"}, "model": config_to_dict(MLPConfig(d_in=3, d_out=1)), "train": {"kind": "train"}})


@pytest.mark.parametrize("data", [{"kind": []}, {"kind": {"a": 1}}, {"kind": "train", "schedule": {"kind": ["schedule"]}}])
def test_a_kind_that_is_not_text_is_refused_as_a_config_error(data):
    with pytest.raises(ConfigError, match=r"^a config's 'kind' names its class, got "):
        config_from_dict(data)


def test_a_float_field_holds_a_float_so_its_text_reads_back_equal():
    big = TrainConfig(weight_decay=10**300)  # 10**300 is no float: as an integer its text would read back as another number
    assert type(big.weight_decay) is float and apply(TrainConfig(), [f"weight_decay={value_text(big.weight_decay)}"]) == big
    assert type(TrainConfig(lr=1).lr) is float and LinearTeacherConfig((2, 1), d_in=2, d_out=2).singular_values == (2.0, 1.0)
    assert [type(s) for s in LinearTeacherConfig((2, 1), d_in=2, d_out=2).singular_values] == [float, float]
