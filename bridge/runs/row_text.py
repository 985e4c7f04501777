"""The CSV text of plain metrics rows, column by column (what :class:`csv.writer` writes for them).

The metrics table takes a few thousand rows per write from the trackers of a run, nearly all
of one plain shape: an ``int`` step, a ``str`` observable, a ``float`` value and ``int`` index
cells. Those rows are written here one column at a time (a type check and one conversion per
column instead of per cell); any other row goes through :mod:`csv` and the full checks.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

_ABSENT = object()  # the cell of a column a row does not have
_QUOTED = frozenset(',"\r\n')  # a string holding one of these is quoted by the csv writer
_NONE = type(None)
_LOW, _HIGH = -(2**63), 2**63 - 1  # the int64 integers the table reads back (bridge.runs.metrics.INT64)


def plain_lines(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str | None:
    """The lines :class:`csv.writer` (``lineterminator="\\n"``) writes for ``rows`` under the header ``columns``,
    or ``None`` when a row is not plain.

    Plain: ``columns`` starts with ``step, observable, value``; every row has an ``int`` step, a
    non-empty ``str`` observable that needs no quoting, a ``float`` (or ``None``) value, ``int``
    (or ``None``, or no) cells in the other columns, integers within int64, and no key outside ``columns``. Such rows are
    tidy (:func:`bridge.runs.metrics.validate_rows` accepts them); ``None`` sends the caller to
    the full checks and the csv writer.

    Examples:
        >>> rows = [{"step": 0, "observable": "loss/train", "value": 0.5}, {"step": 0, "observable": "mode/strength", "value": 1e-07, "mode": 3}]
        >>> plain_lines(rows, ["step", "observable", "value", "mode"])
        '0,loss/train,0.5,\\n0,mode/strength,1e-07,3\\n'
        >>> plain_lines([{"step": 0, "observable": "a,b", "value": 0.5}], ["step", "observable", "value"]) is None  # quoted by csv
        True
    """
    if list(columns[:3]) != ["step", "observable", "value"]:
        return None
    cells, present = [], 0
    for c in columns:
        values = [r.get(c, _ABSENT) for r in rows]
        kinds = set(map(type, values))
        if c == "step":
            if kinds != {int} or min(values) < _LOW or max(values) > _HIGH:
                return None
            cells.append(_texts(values))
        elif c == "observable":
            if kinds != {str} or any("" == s or not _QUOTED.isdisjoint(s) for s in set(values)):
                return None
            cells.append(values)
        elif c == "value":
            if kinds == {float}:
                cells.append(list(map(str, values)))
            elif kinds <= {float, _NONE}:
                cells.append(["" if v is None else str(v) for v in values])
            else:
                return None
        elif kinds <= {int, _NONE, object}:
            ints = values if kinds == {int} else [v for v in values if type(v) is int]
            if ints and (min(ints) < _LOW or max(ints) > _HIGH):
                return None
            present += len(values) - (values.count(_ABSENT) if object in kinds else 0)
            cells.append(_texts(values))
        else:
            return None
    if sum(map(len, rows)) != 3 * len(rows) + present:  # a key outside the header
        return None
    return "\n".join(map(",".join, zip(*cells))) + "\n"


def _texts(values: list[Any]) -> list[str]:
    """The cells of ``int`` values, ``None`` or absent ones (``""``): a column's steps or indices repeat,
    so each distinct value is converted once."""
    text = {v: "" if v is None or v is _ABSENT else str(v) for v in set(values)}
    return list(map(text.__getitem__, values))


def width_problem(data: bytes, width: int) -> str | None:
    """What is wrong with the lines of a table's bytes ``data`` whose header has ``width`` cells (``None``: nothing).

    Every line the writers write ends in a newline and holds a cell per column, while pandas reads a
    row cut short, or one of fewer cells, with missing cells, and skips a blank line. Counted without
    the csv reader when no cell is quoted: then each line holds ``width - 1`` commas.

    Examples:
        >>> width_problem(b"step,observable,value\\n0,x,0.5\\n", 3) is None
        True
        >>> width_problem(b"step,observable,value\\n0,x,0.12", 3), width_problem(b'step,observable,value\\n0,"x,y"\\n', 3)
        ('its last row is cut short (no newline ends it)', 'line 2 holds 2 cells, its header 3')
    """
    if not data.endswith(b"\n"):
        return "its last row is cut short (no newline ends it)"
    if b'"' not in data and data.count(b",") == data.count(b"\n") * (width - 1):
        return None
    reader = csv.reader(io.StringIO(data.decode(), newline=""))
    for cells in reader:
        if len(cells) != width:
            return f"line {reader.line_num} holds {len(cells)} cells, its header {width}"
    return None


def csv_text(lines: Iterable[Sequence[Any]]) -> str:
    """The text :class:`csv.writer` writes for ``lines`` (each line a sequence of cells), lines ended by ``\\n``.

    Examples:
        >>> csv_text([["step", "observable", "value"], [0, "a,b", None]])
        'step,observable,value\\n0,"a,b",\\n'
    """
    # csv writes None as an empty cell and floats at full precision (str(float) is the
    # shortest round-trip repr); pandas reads "nan" and "inf" back as floats.
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(lines)
    return buffer.getvalue()
