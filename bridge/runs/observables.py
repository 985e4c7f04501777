"""One observable read out of a tidy metrics table: as a Series over steps (:func:`observable_series`) or as a
table with a row per step and a column per value of an index column (:func:`observable_table`). They are what
:meth:`Run.observable <bridge.runs.run.Run.observable>` and :meth:`Run.table <bridge.runs.run.Run.table>` return
from a run's metrics.

Given a :class:`MetricsIndex` instead of the table, they read only the rows they need: the row positions of each
observable, and of each value of an index column within it, are found once per table (a :class:`~bridge.runs.run.Run`
keeps one for the table it holds), so a loop over many observables or index values does not go through the whole
table at every call. The answers are the same, errors and their messages included.
"""

from __future__ import annotations

import numbers
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bridge.runs.metrics import BASE_COLUMNS, INT64, key_part


class MetricsIndex:
    """A metrics table with the row positions of each observable (found on the first read) and of each value of
    an index column within an observable's rows (found on the first read by that column).

    It holds the table weakly and reads only its rows, not its cells: :meth:`fits` says whether it still
    describes a table (the same frame, with the same rows in the same order); :meth:`of` gives one that does.

    Examples:
        >>> metrics = pd.DataFrame({"step": [0, 0, 1, 1], "observable": ["mode/strength"] * 4, "value": [0.1, 0.2, 0.5, 0.9], "mode": [0, 1, 0, 1]})
        >>> index = MetricsIndex(metrics)
        >>> observable_series(index, "mode/strength", mode=1).tolist()
        [0.2, 0.9]
        >>> MetricsIndex.of(metrics, index) is index, MetricsIndex.of(metrics.copy(), index) is index
        (True, False)
    """

    def __init__(self, metrics: pd.DataFrame) -> None:
        self._table = weakref.ref(metrics)
        self._shape, self._labels = metrics.shape, weakref.ref(metrics.index)
        self._positions: dict[Any, np.ndarray] | None = None  # observable -> positions of its rows, ascending
        self._own: dict[str, list[str]] = {}  # observable -> its index columns
        self._values: dict[tuple[str, str], dict[Any, np.ndarray]] = {}  # (observable, column) -> value -> places among its rows

    def __getstate__(self) -> dict[str, Any]:  # a copy in another process describes no table: its run reads the table again
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(pd.DataFrame())  # type: ignore[misc]

    @classmethod
    def of(cls, metrics: pd.DataFrame, held: MetricsIndex | None) -> MetricsIndex:
        """``held`` when it describes ``metrics``, else a new index of ``metrics``."""
        return held if held is not None and held.fits(metrics) else cls(metrics)

    def fits(self, metrics: pd.DataFrame) -> bool:
        """Whether this describes ``metrics``: the frame it was made for, rows neither added, dropped nor reordered since."""
        return metrics.shape == self._shape and self._labels() is metrics.index and self._table() is metrics

    @property
    def metrics(self) -> pd.DataFrame:
        """The table (``RuntimeError`` once it is gone)."""
        metrics = self._table()
        if metrics is None:
            raise RuntimeError("the metrics table this index describes is gone")
        return metrics

    def positions(self, name: str) -> np.ndarray | None:
        """Positions of the rows of observable ``name``, ascending; ``None`` when it has none."""
        if self._positions is None:
            self._positions = _groups(self.metrics["observable"])
        return self._positions.get(name)

    def own_columns(self, name: str, positions: np.ndarray) -> list[str]:
        """The index columns of observable ``name`` (whose rows are at ``positions``): those holding a value in one of its rows."""
        if name not in self._own:
            self._own[name] = _own_columns(self.metrics.iloc[positions])
        return self._own[name]

    def places(self, name: str, column: str, positions: np.ndarray) -> dict[Any, np.ndarray]:
        """Value of ``column`` -> places of the rows holding it among observable ``name``'s rows (at ``positions``), ascending."""
        if (name, column) not in self._values:
            self._values[name, column] = _groups(self.metrics[column].iloc[positions])
        return self._values[name, column]


def _groups(column: pd.Series) -> dict[Any, np.ndarray]:
    """Each value of ``column`` (absent cells left out) -> the positions holding it, ascending."""
    codes, uniques = pd.factorize(column)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {value: order[bounds[k] : bounds[k + 1]] for k, value in enumerate(uniques)}


def _findable(value: Any) -> bool:
    """Whether ``value`` is found among a column's values by its hash as ``column == value`` finds it (one text, or
    one integer within int64; ``column == 2**70`` may raise or match nothing, as the column's type has it)."""
    return isinstance(value, str) or (isinstance(value, numbers.Integral) and INT64[0] <= int(value) <= INT64[1])


def observable_rows(metrics: pd.DataFrame | MetricsIndex, name: str) -> pd.DataFrame:
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
    if isinstance(metrics, MetricsIndex):
        table = metrics.metrics
        positions = metrics.positions(name) if isinstance(name, str) else None
        if positions is not None:
            return table.iloc[positions]
        metrics = table
    frame = metrics[metrics["observable"] == name]
    if frame.empty:
        raise KeyError(f"no observable {name!r} in the metrics (they hold {', '.join(sorted(map(str, metrics['observable'].unique()))) or 'none'})")
    return frame


def observable_series(metrics: pd.DataFrame | MetricsIndex, name: str, /, **index: Any) -> pd.Series[float]:
    """Values of observable ``name`` in the metrics table ``metrics`` (rows matching ``index``), as a float Series
    indexed by step, ascending; of several rows at a step, the last one written (NaN included). ``metrics`` may be
    a :class:`MetricsIndex` of the table: the same answer, reading only the rows it needs.

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
    frame = _chosen_rows(metrics, name, index, index)
    if frame["step"].duplicated().any():
        free = {c: sorted({key_part(v) for v in frame[c]}, key=_order) for c in frame.columns if c not in BASE_COLUMNS and c not in index and frame[c].notna().any()}
        varying = {c: v for c, v in free.items() if len(v) > 1}
        if varying:
            choices = "; ".join(f"{c} in {v}" for c, v in varying.items())
            raise KeyError(f"observable {name!r} has several rows per step: choose {choices}")
    return frame.drop_duplicates("step", keep="last").set_index("step")["value"].sort_index().astype(float)  # the last row written, NaN included


def observable_table(metrics: pd.DataFrame | MetricsIndex, name: str, column: str | Sequence[str], /, **index: Any) -> pd.DataFrame:
    """Observable ``name`` in the metrics table ``metrics`` as a table: one row per step (ascending), one column
    per value of the index ``column`` (or per combination of several), fixed values of other index columns given
    as ``index``; of several rows at a step, the last one written (NaN included). ``metrics`` may be a
    :class:`MetricsIndex` of the table.

    Raises:
        KeyError: no such observable, index column or matching row.

    Examples:
        >>> metrics = pd.DataFrame({"step": [0, 0, 1, 1], "observable": ["mode/strength"] * 4, "value": [0.1, 0.2, 0.5, 0.9], "mode": [1, 0, 1, 0]})
        >>> observable_table(metrics, "mode/strength", "mode").to_numpy().tolist()
        [[0.2, 0.1], [0.9, 0.5]]
    """
    columns = [column] if isinstance(column, str) else list(column)
    frame = _chosen_rows(metrics, name, [*columns, *index], index)
    frame = frame.drop_duplicates(["step", *columns], keep="last")  # the last row written wins, NaN included
    return frame.pivot(index="step", columns=columns if len(columns) > 1 else columns[0], values="value").sort_index().sort_index(axis=1)


def _chosen_rows(metrics: pd.DataFrame | MetricsIndex, name: str, keys: Iterable[str], index: dict[str, Any]) -> pd.DataFrame:
    """The rows of observable ``name`` whose index columns hold the values ``index`` gives, after checking that
    ``keys`` are index columns of it; from a :class:`MetricsIndex`, the rows and values found by their positions
    while they can be (one text or one integer within int64), the rest by comparison as on a table."""
    positions = metrics.positions(name) if isinstance(metrics, MetricsIndex) and isinstance(name, str) else None
    if positions is None or not isinstance(metrics, MetricsIndex):
        frame = observable_rows(metrics, name)
        _check_index_columns(_own_columns(frame), name, keys)
        return _select(frame, name, index)
    table, every = metrics.metrics, positions
    _check_index_columns(metrics.own_columns(name, every), name, keys)
    chosen: list[str] = []
    for key, value in index.items():
        wanted = _wanted(name, key, value)
        if not _findable(wanted):
            return _select(_take(table, positions), name, dict(list(index.items())[len(chosen) :]), chosen)
        found = metrics.places(name, key, every).get(wanted)  # places among the observable's rows
        rows = every[found] if found is not None else positions[:0]
        if chosen:
            rows = np.intersect1d(positions, rows, assume_unique=True)
        if not len(rows):
            raise KeyError(_missing(name, key, value, _take(table, positions), chosen))
        positions = rows
        chosen.append(f"{key}={value!r}")
    return _take(table, positions)


def _take(table: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """The rows of ``table`` at ``positions``, without the observable column (one name, which no answer holds; taking
    text cells costs more than the rest of the row)."""
    return table.iloc[positions, [i for i, c in enumerate(table.columns) if c != "observable"]]


def _select(frame: pd.DataFrame, name: str, index: dict[str, Any], chosen: Sequence[str] = ()) -> pd.DataFrame:
    """The rows of ``frame`` (observable ``name``'s, those where ``chosen`` hold) whose index columns hold the
    values ``index`` gives.

    Raises:
        TypeError: a value is not one integer or text (a list, an array, ``None``), naming its column.
        KeyError: no row holds a value, naming its column and the values the rows hold.
    """
    chosen = list(chosen)
    for key, value in index.items():
        rows = frame[frame[key] == _wanted(name, key, value)]
        if rows.empty:
            raise KeyError(_missing(name, key, value, frame, chosen))
        frame = rows
        chosen.append(f"{key}={value!r}")
    return frame


def _wanted(name: str, key: str, value: Any) -> Any:
    """The cell ``key=value`` chooses (2.0 is the integer 2); ``TypeError`` naming ``key`` for a value that is not
    one integer or text (a list, an array, ``None``)."""
    whole = isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) and float(value).is_integer()
    if not isinstance(value, numbers.Integral | str) and not whole:
        raise TypeError(f"{key} must be one integer or text (a value of the index column {key!r} of {name!r}), got {value!r:.120}")
    return int(value) if whole else value


def _missing(name: str, key: str, value: Any, rows: pd.DataFrame, chosen: list[str]) -> str:
    """The message for no row of ``rows`` (observable ``name``'s, where ``chosen`` hold) holding ``key=value``."""
    where = f" where {', '.join(chosen)}" if chosen else ""
    return f"no rows for observable {name!r} with {key}={value!r}: {key} holds {_values(rows[key])}{where}"


def _values(column: pd.Series) -> list[Any]:
    """The values an index column holds, absent ones left out: integers in order, then text."""
    return sorted({key_part(v) for v in column if key_part(v) is not None}, key=_order)


def _order(value: Any) -> tuple[int, float, str]:
    return (0, float(value), "") if isinstance(value, numbers.Real) else (1, 0.0, str(value))


def _own_columns(frame: pd.DataFrame) -> list[str]:
    """The index columns holding a value in one of the rows ``frame``."""
    return [c for c in frame.columns if c not in BASE_COLUMNS and frame[c].notna().any()]


def _check_index_columns(own: list[str], name: str, keys: Iterable[str]) -> None:
    """``KeyError`` for a key that is no index column of observable ``name`` (whose index columns are ``own``): a
    column the table has only for other observables (every value of ``name``'s rows absent) is none of its own; the
    message lists its own."""
    for key in keys:
        if key not in own:
            raise KeyError(f"observable {name!r} has no index column {key!r} ({'its index columns: ' + ', '.join(own) if own else 'it has no index columns'})")
