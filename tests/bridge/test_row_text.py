"""The metrics table's column-by-column text of plain rows: the same bytes as the csv writer for every
row it takes, and every other row (not tidy, quoted, a key outside the header) left to the csv writer."""

import csv
import io
import itertools
import numbers
import random
import tempfile

import numpy as np
import pytest

from bridge.runs.metrics import MetricsLog, _plainly_tidy, read_metrics, validate_rows
from bridge.runs.row_text import plain_lines

COLUMNS = ["step", "observable", "value", "level", "mode"]
STEPS = [0, 7, -1, 2**40, True, np.int64(3)]
OBSERVABLES = ["loss/train", "ünï/ß", "a,b", 'say "x"', "line\nbreak", "cr\rhere", ""]
VALUES = [0.5, 1e-300, -0.0, float("nan"), float("inf"), 1 / 3, None, 2, np.float64(0.1), np.float32(0.1)]
INDICES = ["absent", None, 3, -2, True, np.int64(3), "head", 1.5]


def _csv_reference(rows, columns):
    """The csv writer's bytes of the cells as the table holds them: a value as its float64, an integer index as an int
    (the same cells for plain rows; np.float32(0.1) is 0.10000000149011612 and True is 1)."""
    def cell(c, v):
        if c == "value" and v is not None and not isinstance(v, str):  # not the header
            return float(v)
        return int(v) if c not in ("step", "observable", "value") and isinstance(v, numbers.Integral) else v

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([[cell(c, r.get(c)) for c in columns] for r in rows])
    return buffer.getvalue()


def _row(step, observable, value, mode, level="absent", extra=False):
    r = {"step": step, "observable": observable, "value": value}
    r.update({k: v for k, v in (("mode", mode), ("level", level)) if not (isinstance(v, str) and v == "absent")})
    return r | ({"head": 1} if extra else {})


ALL_ROWS = [_row(*combo) for combo in itertools.product(STEPS, OBSERVABLES, VALUES, INDICES)]


def _plain(r):
    return _plainly_tidy(r) and set(r) <= set(COLUMNS) and not set(',"\r\n') & set(r["observable"])


def test_each_row_is_taken_exactly_when_plain_and_then_written_as_csv_writes_it():
    taken = 0
    for r in ALL_ROWS + [_row(0, "loss/train", 0.5, 3, extra=True), _row(0, "loss/train", 0.5, 3, level=2)]:
        text = plain_lines([r], COLUMNS)
        assert (text is not None) == _plain(r), r
        if text is not None:
            taken += 1
            validate_rows([r])
            assert text == _csv_reference([r], COLUMNS)
    # steps 0, 7, -1, 2**40; two observables; values but 2 and the numpy floats; index absent, None, 3 or -2; and level 2
    assert taken == 4 * 2 * 7 * 4 + 1


def test_batches_of_plain_rows_are_the_csv_writers_bytes_and_any_other_row_sends_the_batch_to_it():
    rng = random.Random(0)
    plain = [r for r in ALL_ROWS if _plain(r)]
    other = [r for r in ALL_ROWS if not _plain(r)] + [_row(0, "loss/train", 0.5, 3, extra=True)]
    for _ in range(300):
        batch = rng.sample(plain, rng.randint(1, 40))
        assert plain_lines(batch, COLUMNS) == _csv_reference(batch, COLUMNS)
        mixed = batch + [rng.choice(other)]
        rng.shuffle(mixed)
        assert plain_lines(mixed, COLUMNS) is None


def test_a_header_that_does_not_start_with_step_observable_value_is_not_taken():
    rows = [{"step": 0, "observable": "loss", "value": 0.5}]
    assert plain_lines(rows, ["observable", "step", "value"]) is None
    assert plain_lines(rows, ["step", "observable", "value"]) == "0,loss,0.5\n"


@pytest.mark.parametrize("first_plain", [True, False])
def test_the_table_holds_the_csv_writers_bytes_whichever_way_each_append_is_written(first_plain):
    rng = random.Random(1)
    plain = [r for r in ALL_ROWS if _plain(r)]
    # a name holding a carriage return is written quoted but not read back by pandas: left out here
    tidy_other = [r for r in ALL_ROWS if not _plain(r) and set(r) <= set(COLUMNS) and _full_check_accepts(r) and "\r" not in r["observable"]]
    first = rng.sample(plain, 30) + ([] if first_plain else [rng.choice(tidy_other)])
    batches = [first] + [rng.sample(plain, 20) + rng.sample(tidy_other, k) for k in (0, 1, 0, 2)]
    folder = tempfile.mkdtemp()
    log = MetricsLog(folder)
    for batch in batches:
        log.append(batch)
    header = ["step", "observable", "value"] + sorted({k for r in first for k in r} - {"step", "observable", "value"})
    expected = _csv_reference([dict(zip(header, header))], header) + "".join(_csv_reference(b, header) for b in batches)
    with open(f"{folder}/metrics.csv", encoding="utf-8", newline="") as f:
        assert f.read() == expected
    assert log.size == len(expected.encode())
    assert len(read_metrics(folder)) == sum(map(len, batches))


def _full_check_accepts(row):
    try:
        validate_rows([row])
    except ValueError:
        return False
    return True
