"""A run directory gives back what its writers wrote: over random tables of many index columns (named with
unicode, slashes, spaces, commas, quotes and newlines; holding integers up to the int64 limits, text, or
nothing), steps from 0 to 2**62 written out of order and again at one step, values of every float kind
(NaN, ±inf, -0.0, subnormals, 1e308, float32 values), appended in several batches (a new index column
rewrites the table), ``load_run(path).metrics`` holds every row once, as written and in the order written,
and ``observable``/``curve``/``table`` give each index's last value per step in step order (``curve``'s
steps as float64, as documented). An empty table, and a run trained, then extended, read back too.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import RunConfig, TrainConfig, load_run, train
from bridge.config import config_to_dict
from bridge.models import DeepLinearConfig
from bridge.overrides import apply
from bridge.runs.metrics import BASE_COLUMNS, MetricsLog
from bridge.tasks import LinearTeacherConfig

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CONFIG = RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=3))

awkward = st.sampled_from(["loss/train", "a,b", 'say "x"', "two\nlines", " pad ", "ünï/ß κ", "name", "self", "column", "NA", "1.5", "#c"])
names = awkward | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"), min_size=1, max_size=5)
values = st.floats(width=64) | st.floats(width=32).map(lambda x: float(np.float32(x))) | st.sampled_from([-0.0, 5e-324, -2.2250738585072014e-308, 1e308, -math.inf, math.inf, math.nan, 0.1])
texts = st.sampled_from(["head", "a,b", 'q"z', "x\ny", " 7", "07", "+1", "NaN", "inf", "ü"])
ints = st.integers(-(2**63), 2**63 - 1) | st.integers(-3, 3)
steps = st.integers(0, 2**62) | st.integers(0, 5) | st.just(2**62)


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def run_folder(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"config": config_to_dict(CONFIG), "status": "complete", "files": {}}))
    return folder


@st.composite
def tables(draw):
    """Rows of a few observables, each with its own index columns, each column of one kind (int, str, or absent in some rows)."""
    columns = draw(st.lists(names.filter(lambda c: c not in BASE_COLUMNS), min_size=0, max_size=8, unique=True))
    observables = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    own = {o: {c: draw(st.sampled_from(["int", "str", "absent"])) for c in (draw(st.lists(st.sampled_from(columns), unique=True)) if columns else [])} for o in observables}
    rows = []
    for _ in range(draw(st.integers(1, 14))):
        o = draw(st.sampled_from(observables))
        cells = {c: draw(ints if kind == "int" else texts if kind == "str" else st.none()) for c, kind in own[o].items()}
        rows.append({"step": draw(steps), "observable": o, "value": draw(values), **{c: v for c, v in cells.items() if v is not None or draw(st.booleans())}})
    return rows


def same_cell(written, back) -> bool:
    if written is None:
        return back is None or back is pd.NA or (isinstance(back, float) and math.isnan(back))
    return type(back) is type(written) and back == written


@PROPERTY
@given(rows=tables(), cuts=st.lists(st.integers(0, 14), max_size=3))
def test_every_row_written_in_any_batches_reads_back_once_as_written(tmp_path_factory, rows, cuts):
    folder = run_folder(tmp_path_factory.mktemp("rows"))
    bounds = [0, *sorted(min(c, len(rows)) for c in cuts), len(rows)]
    for start, end in zip(bounds, bounds[1:]):
        MetricsLog(folder).append(rows[start:end])
    frame = load_run(folder).metrics
    columns = sorted({k for r in rows for k in r} - set(BASE_COLUMNS))
    assert frame.columns.tolist() == BASE_COLUMNS + columns
    assert [str(t) for t in frame.dtypes[:3]] == ["int64", "str", "float64"]
    records = frame.to_dict("records")
    assert len(records) == len(rows)  # nothing dropped, nothing doubled
    for want, got in zip(rows, records):
        assert type(got["step"]) is int and got["step"] == want["step"] and got["observable"] == want["observable"], (want, got)
        assert bits(got["value"]) == bits(want["value"]) or (math.isnan(want["value"]) and math.isnan(got["value"])), (want, got)
        assert all(same_cell(want.get(c), got[c]) for c in columns), (want, got)


@settings(PROPERTY, max_examples=40)
@given(rows=tables())
def test_each_curve_gives_the_last_value_written_at_each_step_in_step_order(tmp_path_factory, rows):
    folder = run_folder(tmp_path_factory.mktemp("curves"))
    MetricsLog(folder).append(rows)
    run, last = load_run(folder), {}
    for r in rows:
        index = tuple(sorted((k, v) for k, v in r.items() if k not in BASE_COLUMNS and v is not None))
        last.setdefault((r["observable"], index), {})[r["step"]] = r["value"]
    for (name, index), written in last.items():
        own = {k for r in rows if r["observable"] == name for k, v in r.items() if k not in BASE_COLUMNS and v is not None}
        if {k for k, _ in index} != own:  # rows without a cell of an own column cannot be chosen by it
            continue
        series = run.observable(name, **dict(index))
        got_steps, got_values = run.curve(name, **dict(index))
        order = sorted(written)
        assert series.index.tolist() == order and [type(s) for s in series.index.tolist()] == [int] * len(order)
        assert got_steps.dtype == np.float64 and got_steps.tolist() == [float(s) for s in order]  # float64: past 2**53, rounded
        want = [written[s] for s in order]
        for values in (series.tolist(), got_values.tolist()):
            assert [bits(v) if not math.isnan(v) else "nan" for v in values] == [bits(v) if not math.isnan(v) else "nan" for v in want], (name, index)


@pytest.mark.parametrize("column", ["name", "self", "column"])
def test_an_index_column_named_as_an_argument_of_the_readers_chooses_its_rows(tmp_path, column):
    """``run.observable("params/norm", name="embed")`` raised TypeError (got multiple values for argument 'name'):
    a tracker may name an index column ``name`` (a parameter's name), and the table writes it."""
    folder = run_folder(tmp_path)
    cells = [(0, 1.5, "embed", 0), (0, 2.5, "unembed", 0), (1, 0.5, "embed", 0), (1, 0.25, "embed", 1)]
    MetricsLog(folder).append([{"step": s, "observable": "params/norm", "value": v, column: c, "layer": k} for s, v, c, k in cells])
    run = load_run(folder)
    assert run.observable("params/norm", layer=0, **{column: "embed"}).tolist() == [1.5, 0.5]
    assert run.curve("params/norm", **{column: "unembed"})[1].tolist() == [2.5]
    table = run.table("params/norm", "layer", **{column: "embed"})
    assert table.index.tolist() == [0, 1] and np.array_equal(table.to_numpy(), [[1.5, np.nan], [0.5, 0.25]], equal_nan=True)


def test_an_empty_table_reads_back_with_the_columns_and_types_of_a_full_one(tmp_path):
    folder = run_folder(tmp_path)
    MetricsLog(folder).append([])
    run = load_run(folder)
    assert not (folder / "metrics.csv").exists() and run.metrics.columns.tolist() == BASE_COLUMNS and len(run.metrics) == 0
    assert [str(run.metrics[c].dtype) for c in ("step", "value")] == ["int64", "float64"]  # were object: no table of numbers
    with pytest.raises(KeyError, match="no observable 'loss/train' in the metrics \\(they hold none\\)"):
        run.curve("loss/train")


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=st.integers(1, 6), more=st.integers(1, 8))
def test_a_run_extended_joins_the_rows_of_both_trainings_as_one_trained_in_one_go(tmp_path_factory, first, more):
    base = tmp_path_factory.mktemp("extend")
    extended, once = base / "extended", base / "once"
    train(apply(CONFIG, [f"train.steps={first}"]), extended, device="cpu", progress=False)
    joined = train(apply(CONFIG, [f"train.steps={first + more}"]), extended, device="cpu", progress=False, resume=True)
    whole = train(apply(CONFIG, [f"train.steps={first + more}"]), once, device="cpu", progress=False)
    assert joined.info["extended"] == [{"from": first, "to": first + more}]
    got, want = load_run(extended).metrics, load_run(once).metrics
    for name in ("loss/train", "loss/test"):
        steps, _ = load_run(extended).curve(name)
        assert steps.tolist() == list(range(first + more + 1))  # every step once, in order, across the join
    assert got.drop(columns="value").equals(want.drop(columns="value"))
    assert [bits(v) for v in got["value"]] == [bits(v) for v in want["value"]]
    assert whole.status == joined.status == "complete"
