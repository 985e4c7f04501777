"""The metrics table's row check: the exact-type shortcut for a tracker's common rows accepts only
rows the full checks accept, and every other row still meets the full checks."""

import itertools

import numpy as np
import pytest

import bridge.runs.metrics as metrics
from bridge.runs.metrics import validate_rows

STEPS = [0, 7, -1, True, 1.0, np.int64(3), "3", None]
VALUES = [0.5, float("nan"), None, 2, np.float64(0.5), np.float32(0.5), True, "0.5", complex(1, 0)]
INDICES = [None, 3, np.int64(3), "head", "", "nan", "7", True, 1.5, float("nan")]
OBSERVABLES = ["loss/train", "", None, 3, "loss\r/train"]


def _full_check_accepts(row: dict) -> bool:
    try:
        validate_rows([row])
    except ValueError:
        return False
    return True


def test_the_shortcut_never_accepts_a_row_the_full_checks_refuse(monkeypatch):
    rows = [
        {"step": step, "observable": observable, "value": value, **({} if index == "absent" else {"mode": index})}
        for step, observable, value, index in itertools.product(STEPS, OBSERVABLES, VALUES, [*INDICES, "absent"])
    ]
    shortcut = [metrics._plainly_tidy(r) for r in rows]
    monkeypatch.setattr(metrics, "_plainly_tidy", lambda r: False)
    full = [_full_check_accepts(r) for r in rows]
    assert all(f for s, f in zip(shortcut, full) if s)
    assert sum(shortcut) == 3 * 3 * 3  # steps 0, 7, -1 of a named observable; values 0.5, NaN, None; index None, 3 or none
    assert sum(full) > sum(shortcut)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"step": True, "observable": "loss", "value": 0.5}, "step must be an integer, got True"),
        ({"step": 0, "observable": "loss", "value": 0.5, "mode": True}, None),
        ({"step": 0, "observable": "loss", "value": 0.5, "mode": 1.5}, "index column 'mode' must hold an integer or a string, got 1.5"),
        ({"step": 0, "observable": "loss", "value": 0.5, "mode": "7"}, "index column 'mode' holds the string '7'"),
        ({"step": 0, "observable": "", "value": 0.5}, "observable must be a non-empty name"),
        ({"step": 0, "observable": "loss", "value": True}, "value must be a number, got True"),
        ({"step": 0, "observable": "loss\r/x", "value": 0.5}, "'observable' holds a carriage return, which the table cannot read back"),
        ({"step": 0, "observable": "loss", "value": 0.5, "split": "a\rb"}, "'split' holds a carriage return"),
    ],
)
def test_rows_outside_the_shortcut_meet_the_full_checks(row, message):
    assert not metrics._plainly_tidy(row)
    if message is None:
        validate_rows([row])  # a bool is an integer to the table
    else:
        with pytest.raises(ValueError, match=message):
            validate_rows([row])


@pytest.mark.parametrize("row", [{"step": 0, "observable": "a\rb/x", "value": 1.0}, {"step": 0, "observable": "loss/train", "value": 1.0, "split": "a\rb"}])
def test_a_carriage_return_in_a_row_is_refused_before_it_is_written(tmp_path, row):
    """csv quotes it, but the table then reads back as "a step is not an integer": one row made the run's metrics unreadable."""
    log = metrics.MetricsLog(tmp_path)
    log.append([{"step": 0, "observable": "loss/train", "value": 2.0}])
    with pytest.raises(ValueError, match="holds a carriage return"):
        log.append([row])
    assert metrics.read_metrics(tmp_path).to_dict("records") == [{"step": 0, "observable": "loss/train", "value": 2.0}]
