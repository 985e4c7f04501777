"""Merging new rows into a metrics table (:func:`merge_rows`), column by column: an analysis appends a few hundred
rows to a table of millions, so nothing here goes through the table row by row in Python."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bridge.runs.metrics import BASE_COLUMNS, key_part, tidy_dtypes

_BASE = frozenset(BASE_COLUMNS)


def merge_rows(old: pd.DataFrame, new: pd.DataFrame, replace: bool | Sequence[str] = True) -> pd.DataFrame:
    """``old`` without the rows whose key some row of ``new`` has, then ``new``.

    Args:
        old, new: metrics tables.
        replace: the key: ``True`` for observable, step and every index column (of either table),
            a list of columns for those columns, ``False`` to keep every old row.

    Returns:
        The table :func:`~bridge.runs.metrics.rows_to_frame` makes of the rows kept and the new ones
        (``step, observable, value``, then the index columns sorted).

    Examples:
        >>> from bridge.runs.metrics import rows_to_frame
        >>> old = rows_to_frame([{"step": 0, "observable": "eig", "value": v, "rank": r} for r, v in enumerate([3.0, 2.0, 1.0])])
        >>> new = rows_to_frame([{"step": 0, "observable": "eig", "value": 3.5, "rank": 0}])
        >>> merge_rows(old, new)["value"].tolist(), merge_rows(old, new, ["observable", "step"])["value"].tolist()
        ([2.0, 1.0, 3.5], [3.5])
    """
    if replace is not False and not new.empty and not old.empty:
        columns = sorted((set(new.columns) | set(old.columns)) - {"value"}) if replace is True else list(replace)
        old = old[~_taken(old, new, columns)]
    return _frame_of(pd.concat([old, new], ignore_index=True)) if len(old) else new


def _keys(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return list(zip(*[[key_part(v) for v in frame[c].tolist()] if c in frame.columns else [None] * len(frame) for c in columns]))


def _taken(old: pd.DataFrame, new: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Whether each row of ``old`` has the key (``columns``, compared by :func:`~bridge.runs.metrics.key_part`) of a
    row of ``new``. Only the old rows whose step and observable (when in the key) are among the new rows' are keyed
    one by one: a step of another value, or another observable's name, has another key part."""
    candidate = np.ones(len(old), dtype=bool)
    for c in ("step", "observable"):
        if c in columns and c in old.columns and c in new.columns:
            if c == "step":  # integers: equal as key parts when equal as integers
                exact = pd.api.types.is_integer_dtype(old[c]) and pd.api.types.is_integer_dtype(new[c])
            else:  # names: a key part is the string itself
                exact = pd.api.types.is_string_dtype(old[c]) and all(type(v) is str for v in new[c].tolist())
            if exact:
                candidate &= old[c].isin(set(new[c].tolist())).to_numpy(dtype=bool)
    taken = set(_keys(new, columns))
    hit = np.zeros(len(old), dtype=bool)
    hit[candidate] = [k in taken for k in _keys(old[candidate], columns)]
    return hit


def _frame_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The table :func:`~bridge.runs.metrics.rows_to_frame` makes of ``frame.to_dict("records")``, built column by
    column: each column's Python values (``tolist`` gives the ones a record holds), index columns as objects."""
    names = dict.fromkeys(frame.columns)
    missing = [c for c in BASE_COLUMNS if c not in names]
    if missing:
        raise ValueError(f"metric rows lack columns {missing}")
    columns = {c: pd.Series(frame[c].tolist(), dtype=None if c in _BASE else object) for c in BASE_COLUMNS + sorted(set(names) - _BASE)}
    return tidy_dtypes(pd.DataFrame(columns))
