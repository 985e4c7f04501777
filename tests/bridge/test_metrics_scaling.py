"""Work on a large metrics table grows with what changes, not with the table: merging an analysis's rows keys only
the old rows that can share a key, and integer index columns are read and typed without a Python call per cell."""

import sys

import pandas as pd
import pytest

from bridge.runs.errors import CorruptFileError
from bridge.runs.metrics import read_metrics, rows_to_frame
from bridge.runs.run import merge_rows


def _table(steps: int) -> pd.DataFrame:
    rows = [{"step": s, "observable": "loss/train", "value": s / 8} for s in range(steps)]
    rows += [{"step": s, "observable": "mode/strength", "value": float(m), "mode": m} for s in range(steps) for m in range(3)]
    return rows_to_frame(rows)


def test_merging_keys_only_the_old_rows_of_the_new_rows_steps_and_observables(monkeypatch):
    old = _table(500)  # 2000 rows
    new = rows_to_frame([{"step": 7, "observable": "mode/strength", "value": -1.0, "mode": 1}, {"step": 9, "observable": "loss/train", "value": -2.0}])
    module = sys.modules[merge_rows.__module__]
    calls = []
    real = module.key_part
    monkeypatch.setattr(module, "key_part", lambda v: calls.append(v) or real(v))
    monkeypatch.setattr(pd.DataFrame, "to_dict", lambda *a, **k: pytest.fail("the table went through records"))
    merged = merge_rows(old, new)
    assert 2 <= len(calls) <= 100  # the new rows' keys and the few old rows at steps 7 and 9 (2000 rows: 8000 calls before)
    assert len(merged) == 2000
    assert merged["value"].iloc[-2:].tolist() == [-1.0, -2.0]
    mode = merged[(merged["observable"] == "mode/strength") & (merged["step"] == 7)]
    assert sorted(mode["mode"].tolist()) == [0, 1, 2] and mode["value"].tolist() == [0.0, 2.0, -1.0]
    assert [str(t) for t in merged.dtypes] == ["int64", "str", "float64", "Int64"]


def test_integer_index_columns_are_typed_without_a_call_per_cell(tmp_path, monkeypatch):
    calls = []
    real = pd.Series.map
    monkeypatch.setattr(pd.Series, "map", lambda self, *a, **k: calls.append(len(self)) or real(self, *a, **k))
    frame = _table(300)
    assert calls == [] and str(frame["mode"].dtype) == "Int64"
    (tmp_path / "metrics.csv").write_text("step,observable,value,mode\n0,a,1.0,2.0\n1,a,2.0,\n2,a,nan,-0\n3,b,1,9007199254740993\n")
    monkeypatch.setattr(pd, "to_numeric", lambda *a, **k: pytest.fail("parsed through pd.to_numeric"))
    read = read_metrics(tmp_path)
    assert read["mode"].tolist()[:1] == [2] and read["mode"].isna().tolist() == [False, True, False, False]
    assert read["mode"].tolist()[2:] == [0, 2**53 + 1] and str(read["mode"].dtype) == "Int64"


def test_an_index_outside_int64_is_still_refused_by_name(tmp_path):
    (tmp_path / "metrics.csv").write_text("step,observable,value,mode\n0,a,1.0,99999999999999999999\n")
    with pytest.raises(CorruptFileError, match="metrics.csv holds a step, value or index that is not a number the table holds"):
        read_metrics(tmp_path)


def test_stored_rows_is_still_imported_from_where_it_was():
    """Moved to bridge.report (where the report is read back): a notebook's old import still works."""
    from bridge.report import stored_rows
    from case_studies.generality.stored import stored_rows as old_stored

    assert old_stored is stored_rows
