"""Grid expansion against an independent reference: the points of a drawn grid are its cartesian product
(seeds fastest), each once, in order, with distinct keys that survive the manifest; listed points keep their
own seeds."""

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import ConfigError
from bridge.sweep.grid import Point, grid_points, value_text
from bridge.sweep.manifest import new_manifest

_values = st.one_of(
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([0.1, 0.1000000001, -0.5, -1, "-2", "1e-3", "a b", "a/b", "x y/z", "[1,2]", [8, 8], [16]]),
)
TYPED = {"-2": -2, "1e-3": 0.001, "[1,2]": [1, 2]}  # text as a command line types it
_axes = st.dictionaries(st.sampled_from(["train.lr", "model.widths", "task.noise", "train.optimizer"]), st.lists(_values, min_size=1, max_size=3), min_size=1, max_size=3)


@given(_axes, st.one_of(st.none(), st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=3, unique=True)))
@settings(max_examples=150, deadline=None, database=None)
def test_a_drawn_grid_is_its_cartesian_product_in_order_each_point_once_with_distinct_keys(axes, seeds):
    typed = {path: [TYPED.get(v, v) if isinstance(v, str) else v for v in values] for path, values in axes.items()}
    repeated = any(len({value_text(v) for v in values}) < len(values) for values in typed.values())
    one_key = any("a b" in values and "a/b" in values for values in axes.values())  # both are keyed a_b
    try:
        pts = grid_points(axes, seeds=seeds)
    except ConfigError as e:  # refused only for a value repeated on its axis or two points with one key, named
        assert repeated or one_key, str(e)
        assert ("repeats a value" in str(e) and repeated) or ("the same key" in str(e) and one_key), str(e)
        return
    assert not repeated and not one_key
    reference = list(itertools.product(*typed.values(), *([seeds] if seeds is not None else [])))
    names = [*axes, *(["seed"] if seeds is not None else [])]
    assert len(pts) == len(reference)
    for point, combo in zip(pts, reference):
        assert [path for path, _ in point.settings] == names
        assert [value_text(v) for _, v in point.settings] == [value_text(v) for v in combo]
    keys = [p.key for p in pts]
    assert len(set(keys)) == len(keys) and all("/" not in k and " " not in k for k in keys)
    assert [p.key for p in grid_points(axes, seeds=seeds)] == keys  # stable
    stored = json.loads(json.dumps(new_manifest({"kind": "run"}, pts, "local")))["points"]
    assert [Point(tuple(r["params"].items())).key for r in stored] == keys == [r["key"] for r in stored]


def test_a_listed_point_that_names_its_seed_is_refused_when_seeds_are_also_given():
    # the listed seed was dropped for the given ones: {"seed": 1} with seeds [2] was one point, seed 2
    with pytest.raises(ConfigError) as e:
        grid_points(points=[{"train.lr": 0.1, "seed": 1}], seeds=[2])
    assert str(e.value) == "give the seeds either in the listed points or as seeds, not both (point 0 sets seed=1)"
    assert [p.key for p in grid_points(points=[{"train.lr": 0.1, "seed": 1}, {"train.lr": 0.1, "seed": 3}])] == ["train.lr=0.1__seed=1", "train.lr=0.1__seed=3"]
