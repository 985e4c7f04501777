"""The metrics table ``metrics.csv``: tidy rows (step, observable, value, index columns), appended per
checkpoint and read back with one pandas call.

Examples:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> MetricsLog(folder).append([{"step": 0, "observable": "loss/train", "value": 0.5}])
    39
    >>> read_metrics(folder).to_dict("records")
    [{'step': 0, 'observable': 'loss/train', 'value': 0.5}]
"""

from __future__ import annotations

import io
import math
import numbers
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from bridge.runs.errors import CorruptFileError
from bridge.runs.row_text import csv_text, plain_lines, width_problem
from bridge.runs.storage import append_bytes, atomic_write_bytes

BASE_COLUMNS = ["step", "observable", "value"]
_BASE = frozenset(BASE_COLUMNS)
_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)(\.0)?")  # a cell the csv writer makes of an integer ("2.0" from older tables)
_MISSING = ("", "nan")  # the cells the csv writer makes of None and of a float NaN
INT64 = (-(2**63), 2**63 - 1)  # the integers a step or an index cell may be: the table reads them as int64


def validate_rows(rows: Sequence[dict[str, Any]]) -> None:
    """Raise ``ValueError`` naming the first row that is not tidy.

    A tidy row has an integer ``step``, a non-empty string ``observable``, a
    number (or ``None``/NaN) as ``value``, and index columns, named by non-empty
    strings, whose values are integers, strings or ``None``. A string the table
    would read back as something else (``""``, ``"nan"``, or an integer such as
    ``"7"``) is refused, and so is a name or string holding a carriage return (the
    table could not be read back at all), an integer outside int64 (``INT64``:
    the table reads integers as int64) and a value no float64 holds (``10**400``).

    Examples:
        >>> validate_rows([{"step": 0, "observable": "loss/train", "value": 0.5, "split": "test"}])
        >>> validate_rows([{"step": 0, "observable": "loss/train", "value": "high"}])
        Traceback (most recent call last):
        ...
        ValueError: metric row {'step': 0, 'observable': 'loss/train', 'value': 'high'}: value must be a number, got 'high'
    """
    check_column_names({k for r in rows for k in r})
    for r in rows:
        if _plainly_tidy(r):
            continue
        problem = None
        if not isinstance(r.get("observable"), str) or not r["observable"]:
            problem = f"observable must be a non-empty name, got {r.get('observable')!r}"
        elif (cut := next((k for k, v in r.items() if isinstance(v, str) and "\r" in v), None)) is not None:
            problem = f"{cut!r} holds a carriage return, which the table cannot read back: {r[cut]!r}"
        elif not isinstance(r.get("step"), numbers.Integral) or isinstance(r.get("step"), bool) or not INT64[0] <= r["step"] <= INT64[1]:
            problem = f"step must be an integer{' within int64' if type(r.get('step')) is int else ''}, got {r.get('step')!r}"
        elif r.get("value") is not None and (isinstance(r["value"], bool | str) or not isinstance(r["value"], numbers.Real) or _as_float(r["value"]) is None):
            problem = f"value must be a number{' a float64 holds' if isinstance(r['value'], numbers.Real) and not isinstance(r['value'], bool) else ''}, got {r['value']!r}"
        else:
            bad = next((k for k, v in r.items() if k not in BASE_COLUMNS and v is not None and not isinstance(v, numbers.Integral | str) and not (isinstance(v, float) and math.isnan(v))), None)
            wide = next((k for k, v in r.items() if k not in BASE_COLUMNS and isinstance(v, numbers.Integral) and not INT64[0] <= int(v) <= INT64[1]), None)
            ambiguous = next((k for k, v in r.items() if k not in BASE_COLUMNS and isinstance(v, str) and (v in _MISSING or _INTEGER.fullmatch(v))), None)
            if bad is not None:
                problem = f"index column {bad!r} must hold an integer or a string, got {r[bad]!r}"
            elif wide is not None:
                problem = f"index column {wide!r} holds {r[wide]!r}, outside the int64 integers the table reads back"
            elif ambiguous is not None:
                problem = f"index column {ambiguous!r} holds the string {r[ambiguous]!r}, which the table reads back as {'missing' if r[ambiguous] in _MISSING else 'an integer'}: use {'None' if r[ambiguous] in _MISSING else 'the integer'}"
        if problem:
            raise ValueError(f"metric row {r}: {problem}")


def check_column_names(names: Iterable[Any]) -> None:
    """Raise ``ValueError`` for a column name the table cannot read back as it is: not a string, empty
    (read back as ``"Unnamed: 3"``) or holding a carriage return (the table would not read at all).

    Examples:
        >>> check_column_names(["step", "observable", "value", "mode"])
        >>> check_column_names(["step", "observable", "value", ""])
        Traceback (most recent call last):
        ...
        ValueError: metric rows: an index column must be named by a non-empty string without a carriage return, got ''
    """
    for name in names:
        if type(name) is not str or not name or "\r" in name:
            raise ValueError(f"metric rows: an index column must be named by a non-empty string without a carriage return, got {name!r}")


def _as_float(value: numbers.Real) -> float | None:  # the float64 the table holds, None for none (10**400)
    try:
        return float(value)
    except (OverflowError, TypeError, ValueError):
        return None


def _plainly_tidy(r: dict[str, Any]) -> bool:
    """The common row, checked by exact types only (a tracker's rows: an ``int`` step, a ``float`` value, ``int`` or absent
    indices, integers within int64); ``False`` sends it to the full checks. Names are checked once per batch."""
    observable, value, step = r.get("observable"), r.get("value"), r.get("step")
    if type(observable) is not str or observable == "" or "\r" in observable or type(step) is not int or not INT64[0] <= step <= INT64[1] or (value is not None and type(value) is not float):
        return False
    for k, v in r.items():  # a loop, not all(...): this runs for every row a tracker writes
        if v is not None and k not in _BASE and (type(v) is not int or not INT64[0] <= v <= INT64[1]):
            return False
    return True


def rows_to_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Tidy rows → DataFrame with ``step, observable, value`` first, index columns after (sorted).

    Examples:
        >>> rows_to_frame([{"step": 0, "observable": "acc", "value": 0.5, "split": "test", "mode": 1}]).columns.tolist()
        ['step', 'observable', 'value', 'mode', 'split']
    """
    rows = list(rows)
    if not rows:
        return pd.DataFrame(columns=BASE_COLUMNS)
    names = dict.fromkeys(k for r in rows for k in r)
    missing = [c for c in BASE_COLUMNS if c not in names]
    if missing:
        raise ValueError(f"metric rows lack columns {missing}")
    columns = {c: pd.Series([r.get(c) for r in rows], dtype=None if c in _BASE else object) for c in BASE_COLUMNS + sorted(set(names) - _BASE)}  # indices as objects: not through float64, where 2**53 + 1 is 2**53
    return tidy_dtypes(pd.DataFrame(columns))


def tidy_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """The metrics table with its column types: ``step`` int64, ``value`` float64, and every
    numeric index column as integers (pandas' nullable ``Int64``, empty where a row has no such index).

    A CSV cell cannot tell 1 from 1.0 and a column with empty cells reads as floats;
    index columns only ever hold integers or strings (:func:`validate_rows`), so a
    numeric index column is an integer column, and a cell of digits is an integer
    (strings of digits are refused on the way in).

    Examples:
        >>> frame = tidy_dtypes(pd.DataFrame({"step": [0, 0], "observable": ["loss/train", "mode/strength"],
        ...                                   "value": [1, 2], "mode": [float("nan"), 3.0]}))
        >>> [str(t) for t in frame.dtypes], frame["mode"].tolist()
        (['int64', 'str', 'float64', 'Int64'], [<NA>, 3])
    """
    frame = frame.copy()
    frame["step"] = frame["step"].astype("int64")
    frame["value"] = frame["value"].astype("float64")
    for column in frame.columns:
        if column in BASE_COLUMNS:
            continue
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            frame[column] = _index_column(values)
            continue
        if isinstance(values.dtype, pd.Int64Dtype):
            continue
        if pd.api.types.is_bool_dtype(values):  # an integer to the table, written 1 or 0
            frame[column] = values.astype("Int64")
            continue
        present = values.dropna()
        if len(present) and bool((present == np.round(present)).all()):
            frame[column] = values.astype("Int64")
    return frame


class MetricsLog:
    """Appends tidy rows to ``metrics.csv`` in O(new rows) per flush.

    Each :meth:`append` writes only the new rows and returns the file's size, which
    the training loop records per checkpoint so a resumed run truncates the
    file back to exactly what its checkpoint had seen (a half-written append
    from a killed process is cut off). A row with a new index column triggers
    one atomic rewrite of the whole table with the wider header.

    Examples:
        >>> import tempfile
        >>> log = MetricsLog(tempfile.mkdtemp())
        >>> size = log.append([{"step": 0, "observable": "loss/train", "value": 0.5}]); log.append([{"step": 1, "observable": "loss/train", "value": 0.25}])
        57
        >>> log.truncate(size); read_metrics(log.file.parent)["step"].tolist()  # back to the first append
        [0]
    """

    def __init__(self, path: str | Path) -> None:
        self.file = Path(path) / "metrics.csv"
        self.size = self.file.stat().st_size if self.file.exists() else 0  # after every append so far, written or not
        self.columns: list[str] | None = list(pd.read_csv(self.file, nrows=0).columns) if self.size else None

    def append(self, rows: Sequence[dict[str, Any]]) -> int:
        """Write ``rows`` (each with a ``step``); returns the file size in bytes afterwards.

        Raises:
            ValueError: a row is not tidy (see :func:`validate_rows`), before anything is written.
        """
        data = self.encode(rows)
        if data is None:
            old = read_metrics(self.file.parent)
            merged = rows_to_frame(cast("list[dict[str, Any]]", old.to_dict("records")) + list(rows))  # its columns are a CSV header's names: strings
            write_metrics(self.file.parent, merged)
            self.columns = list(merged.columns)
            self.size = self.file.stat().st_size
        elif data:
            append_bytes(self.file, data)
        return self.size

    def encode(self, rows: Sequence[dict[str, Any]]) -> bytes | None:
        """The bytes :meth:`append` adds to the file for ``rows``, to be appended by the caller
        (:class:`~bridge.runs.file_queue.FileBatch`); :attr:`size` counts them from now on.

        With no table yet, the bytes begin with its header: ``step, observable, value``, then the
        rows' index columns, sorted (as :func:`rows_to_frame` orders them). ``None`` when the
        header lacks a column of ``rows``: then :meth:`append` must rewrite the table from the
        file, once every earlier append is in it.

        Raises:
            ValueError: a row is not tidy (see :func:`validate_rows`).
        """
        if not rows:
            return b""
        if self.columns is None:  # a new table's header: the names checked before they are sorted
            check_column_names(names := {k for r in rows for k in r} - _BASE)
        columns = self.columns if self.columns is not None else BASE_COLUMNS + sorted(names)
        text = plain_lines(rows, columns)  # the trackers' rows, column by column: the bytes csv writes for them
        if text is None:
            validate_rows(rows)
            if self.columns is not None and not {k for r in rows for k in r} <= set(columns):
                return None
            text = csv_text([_cell(c, r.get(c)) for c in columns] for r in rows)
        if self.columns is None:
            text, self.columns = csv_text([columns]) + text, columns
        data = text.encode()
        self.size += len(data)
        return data

    def truncate(self, size: int) -> None:
        """Cut the file back to ``size`` bytes (a size recorded by :meth:`append`).

        Raises:
            CorruptFileError: the file is shorter than ``size`` (it is never padded).
        """
        if not self.file.exists():
            return
        if size > (now := self.file.stat().st_size):
            raise CorruptFileError(f"{self.file.name} has {now} bytes, fewer than the {size} to cut it back to (truncated since it was written)")
        if size == 0:  # nothing on record: no table (an empty file has no header to read)
            self.file.unlink()
            self.columns, self.size = None, 0
            return
        with open(self.file, "r+") as f:
            f.truncate(size)
        self.columns, self.size = list(pd.read_csv(self.file, nrows=0).columns), size


def _cell(column: str, value: Any) -> Any:
    """A tidy row's cell for the csv writer: a value as its float64 (``np.float32(0.1)`` as 0.10000000149011612), an integer index as an ``int`` (``True`` as 1)."""
    if value is None or isinstance(value, str | float):
        return value
    if column == "value":
        return float(value)
    return int(value) if column not in _BASE and isinstance(value, numbers.Integral) else value


def _index_column(values: pd.Series) -> pd.Series:
    """A text or mixed index column as written: missing cells ``pd.NA``, cells of digits integers
    (an ``Int64`` column when every present cell is one), any other cell as it is."""
    if isinstance(values.dtype, pd.StringDtype):  # as read from the file: every present cell is text
        text = values.fillna("")
        missing = values.isna() | text.isin(_MISSING)
        digits = text.str.fullmatch(_INTEGER.pattern).astype(bool) & ~missing
        if not digits.any():  # a column of names
            return values.where(~missing)
        if (digits | missing).all():  # a column of integers, read as int64 (through float64 they would lose digits)
            return _integer_column(text, missing.to_numpy(dtype=bool))
    cells = values.astype(object)
    if pd.api.types.infer_dtype(cells, skipna=True) == "integer":  # integers and missing cells (of rows built in Python): no text to read
        return cells.astype("Int64")
    text = cells.map(lambda v: v if isinstance(v, str) else "")
    missing = cells.isna() | (cells.map(lambda v: isinstance(v, str)) & text.isin(_MISSING))
    digits = text.str.fullmatch(_INTEGER.pattern).astype(bool) & ~missing
    cells[digits] = [int(v.removesuffix(".0")) for v in text[digits]]
    cells[missing] = pd.NA
    cells = cells.map(lambda v: int(v) if isinstance(v, bool) else v)  # an integer to the table, written 1 or 0
    present = cells[~missing]
    if len(present) and present.map(lambda v: isinstance(v, numbers.Integral)).all():
        return cells.astype("Int64")
    return cells



def _integer_column(text: pd.Series, missing: np.ndarray) -> pd.Series:
    """An ``Int64`` column of the cells of digits ``text`` (``2`` or ``2.0``), ``pd.NA`` where ``missing``: each cell
    parsed as int64 (never through float64), set by position."""
    cells = text[~missing].str.removesuffix(".0")
    try:
        parsed = cells.astype("int64").to_numpy()
    except (TypeError, ValueError, OverflowError):  # outside int64: the error pandas gives for it
        parsed = pd.to_numeric(cells).astype("Int64").to_numpy(dtype="int64")
    ints = np.zeros(len(text), dtype="int64")
    ints[~missing] = parsed
    return pd.Series(pd.arrays.IntegerArray(ints, missing.copy()), index=text.index)


def key_part(value: Any) -> Any:
    """An index value as a hashable key part: NaN and ``None`` are one "absent", 2.0 is 2.

    Examples:
        >>> key_part(float("nan")) is key_part(None) is None, key_part(2.0), key_part("test")
        (True, 2, 'test')
    """
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def write_metrics(path: Path, frame: pd.DataFrame) -> None:
    """Write the metrics table atomically (integer index columns as integers: ``3``, never ``3.0``).

    Examples:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> write_metrics(folder, pd.DataFrame({"step": [0], "observable": ["mode/strength"], "value": [0.5], "mode": [3.0]}))
        >>> (folder / "metrics.csv").read_text().splitlines()
        ['step,observable,value,mode', '0,mode/strength,0.5,3']
    """
    atomic_write_bytes(Path(path) / "metrics.csv", encode_metrics(frame))


def encode_metrics(frame: pd.DataFrame) -> bytes:
    """The bytes :func:`write_metrics` writes for ``frame``.

    Examples:
        >>> encode_metrics(pd.DataFrame({"step": [0], "observable": ["loss"], "value": [0.5]}))
        b'step,observable,value\\n0,loss,0.5\\n'
    """
    return (tidy_dtypes(frame) if len(frame.columns) else frame).to_csv(index=False).encode()


def read_metrics(path: Path) -> pd.DataFrame:
    """Read ``metrics.csv`` (empty table when absent); column types as :func:`tidy_dtypes` gives them.

    Raises:
        CorruptFileError: the file is not a tidy table (unparseable, no ``step, observable, value``
            header, steps that are not integers, values that are not numbers, a row cut short or of
            another width than the header, a blank line).

    Examples:
        >>> import tempfile
        >>> read_metrics(tempfile.mkdtemp()).columns.tolist()  # no metrics.csv: an empty table
        ['step', 'observable', 'value']
    """
    file = Path(path) / "metrics.csv"
    if not file.exists():
        return tidy_dtypes(pd.DataFrame(columns=BASE_COLUMNS))
    data = file.read_bytes()
    try:
        header = list(pd.read_csv(io.BytesIO(data), nrows=0).columns)
        text = {c: str for c in header if c not in ("step", "value")}  # index cells as written; tidy_dtypes reads the integers
        frame = pd.read_csv(io.BytesIO(data), dtype=text, keep_default_na=False, na_values={"step": [""], "value": ["", "nan", "NaN"]})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise CorruptFileError(f"{file.name} cannot be read ({' '.join(str(e).split())})") from None
    problem = None
    if list(frame.columns[:3]) != BASE_COLUMNS:
        problem = f"its header starts {list(frame.columns[:3])}, not {BASE_COLUMNS}"
    elif len(frame) and not pd.api.types.is_integer_dtype(frame["step"]):
        problem = "a step is not an integer"
    elif len(frame) and not pd.api.types.is_numeric_dtype(frame["value"]):
        problem = "a value is not a number"
    elif len(frame) and (frame["observable"].isna() | (frame["observable"] == "")).any():
        problem = "a row names no observable"
    elif width := width_problem(data, len(header)):
        problem = width
    if problem:
        raise CorruptFileError(f"{file.name} is not a tidy metrics table: {problem}")
    try:
        return tidy_dtypes(frame)
    except (TypeError, ValueError, OverflowError) as e:
        raise CorruptFileError(f"{file.name} holds a step, value or index that is not a number the table holds ({e})") from None

