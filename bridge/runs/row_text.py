"""The CSV text of plain metrics rows, column by column (what :class:`csv.writer` writes for them).

The metrics table takes a few thousand rows per write from the trackers of a run, nearly all
of one plain shape: an ``int`` step, a ``str`` observable, a ``float`` value and ``int`` index
cells. Those rows are written here one column at a time (a type check and one conversion per
column instead of per cell); any other row goes through :mod:`csv` and the full checks.
"""

from __future__ import annotations

from collections.abc import Sequence
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
