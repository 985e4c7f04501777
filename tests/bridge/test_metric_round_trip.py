"""The metrics table gives back what was written: over random row sets (integers up to the int64 limits and
past them, floats of every kind, text with commas, quotes, newlines and unicode, booleans, numpy scalars),
every batch the row checks accept reads back with the same steps, values (bit for bit, as float64) and index
cells (integers as integers, text as text), through the appending writer, the rewrite a wider header makes and
``Run.append_metrics``; every batch they refuse is refused before a byte is written. The regression cases
below are rows the checks used to accept and the table then read back as something else, or not at all."""

from __future__ import annotations

import csv
import io
import json
import math
import struct
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import RunConfig, TrainConfig, load_run
from bridge.config import config_to_dict
from bridge.models import DeepLinearConfig
from bridge.runs.errors import CorruptFileError
from bridge.runs.metrics import MetricsLog, read_metrics, validate_rows
from bridge.runs.row_text import plain_lines
from bridge.tasks import LinearTeacherConfig

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
INDEX = ("mode", "split", "head")
INT64 = (-(2**63), 2**63 - 1)  # the integers the table reads back

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6) | st.sampled_from(["a,b", 'say "x"', "two\nlines", " pad ", "ünï/ß", "1.5", "NA", "None"])
wide_int = st.integers(INT64[0], INT64[1]) | st.sampled_from([INT64[0], INT64[1], 2**53 + 1, -(2**53) - 1, INT64[1] + 1, INT64[0] - 1, 2**64])
cell = st.none() | wide_int | st.booleans() | text | st.just(float("nan")) | st.integers(-3, 3).map(np.int64)
value = st.none() | st.floats() | st.floats(width=32).map(np.float32) | st.integers(-(2**70), 2**70) | st.sampled_from([Fraction(1, 3), 10**400, -0.0, 5e-324, 1e308])
row = st.fixed_dictionaries({"step": wide_int, "observable": text, "value": value}, optional=dict.fromkeys(INDEX, cell))


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def accepted(rows) -> bool:
    try:
        validate_rows(rows)
    except ValueError:
        return False
    return True


CONFIG = config_to_dict(RunConfig(LinearTeacherConfig((2.0,), d_in=2, d_out=2), DeepLinearConfig(2, 4, 2), TrainConfig(steps=3)))


def run_folder(tmp_path):
    """A run directory holding a config and no metrics (what ``load_run`` opens)."""
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"config": CONFIG, "status": "complete", "files": {}}))
    return folder


def table_bytes(folder):
    file = folder / "metrics.csv"
    return file.read_bytes() if file.exists() else None


def assert_reads_back(written, frame):
    """Each row of ``frame`` holds the cells of the row written: the step, the observable, the value as its float64
    (bit for bit; ``None`` as NaN) and each index cell (an integer as an ``int``, a string as it is, absent as NA)."""
    records = frame.to_dict("records")
    assert len(records) == len(written)
    for want, got in zip(written, records):
        assert type(got["step"]) is int and got["step"] == want["step"], (want, got)
        assert got["observable"] == want["observable"], (want, got)
        if want["value"] is None or math.isnan(want["value"]):
            assert math.isnan(got["value"]), (want, got)
        else:
            assert bits(got["value"]) == bits(float(want["value"])), (want, got)
        for column in INDEX:
            cell, back = want.get(column), got.get(column)
            if cell is None or (isinstance(cell, float) and math.isnan(cell)):
                assert back is None or pd.isna(back), (column, want, got)
            elif isinstance(cell, str):
                assert type(back) is str and back == cell, (column, want, got)
            else:
                assert type(back) is int and back == int(cell), (column, want, got)


@PROPERTY
@given(rows=st.lists(row, min_size=1, max_size=6), cut=st.integers(0, 6), writer=st.sampled_from(["log", "run"]))
def test_every_accepted_batch_reads_back_as_written_and_every_refused_one_writes_nothing(tmp_path_factory, rows, cut, writer):
    folder = run_folder(tmp_path_factory.mktemp("rows"))
    written = []
    for batch in (rows[:cut], rows[cut:]):
        before = table_bytes(folder)
        if accepted(batch):
            MetricsLog(folder).append(batch) if writer == "log" else load_run(folder).append_metrics(batch, replace=False)
            written += batch
        else:
            with pytest.raises(ValueError, match="metric row"):
                MetricsLog(folder).append(batch) if writer == "log" else load_run(folder).append_metrics(batch, replace=False)
            assert table_bytes(folder) == before
    if written:
        assert_reads_back(written, read_metrics(folder))


plain_row = st.fixed_dictionaries(
    {"step": st.integers(INT64[0], INT64[1]), "observable": st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=',"\r\n'), min_size=1, max_size=6), "value": st.none() | st.floats()},
    optional={"mode": st.none() | st.integers(INT64[0], INT64[1]), "head": st.none() | st.integers(-5, 5)},
)


@PROPERTY
@given(rows=st.lists(plain_row, min_size=1, max_size=8))
def test_the_fast_encoder_writes_the_csv_writers_bytes_for_any_plain_rows(rows):
    columns = ["step", "observable", "value", "head", "mode"]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([[r.get(c) for c in columns] for r in rows])
    assert plain_lines(rows, columns) == buffer.getvalue()


@PROPERTY
@given(rows=st.lists(plain_row, min_size=1, max_size=4), where=st.sampled_from(["step", "mode"]), past=st.sampled_from([INT64[1] + 1, INT64[0] - 1]))
def test_an_integer_past_int64_is_no_plain_row_and_is_refused(rows, where, past):
    rows = [*rows, {"step": 0, "observable": "x", "value": 1.0, where: past}]
    assert plain_lines(rows, ["step", "observable", "value", "head", "mode"]) is None
    assert not accepted(rows)


@PROPERTY
@given(
    specs=st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["a/x", "b,y", 'q"z', "ü ß"]), st.floats(allow_nan=False), st.integers(-2, 2) | st.sampled_from(["head", "a,b", "ü"])), min_size=1, max_size=16),
    cut=st.integers(0, 16),
)
def test_observable_and_curve_give_the_last_value_written_at_each_step(tmp_path_factory, specs, cut):
    folder = run_folder(tmp_path_factory.mktemp("curves"))
    rows = [{"step": s, "observable": o, "value": v, "k": k} for s, o, v, k in specs]
    log = MetricsLog(folder)
    log.append(rows[:cut])
    log.append(rows[cut:])
    run, last = load_run(folder), {}
    for r in rows:
        last.setdefault((r["observable"], r["k"]), {})[r["step"]] = r["value"]
    for (name, k), values in last.items():
        series = run.observable(name, k=k)
        steps, got = run.curve(name, k=k)
        assert series.index.tolist() == sorted(values) and steps.tolist() == [float(s) for s in sorted(values)]
        assert [bits(v) for v in got] == [bits(values[s]) for s in sorted(values)] == [bits(v) for v in series], (name, k)


ROW = {"step": 0, "observable": "x/y", "value": 0.5}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{**ROW, "step": 2**63}], "step must be an integer within int64, got 9223372036854775808"),  # read back as -2**63
        ([{**ROW, "mode": 2**63}], "index column 'mode' holds 9223372036854775808, outside the int64"),  # the table no longer read
        ([{**ROW, "mode": 2**64}], "index column 'mode' holds 18446744073709551616"),  # reading raised OverflowError
        ([{**ROW, "value": 10**400}], "value must be a number a float64 holds"),  # the table no longer read
        ([{**ROW, "a\rb": 1}], "an index column must be named by a non-empty string without a carriage return, got 'a\\\\rb'"),  # not read
        ([{**ROW, "": 1}], "got ''"),  # read back as the column 'Unnamed: 3'
        ([{**ROW, 3: 1}], "got 3"),  # read back as the column '3'
    ],
)
@pytest.mark.parametrize("first", [True, False])
def test_a_row_the_table_cannot_read_back_is_refused_before_anything_is_written(tmp_path, rows, message, first):
    log = MetricsLog(tmp_path)
    if not first:
        log.append([ROW])
    before = table_bytes(tmp_path)
    with pytest.raises(ValueError, match=message):
        log.append(rows)
    assert table_bytes(tmp_path) == before


@pytest.mark.parametrize(
    ("cells", "back"),
    [
        ({"value": Fraction(1, 3)}, {"value": 1 / 3}),  # written "1/3": the table no longer read
        ({"value": np.float32(0.1)}, {"value": float(np.float32(0.1))}),  # read back as 0.1, another float64
        ({"value": 2**64}, {"value": 2.0**64}),  # written as digits pandas reads as no number
        ({"flag": True}, {"flag": 1}),  # read back as the text "True"
    ],
)
def test_a_tidy_cell_is_written_as_the_number_the_table_holds(tmp_path, cells, back):
    MetricsLog(tmp_path).append([{**ROW, **cells}])
    assert read_metrics(tmp_path).to_dict("records") == [{**ROW, **back}]


@pytest.mark.parametrize("through", ["log", "rewrite", "run"])
def test_an_integer_index_past_two_to_the_53_beside_an_empty_cell_keeps_its_digits(tmp_path, through):
    """An integer column with an empty cell went through float64: 2**53 + 1 came back as 2**53."""
    folder = run_folder(tmp_path)
    rows = [{**ROW, "mode": 2**53 + 1}, {**ROW, "mode": None}, {**ROW, "mode": INT64[0]}]
    if through == "log":
        MetricsLog(folder).append(rows)
    elif through == "rewrite":  # a new index column rewrites the table from the file
        MetricsLog(folder).append([ROW])
        MetricsLog(folder).append(rows)
        rows = [ROW, *rows]
    else:
        load_run(folder).append_metrics(rows, replace=False)
    assert read_metrics(folder)["mode"].tolist() == [pd.NA if r.get("mode") is None else r["mode"] for r in rows]


def test_a_boolean_index_is_found_by_the_boolean_it_was_written_with(tmp_path):
    folder = run_folder(tmp_path)
    MetricsLog(folder).append([{**ROW, "correct": True}, {**ROW, "value": 0.25, "correct": False}])
    assert load_run(folder).observable("x/y", correct=True).tolist() == [0.5]


def test_a_table_holding_an_index_past_int64_is_named_as_corrupt(tmp_path):
    """Written by hand or by an older version: reading it raised a bare OverflowError."""
    (tmp_path / "metrics.csv").write_text("step,observable,value,mode\n0,x,0.5,18446744073709551616\n")
    with pytest.raises(CorruptFileError, match="metrics.csv holds a step, value or index that is not a number the table holds"):
        read_metrics(tmp_path)
