"""One check of a list of seeds, shared by sweeps, ``train_seeds`` and the seed, robustness and
universality studies: the same list is accepted or refused alike everywhere, and NumPy integers count."""

import numpy as np
import pytest

from bridge.config import ConfigError
from bridge.sweep.grid import check_seeds, grid_points

REFUSED = [([], "the list names no seed"), ("0-2", r"must be a list of integers, got '0-2' \(parse_seeds"), (3, "must be a list of integers, got 3"), ([0, -1], "got -1"), ([0, 1.5], "got 1.5"), ([True], "got True"), ([2, 2], "seed 2 twice")]


@pytest.mark.parametrize(("seeds", "named"), REFUSED)
def test_a_bad_seed_list_is_refused_with_its_value_by_every_entry_point(seeds, named):
    with pytest.raises(ConfigError, match=f"seeds {named}" if named.startswith("must") else named):
        check_seeds(seeds)
    with pytest.raises(ConfigError, match=f"sweep seeds.*{named}" if not named.startswith("the") else "sweep seeds: the list names no seed"):
        grid_points({"train.lr": [0.1]}, seeds=seeds)


def test_numpy_integers_are_seeds_and_come_back_as_int():
    seeds = check_seeds(np.arange(3))
    assert seeds == [0, 1, 2] and all(type(s) is int for s in seeds)
    assert [p.seed for p in grid_points({"train.lr": [0.1]}, seeds=np.array([4, 7]))] == [4, 7]
    assert [type(p.seed) for p in grid_points({"train.lr": [0.1]}, seeds=np.array([4]))] == [int]
