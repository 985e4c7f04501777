"""What a logger is given of the metrics rows: the scalar's tag, finite values only, in step order."""

import math

import numpy as np
import pytest

from bridge.training.loggers import _scalars, check_logger_names, tag


def test_a_tag_appends_the_index_columns_that_hold_a_value_in_their_order():
    row = {"step": 3, "observable": "modes/strength", "value": 0.5, "mode": 2, "split": None, "head": float("nan"), "layer": np.float64("nan"), "group": "w.0"}
    assert tag(row) == "modes/strength[mode=2,group=w.0]"
    assert tag({"step": 3, "observable": "loss/train", "value": 0.5, "mode": 0}) == "loss/train[mode=0]"  # 0 is a value


def test_scalars_keep_finite_values_in_step_order_with_their_tags():
    rows = [
        {"step": 10, "observable": "loss/train", "value": 0.25},
        {"step": 2, "observable": "loss/train", "value": 1.0},
        {"step": 5, "observable": "loss/train", "value": float("nan")},
        {"step": 6, "observable": "loss/train", "value": math.inf},
        {"step": 7, "observable": "loss/train", "value": None},
        {"step": 2, "observable": "acc", "value": 1, "split": "test"},
    ]
    assert _scalars(rows) == [(2, "loss/train", 1.0), (2, "acc[split=test]", 1.0), (10, "loss/train", 0.25)]


@pytest.mark.parametrize("names", ["tensorboard", [object()]])
def test_logger_names_must_be_a_list_of_names(names):
    with pytest.raises(TypeError, match=r"give loggers by name \(loggers=\['tensorboard'\]\), one fresh logger per run"):
        check_logger_names(names)
