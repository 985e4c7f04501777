"""How a sweep reads the values of its grid: text as typed on a command line against the same values in Python."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import ConfigError
from bridge.sweep.grid import grid_points, parse_grid_option, parse_seeds, value_text
from bridge.sweep.manifest import difference, new_manifest


def test_true_false_and_none_typed_as_text_are_the_same_sweep_as_in_python():
    typed = grid_points({"train.flag": ["true", "false"], "train.name": ["none", "adam"]})
    python = grid_points({"train.flag": [True, False], "train.name": [None, "adam"]})
    assert typed == python
    assert typed[0].params == {"train.flag": True, "train.name": None}
    assert [p.key for p in typed] == ["train.flag=true__train.name=none", "train.flag=true__train.name=adam", "train.flag=false__train.name=none", "train.flag=false__train.name=adam"]
    a, b = (new_manifest({"kind": "run", "config": {}}, pts, "local") for pts in (typed, python))
    assert difference(a, b) is None


def test_other_words_stay_text():
    assert grid_points({"train.name": ["True", "null", "yes", "adam"]})[0].params == {"train.name": "True"}
    assert [p.params["train.name"] for p in grid_points({"train.name": ["True", "null", "yes", "adam"]})] == ["True", "null", "yes", "adam"]


@pytest.mark.parametrize("text", ["train.lr=1e-3,", "train.lr=,1e-3", "train.lr=", "train.lr=1e-3,,3e-3", "=1e-3", " =1e-3"])
def test_a_grid_option_with_an_empty_path_or_value_is_refused_whole(text):
    with pytest.raises(ConfigError) as e:
        parse_grid_option(text)
    assert str(e.value) == f"--grid takes key=v1,v2,..., got {text!r}"


def test_seeds_named_twice_count_once_against_the_limit_of_10000():
    assert parse_seeds("0-5999,0-5999") == list(range(6000))
    assert len(parse_seeds("0-9999,5000-9999")) == 10000
    with pytest.raises(ConfigError) as e:
        parse_seeds("0-5999,5000-10000")
    assert str(e.value) == "--seeds '0-5999,5000-10000' holds more than 10000 seeds"


def test_the_largest_seed_is_two_to_the_63_minus_one():
    assert parse_seeds("9223372036854775807") == [2**63 - 1]
    with pytest.raises(ConfigError) as e:
        parse_seeds("9223372036854775806-9223372036854775808")
    assert str(e.value) == "--seeds: seeds must lie in [0, 2**63 - 1], got '9223372036854775806-9223372036854775808'"


def test_seeds_given_both_as_an_axis_and_as_seeds_are_refused():
    with pytest.raises(ConfigError) as e:
        grid_points({"seed": [0, 1]}, seeds=[2])
    assert str(e.value) == "give the seeds either as a grid axis 'seed' or as seeds, not both"


def test_a_list_value_is_one_cell_of_the_results_joined_by_commas(tmp_path):
    from bridge.sweep.runner import write_results

    write_results(tmp_path, new_manifest({"kind": "run"}, grid_points({"model.widths": ["[8,8]", "[16]"]}), "local"))
    assert (tmp_path / "results.csv").read_text().splitlines() == ["key,model.widths,status,error,seconds", '"model.widths=8,8","8,8",pending,,', "model.widths=16,16,pending,,"]


def test_a_value_no_command_line_could_give_is_refused_naming_its_field():
    for grid, message in [
        ({"train.lr": ["NaN"]}, "sweep setting 'train.lr': sweep values must be finite, got nan"),
        ({"train.lr": [0.1, float("inf")]}, "sweep setting 'train.lr': sweep values must be finite, got inf"),
        ({"model.widths": [{"a": 1}]}, "sweep setting 'model.widths': sweep values are numbers, text, booleans, None or lists of them, got {'a': 1}"),
    ]:
        with pytest.raises(ConfigError) as e:
            grid_points(grid)
        assert str(e.value) == message
    with pytest.raises(ConfigError) as e:
        grid_points(points=[{"train.lr": 0.1}, {"train.lr": float("nan")}])
    assert str(e.value) == "sweep setting 'train.lr': sweep values must be finite, got nan"


def test_an_axis_in_one_sweep_only_is_named_with_the_side_it_is_on():
    one = new_manifest({"kind": "run"}, grid_points({"train.lr": [0.1]}), "local")
    two = new_manifest({"kind": "run"}, grid_points({"train.lr": [0.1], "model.d_hidden": [8]}), "local")
    assert difference(one, two) == "axis model.d_hidden is here, not there"
    assert difference(two, one) == "axis model.d_hidden is there, not here"


def test_a_grid_value_of_more_digits_than_python_reads_stays_text_which_its_field_refuses():
    from bridge.config import TrainConfig
    from bridge.overrides import apply
    from bridge.sweep.grid import Point, _typed

    assert _typed("9" * 5000) == "9" * 5000
    with pytest.raises(ConfigError, match=r"^lr must be a number, got '9999"):
        apply(TrainConfig(), Point((("lr", _typed("9" * 5000)),)).config_settings())
    with pytest.raises(ConfigError, match=r"is 5003 bytes, longer than a folder name"):  # and no sweep can name its folder
        grid_points({"lr": ["9" * 5000]})


@pytest.mark.parametrize(("value", "digits"), [(10**5000, 5000), (-(10**400), 400), ([1, 10**400], 400)], ids=["10**5000", "-10**400", "in a list"])
def test_an_integer_beyond_every_float_is_refused_as_a_grid_value_naming_the_setting(value, digits):
    with pytest.raises(ConfigError, match=rf"^sweep setting 'train.lr': sweep values must be finite, got an integer of about {digits} digits$"):
        grid_points({"train.lr": [value]})


def test_numpy_values_of_a_point_are_written_as_the_python_values_they_hold():
    import numpy as np

    from bridge.sweep.grid import Point

    assert [value_text(v) for v in (np.float64(0.003), np.float32(0.5), np.int64(7), np.array([1, 2]))] == ["0.003", "0.5", "7", "[1, 2]"]
    point = Point((("train.lr", np.float64(0.003)), ("model.widths", np.array([8, 8])), ("task.subsets", [(np.int64(1), 2), np.array([3])])))
    assert point.config_settings() == ["train.lr=0.003", "model.widths=[8, 8]", "task.subsets=[[1, 2], [3]]"]
    assert point.key == "train.lr=0.003__model.widths=8,8__task.subsets=(1,2),(3)"


def test_a_list_value_holding_nan_is_refused_as_nan_alone_is():
    for value in (float("nan"), [0.5, float("nan")], [[1.0], [float("inf")]]):
        with pytest.raises(ConfigError, match=r"^sweep setting 'model.widths': sweep values must be finite, got (nan|inf)$"):
            grid_points({"model.widths": [value]})


_scalars = st.one_of(st.integers(-(10**6), 10**6), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none(), st.sampled_from(["adam", "gd", "x_y"]))


@given(st.lists(st.one_of(_scalars, st.lists(st.one_of(st.integers(-5, 50), st.floats(-2, 2)), max_size=3)), min_size=1, max_size=4))
@settings(max_examples=200, deadline=None, database=None)
def test_a_grid_typed_on_a_command_line_from_the_values_text_is_the_grid_given_in_python(values):
    try:
        python = grid_points({"train.x": values})
    except ConfigError:  # a value given twice
        return
    path, texts = parse_grid_option("train.x=" + ",".join(value_text(v) for v in values))
    typed = grid_points({path: texts})
    assert [p.params for p in typed] == [p.params for p in python] and [p.key for p in typed] == [p.key for p in python]
    assert [p.config_settings() for p in typed] == [p.config_settings() for p in python]


def test_nested_lists_that_flatten_alike_are_two_points_with_their_own_keys():
    points = grid_points({"task.groups": [[[1, 2], [3]], [[1], [2, 3]], [1, 2, 3]]})
    assert [p.key for p in points] == ["task.groups=(1,2),(3)", "task.groups=(1),(2,3)", "task.groups=1,2,3"]
    assert grid_points({"model.widths": [[64, 64]]})[0].key == "model.widths=64,64"  # a flat list keeps its key


def test_a_key_too_long_for_a_folder_name_is_refused_before_any_work():
    with pytest.raises(ConfigError, match=r"is 262 bytes, longer than a folder name may be \(255\)"):
        grid_points({"task.name": ["a" * 252]})
    assert len(grid_points({"task.name": ["a" * 245]})[0].key) == 255
