"""One observable read out of a tidy metrics table: as a Series over steps (:func:`observable_series`) or as a
table with a row per step and a column per value of an index column (:func:`observable_table`). They are what
:meth:`Run.observable <bridge.runs.run.Run.observable>` and :meth:`Run.table <bridge.runs.run.Run.table>` return
from a run's metrics.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from bridge.runs.metrics import BASE_COLUMNS, key_part


def observable_rows(metrics: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows of ``metrics`` for observable ``name``; ``KeyError`` naming the observables there are when it has none.

    Examples:
        >>> metrics = pd.DataFrame({"step": [0, 1], "observable": ["loss/train"] * 2, "value": [1.0, 0.5]})
        >>> len(observable_rows(metrics, "loss/train"))
        2
        >>> observable_rows(metrics, "mode/strength")
        Traceback (most recent call last):
        ...
        KeyError: "no observable 'mode/strength' in the metrics (they hold loss/train)"
    """
    frame = metrics[metrics["observable"] == name]
    if frame.empty:
        raise KeyError(f"no observable {name!r} in the metrics (they hold {', '.join(sorted(map(str, metrics['observable'].unique()))) or 'none'})")
    return frame


def observable_series(metrics: pd.DataFrame, name: str, /, **index: Any) -> pd.Series:
    """Values of observable ``name`` in the metrics table ``metrics`` (rows matching ``index``), as a float Series
    indexed by step, ascending; of several rows at a step, the last one written (NaN included).

    Raises:
        KeyError: no such observable, index column or matching row; or several rows per step that ``index``
            does not choose between (the message lists the choices).

    Examples:
        >>> metrics = pd.DataFrame({"step": [0, 0, 1, 1], "observable": ["mode/strength"] * 4, "value": [0.1, 0.2, 0.5, 0.9], "mode": [0, 1, 0, 1]})
        >>> observable_series(metrics, "mode/strength", mode=1).tolist()
        [0.2, 0.9]
        >>> observable_series(metrics, "mode/strength")
        Traceback (most recent call last):
        ...
        KeyError: "observable 'mode/strength' has several rows per step: choose mode in [0, 1]"
    """
    frame = observable_rows(metrics, name)
    _check_index_columns(frame, name, index)
    frame = _select(frame, name, index)
    if frame["step"].duplicated().any():
        free = {c: sorted({key_part(v) for v in frame[c]}, key=_order) for c in frame.columns if c not in BASE_COLUMNS and c not in index and frame[c].notna().any()}
        varying = {c: v for c, v in free.items() if len(v) > 1}
        if varying:
            choices = "; ".join(f"{c} in {v}" for c, v in varying.items())
            raise KeyError(f"observable {name!r} has several rows per step: choose {choices}")
    return frame.drop_duplicates("step", keep="last").set_index("step")["value"].sort_index().astype(float)  # the last row written, NaN included


def observable_table(metrics: pd.DataFrame, name: str, column: str | Sequence[str], /, **index: Any) -> pd.DataFrame:
    """Observable ``name`` in the metrics table ``metrics`` as a table: one row per step (ascending), one column
    per value of the index ``column`` (or per combination of several), fixed values of other index columns given
    as ``index``; of several rows at a step, the last one written (NaN included).

    Raises:
        KeyError: no such observable, index column or matching row.

    Examples:
        >>> metrics = pd.DataFrame({"step": [0, 0, 1, 1], "observable": ["mode/strength"] * 4, "value": [0.1, 0.2, 0.5, 0.9], "mode": [1, 0, 1, 0]})
        >>> observable_table(metrics, "mode/strength", "mode").to_numpy().tolist()
        [[0.2, 0.1], [0.9, 0.5]]
    """
    frame = observable_rows(metrics, name)
    columns = [column] if isinstance(column, str) else list(column)
    _check_index_columns(frame, name, [*columns, *index])
    frame = _select(frame, name, index)
    frame = frame.drop_duplicates(["step", *columns], keep="last")  # the last row written wins, NaN included
    return frame.pivot(index="step", columns=columns if len(columns) > 1 else columns[0], values="value").sort_index().sort_index(axis=1)


def _select(frame: pd.DataFrame, name: str, index: dict[str, Any]) -> pd.DataFrame:
    """The rows of ``frame`` (observable ``name``'s) whose index columns hold the values ``index`` gives.

    Raises:
        TypeError: a value is not one integer or text (a list, an array, ``None``), naming its column.
        KeyError: no row holds a value, naming its column and the values the rows hold.
    """
    chosen: list[str] = []
    for key, value in index.items():
        whole = isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) and float(value).is_integer()  # 2.0 is the integer 2
        if not isinstance(value, numbers.Integral | str) and not whole:
            raise TypeError(f"{key} must be one integer or text (a value of the index column {key!r} of {name!r}), got {value!r:.120}")
        rows = frame[frame[key] == (int(value) if whole else value)]
        if rows.empty:
            where = f" where {', '.join(chosen)}" if chosen else ""
            raise KeyError(f"no rows for observable {name!r} with {key}={value!r}: {key} holds {_values(frame[key])}{where}")
        frame = rows
        chosen.append(f"{key}={value!r}")
    return frame


def _values(column: pd.Series) -> list[Any]:
    """The values an index column holds, absent ones left out: integers in order, then text."""
    return sorted({key_part(v) for v in column if key_part(v) is not None}, key=_order)


def _order(value: Any) -> tuple[int, float, str]:
    return (0, float(value), "") if isinstance(value, numbers.Real) else (1, 0.0, str(value))


def _check_index_columns(frame: pd.DataFrame, name: str, keys: Iterable[str]) -> None:
    """``KeyError`` for a key that is no index column of observable ``name``: a column the table has only for
    other observables (every value of ``name``'s rows absent) is none of its own; the message lists its own."""
    own = [c for c in frame.columns if c not in BASE_COLUMNS and frame[c].notna().any()]
    for key in keys:
        if key not in own:
            raise KeyError(f"observable {name!r} has no index column {key!r} ({'its index columns: ' + ', '.join(own) if own else 'it has no index columns'})")
