"""A ``--seeds`` output read back in a notebook: its seed report, checked as ``mechbridge report`` checks it.

``mechbridge run CASE --seeds 0-9 --out DIR`` (or :func:`~case_studies.generality.seeds.run_seeds`) leaves
``DIR/seed_report.json`` and ``DIR/seed_report.md``, whose last line holds the SHA-256 of the JSON it was written
with. :func:`load_seed_report` rebuilds the :class:`~case_studies.generality.seeds.SeedReport` from the JSON,
without re-analysing a seed; :meth:`SeedReport.table <case_studies.generality.seeds.SeedReport.table>` is its rows
over seeds as one tidy DataFrame; :func:`seed_runs` opens each seed's run. A pair that is missing, damaged or was
left half-written (a writer killed between the two files) is refused, naming the file and the command that
writes both again. The tables over neighbours and hidden widths are read by :mod:`case_studies.generality.tables`.

Examples:
    >>> import tempfile
    >>> from bridge.match import check
    >>> from bridge.report import BridgeReport
    >>> from case_studies.generality.seeds import summarise
    >>> reports = {s: BridgeReport("toy", "quick", s, checks=[check("gap", 0.1 * s, "< 0.15", s < 2)]) for s in range(3)}
    >>> out = tempfile.mkdtemp(); _ = summarise(reports, "toy", "quick", 0.5).write(out)
    >>> report = load_seed_report(out)
    >>> report.verdict, round(report.pass_fraction, 3)
    ('pass', 0.667)
    >>> report.table()[["row", "seed", "value", "passed"]].values.tolist()
    [['gap', 0, 0.0, True], ['gap', 1, 0.1, True], ['gap', 2, 0.2, False]]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.runs.errors import CorruptFileError
from case_studies.generality.kinds import output_folder
from case_studies.generality.resume import REPORT_FILES, seeds_again

if TYPE_CHECKING:
    from case_studies.generality.seeds import SeedReport

SEED_JSON, SEED_MD = REPORT_FILES
__all__ = ["load_seed_report", "read_seed_report", "seed_runs"]


def read_seed_report(folder: str | Path) -> tuple[dict[str, Any], str]:
    """The seed report of the ``--seeds`` output ``folder`` as written: the object in ``seed_report.json`` (it has a
    ``"verdict"``) and ``seed_report.md`` without its stamp (:func:`bridge.runs.checksums.unstamp`).

    A markdown without a stamp (written before seed reports were stamped) is read as it is, unless the JSON beside
    it records ``"markdown_stamped"``: then the markdown is not the one written with it.

    Raises:
        RunError: ``folder`` is not a ``--seeds`` output (no such folder, one case study's output, a robustness
            output or a run over hidden widths, or no ``seed_report.json``).
        CorruptFileError: either file missing, the JSON not an object with a verdict, the markdown not UTF-8 text
            or not written with the JSON beside it; the message names the file and the command that writes both again.

    Examples:
        >>> import tempfile; folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "seed_report.json").write_text('{"verdict": "pass"}'); _ = (folder / "seed_report.md").write_text("# PASS\\n")
        >>> read_seed_report(folder)  # an older pair, written before stamps
        ({'verdict': 'pass'}, '# PASS\\n')
    """
    folder = Path(folder)
    output_folder(folder, "a --seeds output")

    def a_report(data: Any) -> None:
        data["verdict"]  # a KeyError or TypeError: not an object with a verdict

    return read_stamped_pair(folder / SEED_JSON, folder / SEED_MD, seeds_again(folder), "is not a valid report", a_report)


def read_stamped_pair(js: Path, md: Path, again: str, invalid: str, check: Any) -> tuple[Any, str]:
    """The object in the JSON file ``js`` and the markdown ``md`` written from it, without its stamp
    (:func:`bridge.runs.checksums.unstamp`): a seed report or a robustness table.

    ``check(data)`` raises ``ValueError``, ``KeyError`` or ``TypeError`` for an object that is not what ``js``
    should hold (``invalid`` says what, in the message). A markdown without a stamp (written before stamps were)
    is read as it is, unless the JSON records ``"markdown_stamped"``: then it is not the one written with it.

    Raises:
        CorruptFileError: either file missing, the JSON damaged or refused by ``check``, the markdown not UTF-8
            text or not written with the JSON beside it; the message names the file and ``again``, the command
            that writes both again.

    Examples:
        >>> import tempfile; from bridge.runs.checksums import stamp; folder = Path(tempfile.mkdtemp())
        >>> js, md = folder / "table.json", folder / "table.md"; _ = js.write_text('{"verdict": "pass"}')
        >>> _ = md.write_text(stamp("# PASS", js.name, js.read_bytes()))
        >>> read_stamped_pair(js, md, "mechbridge run ...", "is not a report", lambda data: data["verdict"])
        ({'verdict': 'pass'}, '# PASS')
        >>> _ = js.write_text('{"verdict": "fail"}'); read_stamped_pair(js, md, "mechbridge run ...", "is not a report", lambda data: data["verdict"])
        Traceback (most recent call last):
        ...
        bridge.runs.errors.CorruptFileError: .../table.md was not written with the table.json beside it (...): `mechbridge run ...` writes both again
    """
    from bridge.runs.checksums import unstamp

    for file in (js, md):
        if not file.is_file():
            raise CorruptFileError(f"{file} is missing (its writer was killed before it, or it was moved): `{again}` writes both again")
    raw = js.read_bytes()
    try:
        data = json.loads(raw)
        check(data)
    except (ValueError, KeyError, TypeError) as e:  # not JSON, not UTF-8, or not what the file holds
        raise CorruptFileError(f"{js} {invalid} ({e}): `{again}` writes both again") from None
    try:
        text = md.read_bytes().decode()
    except UnicodeDecodeError as e:
        raise CorruptFileError(f"{md} is damaged (not UTF-8 text: {e}): `{again}` writes both again") from None
    text, agrees = unstamp(text, js.name, raw, required=isinstance(data, dict) and data.get("markdown_stamped") is True)
    if agrees is False:
        raise CorruptFileError(f"{md} was not written with the {js.name} beside it (its writer was killed between the two, or one was changed since): `{again}` writes both again")
    return data, text


def load_seed_report(path: str | Path) -> SeedReport:
    """The :class:`~case_studies.generality.seeds.SeedReport` of the ``--seeds`` output ``path``, rebuilt from its
    ``seed_report.json`` (checked with :func:`read_seed_report`): seeds, each seed's verdict, the threshold, every
    row over seeds and the across-seed rows (as :class:`~bridge.match.Check` objects). Its ``to_dict()`` is the JSON
    written; no seed is re-analysed.

    Raises:
        RunError, CorruptFileError: as :func:`read_seed_report`; also a JSON that is not a whole seed report, or
            whose verdict is not the one its rows give.

    Examples:
        >>> report = load_seed_report("runs/dl-seeds")  # doctest: +SKIP
        >>> report.verdict, report.rows["modes learned in order of strength (fraction of ordered pairs)"]["pass_fraction"]  # doctest: +SKIP
        ('pass', 1.0)
    """
    path = Path(path)
    stored, _ = read_seed_report(path)
    try:
        report = _seed_report(stored)
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptFileError(f"{path / SEED_JSON} is not a valid report ({e}): `{seeds_again(path)}` writes both again") from None
    if report.verdict != stored["verdict"]:
        raise CorruptFileError(f"{path / SEED_JSON} records the verdict {stored['verdict']!r} but its rows give {report.verdict!r} (changed since it was written): `{seeds_again(path)}` writes both again")
    return report


def seed_runs(path: str | Path) -> dict[int, Any]:
    """Each seed's main run of the ``--seeds`` output ``path`` (``path/seed-S``, :func:`bridge.load_run`), by seed,
    for the seeds its seed report lists (checked with :func:`read_seed_report`).

    Examples:
        >>> runs = seed_runs("runs/dl-seeds")  # doctest: +SKIP
        >>> runs[0].curve("mode/strength", mode=0)  # doctest: +SKIP
    """
    from bridge.runs.run import load_run
    from case_studies.generality.seeds import seed_dir

    return {seed: load_run(seed_dir(path, seed)) for seed in load_seed_report(path).seeds}


def _seed_report(data: dict[str, Any]) -> Any:
    """The :class:`~case_studies.generality.seeds.SeedReport` whose ``to_dict()`` is ``data``; raises ``ValueError``
    (or ``KeyError``, ``TypeError``) naming the first field that is not as a seed report writes it."""
    from bridge.match import Check, Match
    from bridge.report import stored_rows
    from case_studies.generality.seeds import SeedReport, check_threshold

    kinds = {"case_study": str, "preset": str, "seeds": list, "verdicts": dict, "threshold": int | float, "rows": dict, "across_seeds": list, "figures": list}
    for key, kind in kinds.items():
        if key not in data or not isinstance(data[key], kind) or isinstance(data[key], bool):
            raise ValueError(f"{key!r} is {'missing' if key not in data else f'a {type(data[key]).__name__}'}, expected a {getattr(kind, '__name__', 'number')}")
    seeds = data["seeds"]
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds) or set(data["verdicts"]) != {str(s) for s in seeds}:
        raise ValueError(f"'seeds' {seeds!r} must be integers, each with its verdict under 'verdicts' (which has {sorted(data['verdicts'])!r})")
    check_threshold(data["threshold"], data["case_study"])
    rows = {}
    for name, row in data["rows"].items():
        if not isinstance(row, dict) or not all(isinstance(row.get(k), dict) for k in ("values", "passed")):
            raise ValueError(f"row {name!r} needs its 'values' and 'passed' by seed")
        rows[name] = {k: ({int(s): x for s, x in v.items()} if k in ("values", "passed", "steps") else v) for k, v in row.items()}
    across = [stored_rows(Match if "prediction" in r else Check, [r])[0] for r in data["across_seeds"]]
    verdicts = {s: data["verdicts"][str(s)] for s in seeds}
    return SeedReport(data["case_study"], data["preset"], list(seeds), verdicts, data["threshold"], rows, across, list(data["figures"]))
