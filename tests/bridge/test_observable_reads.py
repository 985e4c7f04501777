"""Reading observables through the row positions a run finds once per table (``MetricsIndex``) gives what
filtering the whole table gives: the same Series and tables (values, dtypes, index, order) and the same errors
with the same messages, over random tables with missing index values, several index columns, text, integer and
mixed indices and unknown observables; a change of the run's table is seen by the next read; and a loop of reads
compares the observable column of the whole table with a name no more."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import RunConfig, TrainConfig, load_run
from bridge.config import config_to_dict
from bridge.models import DeepLinearConfig
from bridge.runs.metrics import read_metrics, rows_to_frame, write_metrics
from bridge.runs.observables import MetricsIndex, observable_series, observable_table
from bridge.tasks import LinearTeacherConfig

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
NAMES = ["loss/train", "mode/strength", "heads/score"]
COLUMNS = {"mode": st.none() | st.integers(0, 3), "split": st.none() | st.sampled_from(["train", "test", "a,b"]), "slot": st.none() | st.integers(0, 2) | st.sampled_from(["bias", "w"])}
ASKED = st.sampled_from([0, 1, 2, 3, "train", "test", "a,b", "bias", "w"]) | st.sampled_from([7, 2.0, True, np.int64(2), -(2**63), 2**70, "zz", "1", None, [1], 1.5])
KEYS = st.sampled_from(["mode", "mode", "split", "split", "slot", "slot", "other"])


def plain_loss(row: dict) -> dict:
    """A loss row holds no index cell (as a tracker writes it); other observables hold some, or none."""
    return {k: v for k, v in row.items() if k in ("step", "observable", "value")} if row["observable"] == "loss/train" else row


row = st.fixed_dictionaries({"step": st.integers(0, 4), "observable": st.sampled_from(NAMES), "value": st.none() | st.floats(-2, 2)}, optional=COLUMNS).map(plain_loss)
call = st.tuples(
    st.sampled_from(["series", "table"]),
    st.sampled_from([*NAMES, *NAMES, "unknown/x", "Loss/train"]),
    st.lists(KEYS, min_size=1, max_size=2, unique=True),
    st.dictionaries(KEYS, ASKED, max_size=2),
)

CONFIG = config_to_dict(RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=3)))


def run_folder(folder):
    """A run directory holding a config and no metrics (what ``load_run`` opens)."""
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"config": CONFIG, "status": "complete", "files": {}}))
    return folder


def outcome(source, kind, name, columns, index):
    """What one read gives: ``("ok", result)`` or ``("error", type, message)``."""
    try:
        if kind == "series":
            return ("ok", observable_series(source, name, **index))
        return ("ok", observable_table(source, name, columns if len(columns) > 1 else columns[0], **index))
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        return ("error", type(e), str(e))


def assert_same(full, indexed):
    assert full[0] == indexed[0], (full, indexed)
    if full[0] == "error":
        assert full == indexed
    elif isinstance(full[1], pd.Series):
        pd.testing.assert_series_equal(indexed[1], full[1], check_exact=True)
    else:
        pd.testing.assert_frame_equal(indexed[1], full[1], check_exact=True)


@PROPERTY
@given(rows=st.lists(row, max_size=40), calls=st.lists(call, min_size=1, max_size=12), through_file=st.booleans())
def test_indexed_reads_give_what_filtering_the_whole_table_gives(tmp_path_factory, rows, calls, through_file):
    frame = rows_to_frame(rows)
    if through_file:  # the column types of a table read from metrics.csv (text as str, not object)
        folder = tmp_path_factory.mktemp("table")
        write_metrics(folder, frame)
        frame = read_metrics(folder)
    index = MetricsIndex(frame)  # one for every call: what it found for one read serves the next
    for kind, name, columns, asked in calls:
        assert_same(outcome(frame, kind, name, columns, asked), outcome(index, kind, name, columns, asked))
    assert index.fits(frame)


def test_the_regular_cases_agree_on_a_run_with_several_index_columns(tmp_path):
    """Two index columns chosen together, a value the first choice leaves out (named with what it left), a mixed column."""
    rows = [{"step": s, "observable": "heads/score", "value": s + 0.1 * h + 0.01 * layer, "layer": layer, "head": h, "split": "test" if h else "train"} for s in range(3) for layer in range(2) for h in range(3)]
    rows += [{"step": s, "observable": "loss/train", "value": 1.0 / (s + 1)} for s in range(3)]
    frame = rows_to_frame(rows)
    index = MetricsIndex(frame)
    got = observable_series(index, "heads/score", layer=1, head=2, split="test")
    assert got.tolist() == pytest.approx([0.21, 1.21, 2.21], rel=0, abs=1e-12)
    with pytest.raises(KeyError, match=r"with split='train': split holds \['test'\] where layer=1, head=2") as error:
        observable_series(index, "heads/score", layer=1, head=2, split="train")
    with pytest.raises(KeyError) as old:
        observable_series(frame, "heads/score", layer=1, head=2, split="train")
    assert str(error.value) == str(old.value)
    with pytest.raises(KeyError, match=r"no observable 'mode/x' in the metrics \(they hold heads/score, loss/train\)"):
        observable_series(index, "mode/x")
    pd.testing.assert_frame_equal(observable_table(index, "heads/score", ["layer", "head"]), observable_table(frame, "heads/score", ["layer", "head"]), check_exact=True)


def test_a_run_reads_its_table_as_it_changes(tmp_path):
    run = load_run(run_folder(tmp_path / "run"))
    run.append_metrics([{"step": s, "observable": "mode/strength", "value": float(s + m), "mode": m} for s in range(3) for m in range(2)])
    assert run.observable("mode/strength", mode=1).tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(KeyError, match=r"mode=2: mode holds \[0, 1\]"):
        run.curve("mode/strength", mode=2)
    run.append_metrics([{"step": 3, "observable": "mode/strength", "value": 9.0, "mode": m} for m in range(3)] + [{"step": 0, "observable": "loss/train", "value": 0.5}])
    assert run.observable("mode/strength", mode=1).tolist() == [1.0, 2.0, 3.0, 9.0]
    assert run.curve("mode/strength", mode=2)[1].tolist() == [9.0]
    assert run.observable("loss/train").tolist() == [0.5]
    assert run.table("mode/strength", "mode").shape == (4, 3)
    run.append_metrics([{"step": 3, "observable": "mode/strength", "value": -1.0, "mode": 1}])  # replaces a row: the same length
    assert run.observable("mode/strength", mode=1).tolist() == [1.0, 2.0, 3.0, -1.0]
    metrics = run.metrics  # the table the run holds, given a row in place
    metrics.loc[metrics.index.max() + 1] = [4, "mode/strength", 7.0, 0]
    assert run.observable("mode/strength", mode=0).tolist() == [0.0, 1.0, 2.0, 9.0, 7.0]
    pd.testing.assert_frame_equal(run.table("mode/strength", "mode"), observable_table(metrics, "mode/strength", "mode"), check_exact=True)
    assert load_run(run.path).observable("mode/strength", mode=0).tolist() == [0.0, 1.0, 2.0, 9.0]  # the file is unchanged


def test_a_loop_of_reads_compares_the_whole_observable_column_at_most_once(tmp_path, monkeypatch):
    """Before, every read compared each row's observable with the name asked (and each of its rows with the index)."""
    run = load_run(run_folder(tmp_path / "run"))
    run.append_metrics([{"step": s, "observable": name, "value": float(s * m), "mode": m} for s in range(20) for m in range(10) for name in ("mode/strength", "mode/alignment")])
    rows = len(run.metrics)
    compared: list[int] = []
    equal = pd.Series.__eq__
    monkeypatch.setattr(pd.Series, "__eq__", lambda self, other: compared.append(len(self)) or equal(self, other))
    curves = [run.curve("mode/strength", mode=m) for m in range(10)] + [run.curve("mode/alignment", mode=m) for m in range(10)]
    assert [c[1][3] for c in curves] == pytest.approx([3.0 * m for m in range(10)] * 2, rel=0, abs=0)
    assert [n for n in compared if n >= rows // 2] == []
